"""Run directories: atomic writes, safetensors weights, config.json, metrics.jsonl, a lock, a DONE marker.

    RUN/config.json            resolved config, package versions, format tag
    RUN/metrics.jsonl          one JSON object per validation
    RUN/weights.safetensors    model parameters with torch names (float32)
    RUN/checkpoint.safetensors parameters + optimizer moments + step: everything a resume needs
    RUN/result.json            the final result;   RUN/DONE  the run finished
    RUN/.lock                  held (flock) by the process working in the directory

Every file is written to a temporary file in the same directory and renamed into place, so a reader never sees a
half-written file. Nothing is ever unpickled: arrays come from safetensors (a flat header + raw buffers).
"""
from __future__ import annotations

import fcntl
import json
import os
import tempfile
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from .errors import UserError

RUN_FORMAT = "onionref-run/1"
_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file and a rename: the old file or the new one, never half."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")


def to_json(obj, indent=None) -> str:
    return json.dumps(obj, default=_json_default, indent=indent, allow_nan=False)


def write_json(path: Path, obj) -> None:
    atomic_write_bytes(path, (to_json(obj, indent=2) + "\n").encode())


def read_json(path: Path) -> dict:
    path = Path(path)
    try:
        obj = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"missing file: {path}") from None
    except IsADirectoryError:
        raise UserError(f"not a file: {path}") from None
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError, an integer of too many digits
        raise UserError(f"corrupt JSON in {path}: {str(e).splitlines()[0]}") from None
    except RecursionError:
        raise UserError(f"corrupt JSON in {path}: nested too deeply") from None
    if not isinstance(obj, dict):
        raise UserError(f"corrupt JSON in {path}: expected an object")
    return obj


def save_arrays(path: Path, arrays: dict, metadata: dict | None = None) -> None:
    """Save a dict of arrays as safetensors (atomically). Metadata values are stored as strings."""
    data = st_save({k: np.ascontiguousarray(v) for k, v in arrays.items()},
                   metadata={k: str(v) for k, v in (metadata or {}).items()})
    atomic_write_bytes(path, data)


