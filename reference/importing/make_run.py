"""An imported GRU as a run directory that `eval`, `intervene`, `probe` and `report RUN` take unchanged.

    import_run(src, out, no_input=False, embedding=None, gru=None, head=None, progress=False) -> result dict

    OUT/config.json          {"format", "config": TrainConfig of the paper's task (steps 0: trained elsewhere),
                              "versions", "imported_from": {"path", "sha256", "format", "tensors": {ours: theirs}}}
    OUT/weights.safetensors  embedding.weight [V, E], gru.* (torch names), head.weight [30, H], head.bias, float32
    OUT/result.json          exact match on `valid`, as `onionref train` reports it (step 0)
    OUT/DONE
Everything is checked before anything is written; the directory is then written as a temporary sibling and renamed
into place, so OUT is either absent (or the empty directory it was) or whole.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np

from .. import runs
from ..errors import UserError
from ..onion.train import TrainConfig, evaluate_run
from .find_gru import find
from .sources import read_source

NOTE = "trained outside onionref and imported (`onionref import`); steps 0 means no onionref training"


def check_out(out: Path) -> None:
    """OUT must not exist, or be an empty directory."""
    out = Path(out)
    if out.is_symlink() or out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        raise UserError(f"--out {out} exists and is not empty; choose a new directory")


def load_chosen(tensors: dict, names: dict) -> dict:
    """{our name: float32 array} of the chosen tensors, each finite."""
    params = {}
    for ours, theirs in names.items():
        a = tensors[theirs].load()
        if not np.all(np.isfinite(a)):
            raise UserError(f"tensor {theirs} holds NaN or Inf")
        params[ours] = a
    return params


def import_run(src: Path, out: Path, no_input: bool = False, embedding: str | None = None, gru: str | None = None,
               head: str | None = None) -> dict:
    """Import the GRU of SRC into the run directory OUT; returns result.json's content."""
    src, out = Path(src), Path(out)
    check_out(out)
    tensors, info = read_source(src)
    found = find(tensors, no_input, embedding, gru, head)
    if found.hidden > 4096:
        raise UserError(f"the GRU's hidden size {found.hidden} is above the 4096 onionref analyses")
    params = load_chosen(tensors, found.names)
    cfg = TrainConfig(hidden=found.hidden, steps=0, no_input=no_input).validate()
    with np.errstate(all="ignore"):
        valid = evaluate_run(cfg, params, names=["valid"])["valid"]
    if not np.isfinite(valid["loss"]):
        raise UserError(f"the imported model's loss on the validation set is not finite ({valid['loss']})")
    config = {"format": runs.RUN_FORMAT, "config": asdict(cfg), "versions": runs.package_versions(),
              "imported_from": {"path": str(src.resolve()), "sha256": info["sha256"], "format": info["format"],
                                "tensors": found.names, "embedding_size": found.embed, "note": NOTE}}
    result = {"run": str(out), "step": 0, "accuracy": valid["accuracy"], "loss": valid["loss"],
              "per_length": valid["per_length"], "hidden": found.hidden, "embedding_size": found.embed,
              "no_input": no_input, "backend": cfg.backend, "imported_from": str(src.resolve())}
    _write(out, config, params, result)
    return result


def _write(out: Path, config: dict, params: dict, result: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        os.chmod(tmp, 0o777 & ~runs._UMASK)
        runs.write_json(tmp / "config.json", config)
        runs.save_arrays(tmp / "weights.safetensors", params, {"step": 0, "imported": "true"})
        runs.write_json(tmp / "result.json", result)
        runs.atomic_write_bytes(tmp / "DONE", b"")
        check_out(out)  # again, just before the rename: another process may have filled it meanwhile
        try:
            os.rename(tmp, out)  # onto an absent or empty directory: atomic
        except OSError as e:
            raise UserError(f"--out {out}: cannot move the imported run into place ({e.strerror or e})") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
