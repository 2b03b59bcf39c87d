"""Linear and MLP probes (StateDecoderModel, spec §4.4): all positions at once from h_enc, not autoregressive.

    n_layers = 1 ("Linear"):  logits = Linear(H, C·Lmax)(h)
    n_layers = 2 ("MLP"):     logits = Linear(H, C·Lmax)(ReLU(Linear(H, H)(h)))
The C·Lmax outputs are read as [B, Lmax, C], transposed to [Lmax, B, C] and cut to the batch's longest sequence.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ... import layers
from . import state_decoder_numba
from .common import encoded_batch, loss_and_correct


@dataclass(frozen=True)
class StateDecoderProbe:
    n_layers: int = 1
    max_len: int = 9
    train_set: str = "train"
    valid_set: str = "valid"
    metric: str = "accuracy"

    def init(self, frozen, rng):
        H, C = frozen.state, frozen.n_symbols     # H: the length of the state it sees (LSTM: 2H, or H for h or c)
        params = layers.linear_init("hidden.", H, H, rng) if self.n_layers == 2 else {}
        params.update(layers.linear_init("out.", H, C * self.max_len, rng))
        return params, {}

    def forward(self, params, buffers, frozen, tokens, lengths, rng, train: bool):
        batch, h = encoded_batch(frozen, tokens, lengths)
        if frozen.backend == "numba":  # layers, loss and backward in one kernel per chunk (state_decoder_numba.py)
            loss, correct, grads = state_decoder_numba.loss_and_grads(params, h, batch.target, batch.mask,
                                                                      frozen.n_symbols, train)
            return loss, correct, grads
        logits, (caches, c3) = self.logits(params, h, batch.target.shape[0], frozen.n_symbols)
        loss, dlogits, correct = loss_and_correct(logits, batch, frozen.backend)
        return loss, correct, (dlogits, caches, c3, len(lengths), frozen.n_symbols)

    def logits(self, params, h, T: int, C: int):
        """(logits [T, B, C] of the states h [B, H] for positions t < T, the layer caches): the reference forward."""
        caches = []
        x = h
        if self.n_layers == 2:
            x, c1 = layers.linear_forward(x, params["hidden.weight"], params["hidden.bias"])
            x, c2 = layers.relu_forward(x)
            caches = [c1, c2]
        y, c3 = layers.linear_forward(x, params["out.weight"], params["out.bias"])
        return y.reshape(len(h), self.max_len, C)[:, :T].transpose(1, 0, 2), (caches, c3)

    def backward(self, cache):
        if isinstance(cache, dict):  # the numba kernel has them already
            return cache
        dlogits, caches, c3, B, C = cache
        dy = np.zeros((B, self.max_len, C), dlogits.dtype)
        dy[:, :dlogits.shape[0]] = dlogits.transpose(1, 0, 2)
        dx, dW, db = layers.linear_backward(dy.reshape(B, -1), c3)
        grads = {"out.weight": dW, "out.bias": db}
        if self.n_layers == 2:
            dx = layers.relu_backward(dx, caches[1])
            _, grads["hidden.weight"], grads["hidden.bias"] = layers.linear_backward(dx, caches[0])
        return grads