def load_arrays(path: Path) -> tuple[dict, dict]:
    """Load (arrays, metadata) from a safetensors file; a clear UserError on any damage."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"missing file: {path}") from None
    except IsADirectoryError:
        raise UserError(f"not a file: {path}") from None
    try:
        arrays = st_load(raw)
        meta = _read_metadata(raw)
    except (SafetensorError, ValueError, OverflowError, KeyError, TypeError) as e:
        raise UserError(f"corrupt safetensors file {path}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    for k, v in arrays.items():
        if v.dtype.kind == "f" and not np.all(np.isfinite(v)):
            raise UserError(f"corrupt safetensors file {path}: tensor {k!r} holds NaN or Inf")
    return arrays, meta


def _read_metadata(raw: bytes) -> dict:
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    meta = header.get("__metadata__") or {}
    if not isinstance(meta, dict):
        raise ValueError("metadata is not an object")
    return meta


def append_jsonl(path: Path, obj) -> None:
    """Append one JSON line, atomically: the whole file is rewritten through a rename (metrics files are small)."""
    path = Path(path)
    old = path.read_bytes() if path.exists() else b""
    atomic_write_bytes(path, old + (to_json(obj) + "\n").encode())


def finished_result(run_dir: Path) -> dict | None:
    """The result.json of a finished run or analysis directory (its DONE marker exists), or None."""
    run_dir = Path(run_dir)
    return read_json(run_dir / "result.json") if (run_dir / "DONE").is_file() else None


def read_jsonl(path: Path) -> list:
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    try:
        text = path.read_text(errors="replace")
    except IsADirectoryError:
        raise UserError(f"not a file: {path}") from None
    for i, line in enumerate(text.splitlines()):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):
            raise UserError(f"corrupt line {i + 1} in {path}") from None
        if not isinstance(row, dict) or not isinstance(row.get("step"), int) or isinstance(row["step"], bool):
            raise UserError(f"corrupt line {i + 1} in {path}: expected an object with an integer step")
        rows.append(row)
    return rows


def read_metrics(path: Path, score_key: str) -> list:
    """The rows of a metrics.jsonl that a resumed run builds on, each checked to hold what the run reads back."""
    rows = read_jsonl(path)
    for row in rows:
        valid = row.get("valid")
        ok = (isinstance(valid, dict) and _is_number(valid.get(score_key)) and isinstance(valid.get("per_length"), dict)
              and (row.get("train_loss") is None or _is_number(row["train_loss"])))
        if not ok:
            raise UserError(f"corrupt row for step {row['step']} in {path}: expected valid.{score_key}, "
                            f"valid.per_length and train_loss")
    return rows


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


# What a run leaves behind before its first checkpoint (killed, or diverged early): nothing worth resuming.
_LEFTOVERS = ("config.json", "metrics.jsonl", "FAILED", ".lock")


def never_checkpointed(run_dir: Path) -> bool:
    """True if `run_dir` holds only the leftovers of an onionref run that never reached its first checkpoint,
    so starting it over loses nothing."""
    run_dir = Path(run_dir)
    for p in run_dir.iterdir():
        if not (p.name in _LEFTOVERS or p.name.startswith(".") and p.name.endswith(".tmp")) or p.is_dir():
            return False
    if not (run_dir / "config.json").exists():
        return True
    try:
        return json.loads((run_dir / "config.json").read_text()).get("format") == RUN_FORMAT
    except (OSError, ValueError, RecursionError, AttributeError):
        return False


def check_can_start(run_dir: Path, resume: bool, not_empty: str) -> None:
    """Before anything is written: a resume needs a checkpoint; a fresh run needs a new or empty directory (or the
    leftovers of a run that never reached its first checkpoint), else UserError(not_empty)."""
    run_dir = Path(run_dir)
    if resume and not (run_dir / "checkpoint.safetensors").exists():
        raise UserError(f"nothing to resume in {run_dir} (no checkpoint.safetensors)")
    if not resume and run_dir.exists() and not never_checkpointed(run_dir):
        raise UserError(not_empty)


def save_checkpoint(run_dir: Path, arrays: dict, opt: dict, meta: dict) -> None:
    """RUN/checkpoint.safetensors: `arrays`, the AdamW moments of `opt` ("m.*", "v.*") and `meta` plus opt_step."""
    save_arrays(Path(run_dir) / "checkpoint.safetensors", {**arrays, **{k: v for k, v in opt.items() if k != "step"}},
                {**meta, "opt_step": opt["step"]})


def load_checkpoint(run_dir: Path, int_keys=("step",)) -> tuple[dict, dict]:
    """(arrays, meta) of RUN/checkpoint.safetensors, with meta's `int_keys` and opt_step as ints (a missing or
    non-integer one is a one-line UserError naming the first of `int_keys`); shapes are the caller's to check."""
    path = Path(run_dir) / "checkpoint.safetensors"
    arrays, meta = load_arrays(path)
    try:
        meta.update({key: int(meta[key]) for key in (*int_keys, "opt_step")})
    except (KeyError, ValueError):
        raise UserError(f"corrupt checkpoint {path}: no {int_keys[0]}") from None
    return arrays, meta


def start_over(run_dir: Path, message: str) -> None:
    """Before a fresh (not resumed) run, under the lock: raise UserError(message) unless the directory is empty
    or holds only the leftovers of a run that never reached its first checkpoint; remove those."""
    if not never_checkpointed(run_dir):
        raise UserError(message)
    for name in ("metrics.jsonl", "FAILED"):
        (Path(run_dir) / name).unlink(missing_ok=True)


class LockedError(UserError):
    """The run directory is in use by another process (its lock is held)."""


class RunLock:
    """An exclusive flock on RUN/.lock for as long as a process works in the directory."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / ".lock"
        self.fd = None

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise LockedError(f"run directory {self.path.parent} is in use by another process") from None
        # Temporary files left by a killed writer: safe to remove while we hold the lock.
        for tmp in self.path.parent.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def read_config(run_dir: Path, key: str = "config") -> dict:
    """The `key` object of RUN/config.json, after checking that this version of onionref wrote it."""
    path = Path(run_dir) / "config.json"
    obj = read_json(path)
    if obj.get("format") != RUN_FORMAT:
        raise UserError(f"{path} was written by another version (format {obj.get('format')!r}, "
                        f"this onionref reads {RUN_FORMAT!r})")
    cfg = obj.get(key)
    if not isinstance(cfg, dict):
        raise UserError(f"{path} has no {key} object")
    return cfg


def package_versions() -> dict:
    import platform

    import numba
    import scipy

    from . import __version__
    return {"onionref": __version__, "numpy": np.__version__, "numba": numba.__version__,
            "scipy": scipy.__version__, "python": platform.python_version()}
