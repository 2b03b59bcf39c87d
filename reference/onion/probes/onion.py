"""The onion ("peeling") probe (GodelStateDecoderModel, spec §4.4): read a token, subtract its layer, repeat.

Parameters: E [C, H] ~ N(0,1) (no tanh), per-channel γ = 0.9, g = 1, b = 0, lin = 0.1, LayerNorm(H), and a
classifier Linear(H, H) → ReLU → Linear(H, C). With h_0 = h_enc and y_p the ground-truth token (teacher forcing):
    logits_p = cls(LN(h_p))
    h_{p+1}  = h_p − E[y_p] ⊙ (g ⊙ γ^p + p·lin + b)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ... import layers
from ..interventions.onion import scale_backward, scale_forward
from . import onion_numba
from .common import encoded_batch, loss_and_correct


@dataclass(frozen=True)
class OnionProbe:
    train_set: str = "train"
    valid_set: str = "valid"
    metric: str = "accuracy"

    def init(self, frozen, rng):
        H, C = frozen.state, frozen.n_symbols     # H: the length of the state it sees (LSTM: 2H, or H for h or c)
        params = {"E": rng.standard_normal((C, H)).astype(np.float32), "gamma": np.full(H, 0.9, np.float32),
                  "g": np.ones(H, np.float32), "b": np.zeros(H, np.float32), "lin": np.full(H, 0.1, np.float32)}
        params.update(layers.layer_norm_init("ln.", H))
        params.update(layers.linear_init("cls1.", H, H, rng))
        params.update(layers.linear_init("cls2.", H, C, rng))
        return params, {}

    def forward(self, params, buffers, frozen, tokens, lengths, rng, train: bool):
        batch, h = encoded_batch(frozen, tokens, lengths)
        T = batch.target.shape[0]
        sc, sc_cache = scale_forward(params, np.arange(T))                       # [T, H]
        if frozen.backend == "numba":  # the whole head in one kernel per chunk (onion_numba.py)
            loss, correct, grads = onion_numba.loss_and_grads(params, sc, h, batch.target, batch.mask, train)
            return loss, correct, (grads, sc_cache, params)
        # all positions at once: h_p = h_0 − Σ_{q<p} E[y_q] ⊙ scale(q), an exclusive cumulative sum over q
        layer = params["E"][batch.target] * sc[:, None, :]                     # [T, B, H]
        hs = h[None] - (np.cumsum(layer, axis=0) - layer)
        # the classifier reads only the positions t < L (the others carry no loss; their logits stay 0)
        valid = batch.mask
        x, c_ln = layers.layer_norm_forward(hs[valid], params["ln.weight"], params["ln.bias"])
        x, c1 = layers.linear_forward(x, params["cls1.weight"], params["cls1.bias"])
        x, cr = layers.relu_forward(x)
        logits_v, c2 = layers.linear_forward(x, params["cls2.weight"], params["cls2.bias"])
        logits = np.zeros(valid.shape + logits_v.shape[1:], logits_v.dtype)
        logits[valid] = logits_v
        loss, dlogits, correct = loss_and_correct(logits, batch, frozen.backend)
        return loss, correct, (dlogits, valid, c_ln, c1, cr, c2, batch.target, sc, sc_cache, params)

    def backward(self, cache):
        if len(cache) == 3:  # the numba kernel has them already, but for the scale's parameters
            grads, sc_cache, params = cache
            grads = dict(grads)
            grads.update(scale_backward(grads.pop("dsc"), params, sc_cache))
            return {k: np.asarray(v, params[k].dtype) for k, v in grads.items()}
        dlogits, valid, c_ln, c1, cr, c2, target, sc, sc_cache, params = cache
        grads = {}
        dx, grads["cls2.weight"], grads["cls2.bias"] = layers.linear_backward(dlogits[valid], c2)
        dx = layers.relu_backward(dx, cr)
        dx, grads["cls1.weight"], grads["cls1.bias"] = layers.linear_backward(dx, c1)
        dhs_v, grads["ln.weight"], grads["ln.bias"] = layers.layer_norm_backward(dx, c_ln)
        dhs = np.zeros(valid.shape + dhs_v.shape[1:], dhs_v.dtype)
        dhs[valid] = dhs_v
        # layer q is subtracted from every h_p with p > q: d layer_q = −Σ_{p>q} dh_p
        after = np.cumsum(dhs[::-1], axis=0)[::-1] - dhs
        dlayer = -after
        grads["E"] = layers.embedding_backward(target, dlayer * sc[:, None, :], params["E"].shape[0])
        dsc = (dlayer * params["E"][target]).sum(axis=1)                         # [T, H]
        grads.update(scale_backward(dsc, params, sc_cache))
        return grads
