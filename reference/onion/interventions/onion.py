"""The onion intervention (MagicIntervention, spec §4.3): replace one token by adding back a scaled embedding.

Parameters, all per channel (R^H) except E: E [C, H] ~ N(0,1), γ = 0.9, g = 1, b = 0, ℓ = 1.
    scale(p) = g ⊙ γ^p + p·ℓ + b            p = 0-based position from the start          form "onion" (the paper's)
    h'       = h̃ + (tanh E[x_orig] − tanh E[x_new]) ⊙ scale(p)
where h̃ = encode(x with x[p] := x_new). Decode h' teacher-forced with the original x; CE against the original.
Two other forms of the scale, everything else the same:
    "noscale"  the ablation: γ ≡ 1, ℓ ≡ 0, so scale = g + b does not depend on the position
    "free"     one learned vector per position, scale(p) = S[p], S [max_len, H], started at the onion's initial
               scale (S[p] = 0.9^p + p): no γ^p·g + p·ℓ + b form, so whatever the form cannot fit, S can
Data: lengths 2–9 (train / valid).
The decode and its target follow the frozen model's task (targets.py): repeat x_1..x_L; reverse x_L..x_1 (input
position p is the target of step L−1−p); lookup is asked position p, so the restored token x_orig itself must be
output, and a control position, which must still give the stored token. The scale indexes the INPUT position p in
every task, counted from the start (count "start", the paper's) or from the sequence's end (count "end": scale(L−1−p),
the last token at 0; `--mode onion-from-end`): for a reverse task, the order in which the tokens are output.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ... import layers
from ...errors import UserError
from ...tasks.repeat import make_batch
from . import corrupt, onion_numba, targets


FORMS = ("onion", "noscale", "free")


def scale_forward(params, p, form: str = "onion"):
    """scale [B, H] for positions p [B]: g ⊙ γ^p + p·ℓ + b, g + b (noscale) or S[p] (free)."""
    if form == "free":
        return params["S"][p], p
    g, b = params["g"], params["b"]
    if form == "noscale":
        return np.broadcast_to(g + b, (len(p), g.shape[0])), None
    pf = p.astype(g.dtype)[:, None]
    gp = params["gamma"][None, :] ** pf
    return g * gp + pf * params["lin"] + b, (gp, pf)


def scale_backward(dscale, params, cache, form: str = "onion"):
    """dℓ/dscale [B, H] → grads of g, b (and γ, ℓ), or of S (free: each row's gradient summed into its position)."""
    if form == "free":
        dS = np.zeros_like(params["S"], dtype=dscale.dtype)
        np.add.at(dS, cache, dscale)
        return {"S": dS}
    grads = {"b": dscale.sum(0)}
    if form == "noscale":
        grads["g"] = dscale.sum(0)
        return grads
    gp, pf = cache
    grads["g"] = (dscale * gp).sum(0)
    grads["lin"] = (dscale * pf).sum(0)
    # d γ^p / dγ = p γ^(p−1) = p γ^p / γ  (γ stays away from 0 here; p = 0 contributes nothing)
    grads["gamma"] = (dscale * params["g"] * pf * gp).sum(0) / params["gamma"]
    return grads


def scale_table(params: dict, max_len: int) -> np.ndarray:
    """scale(p) [max_len, H] = g ⊙ γ^p + p·ℓ + b of trained onion parameters (an intervention's or the peeling
    probe's), p = 0..max_len−1; UserError if a parameter of the form is missing."""
    for k in ("g", "b", "gamma", "lin"):
        if k not in params:
            raise UserError(f"onion parameters lack {k!r}")
    return scale_forward(params, np.arange(max_len))[0]


class _Tables(NamedTuple):
    """The numba path's cache: d loss / d h', the parameters, (p, x_orig, x_new), tanh E [C, H], scale [T, H]."""
    dh: np.ndarray
    params: dict
    ids: tuple
    tE: np.ndarray
    sc: np.ndarray
    sc_cache: tuple | None


@dataclass(frozen=True)
class OnionIntervention:
    form: str = "onion"     # onion | noscale (the ablation γ ≡ 1, ℓ ≡ 0) | free (a scale vector per position)
    max_len: int = 9        # positions of the free form's S
    count: str = "start"    # the scale's position: p from the start (the paper's) | end (L−1−p)
    train_set: str = "train"
    valid_set: str = "valid"
    metric: str = "iia"

    def init(self, frozen, rng):
        if self.form not in FORMS or self.count not in ("start", "end"):
            raise ValueError(f"unknown onion form {self.form!r} / count {self.count!r}; known: {', '.join(FORMS)} / "
                             "start, end")
        H, C = frozen.state, frozen.n_symbols     # H: the length of the state it sees (LSTM: 2H, or H for h or c)
        params = {"E": rng.standard_normal((C, H)).astype(np.float32)}
        if self.form == "free":
            q = np.arange(self.max_len, dtype=np.float64)[:, None]
            params["S"] = np.broadcast_to(0.9 ** q + q, (self.max_len, H)).astype(np.float32)
            return params, {}
        params.update(g=np.ones(H, np.float32), b=np.zeros(H, np.float32))
        if self.form == "onion":
            params["gamma"] = np.full(H, 0.9, np.float32)
            params["lin"] = np.ones(H, np.float32)
        return params, {}

    def forward(self, params, buffers, frozen, tokens, lengths, rng, train: bool):
        x_t, p, xo, xn = corrupt.single_token(tokens, lengths, frozen.n_symbols, rng)
        orig = targets.target_batch(frozen, tokens, lengths, p, rng)
        q = p if self.count == "start" else lengths - 1 - p      # the scale's position
        tb = make_batch(x_t, lengths, frozen.n_symbols, frozen.no_input)
        s_t = frozen.encode(tb.enc_in, tb.mask)
        h_t = frozen.part(s_t)
        if frozen.backend == "numba":
            return self._fast_forward(params, frozen, orig, s_t, h_t, q, xo, xn, tokens.shape[1], train)
        to, tn = np.tanh(params["E"][xo]), np.tanh(params["E"][xn])
        sc, sc_cache = scale_forward(params, q, self.form)
        h_new = h_t + (to - tn) * sc
        loss, dh, correct = targets.decode(frozen, h_new, s_t, orig, train, frozen.dtype)
        return loss, correct, (dh, params, q, xo, xn, to, tn, sc, sc_cache)

    def _fast_forward(self, params, frozen, orig, s_t, h_t, p, xo, xn, T, train):
        """The edit on the kernels of onion_numba.py, from tables of tanh E and of the scale at positions 0..T−1."""
        tE = np.tanh(params["E"])
        sc, sc_cache = scale_forward(params, np.arange(T), self.form)
        sc = np.ascontiguousarray(sc, np.float32)
        ids = tuple(np.ascontiguousarray(a, np.int64) for a in (p, xo, xn))
        h_new = np.empty_like(h_t)
        onion_numba.edit_forward(h_t, tE, sc, *ids, h_new)
        loss, dh, correct = targets.decode(frozen, h_new, s_t, orig, train)
        return loss, correct, _Tables(dh, params, ids, tE, sc, sc_cache)

    def backward(self, cache):
        if isinstance(cache, _Tables):
            dsc, dtE = np.empty_like(cache.sc), np.empty_like(cache.tE)
            onion_numba.edit_backward(np.ascontiguousarray(cache.dh, np.float32), cache.tE, cache.sc, *cache.ids, dsc,
                                      dtE)
            grads = scale_backward(dsc, cache.params, cache.sc_cache, self.form)
            grads["E"] = dtE * (1.0 - cache.tE * cache.tE)
            return {k: np.asarray(v, cache.params["E"].dtype) for k, v in grads.items()}
        dh, params, p, xo, xn, to, tn, sc, sc_cache = cache
        grads = scale_backward(dh * (to - tn), params, sc_cache, self.form)
        dd = dh * sc
        grads["E"] = layers.embedding_backward(np.concatenate([xo, xn]),
                                               np.concatenate([dd * (1.0 - to * to), -dd * (1.0 - tn * tn)]),
                                               params["E"].shape[0])
        return {k: np.asarray(v, params["E"].dtype) for k, v in grads.items()}
