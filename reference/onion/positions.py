"""Per position: does a trained model keep one linear subspace per position? (issue 19's diagnosis of a unigram IIA
that stays low.) From a run's trained analyses, on the L = 9 `intervention` set (unigram) and `valid` (probe):

    iia[t]      the learned unigram intervention (its rotation R and assignment A = argmax M, evaluation mode) with
                only variable t moved: sequences are paired, base a gets x_b[t] at position t and the source state is
                b's original one (which holds x_b[t] there), m[:, t] = 1; IIA = exact match of the decode against a's
                original sequence. The trained method moves a random half of the positions at once; one at a time
                shows which positions have a working subspace.
    channels[t] the rotated channels the assignment gives variable t (channels[9] = kept from the base): a position
                with no channel cannot be moved at all.
    probe[t]    the linear probe's token accuracy at position t over the sequences longer than t (the final state
                linearly decodable per position, or not).
    model[t]    the frozen model's own token accuracy at position t on the same `intervention` set.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import runs
from ..cells.choice import CELLS
from ..errors import UserError
from ..tasks.repeat import load_set, make_batch
from . import methods
from .frozen import Frozen
from .interventions import autosegment
from .train import load_run, require_task

PAIR_SEED = 20241203     # the pairing of the evaluation sequences (fixed, so two runs of the diagnosis agree)


def assignment_counts(M: np.ndarray) -> list[int]:
    """Channels per variable of the assignment logits M [H, V+1] at evaluation (argmax per channel); the last
    entry counts the channels kept from the base."""
    return np.bincount(np.argmax(M, axis=1), minlength=M.shape[1]).tolist()


def swap_one(tokens: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows 0..n−1 paired with rows n..2n−1 of tokens [2n, Lmax]: (x, partner) with x = tokens except that each row
    holds its partner's token at position t; partner [2n] the involution j <-> j ± n."""
    n = len(tokens) // 2
    partner = np.concatenate([np.arange(n, 2 * n), np.arange(n)])
    x = tokens.copy()
    x[:, t] = tokens[partner, t]
    return x, partner


