"""The training step of each backend for `onionref bench`, and the worker process that times one backend.

A step: batch 256, every sequence of length L = 9, encode, teacher-forced decode, cross-entropy, backward, AdamW
(lr 1e-3, wd 0.1).
    numba   gru_numba.loss_and_grads + adamw_numba.update; chunk threads, BLAS pinned to 1 thread
    numpy   seq2seq.loss_and_grads + divergence.update (adamw.step); BLAS with `threads` threads
(the numba and numpy steps check finiteness around the update, as `onionref train` does)
    torch   nn.Embedding + nn.GRU + nn.Linear + torch.optim.AdamW(fused=True) in float32, torch.set_num_threads(threads)

Each backend runs in its own process (`worker`): measured in one process, a backend's idle library threads
(OpenBLAS and OpenMP spin a while after each call) took the cores from the next backend on this 2-CPU machine,
and torch's 2-thread step went from 74 ms standalone to 1.5 s.
"""
from __future__ import annotations

import time

import numpy as np

from .. import adamw, divergence
from ..onion import seq2seq
from ..tasks.repeat import make_batch

B, L, N_SYMBOLS = 256, 9, 30


def _batch(seed: int = 0):
    rng = np.random.default_rng(seed)
    return make_batch(rng.integers(0, N_SYMBOLS, size=(B, L)), np.full(B, L), N_SYMBOLS)


def _numpy_like_step(loss_and_grads, hidden: int, update=None):
    """A step function of a NumPy-parameter backend: loss, gradients, the checked AdamW update (as `train` does)."""
    params = seq2seq.init_params(hidden, N_SYMBOLS, N_SYMBOLS + 1, np.random.default_rng(0))
    state, cfg, batch = adamw.init_state(params), adamw.AdamWConfig(lr=1e-3, weight_decay=0.1), _batch()
    update = update or divergence.update

    def step():
        loss, grads, _ = loss_and_grads(params, batch)
        if update(params, grads, loss, state, cfg) is not None:
            raise RuntimeError("the bench's training step diverged")
    return step


def numba_step(hidden: int, threads: int):
    from ..cells import gru_numba

    gru_numba.set_threads(threads)
    gru_numba.pin_blas()
    from ..adamw_numba import update
    return _numpy_like_step(gru_numba.loss_and_grads, hidden, update)


def numpy_step(hidden: int, threads: int):
    return _numpy_like_step(seq2seq.loss_and_grads, hidden)


def torch_step(hidden: int, threads: int):
    """The same model and step in PyTorch (CPU, float32), as lean as a competent user writes it: one embedding and
    one nn.GRU for encoder and decoder, nn.Linear, F.cross_entropy, and AdamW's fused CPU kernel (one call for all
    parameters instead of a Python loop over them; foreach where fused is unavailable)."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    emb, gru = torch.nn.Embedding(N_SYMBOLS + 1, hidden), torch.nn.GRU(hidden, hidden)
    head = torch.nn.Linear(hidden, N_SYMBOLS)
    params = [*emb.parameters(), *gru.parameters(), *head.parameters()]
    try:
        opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.1, fused=True)
    except (RuntimeError, TypeError):  # a torch without the fused CPU AdamW
        opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.1, foreach=True)
    batch = _batch()
    enc_in, dec_in = torch.from_numpy(batch.enc_in), torch.from_numpy(batch.dec_in)
    target = torch.from_numpy(batch.target).flatten()

    def step():
        _, h = gru(emb(enc_in))                     # all sequences have length L: the last state is h_enc
        out, _ = gru(emb(dec_in), h)
        loss = F.cross_entropy(head(out).flatten(0, 1), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


BACKENDS = {"numba": numba_step, "numpy": numpy_step, "torch": torch_step}


def worker(conn, backend: str, threads: int, suite: str = "train") -> None:
    """Serve timing requests for one backend: receives (args, warmup, steps, max_seconds), answers
    ("times", [seconds per step]) or ("error", message); None ends the worker. The step timed is
    make_step(*args, threads), make_step = BACKENDS[backend] of the suite: "train" (this file: args = (hidden,)) or
    "analyses" (analyses.py: args = (hidden, analysis))."""
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1 if backend == "numba" else threads, user_api="blas")
        if suite == "analyses":
            from .analyses import BACKENDS as table
        else:
            table = BACKENDS
        make_step = table[backend]
        if backend == "torch":
            import torch  # noqa: F401  (fails here, not in the parent, when torch is absent or broken)
    except Exception as e:  # an absent or broken torch only removes its column
        conn.send(("error", f"{type(e).__name__}: {e}"))
        return
    conn.send(("ready", backend))
    while (req := conn.recv()) is not None:
        try:
            conn.send(("times", time_steps(make_step(*req[0], threads), *req[1:])))
        except Exception as e:  # e.g. MemoryError at a huge H: the parent reports it
            conn.send(("error", f"{type(e).__name__}: {e}"))


def time_steps(step, warmup: int, steps: int, max_seconds: float) -> list:
    """`warmup` untimed calls, then up to `steps` timed ones (at least 3, fewer once `max_seconds` have passed)."""
    for _ in range(warmup):
        step()
    times, start = [], time.perf_counter()
    while len(times) < steps and (len(times) < 3 or time.perf_counter() - start < max_seconds):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return times
