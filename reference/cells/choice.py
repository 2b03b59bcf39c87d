"""The recurrent cell of the repeat model, chosen by name (`onionref train --cell`, issue 22).

    CELLS = ("gru", "lstm", "elman", "linear", "alrnn")
    cell_of(name, nonlinearity="tanh", P=None, init=None)
                                     the object onion/seq2seq.py runs: the module cells/gru.py or cells/lstm.py
                                     itself, Elman(φ) (cells/elman.py with its φ fixed; the linear RNN is
                                     Elman("identity")), or ALRNN(P, init) (cells/alrnn_masked.py with its number of
                                     ReLU units and its init kind fixed: "sequence", the spec's, or "uniform")

What seq2seq needs of a cell (gru.py, lstm.py, elman.py and alrnn_masked.py each provide it):
    TORCH_NAME                           the parameters' prefix: torch's module (gru., lstm., rnn.), or alrnn.
    shapes(H, E), init(H, E, rng, dtype) its parameters
    state_size(H)                        H (GRU, Elman, linear, AL-RNN) or 2H (LSTM: s = [h; c])
    output(ss), output_backward(dout)    what the readout sees of a state (h) [..., H], and the adjoint
    forward(x, s0, p, mask) → (ss, cache),   backward(dss, cache) → (dx, ds0, grads)
Each cell's Numba twin: cells/gru_numba.py for the GRU, cells/seq_numba.py (fast_cell(cell)) for the others.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from . import alrnn_masked, elman, gru, lstm

CELLS = ("gru", "lstm", "elman", "linear", "alrnn")


@dataclass(frozen=True)
class Elman:
    """cells/elman.py with its nonlinearity φ (tanh | relu, or identity: the linear RNN) fixed, so seq2seq calls it
    as it calls the others."""
    nonlinearity: str = "tanh"
    TORCH_NAME: ClassVar[str] = elman.TORCH_NAME

    shapes = staticmethod(elman.shapes)
    init = staticmethod(elman.init)
    state_size = staticmethod(elman.state_size)
    output = staticmethod(elman.output)
    output_backward = staticmethod(elman.output_backward)
    backward = staticmethod(elman.backward)     # φ travels in the cache

    def forward(self, x, h0, p, mask=None):
        """elman.forward with this φ: x [T, B, E], h0 [B, H] → (hs [T, B, H], cache)."""
        return elman.forward(x, h0, p, mask, self.nonlinearity)


@dataclass(frozen=True)
class ALRNN:
    """cells/alrnn_masked.py with its number of ReLU units P (0 ≤ P ≤ H, checked by shapes and init) and its init kind
    fixed (alrnn_masked.INITS: "sequence", the AL-RNN spec's small init, or "uniform", torch's U(−1/√H, 1/√H))."""
    P: int
    init_kind: str = "sequence"
    TORCH_NAME: ClassVar[str] = alrnn_masked.TORCH_NAME

    state_size = staticmethod(alrnn_masked.state_size)
    output = staticmethod(alrnn_masked.output)
    output_backward = staticmethod(alrnn_masked.output_backward)
    forward = staticmethod(alrnn_masked.forward)
    backward = staticmethod(alrnn_masked.backward)   # P is A's length: the parameters carry it

    def shapes(self, hidden: int, in_size: int) -> dict:
        return alrnn_masked.shapes(hidden, in_size, self.P)

    def init(self, hidden: int, in_size: int, rng, dtype=np.float32) -> dict:
        return alrnn_masked.init(hidden, in_size, self.P, rng, dtype, kind=self.init_kind)


def cell_of(name: str, nonlinearity: str = "tanh", P: int | None = None, init: str | None = None):
    """The cell called `name` (one of CELLS); `nonlinearity` is Elman's φ and must stay tanh for the others; P is
    the AL-RNN's number of ReLU units, given for it and only for it; `init` its init kind (None: "sequence"), the
    AL-RNN's only (the other cells start from torch's init)."""
    if name not in CELLS:
        raise ValueError(f"unknown cell {name!r}: one of {', '.join(CELLS)}")
    if nonlinearity not in elman.NONLINEARITIES or (name != "elman" and nonlinearity != "tanh"):
        raise ValueError(f"nonlinearity {nonlinearity!r} is not one of the {name} cell")
    if (name == "alrnn") != (P is not None) or (P is not None and P < 0):
        raise ValueError(f"P={P!r}: the alrnn cell needs P >= 0, the others take none")
    if init is not None and (name != "alrnn" or init not in alrnn_masked.INITS):
        raise ValueError(f"init {init!r}: the alrnn cell's init kinds are {', '.join(alrnn_masked.INITS)}")
    if name == "elman":
        return Elman(nonlinearity)
    if name == "linear":
        return Elman(elman.IDENTITY)
    if name == "alrnn":
        return ALRNN(P, init or "sequence")
    return gru if name == "gru" else lstm
