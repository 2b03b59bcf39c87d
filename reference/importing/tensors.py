"""Tensors of a foreign file, described before they are read: TensorRef, and the safetensors reader.

    TensorRef(shape, dtype, read)      dtype: a numpy dtype name, or "bfloat16"; read() -> the array of `shape`
    ref.floating                       True for float16 / bfloat16 / float32 / float64
    ref.load() -> float32 array        read, checked against `shape`, converted
    read_safetensors(path) -> {name: TensorRef}

Only the tensors an import chooses are ever read, so a checkpoint's optimizer moments or an EMA copy cost nothing.
The safetensors reader is our own (a JSON header of names, dtypes, shapes and byte offsets, then raw little-endian
buffers), because numpy has no bfloat16 and `safetensors.numpy` refuses such files.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import UserError

FLOATING = ("float16", "bfloat16", "float32", "float64")
MAX_HEADER = 100 * 2 ** 20   # as safetensors itself

# safetensors dtype -> (our dtype name, bytes per element); other dtypes (fp8, complex, ...) are listed, never read.
ST_DTYPES = {"F64": ("float64", 8), "F32": ("float32", 4), "F16": ("float16", 2), "BF16": ("bfloat16", 2),
             "I64": ("int64", 8), "I32": ("int32", 4), "I16": ("int16", 2), "I8": ("int8", 1), "U8": ("uint8", 1),
             "BOOL": ("bool", 1)}


@dataclass(frozen=True, eq=False)
class TensorRef:
    shape: tuple
    dtype: str
    read: Callable[[], np.ndarray]

    @property
    def floating(self) -> bool:
        return self.dtype in FLOATING

    def __setstate__(self, state):  # a BUILD opcode of a pickle on a tensor: refused (it would replace `read`)
        raise TypeError("read-only")

    def load(self) -> np.ndarray:
        """The tensor as a float32 array of `shape` (a copy; NaN / Inf are the caller's to check)."""
        a = self.read()
        if tuple(a.shape) != tuple(self.shape):
            raise UserError(f"a tensor read back with shape {tuple(a.shape)}, its header says {tuple(self.shape)}")
        return np.array(a, dtype=np.float32)


def from_raw(raw: bytes, dtype: str, count: int, big_endian: bool = False) -> np.ndarray:
    """The first `count` elements of a raw buffer as a flat array (bfloat16 widened to float32, which is exact)."""
    if dtype == "bfloat16":
        u16 = np.frombuffer(raw, dtype=">u2" if big_endian else "<u2", count=count)
        return (u16.astype(np.uint32) << 16).view(np.float32)
    dt = np.dtype(dtype).newbyteorder(">" if big_endian else "<")
    return np.frombuffer(raw, dtype=dt, count=count).astype(np.dtype(dtype), copy=False)


def _shape(v, where: str) -> tuple:
    if not isinstance(v, list) or len(v) > 16 or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                                         for d in v):
        raise UserError(f"{where}: bad shape {v!r:.60}")
    return tuple(v)


def read_safetensors(path: Path) -> dict:
    """{name: TensorRef} of a safetensors file, after checking its header against the file's size."""
    path = Path(path)
    where = f"corrupt safetensors file {path}"
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise UserError(f"{where}: shorter than its 8-byte header length (truncated?)")
        n = int.from_bytes(head, "little")
        if n > MAX_HEADER or 8 + n > size:
            raise UserError(f"{where}: header length {n} exceeds the file (truncated?)")
        try:
            header = json.loads(f.read(n))
        except (ValueError, RecursionError):
            raise UserError(f"{where}: the header is not JSON") from None
    if not isinstance(header, dict):
        raise UserError(f"{where}: the header is not a JSON object")
    base, avail = 8 + n, size - 8 - n
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("dtype"), str):
            raise UserError(f"{where}: bad entry for {name!r:.60}")
        shape = _shape(entry.get("shape"), f"{where}: {name!r:.60}")
        offs = entry.get("data_offsets")
        if (not isinstance(offs, list) or len(offs) != 2 or not all(isinstance(o, int) and not isinstance(o, bool)
                                                                     for o in offs) or not 0 <= offs[0] <= offs[1]):
            raise UserError(f"{where}: bad data_offsets for {name!r:.60}")
        if offs[1] > avail:
            raise UserError(f"{where}: tensor {name!r:.60} ends past the end of the file (truncated?)")
        kind = ST_DTYPES.get(entry["dtype"])
        if kind is not None and offs[1] - offs[0] != int(np.prod(shape, dtype=object)) * kind[1]:
            raise UserError(f"{where}: tensor {name!r:.60} has {offs[1] - offs[0]} bytes, its shape needs "
                            f"{int(np.prod(shape, dtype=object)) * kind[1]}")
        out[name] = TensorRef(shape, kind[0] if kind else entry["dtype"],
                              _reader(path, base + offs[0], offs[1] - offs[0], kind, shape, where))
    return out


def _reader(path, start, nbytes, kind, shape, where):
    def read():
        if kind is None:
            raise UserError(f"{where}: cannot read a tensor of this dtype")
        with open(path, "rb") as f:
            f.seek(start)
            raw = f.read(nbytes)
        if len(raw) != nbytes:
            raise UserError(f"{where}: a tensor ends past the end of the file (truncated?)")
        return from_raw(raw, kind[0], nbytes // kind[1]).reshape(shape)
    return read
