"""How much an onion holds at a given float precision (issue 21 part 2, the paper's open question 1).

If position p is stored at a scale about γ^p of the first, a number type with unit roundoff u can only keep the
positions whose share of the state stays above u. Two measurements of a trained GRU (NumPy reference, float64):

    exact match per type   the model run with its weights and its state rounded to the type: every parameter once,
                           the state after every encoder and decoder step and the logits (round to nearest even);
                           the arithmetic inside a step stays float64. Types: bfloat16 (u = 2^-8), float16 (2^-11),
                           float32 (2^-24), float64 (2^-53, no rounding). Teacher-forced, as `onionref eval`, in
                           the run's own task.
    footprint[i]           median over N length-L sequences of ‖h(x with x_i changed) − h(x)‖_∞ / ‖h(x)‖_∞: how
                           big position i's trace in the final state is against the state itself
                           (inspect.single_token_differences).
    predicted positions    per type, the positions whose footprint exceeds u: a position below it is lost in one
                           rounding of the state. Predicted: exact match needs all L of them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import runs
from ..cells import gru
from ..tasks.repeat import load_set
from . import figures_beyond
from .evaluate import evaluate
from .inspect import single_token_differences
from .seq2seq import cell_params

UNIT_ROUNDOFF = {"bfloat16": 2.0 ** -8, "float16": 2.0 ** -11, "float32": 2.0 ** -24, "float64": 2.0 ** -53}
TYPES = tuple(UNIT_ROUNDOFF)


def round_to(x, kind: str) -> np.ndarray:
    """x rounded to the nearest `kind` number (ties to even), returned as float64."""
    x = np.asarray(x, np.float64)
    if kind == "float64":
        return x.copy()
    if kind in ("float32", "float16"):
        return x.astype(kind).astype(np.float64)
    # bfloat16 = the upper 16 bits of a float32: round the float32's lower 16 bits away, ties to even
    u = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
    return u.astype(np.uint32).view(np.float32).astype(np.float64)


def predict_rounded(params: dict, batch, kind: str) -> np.ndarray:
    """Teacher-forced logits [T, B, C] with the parameters, every state and the logits rounded to `kind`."""
    q = lambda a: round_to(a, kind)  # noqa: E731
    P = {k: q(v) for k, v in params.items()}
    E, W, c, p = P["embedding.weight"], P["head.weight"], P["head.bias"], cell_params(P)
    h = np.zeros((batch.enc_in.shape[1], W.shape[1]))
    for t in range(batch.enc_in.shape[0]):
        h = q(gru.step_forward(E[batch.enc_in[t]], h, p, batch.mask[t].astype(np.float64))[0])
    logits = np.empty(batch.dec_in.shape + (W.shape[0],))
    for t in range(batch.dec_in.shape[0]):
        h = q(gru.step_forward(E[batch.dec_in[t]], h, p)[0])
        logits[t] = q(h @ W.T + c)
    return logits


def footprint(params: dict, n_symbols: int, length: int, n: int, seed: int = 0) -> np.ndarray:
    """[length]: median over n random sequences of ‖h(x with x_i changed) − h(x)‖_∞ / ‖h(x)‖_∞, float64."""
    rng = np.random.default_rng([seed, 22])
    tokens = rng.integers(0, n_symbols, (n, length))
    p64 = {k: np.asarray(v, np.float64) for k, v in params.items()}
    d, h = single_token_differences(p64, tokens, rng, with_base=True)                # [L, n, H], [n, H]
    return np.median(np.abs(d).max(-1) / np.abs(h).max(-1)[None, :], axis=1)


def precision_report(params: dict, cfg, n: int = 2000, seed: int = 0) -> dict:
    """Exact match per type and length on the first n sequences of the run's `valid` set, the footprint per
    position at L = max_len, and the predicted number of positions each type keeps."""
    tokens, lengths = load_set("valid", cfg.symbols, cfg.min_len, cfg.max_len)
    tokens, lengths = tokens[:n], lengths[:n]
    types = {}
    for kind in TYPES:
        res = evaluate(lambda b, kind=kind: predict_rounded(params, b, kind), tokens, lengths, cfg.symbols,
                       cfg.no_input, task=cfg.task)
        types[kind] = {"accuracy": res["accuracy"], "per_length": res["per_length"], "n": res["n"]}
    fp = footprint(params, cfg.symbols, cfg.max_len, min(n, 1000), seed)
    return {"set": "valid", "max_len": cfg.max_len, "types": types, "unit_roundoff": UNIT_ROUNDOFF,
            "footprint": fp.tolist(),
            "predicted_positions": {k: int((fp > u).sum()) for k, u in UNIT_ROUNDOFF.items()}}


def write_report(run_dir, cfg, params: dict, n: int = 2000) -> dict:
    """precision_report of a run with its "run" and "hidden", written to RUN/precision.json and drawn in
    RUN/precision.png (`onionref precision`, and capacity.py where a run has none made with n)."""
    res = {"run": str(run_dir), "hidden": cfg.hidden, **precision_report(params, cfg, n)}
    runs.write_json(Path(run_dir) / "precision.json", res)
    runs.atomic_write_bytes(Path(run_dir) / "precision.png",
                            figures_beyond.precision(res, f"H={cfg.hidden}, max length {cfg.max_len}"))
    return res
