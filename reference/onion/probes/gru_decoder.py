"""The GRU-decoder probes (GruDecoder, spec §4.4): a fresh GRU(H, H) started at h_enc, with a Linear(H, C) head.

    autoregressive:  inputs Embedding(C+1, H)[SOS, y_1, …, y_{L−1}]   (teacher forcing)
    no input:        a zero vector at every step
The probe is a seq2seq decoder with its own parameters (same names), so the numba backend runs it with the fused
decode + cross-entropy + backward kernel of the model itself (gru_numba.decode_loss, with weight gradients); the
no-input probe as a decoder whose embedding is a single zero row.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ... import layers
from ...cells import gru, gru_numba
from ...tasks.repeat import sos_id
from .common import encoded_batch, loss_and_correct


@dataclass(frozen=True)
class GruDecoderProbe:
    autoregressive: bool = True
    train_set: str = "train"
    valid_set: str = "valid"
    metric: str = "accuracy"

    def init(self, frozen, rng):
        H, C = frozen.state, frozen.n_symbols     # H: the length of the state it sees (LSTM: 2H, or H for h or c)
        params = {}
        if self.autoregressive:
            params["embedding.weight"] = rng.standard_normal((C + 1, H)).astype(np.float32)
        params.update({"gru." + k: v for k, v in gru.init(H, H, rng).items()})
        params.update(layers.linear_init("head.", H, C, rng))
        return params, {}

    def forward(self, params, buffers, frozen, tokens, lengths, rng, train: bool):
        batch, h = encoded_batch(frozen, tokens, lengths)
        T, B = batch.target.shape
        if self.autoregressive:
            ids = np.concatenate([np.full((1, B), sos_id(frozen.n_symbols)), batch.target[:-1]])
        if frozen.backend == "numba":
            return self._fast_forward(params, h, ids if self.autoregressive else np.zeros((T, B), np.int64), batch)
        if self.autoregressive:
            x = params["embedding.weight"][ids]
        else:
            ids, x = None, np.zeros((T, B, h.shape[1]), h.dtype)
        p = {k[4:]: v for k, v in params.items() if k.startswith("gru.")}
        hs, cg = gru.forward(x, h, p)
        logits, ch = layers.linear_forward(hs, params["head.weight"], params["head.bias"])
        loss, dlogits, correct = loss_and_correct(logits, batch)
        return loss, correct, (dlogits, cg, ch, ids, params)

    def _fast_forward(self, params, h, ids, batch):
        decoder = dict(params)
        if not self.autoregressive:
            decoder["embedding.weight"] = np.zeros((1, h.shape[1]), np.float32)
        loss, _, _, grads, correct = gru_numba.decode_loss(decoder, h, ids, batch.target, batch.mask,
                                                           param_grads=True, with_logits=False)
        grads = {k: v.astype(params[k].dtype, copy=False) for k, v in grads.items() if k in params}
        return loss, correct, grads  # the cache is the gradients

    def backward(self, cache):
        if isinstance(cache, dict):  # the fused path has them already
            return cache
        dlogits, cg, ch, ids, params = cache
        grads = {}
        dhs, grads["head.weight"], grads["head.bias"] = layers.linear_backward(dlogits, ch)
        dx, _, g = gru.backward(dhs, cg)
        grads.update({"gru." + k: v for k, v in g.items()})
        if self.autoregressive:
            grads["embedding.weight"] = layers.embedding_backward(ids, dx, params["embedding.weight"].shape[0])
        return grads
