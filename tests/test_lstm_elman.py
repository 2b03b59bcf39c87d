"""The LSTM and Elman cells (cells/lstm.py, cells/elman.py), checked as the GRU is:

- gradients: centred float64 differences of f = Σ W ⊙ states w.r.t. every parameter, x and the start state, on
  hypothesis-chosen shapes, masked and unmasked (Elman: tanh and relu);
- a zero mask keeps the state bit for bit and passes no gradient to x;
- the torch float64 oracle (golden/make_golden_cells.py: nn.LSTMCell, nn.RNNCell): states, loss gradients w.r.t.
  x, the start state and every parameter agree to 1e-10 relative; the committed fixtures are what the oracle
  writes today;
- the LSTM's parameters load into torch.nn.LSTM unchanged (the same names and shapes), and its forward equals it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from gradcheck import assert_grad, rel_err
from onionref.cells import elman, lstm
from runhelpers import assert_oracle_output_matches, load_oracle

GOLDEN = Path(__file__).resolve().parent.parent / "golden"

CELLS = {"lstm": (lstm, {}), "elman-tanh": (elman, {"nonlinearity": "tanh"}),
         "elman-relu": (elman, {"nonlinearity": "relu"})}


def _state(cell, H):
    return 2 * H if cell == "lstm" else H


@st.composite
def problems(draw, max_T=4, max_B=3, max_E=3, max_H=3):
    T, B = draw(st.integers(1, max_T)), draw(st.integers(1, max_B))
    E, H = draw(st.integers(1, max_E)), draw(st.integers(1, max_H))
    cell = draw(st.sampled_from(sorted(CELLS)))
    mod, _ = CELLS[cell]
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    p = {k: 2.0 * v for k, v in mod.init(H, E, rng, np.float64).items()}
    x = rng.standard_normal((T, B, E))
    s0 = rng.uniform(-1, 1, size=(B, _state(cell, H)))
    mask = (rng.random((T, B)) < 0.6).astype(np.float64) if draw(st.booleans()) else None
    W = rng.standard_normal((T, B, _state(cell, H)))
    return cell, x, s0, p, mask, W


@settings(max_examples=40, deadline=None)
@given(problems())
def test_gradients_match_finite_differences(prob):
    cell, x, s0, p, mask, W = prob
    mod, kw = CELLS[cell]
    f = lambda: float(np.sum(W * mod.forward(x, s0, p, mask, **kw)[0]))
    dx, ds0, grads = mod.backward(W, mod.forward(x, s0, p, mask, **kw)[1])
    assert set(grads) == set(mod.NAMES)
    for k in mod.NAMES:
        assert grads[k].shape == p[k].shape
        assert_grad(f, p[k], grads[k], name=f"{cell} {k}")
    assert_grad(f, x, dx, name=f"{cell} x")
    assert_grad(f, s0, ds0, name=f"{cell} s0")


@given(problems(max_T=6, max_B=4))
def test_masked_steps_keep_the_state_exactly(prob):
    cell, x, s0, p, mask, W = prob
    mod, kw = CELLS[cell]
    mask = np.zeros(x.shape[:2]) if mask is None else mask
    ss, cache = mod.forward(x, s0, p, mask, **kw)
    prev = np.concatenate([s0[None], ss[:-1]])
    held = mask == 0
    np.testing.assert_array_equal(ss[held], prev[held])
    dx, _, _ = mod.backward(W, cache)
    assert np.all(dx[held] == 0)


@pytest.mark.parametrize("name", ["lstm_masked", "elman_tanh_masked", "elman_relu_masked"])
def test_cells_match_the_torch_fixtures(name):
    f = dict(np.load(GOLDEN / f"{name}.npz", allow_pickle=False))
    mod, kw = CELLS[str(f["cell"])]
    p = {k[6:]: f[k] for k in f if k.startswith("param.")}
    ss, cache = mod.forward(f["x"], f["s0"], p, f["mask"], **kw)
    dx, ds0, grads = mod.backward(f["W"], cache)
    assert rel_err(ss, f["states"]) <= 1e-10
    assert rel_err(dx, f["dx"]) <= 1e-10 and rel_err(ds0, f["ds0"]) <= 1e-10
    assert set(grads) == {k[5:] for k in f if k.startswith("grad.")}
    for k, g in grads.items():
        assert rel_err(g, f["grad." + k]) <= 1e-10, k


def test_fixtures_are_what_the_oracle_writes_today():
    oracle = load_oracle("make_golden_cells")
    for name, spec in oracle.CASES.items():
        stored = dict(np.load(GOLDEN / f"{name}.npz", allow_pickle=False))
        assert_oracle_output_matches(oracle.make_case(*spec), stored, name)


def test_lstm_parameters_load_into_torch_lstm():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    T, B, E, H = 5, 3, 4, 6
    p = lstm.init(H, E, rng, np.float64)
    x = rng.standard_normal((T, B, E))
    ref = torch.nn.LSTM(E, H).double()
    ref.load_state_dict({k: torch.tensor(v) for k, v in p.items()}, strict=True)
    with torch.no_grad():
        out, (hT, cT) = ref(torch.tensor(x))
    ss, _ = lstm.forward(x, np.zeros((B, 2 * H)), p)
    assert rel_err(lstm.output(ss), out.numpy()) <= 1e-12
    assert rel_err(ss[-1, :, H:], cT[0].numpy()) <= 1e-12