def unigram_iia_per_position(frozen: Frozen, params: dict, base: np.ndarray, tokens: np.ndarray, lengths: np.ndarray,
                             orthogonal_map: str = "matrix_exp", batch: int = 256) -> list[float]:
    """IIA of the learned unigram intervention moving one variable t at a time, t = 0..V−1: the method's own pairing
    (corrupt.unigram_pairs) with the swap mask set at t alone. Pair (a, b): a's base input is x_a with x_b[t] at t,
    its source b's base input (x_b with x_a[t] at t, so the source holds a's token there); decoded against x_a.
    tokens [N, Lmax], lengths [N] (the L = 9 `intervention` set)."""
    V = params["M"].shape[1] - 1
    perm = np.random.default_rng(PAIR_SEED).permutation(len(lengths) - len(lengths) % 2)
    a, b = perm[0::2], perm[1::2]
    fast = frozen.backend == "numba"
    out = []
    for t in range(V):
        correct = []
        for i in range(0, len(a), batch // 2):
            rows = np.concatenate([a[i:i + batch // 2], b[i:i + batch // 2]])
            x, partner = swap_one(tokens[rows], t)
            L = lengths[rows]
            n = len(rows) // 2
            T = int(L.max())
            h = frozen.encode(np.ascontiguousarray(x[:, :T].T), np.arange(T)[:, None] < L[None, :])
            m = np.zeros((2 * n, V), h.dtype)
            m[:, t] = 1
            h_new, _, _ = autosegment.forward(params, base, h, partner, m, None, orthogonal_map, fast)
            orig = make_batch(tokens[rows], L, frozen.n_symbols, frozen.no_input)
            ok = frozen.decode(h_new.astype(frozen.dtype, copy=False), orig.dec_in, orig.target, orig.mask,
                               need_grad=False)[3]
            correct.append(ok)
        out.append(float(np.concatenate(correct).mean()))
    return out


def probe_token_accuracy(frozen: Frozen, probe, params: dict, tokens, lengths, batch: int = 1000) -> list[float]:
    """A linear or MLP probe's (probes/state_decoder.py) token accuracy per position on (tokens, lengths)."""
    right, count = np.zeros(probe.max_len), np.zeros(probe.max_len)
    for i in range(0, len(lengths), batch):
        b = make_batch(tokens[i:i + batch], lengths[i:i + batch], frozen.n_symbols, frozen.no_input)
        h = frozen.encode(b.enc_in, b.mask)
        T = b.target.shape[0]
        logits = probe.logits(params, h, T, frozen.n_symbols)[0]
        right[:T] += ((np.argmax(logits, axis=-1) == b.target) & b.mask).sum(1)
        count[:T] += b.mask.sum(1)
    return [float(r / c) for r, c in zip(right, count) if c]


def model_token_accuracy(frozen: Frozen, tokens, lengths, batch: int = 1000) -> list[float]:
    """The frozen model's own teacher-forced token accuracy per position on (tokens, lengths)."""
    right, count = None, None
    for i in range(0, len(lengths), batch):
        b = make_batch(tokens[i:i + batch], lengths[i:i + batch], frozen.n_symbols, frozen.no_input)
        logits = frozen.decode(frozen.encode(b.enc_in, b.mask), b.dec_in, b.target, b.mask, need_grad=False)[2]
        ok, n = ((np.argmax(logits, axis=-1) == b.target) & b.mask).sum(1), b.mask.sum(1)
        right, count = (ok, n) if right is None else (right + ok, count + n)
    return [float(r / c) for r, c in zip(right, count) if c]


def diagnose(run_dir: Path) -> dict:
    """Every per-position number the run's finished analyses allow (module docstring): {"hidden", "unigram":
    {"iia", "channels", "iia_trained", "steps"} if intervene/linear is done, "probe_linear": {"token_accuracy",
    "accuracy"} if probe/linear is, "model_token_accuracy" on the L = 9 set}. UserError if neither is done."""
    run_dir = Path(run_dir)
    model_cfg, params = load_run(run_dir, cells=CELLS)   # frozen.encode / decode take any cell's state
    require_task(model_cfg, "onionref positions")   # its per-position decodes are repeat's
    frozen = Frozen.of_run(model_cfg, params)
    res = {"run": str(run_dir), "hidden": frozen.hidden}
    lin, probe_dir = run_dir / "intervene/linear", run_dir / "probe/linear"
    if not (lin / "DONE").exists() and not (probe_dir / "DONE").exists():
        raise UserError(f"{run_dir} has no finished intervene/linear or probe/linear analysis to diagnose")
    tok9, len9 = load_set("intervention", model_cfg.symbols, model_cfg.min_len, model_cfg.max_len, model_cfg.n_train)
    res["model_token_accuracy"] = model_token_accuracy(frozen, tok9, len9)
    if (lin / "DONE").exists():
        method = methods.fitted(methods.intervention("linear"), model_cfg)
        arrays, trained = runs.load_arrays(lin / "params.safetensors")[0], runs.read_json(lin / "result.json")
        p = {"X": arrays["X"], "M": arrays["M"]}
        res["unigram"] = {"iia": unigram_iia_per_position(frozen, p, arrays["base"], tok9, len9,
                                                           method.orthogonal_map),
                          "channels": assignment_counts(arrays["M"]),
                          "iia_trained": trained["iia"], "steps": trained["steps"]}
    if (probe_dir / "DONE").exists():
        probe = methods.fitted(methods.probe("linear"), model_cfg)
        tok, ln = load_set(probe.valid_set, model_cfg.symbols, model_cfg.min_len, model_cfg.max_len,
                           model_cfg.n_train)
        arrays = runs.load_arrays(probe_dir / "params.safetensors")[0]
        res["probe_linear"] = {"token_accuracy": probe_token_accuracy(frozen, probe, arrays, tok, ln),
                               "accuracy": runs.read_json(probe_dir / "result.json")["accuracy"]}
    return res
