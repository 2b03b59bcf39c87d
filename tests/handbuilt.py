"""Hand-built frozen models with known storage, for testing the interventions independently of training.

Both use H = L·C channels (L positions, C symbols) and expose what analysis methods need from a frozen model:
n_symbols, no_input, hidden, state (= hidden: the state is h), dtype, encode(enc_in, mask) -> h,
decode(h0, dec_in, target, mask, need_grad), part / complete (view "all": the whole state).
    OnionModel: h = Σ_i γ^i e(x_i), e(c) = one-hot of c in the first C channels; decoding peels
                h_t = h − Σ_{j<t} γ^j e(x_j) (x_j from the teacher-forced inputs), logits_t = h_t[:C] / γ^t.
    SlotModel:  h = Σ_i onehot(i·C + x_i) (one subspace per position); logits_t = h[t·C:(t+1)·C].
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from onionref.onion.seq2seq import cross_entropy, exact_match
from onionref.tasks import access


@dataclass(frozen=True)
class _Hand:
    n_symbols: int = 5
    max_len: int = 4
    gamma: float = 0.25
    no_input: bool = False
    task: str = "repeat"
    dtype = np.float64
    backend = "numpy"  # as Frozen: the methods take their NumPy path

    @property
    def hidden(self):
        return self.n_symbols * self.max_len

    @property
    def state(self):   # as Frozen.state: the length of the state the methods act on (h itself here)
        return self.hidden

    def part(self, s):           # as Frozen with view "all": the methods see and edit the whole state
        return s

    def complete(self, v, s):
        return v

    def batch(self, tokens, lengths, queries=None):
        return access.batch(self.task, tokens, lengths, self.n_symbols, self.no_input, queries)

    def decode(self, h0, dec_in, target, mask, need_grad=True, with_logits=True):
        logits = self.logits(h0, dec_in)
        loss, _ = cross_entropy(logits, target, mask)
        return loss, (np.zeros_like(h0) if need_grad else None), logits, exact_match(logits, target, mask)


class OnionModel(_Hand):
    def encode(self, enc_in, mask):
        T, B = enc_in.shape
        h = np.zeros((B, self.hidden))
        for i in range(T):
            h[np.arange(B), enc_in[i]] += self.gamma ** i * mask[i]
        return h

    def logits(self, h0, dec_in):
        T, B = dec_in.shape
        h = h0.copy()
        out = np.empty((T, B, self.n_symbols))
        for t in range(T):
            if t > 0:
                h[np.arange(B), dec_in[t]] -= self.gamma ** (t - 1)
            out[t] = h[:, :self.n_symbols] / self.gamma ** t
        return out


class SlotModel(_Hand):
    def encode(self, enc_in, mask):
        T, B = enc_in.shape
        h = np.zeros((B, self.hidden))
        for i in range(T):
            h[np.arange(B), i * self.n_symbols + enc_in[i]] += mask[i]
        return h

    def logits(self, h0, dec_in):
        T = dec_in.shape[0]
        C = self.n_symbols
        return np.stack([h0[:, t * C:(t + 1) * C] for t in range(T)])


def slot_linear_params(model, n_vars: int):
    """Rotation = identity, block i -> variable min(i, V−1): the exact solution for the slot model."""
    H, C = model.hidden, model.n_symbols
    M = np.full((H, n_vars + 1), -10.0)
    for c in range(H):
        M[c, min(c // C, n_vars - 1)] = 10.0
    return {"X": np.zeros((H, H)), "M": M}, {"base": np.eye(H)}


def onion_intervention_params(model):
    """tanh(E[c]) = ½·e(c) and scale(p) = 2γ^p (g = 2, γ, ℓ = 0, b = 0): the exact solution for the onion model."""
    H, C = model.hidden, model.n_symbols
    E = np.zeros((C, H))
    E[np.arange(C), np.arange(C)] = np.arctanh(0.5)
    return {"E": E, "g": np.full(H, 2.0), "b": np.zeros(H), "gamma": np.full(H, model.gamma),
            "lin": np.zeros(H)}, {}
