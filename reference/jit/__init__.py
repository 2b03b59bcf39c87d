"""Numba helpers shared by every fast path: BLAS from inside njit, float32 math, threads, cache hygiene."""
