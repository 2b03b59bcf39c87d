"""Shared helpers of the `onionref import` tests: foreign models built in torch, saved the ways researchers save them.

torch is the test-time oracle only: every helper that needs it is called from tests that `importorskip` it.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np


class Args:
    """A framework's arguments object: a class of the test's own, pickled beside the weights."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


class Payload:
    """Unpickling this runs os.system, which creates `marker` (the file the tests check was never written)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class ExecPayload(Payload):
    """Unpickling this runs builtins.exec on code that writes `marker`."""

    def __reduce__(self):
        import builtins
        return (builtins.exec, (f"open({self.marker!r}, 'w').write('ran')",))


def paper_model(torch, hidden=16, embed=None, no_input=False, names=("emb", "rnn", "out"), seed=0, **gru_kw):
    """The paper's model as a torch ModuleDict with names of our choosing: Embedding(31 [+1], E), GRU(E, H),
    Linear(H, 30)."""
    torch.manual_seed(seed)
    E = hidden if embed is None else embed
    return torch.nn.ModuleDict({names[0]: torch.nn.Embedding(31 + int(no_input), E),
                                names[1]: torch.nn.GRU(E, hidden, **gru_kw),
                                names[2]: torch.nn.Linear(hidden, 30)})


def state_numpy(sd) -> dict:
    return {k: v.detach().numpy().copy() for k, v in sd.items()}


def save_safetensors(sd, path: Path) -> Path:
    from safetensors.numpy import save_file
    save_file({k: np.ascontiguousarray(v) for k, v in state_numpy(sd).items()}, str(path))
    return path


def torch_load_in_subprocess(path: Path, weights_only: bool, timeout=120) -> subprocess.CompletedProcess:
    """torch.load of a file in another interpreter (the control that shows a payload is live, or that torch's own
    safe loader refuses a file): nothing in this process unpickles."""
    code = ("import sys, torch; torch.load(sys.argv[1], weights_only=sys.argv[2] == '1'); print('loaded')")
    return subprocess.run([sys.executable, "-c", code, str(path), "1" if weights_only else "0"],
                          capture_output=True, text=True, timeout=timeout, cwd=str(Path(path).parent))
