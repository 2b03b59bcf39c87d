"""A trained seq2seq model, frozen, as stage 2 sees it: encode a batch, decode a state and return d loss / d state.

Stage 2 (spec §4) never updates the model; it trains analysis parameters that act on the encoder's final state.
So all it needs from the model is:
    encode(enc_in [T, B], mask [T, B]) -> s [B, S]                                  (no gradient)
    decode(s0 [B, S], dec_in, target, mask) -> (loss, ds0 [B, S], logits [T, B, C], correct [B])
                                                                          (teacher-forced CE, exact match)
    batch(tokens, lengths, queries) -> the trained task's batch (its dec_in, target and loss_mask are what decode
                                       takes: the counterfactual target of every intervention follows the task)
S = `state`, the length of the cell's state vector (cells/choice.py): H for the GRU, Elman, linear RNN and AL-RNN,
2H for the LSTM (s = [h; c]); every intervention and probe sizes itself by it, so it acts on the whole state.
The numba backend decodes, takes the loss and goes back to dh0 in one fused call per batch chunk (cells/gru_numba.py
for the GRU, cells/seq_numba.py for every other cell), with the model's weights converted for the kernels once
(`fast_weights`), not every call.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..cells import gru, gru_numba, seq_numba
from . import seq2seq
from ..tasks import access


@dataclass(frozen=True)
class Frozen:
    params: dict            # the model's parameters (float32, torch names)
    n_symbols: int = 30
    no_input: bool = False
    backend: str = "numpy"  # numpy: the reference; numba: the fast path
    task: str = "repeat"    # repeat | reverse | lookup (tasks/access.py): what the decoder was trained to output
    cell: object = gru      # the cell seq2seq runs (cells/choice.py's cell_of)

    @classmethod
    def of_run(cls, model_cfg, params: dict, backend: str | None = None) -> "Frozen":
        """The frozen model of a trained run (its TrainConfig and parameters), on `backend` or the run's own."""
        backend = backend or model_cfg.backend
        return cls(params, model_cfg.symbols, model_cfg.no_input, backend, model_cfg.task, model_cfg.cell_module())

    def batch(self, tokens, lengths, queries=None):
        """The task's batch of sequences tokens [B, Lmax], lengths [B] (lookup: queries [B], the asked positions)."""
        return access.batch(self.task, tokens, lengths, self.n_symbols, self.no_input, queries)

    @property
    def dtype(self):
        return self.params["embedding.weight"].dtype

    @property
    def hidden(self) -> int:
        """H, the cell's output size (the head's input; the embedding's width E may differ in an imported model)."""
        return self.params["head.weight"].shape[1]

    @property
    def state(self) -> int:
        """S, the length of the state vector that encode returns and decode takes: H, or 2H for the LSTM."""
        return self.cell.state_size(self.hidden)

    @cached_property
    def fast_weights(self):
        """The parameters as the numba kernels take them (contiguous float32, the input table precomputed)."""
        if self.cell is gru:
            return gru_numba.Weights.of(self.params)
        return seq_numba.Weights.of(self.params, self.cell)

    def encode(self, enc_in, mask):
        """s_enc [B, S] of the batch's encoder inputs (each sequence's state at its own length)."""
        if self.backend == "numba":
            if self.cell is not gru:
                return seq_numba.encode(self.fast_weights, enc_in, mask, self.cell)
            return gru_numba.encode(self.fast_weights, enc_in, mask)
        return seq2seq.encode_forward(self.params, enc_in, mask, self.cell)[0]

    def decode(self, h0, dec_in, target, mask, need_grad: bool = True, with_logits: bool = True):
        """Teacher-forced decode of h0: (loss, dh0 or None, logits [T, B, C], correct [B] = exact match); the numba
        path's training decode returns logits None unless with_logits (they stay in the kernel's layout)."""
        if self.backend == "numba" and self.cell is not gru:
            if need_grad:
                loss, dh0, logits, _, correct = seq_numba.decode_loss(self.fast_weights, h0, dec_in, target, mask,
                                                                      self.cell, with_logits=with_logits)
                return loss, dh0, logits, correct
            logits = seq_numba.decode_forward(self.fast_weights, h0, dec_in, self.cell)[0]
        elif self.backend == "numba":
            if need_grad:
                loss, dh0, logits, _, correct = gru_numba.decode_loss(self.fast_weights, h0, dec_in, target, mask,
                                                                      with_logits=with_logits)
                return loss, dh0, logits, correct
            logits = gru_numba.decode_forward(self.fast_weights, h0, dec_in)[0]
        else:
            logits, cache = seq2seq.decode_forward(self.params, h0, dec_in, self.cell)
        loss, dlogits = seq2seq.cross_entropy(logits, target, mask)
        correct = seq2seq.exact_match(logits, target, mask)
        if not need_grad:
            return loss, None, logits, correct
        dh0, _ = seq2seq.decode_backward(dlogits, cache, self.cell)
        return loss, dh0, logits, correct
