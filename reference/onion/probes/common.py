"""What every probe shares: encode the original sequence (frozen, no gradient), then a loss over positions t < L.

Probes are task-independent: whatever the model was trained to output (repeat, reverse, lookup), a probe reads the
STORED input sequence x_1..x_L from the final encoder state, so its batch is repeat's (the encoder input is the
same in every task) and its target the input tokens in input order."""
from __future__ import annotations

import numpy as np

from ...cells import gru_numba
from ..seq2seq import cross_entropy, exact_match
from ...tasks.repeat import make_batch


def encoded_batch(frozen, tokens, lengths):
    """(batch, h_enc [B, V]) of the original sequences: the part of the state the probe sees (V = frozen.state)."""
    b = make_batch(tokens, lengths, frozen.n_symbols, frozen.no_input)
    return b, frozen.part(frozen.encode(b.enc_in, b.mask))


def loss_and_correct(logits, batch, backend: str = "numpy"):
    """(loss, dlogits, correct [B]) of position logits [T, B, C] against the batch's targets (the loss on the numba
    kernel when the frozen model's backend is numba)."""
    if backend == "numba":
        loss, dlogits = gru_numba.cross_entropy(logits, batch.target, batch.mask)
        dlogits = dlogits.astype(logits.dtype, copy=False)
    else:
        loss, dlogits = cross_entropy(logits, batch.target, batch.mask)
    correct = exact_match(logits, batch.target, batch.mask)
    return loss, dlogits, correct
