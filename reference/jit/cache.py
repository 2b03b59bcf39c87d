"""Keep Numba's on-disk cache of the fast path honest when any of its source files changes.

Numba invalidates a cached function only when the file that defines it changes. Our kernels call (and inline)
functions from other files (jit/math32.py, jit/blas.py, ...), so after an edit to math32.py alone, the
cached gru_numba_chunks.train_chunk would still run the old tanh. This module hashes all the fast path's
source files and, when the hash differs from the one stored next to the cache, drops the cache of every kernel,
so the next call recompiles (about 15 s) instead of running stale code.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

_STAMP = "onionref-numba-sources-{}.sha256"


def sources_digest(modules) -> str:
    h = hashlib.sha256()
    for m in modules:
        h.update(Path(m.__file__).read_bytes())
    return h.hexdigest()


def cached_dispatchers(modules) -> list:
    """The `cache=True` Numba functions defined in `modules`."""
    out = []
    for m in modules:
        for obj in vars(m).values():
            cache = getattr(obj, "_cache", None)
            if getattr(obj, "__module__", None) == m.__name__ and hasattr(cache, "flush") and \
                    getattr(cache, "cache_path", None):
                out.append(obj)
    return out


def drop_stale_cache(modules) -> bool:
    """Flush the cache of every kernel in `modules` if their sources changed since it was written.
    Returns True if it flushed. Never raises for an unwritable cache directory (Numba then keeps no cache)."""
    dispatchers = cached_dispatchers(modules)
    if not dispatchers:
        return False
    digest = sources_digest(modules)
    # One stamp per fast path (named by its last module): two cells whose kernels share a cache directory must not
    # read each other's stamp and flush each other's cache on every start.
    stamp = Path(dispatchers[0]._cache.cache_path) / _STAMP.format(modules[-1].__name__)
    try:
        if stamp.read_text().strip() == digest:
            return False
    except OSError:
        pass
    for d in dispatchers:
        d._cache.flush()
    try:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        tmp = stamp.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(digest + "\n")
        os.replace(tmp, stamp)
    except OSError:
        pass
    return True
