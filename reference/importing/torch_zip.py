"""PyTorch's checkpoint format (torch.save since 1.6), read without torch and without running the file's code.

A checkpoint is a zip archive of records under one folder:
    <archive>/data.pkl        the pickled object tree (protocol 2); tensors are persistent ids of storages
    <archive>/data/<key>      each storage's raw bytes (numel × element size)
    <archive>/byteorder       "little" or "big" (absent in old files: little)
    <archive>/version, .format_version, .storage_alignment, .data/serialization_id   (not needed)
The pickle goes through unpickler.py (an allowlist of torch's tensor-rebuild functions; everything else inert).
Storage bytes are read only for the tensors an import chooses, from a fresh handle on the file each time.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

from ..errors import UserError
from .unpickler import unpickle

MAX_PICKLE = 2 ** 30   # data.pkl larger than 1 GiB is not a checkpoint we can read


def _open(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as e:
        raise UserError(f"{path} is truncated or not a PyTorch zip checkpoint ({e})") from None


def _read(zf: zipfile.ZipFile, name: str, path: Path, limit: int) -> bytes:
    try:
        info = zf.getinfo(name)
        if info.file_size > limit:
            raise UserError(f"{path}: record {name} holds {info.file_size} bytes, more than expected ({limit})")
        return zf.read(info)
    except KeyError:
        raise UserError(f"{path}: the checkpoint has no record {name} (truncated or damaged?)") from None
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError, RuntimeError) as e:
        raise UserError(f"{path}: cannot read record {name} ({e}; truncated or damaged?)") from None


def read_tree(path: Path):
    """The checkpoint's object tree: dicts, lists, TensorRefs, inert Foreign objects (unpickler.py)."""
    path = Path(path)
    with _open(path) as zf:
        pkls = [n for n in zf.namelist() if n.endswith("data.pkl") and n.count("/") == 1
                and n.split("/")[1] == "data.pkl"]
        if len(pkls) != 1:
            raise UserError(f"{path} is a zip archive but not a PyTorch checkpoint (found {len(pkls)} */data.pkl "
                            f"records, expected 1)")
        prefix = pkls[0][:-len("data.pkl")]
        big = False
        if prefix + "byteorder" in zf.namelist():
            order = _read(zf, prefix + "byteorder", path, 16)
            if order not in (b"little", b"big"):
                raise UserError(f"{path}: unknown byteorder record {order[:16]!r}")
            big = order == b"big"
        data = _read(zf, pkls[0], path, MAX_PICKLE)

    def fetch(key: str, nbytes: int) -> bytes:
        with _open(path) as z:
            raw = _read(z, f"{prefix}data/{key}", path, max(nbytes, 0) + 2 ** 20)
        if len(raw) < nbytes:
            raise UserError(f"{path}: storage {key} holds {len(raw)} bytes, its tensor needs {nbytes} (truncated?)")
        return raw[:nbytes]

    try:
        return unpickle(data, fetch, big)
    except UserError:
        raise
    except Exception as e:  # any failure of a malformed stream is a damaged file
        raise UserError(f"{path}: cannot read its pickled data ({type(e).__name__}: "
                        f"{str(e).splitlines()[0][:120] if str(e) else 'no detail'})") from None
