"""Linear-subspace interchange interventions: unigram (ElementwiseIntervention) and n-gram (NgramIntervention).

Spec §4.2. One training example: build base and source inputs (corrupt.py), encode both with the frozen model,
rotate, move the channels of the intervened variables from source to base (autosegment.py), rotate back, decode
teacher-forced with the ORIGINAL sequence, CE against the original. IIA = exact match of that decode.
Data: length-9 sequences only (train_l9 / intervention).
The decode and its target follow the frozen model's task (targets.py): repeat x_1..x_L; reverse x_L..x_1 (the token
moved at input position p is the target of step L−1−p); lookup asks each sequence the intervened position, so the
moved token itself must be output (n-gram: the corrupted position p; unigram: one of the swapped positions, uniform,
corrupt.swapped_queries), and a control position, which must still give the stored token. Lookup's draws come after
the corruption's, so repeat's are as before.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import autosegment, corrupt, gumbel, targets


@dataclass(frozen=True)
class LinearIntervention:
    ngram: int = 1          # 1: unigram (paired per-position swaps); n >= 2: n-gram windows
    max_len: int = 9
    train_set: str = "train_l9"
    valid_set: str = "intervention"
    metric: str = "iia"
    orthogonal_map: str = "matrix_exp"   # the rotation's parametrisation (rotation.py): matrix_exp (paper) | cayley

    @property
    def n_vars(self) -> int:
        return self.max_len - self.ngram + 1

    def init(self, frozen, rng):
        """(trainable params {"X", "M"}, fixed buffers {"base"})."""
        params, base = autosegment.init(frozen.state, self.n_vars, rng)   # the state it sees (LSTM: [h; c], h or c)
        return {k: v.astype(np.float32) for k, v in params.items()}, {"base": base}

    def forward(self, params, buffers, frozen, tokens, lengths, rng, train: bool):
        """(loss, correct [B] bool, cache) on original sequences tokens [B, Lmax], lengths [B]."""
        fast = frozen.backend == "numba"
        if self.ngram == 1:
            inputs, partner, m = corrupt.unigram_pairs(tokens, lengths, self.n_vars, rng, fast)
            queries = corrupt.swapped_queries(m, lengths, rng) if frozen.task == "lookup" else None
            s, src = frozen.encode(*_enc(inputs, lengths)), partner
        else:
            base, src, m, queries = corrupt.ngram_window(tokens, lengths, self.ngram, self.n_vars, frozen.n_symbols,
                                                         rng, fast)
            s = frozen.encode(*_enc(np.concatenate([base, src]), np.concatenate([lengths, lengths])))
            src = np.arange(len(lengths), 2 * len(lengths))
        orig = targets.target_batch(frozen, tokens, lengths, queries, rng)
        noise = gumbel.sample_noise(params["M"].shape, rng) if train else None
        h_new, reg, c = autosegment.forward(params, buffers["base"], frozen.part(s), src, m, noise,
                                            self.orthogonal_map, fast)
        loss, dh, correct = targets.decode(frozen, h_new, s[:len(h_new)], orig, train, frozen.dtype)
        return loss + reg, correct, (c, dh, params["M"].dtype)

    def backward(self, cache):
        c, dh, dtype = cache
        return {k: v.astype(dtype, copy=False) for k, v in autosegment.backward(dh, c).items()}


def _enc(tokens, lengths):
    T = int(lengths.max())
    mask = np.arange(T)[:, None] < lengths[None, :]
    return np.ascontiguousarray(tokens[:, :T].T), mask
