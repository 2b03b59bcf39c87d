"""A trained seq2seq model, frozen, as stage 2 sees it: encode a batch, decode a state and return d loss / d state.

Stage 2 (spec §4) never updates the model; it trains analysis parameters that act on the encoder's final state.
So all it needs from the model is:
    encode(enc_in [T, B], mask [T, B]) -> s [B, S]                                  (no gradient)
    decode(s0 [B, S], dec_in, target, mask) -> (loss, ds0 [B, S], logits [T, B, C], correct [B])
                                                                          (teacher-forced CE, exact match)
    batch(tokens, lengths, queries) -> the trained task's batch (its dec_in, target and loss_mask are what decode
                                       takes: the counterfactual target of every intervention follows the task)
The cell's state vector (cells/choice.py) has length H for the GRU, Elman, linear RNN and AL-RNN, 2H for the LSTM
(s = [h; c]). By default (view "all") the analyses see and edit the whole of it. An LSTM's frozen model can instead
show them one part (view "h" or "c", `--state h|c`): every intervention and probe sizes itself by `state` (the
length of the part it sees) and reads the part of an encoded state, and an edited part is decoded in the completed
state whose other part is the base sequence's own, unedited:
    part(s [B, 2H]) -> v [B, H]                     (the view's half; all: s itself)
    complete(v [B, H], s [B, 2H]) -> [B, 2H]        c view: [h_s; v], h view: [v; c_s]   (all: v itself)
        backward: d loss / d v = part(d loss / d s0)
The numba backend decodes, takes the loss and goes back to dh0 in one fused call per batch chunk (cells/gru_numba.py
for the GRU, cells/seq_numba.py for every other cell), with the model's weights converted for the kernels once
(`fast_weights`), not every call.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..cells import gru, gru_numba, seq_numba
from ..errors import UserError
from . import seq2seq
from ..tasks import access


VIEWS = ("all", "h", "c")   # --state: the whole state, or the LSTM's h or c alone


@dataclass(frozen=True)
class Frozen:
    params: dict            # the model's parameters (float32, torch names)
    n_symbols: int = 30
    no_input: bool = False
    backend: str = "numpy"  # numpy: the reference; numba: the fast path
    task: str = "repeat"    # repeat | reverse | lookup (tasks/access.py): what the decoder was trained to output
    cell: object = gru      # the cell seq2seq runs (cells/choice.py's cell_of)
    view: str = "all"       # the part of the state the analyses see and edit: all | h | c (h, c: LSTM only)

    @classmethod
    def of_run(cls, model_cfg, params: dict, backend: str | None = None, view: str = "all") -> "Frozen":
        """The frozen model of a trained run (its TrainConfig and parameters), on `backend` or the run's own;
        UserError if `view` is not all | h | c, or is h | c on a run whose cell is not the LSTM."""
        if view not in VIEWS:
            raise UserError(f"unknown --state {view!r}; known: {', '.join(VIEWS)}")
        if view != "all" and model_cfg.cell != "lstm":
            raise UserError(f"--state {view} needs an LSTM run (this run's cell is {model_cfg.cell})")
        backend = backend or model_cfg.backend
        return cls(params, model_cfg.symbols, model_cfg.no_input, backend, model_cfg.task, model_cfg.cell_module(),
                   view)

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
    def full_state(self) -> int:
        """S, the length of the state vector that encode returns and decode takes: H, or 2H for the LSTM."""
        return self.cell.state_size(self.hidden)

    @property
    def state(self) -> int:
        """The length of the state the analyses see and edit: S (view all), or H (view h or c)."""
        return self.full_state if self.view == "all" else self.hidden

    def part(self, s):
        """The analysed part [B, state] of full states s [B, S] (view all: s itself; h: s[:, :H]; c: s[:, H:])."""
        if self.view == "all":
            return s
        H = self.hidden
        return np.ascontiguousarray(s[:, :H] if self.view == "h" else s[:, H:])

    def complete(self, v, s):
        """The full state [B, S] of an edited part v [B, state], the rest from the base's own full state s [B, S]
        (view all: v itself). Its backward is `part`: d loss / d v = part(d loss / d state)."""
        if self.view == "all":
            return v
        H = self.hidden
        return np.concatenate([v, s[:, H:]] if self.view == "h" else [s[:, :H], v], axis=1)

    @cached_property
    def fast_weights(self):
        """The parameters as the numba kernels take them (contiguous float32, the input table precomputed)."""
        if self.cell is gru:
            return gru_numba.Weights.of(self.params)
        return seq_numba.Weights.of(self.params, self.cell)

    def encode(self, enc_in, mask):
        """s_enc [B, S] of the batch's encoder inputs (each sequence's state at its own length): the full state,
        whatever the view (`part` of it is what an analysis sees)."""
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
