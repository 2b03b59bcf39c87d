"""The other way round: a run's weights.safetensors uses torch's names, so torch.nn.GRU.load_state_dict takes its
gru.* tensors unchanged (the three lines of docs/import.md), and torch's GRU gives onionref's encoder states (within
float32 tolerance; never bit-exact across libraries). The same for the whole model: an onionref run exported to torch
and imported back gives the same weights, bit for bit.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from onionref import runs
from onionref.onion import inspect
from onionref.onion.train import load_run
from runhelpers import call_main, tiny_trained_run

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return tiny_trained_run(tmp_path_factory, "roundtrip", steps=10, eval_every=5)


ROOT = Path(__file__).resolve().parents[1]


def snippet(doc: str) -> str:
    """The python block of `doc` that loads a run's weights into torch.nn.GRU."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / doc).read_text(), flags=re.S)
    found = [b for b in blocks if "torch.nn.GRU" in b and "load_state_dict" in b]
    assert len(found) == 1, doc
    return found[0]


@pytest.mark.parametrize("doc", ["README.md", "docs/import.md"])
def test_gru_tensors_load_into_torch_nn_gru_and_give_the_same_states(run, doc):
    # the documented lines themselves, run on this run's weights
    import safetensors.torch
    code = re.sub(r'load_file\("[^"]*"\)', "load_file(WEIGHTS)", snippet(doc))
    scope = {"safetensors": safetensors, "torch": torch, "WEIGHTS": str(run / "weights.safetensors")}
    exec(code, scope)
    w, gru = scope["w"], scope["gru"]

    cfg, params = load_run(run)
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, cfg.symbols, size=(64, cfg.max_len))
    lengths = np.full(64, cfg.max_len)
    ours = inspect.encoder_states(params, tokens, lengths)                      # [T, B, H]
    with torch.no_grad():
        theirs, h_last = gru(w["embedding.weight"][torch.as_tensor(tokens.T)])  # [T, B, H]
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours[-1], h_last[0].numpy(), rtol=1e-5, atol=1e-6)


def test_a_run_exported_to_torch_imports_back_unchanged(run, tmp_path, capsys):
    from safetensors.torch import load_file
    w = load_file(str(run / "weights.safetensors"))
    m = torch.nn.ModuleDict({"embedding": torch.nn.Embedding(*w["embedding.weight"].shape),
                             "gru": torch.nn.GRU(w["gru.weight_ih_l0"].shape[1], w["gru.weight_hh_l0"].shape[1]),
                             "head": torch.nn.Linear(w["head.weight"].shape[1], w["head.weight"].shape[0])})
    m.load_state_dict(w)
    torch.save({"model": m.state_dict(), "step": 10}, tmp_path / "export.pt")
    code, _, err = call_main(["import", tmp_path / "export.pt", "--out", tmp_path / "back"], capsys)
    assert code in (0, None), err
    a, _ = runs.load_arrays(run / "weights.safetensors")
    b, _ = runs.load_arrays(tmp_path / "back" / "weights.safetensors")
    assert set(a) == set(b) and all(np.array_equal(a[k], b[k]) for k in a)
    # and the imported run evaluates as the original (same weights, same sets; its config's backend is numba)
    ea, eb = (json.loads(call_main(["eval", r, "--json"], capsys)[1])["sets"] for r in (run, tmp_path / "back"))
    assert set(ea) == set(eb)
    for name in ea:
        assert ea[name]["accuracy"] == eb[name]["accuracy"], name
        assert ea[name]["loss"] == pytest.approx(eb[name]["loss"], rel=1e-5), name
