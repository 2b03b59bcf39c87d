"""The recurrent cell of the repeat model, chosen by name (`onionref train --cell`, issue 22).

    CELLS = ("gru", "lstm", "elman")
    cell_of(name, nonlinearity="tanh")   the object onion/seq2seq.py runs: the module cells/gru.py or cells/lstm.py
                                         itself, or Elman(nonlinearity), cells/elman.py with its φ fixed

What seq2seq needs of a cell (gru.py, lstm.py and elman.py each provide it):
    TORCH_NAME                           the parameters' prefix: torch's module (gru., lstm., rnn.)
    shapes(H, E), init(H, E, rng, dtype) its parameters
    state_size(H)                        H (GRU, Elman) or 2H (LSTM: s = [h; c])
    output(ss), output_backward(dout)    what the readout sees of a state (h) [..., H], and the adjoint
    forward(x, s0, p, mask) → (ss, cache),   backward(dss, cache) → (dx, ds0, grads)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from . import elman, gru, lstm

CELLS = ("gru", "lstm", "elman")


@dataclass(frozen=True)
class Elman:
    """cells/elman.py with its nonlinearity φ (tanh | relu) fixed, so seq2seq calls it as it calls the others."""
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


def cell_of(name: str, nonlinearity: str = "tanh"):
    """The cell called `name` (one of CELLS); `nonlinearity` is Elman's φ and must stay tanh for the others."""
    if name not in CELLS:
        raise ValueError(f"unknown cell {name!r}: one of {', '.join(CELLS)}")
    if nonlinearity not in elman.NONLINEARITIES or (name != "elman" and nonlinearity != "tanh"):
        raise ValueError(f"nonlinearity {nonlinearity!r} is not one of the {name} cell")
    if name == "elman":
        return Elman(nonlinearity)
    return gru if name == "gru" else lstm
