"""SRC -> {name: TensorRef}: a safetensors file, or a PyTorch zip checkpoint with its object tree flattened.

    read_source(path) -> (tensors {name: TensorRef}, info {"format", "sha256"})
    flatten(tree) -> {name: TensorRef}

The format is told by the file's first bytes, not its name: "PK\\x03\\x04" a zip (torch.save), a pickle opcode the
legacy pre-1.6 torch format (not read: the error says how to re-save it), anything else safetensors.
Names in a checkpoint are the dict keys on the way to each tensor, joined with ".": {"model": {"gru.weight_ih_l0": t}}
gives "model.gru.weight_ih_l0", a list index counts as a key. A foreign (inert) object is walked through what the
pickle stored on it; the attribute dicts of a pickled nn.Module (_parameters, _buffers, _modules) add no name, so
`torch.save(model)` gives the names of `model.state_dict()`. A tensor reached twice keeps its first name.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from ..errors import UserError
from .tensors import TensorRef, read_safetensors
from .torch_zip import read_tree
from .unpickler import Foreign

MODULE_ATTRS = ("_parameters", "_buffers", "_modules")
MAX_NODES = 10_000_000
LEGACY = ("{path} is a legacy (non-zip) PyTorch file, which onionref does not read; re-save it with torch: "
          "python -c \"import torch; from safetensors.torch import save_file; "
          "save_file(torch.load('{path}', weights_only=True)['model'], 'model.safetensors')\" "
          "(drop ['model'] if the file is a plain state dict), then import model.safetensors")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(2 ** 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_source(path: Path) -> tuple[dict, dict]:
    """({name: TensorRef}, {"format": "safetensors" | "pytorch-zip", "sha256": hex digest}) of SRC."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path} is a directory; give a .safetensors file or a PyTorch checkpoint (.pt, .pth, .bin)")
    if not path.exists():
        raise UserError(f"no such file: {path}")
    try:
        with open(path, "rb") as f:
            head = f.read(16)
        digest = sha256(path)
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror or e}") from None
    if not head:
        raise UserError(f"{path} is empty")
    if head.startswith(b"PK\x03\x04"):
        return flatten(read_tree(path)), {"format": "pytorch-zip", "sha256": digest}
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        raise UserError(LEGACY.format(path=path))
    looks_like_st = len(head) > 8 and head[8:9] == b"{"
    if not looks_like_st and path.suffix != ".safetensors":
        raise UserError(f"{path} is neither a safetensors file nor a PyTorch zip checkpoint")
    return read_safetensors(path), {"format": "safetensors", "sha256": digest}


def _children(obj):
    """(name part or None, child) pairs of one node of the object tree."""
    if isinstance(obj, dict):
        return [(str(k) if isinstance(k, (str, int)) else "?", v) for k, v in obj.items()]
    if isinstance(obj, (list, tuple)):
        return list(zip(map(str, range(len(obj))), obj))
    if isinstance(obj, Foreign):
        out = []
        state = obj.state[0] if isinstance(obj.state, tuple) and len(obj.state) == 2 else obj.state
        if isinstance(state, dict):
            out += [(None if k in MODULE_ATTRS else str(k), v) for k, v in state.items() if isinstance(k, str)]
        elif state is not None:
            out.append(("state", state))
        if isinstance(obj.state, tuple) and len(obj.state) == 2 and isinstance(obj.state[1], dict):
            out += [(str(k), v) for k, v in obj.state[1].items() if isinstance(k, str)]  # __slots__ state
        out += [(str(k) if isinstance(k, (str, int)) else "?", v) for k, v in obj.items]
        out += [(str(i), v) for i, v in enumerate(obj.values)]
        out += [(str(i), v) for i, v in enumerate(obj.args)]
        return out
    return []


def flatten(tree) -> dict:
    """{dotted name: TensorRef} of every tensor in an object tree (depth first, in stored order)."""
    out, seen_refs, seen_nodes = {}, set(), set()
    stack = [("", tree)]
    nodes = 0
    while stack:
        name, obj = stack.pop()
        if isinstance(obj, TensorRef):
            if id(obj) not in seen_refs:
                seen_refs.add(id(obj))
                out[name if name not in out else f"{name}#{len(out)}"] = obj
            continue
        if id(obj) in seen_nodes:
            continue
        seen_nodes.add(id(obj))
        nodes += 1
        if nodes > MAX_NODES:
            raise UserError(f"the checkpoint holds more than {MAX_NODES} objects; not read")
        kids = [(name if part is None else (f"{name}.{part}" if name else part), child)
                for part, child in _children(obj)]
        stack.extend(reversed(kids))
    return out
