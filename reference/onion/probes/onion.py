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
from .common import encoded_batch, loss_and_correct


@dataclass(frozen=True)
class OnionProbe:
    train_set: str = "train"
    valid_set: str = "valid"
    metric: str = "accuracy"

    def init(self, frozen, rng):
        H, C = frozen.hidden, frozen.n_symbols
        params = {"E": rng.standard_normal((C, H)).astype(np.float32), "gamma": np.full(H, 0.9, np.float32),
                  "g": np.ones(H, np.float32), "b": np.zeros(H, np.float32), "lin": np.full(H, 0.1, np.float32)}
        params.update(layers.layer_norm_init("ln.", H))
        params.update(layers.linear_init("cls1.", H, H, rng))
        params.update(layers.linear_init("cls2.", H, C, rng))
        return params, {}

    def forward(self, params, buffers, frozen, tokens, lengths, rng, train: bool):
        batch, h = encoded_batch(frozen, tokens, lengths)
        T, B = batch.target.shape
        hs = np.empty((T, B, h.shape[1]), np.result_type(h, params["E"]))
        scs, sc_caches = [], []
        for p in range(T):
            hs[p] = h
            sc, scc = scale_forward(params, np.full(B, p))
            scs.append(sc)
            sc_caches.append(scc)
            h = h - params["E"][batch.target[p]] * sc
        x, c_ln = layers.layer_norm_forward(hs, params["ln.weight"], params["ln.bias"])
        x, c1 = layers.linear_forward(x, params["cls1.weight"], params["cls1.bias"])
        x, cr = layers.relu_forward(x)
        logits, c2 = layers.linear_forward(x, params["cls2.weight"], params["cls2.bias"])
        loss, dlogits, correct = loss_and_correct(logits, batch)
        return loss, correct, (dlogits, c_ln, c1, cr, c2, batch.target, scs, sc_caches, params)

    def backward(self, cache):
        dlogits, c_ln, c1, cr, c2, target, scs, sc_caches, params = cache
        grads = {}
        dx, grads["cls2.weight"], grads["cls2.bias"] = layers.linear_backward(dlogits, c2)
        dx = layers.relu_backward(dx, cr)
        dx, grads["cls1.weight"], grads["cls1.bias"] = layers.linear_backward(dx, c1)
        dhs, grads["ln.weight"], grads["ln.bias"] = layers.layer_norm_backward(dx, c_ln)
        dE = np.zeros_like(params["E"])
        for k in ("gamma", "g", "b", "lin"):
            grads[k] = np.zeros_like(params[k])
        dh = np.zeros_like(dhs[0])       # gradient flowing into h_{p+1} from later positions
        for p in reversed(range(dhs.shape[0])):
            # h_{p+1} = h_p − E[y_p] ⊙ scale(p): dh_{p+1} reaches h_p unchanged, E and the scale get −dh ⊙ ·
            np.add.at(dE, target[p], -dh * scs[p])
            for k, v in scale_backward(-dh * params["E"][target[p]], params, sc_caches[p]).items():
                grads[k] += v
            dh = dh + dhs[p]
        grads["E"] = dE
        return grads
