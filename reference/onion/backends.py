"""Which function runs a seq2seq model of a given cell on a given backend: the training step and the prediction.

    numpy  onion/seq2seq.py, the readable reference (the GRU's own functions, or the generic ones given the cell)
    numba  cells/gru_numba.py for the GRU, cells/seq_numba.py for every other cell (cells/choice.py binds it)
"""
from __future__ import annotations

from ..cells import choice
from . import seq2seq


def loss_and_grads_fn(backend: str, cell: str = "gru", nonlinearity: str = "tanh", P: int | None = None):
    """The (params, batch) -> (loss, grads, logits) function of a backend and cell."""
    c = choice.cell_of(cell, nonlinearity, P)
    if backend == "numba":
        if cell == "gru":
            from ..cells import gru_numba
            return gru_numba.loss_and_grads
        from ..cells import seq_numba   # logits None: the training loop does not read them (see with_logits)
        return lambda params, batch: seq_numba.loss_and_grads(params, batch, c, with_logits=False)
    if cell == "gru":
        return seq2seq.loss_and_grads
    return lambda params, batch: seq2seq.loss_and_grads(params, batch, c)


def predict_fn(backend: str, cell: str = "gru", nonlinearity: str = "tanh", P: int | None = None):
    """The (params, batch) -> logits function of a backend and cell (as `loss_and_grads_fn`)."""
    c = choice.cell_of(cell, nonlinearity, P)
    if backend == "numba":
        if cell == "gru":
            from ..cells import gru_numba
            return gru_numba.predict
        from ..cells import seq_numba
        return lambda params, batch: seq_numba.predict(params, batch, c)
    if cell == "gru":
        return seq2seq.predict
    return lambda params, batch: seq2seq.predict(params, batch, c)
