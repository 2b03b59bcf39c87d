"""A trained seq2seq model, frozen, as stage 2 sees it: encode a batch, decode a state and return d loss / d state.

Stage 2 (spec §4) never updates the model; it trains analysis parameters that act on the encoder's final state.
So all it needs from the model is:
    encode(enc_in [T, B], mask [T, B]) -> h [B, H]                                  (no gradient)
    decode(h0 [B, H], dec_in, target, mask) -> (loss, dh0 [B, H], logits [T, B, C])  (teacher-forced CE)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import seq2seq


@dataclass(frozen=True)
class Frozen:
    params: dict            # the model's parameters (float32, torch names)
    n_symbols: int = 30
    no_input: bool = False
    backend: str = "numpy"  # numpy: the reference; numba: the fast path

    @property
    def dtype(self):
        return self.params["embedding.weight"].dtype

    @property
    def hidden(self) -> int:
        return self.params["embedding.weight"].shape[1]

    def encode(self, enc_in, mask):
        """h_enc [B, H] of the batch's encoder inputs (each sequence's state at its own length)."""
        if self.backend == "numba":
            from ..cells import gru_numba
            return gru_numba.encode(self.params, enc_in, mask)
        return seq2seq.encode_forward(self.params, enc_in, mask)[0]

    def decode(self, h0, dec_in, target, mask, need_grad: bool = True):
        """Teacher-forced decode of h0: (loss, dh0 or None, logits [T, B, C])."""
        if self.backend == "numba":
            from ..cells import gru_numba
            logits, cache = gru_numba.decode_forward(self.params, h0, dec_in)
        else:
            logits, cache = seq2seq.decode_forward(self.params, h0, dec_in)
        loss, dlogits = seq2seq.cross_entropy(logits, target, mask)
        if not need_grad:
            return loss, None, logits
        if self.backend == "numba":
            dh0, _ = gru_numba.decode_backward(dlogits, cache, need_param_grads=False)
        else:
            dh0, _ = seq2seq.decode_backward(dlogits, cache)
        return loss, dh0, logits
