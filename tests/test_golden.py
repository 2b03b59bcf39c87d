"""Golden comparisons: the NumPy model against the PyTorch float64 oracle in golden/make_golden.py.

1. The committed fixtures (golden/*.npz): forward (h_enc, logits), loss, dh_enc, every parameter gradient and a
   20-step AdamW trajectory, for the tiny model (both decoder variants) and the paper's H=48 model; and the
   standalone masked GRU (hs, dx, dh0, weight gradients). Relative error max|a−b| / max|b| ≤ 1e-9 per tensor.
2. The live oracle (needs torch) on fresh hypothesis-chosen shapes, lengths and seeds.
3. The committed fixtures are what the oracle produces today (they were generated, not typed in).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from gradcheck import rel_err
from runhelpers import assert_oracle_output_matches, load_oracle
from onionref import adamw
from onionref.onion import seq2seq
from onionref.cells import gru
from onionref.tasks.repeat import make_batch

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
TOL = 1e-9
SEQ2SEQ_CASES = ("tiny_ar", "tiny_noinput", "paper_h48")


def load_case(name: str) -> dict:
    with np.load(GOLDEN / f"{name}.npz", allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def prefixed(d: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v.copy() for k, v in d.items() if k.startswith(prefix)}


def seq2seq_errors(case: dict) -> dict:
    """Run the NumPy model on a case; returns {quantity: relative error against the oracle}."""
    n_symbols, no_input = int(case["n_symbols"]), bool(case["no_input"])
    batch = make_batch(case["tokens"], case["lengths"], n_symbols, no_input)
    m = case["mask"]
    # The batch layout must agree with the oracle's reading of the spec (positions past a length are free).
    np.testing.assert_array_equal(batch.mask, m)
    for k in ("enc_in", "dec_in", "target"):
        np.testing.assert_array_equal(getattr(batch, k)[m], case[k][m], err_msg=k)

    params = prefixed(case, "param.")
    loss, grads, logits = seq2seq.loss_and_grads(params, batch)
    h_enc, _ = seq2seq.encode_forward(params, batch.enc_in, batch.mask)
    _, dcache = seq2seq.decode_forward(params, h_enc, batch.dec_in)
    _, dlogits = seq2seq.cross_entropy(logits, batch.target, batch.mask)
    dh_enc, _ = seq2seq.decode_backward(dlogits, dcache)

    expected_grads = prefixed(case, "grad.")
    assert set(grads) == set(expected_grads) == set(params)
    errs = {"h_enc": rel_err(h_enc, case["h_enc"]), "logits": rel_err(logits[m], case["logits"][m]),
            "loss": rel_err(loss, case["loss"]), "dh_enc": rel_err(dh_enc, case["dh_enc"])}
    errs.update({"grad." + k: rel_err(grads[k], expected_grads[k]) for k in grads})

    cfg = adamw.AdamWConfig(lr=float(case["adamw.lr"]), weight_decay=float(case["adamw.wd"]))
    state = adamw.init_state(params)
    losses = []
    for _ in range(len(case["adamw.losses"])):
        loss_k, g, _ = seq2seq.loss_and_grads(params, batch)
        adamw.step(params, g, state, cfg)
        losses.append(loss_k)
    errs["adamw.losses"] = rel_err(np.array(losses), case["adamw.losses"])
    final = prefixed(case, "adamw.final.")
    assert set(final) == set(params)
    errs.update({"adamw.final." + k: rel_err(params[k], final[k]) for k in final})
    return errs


def gru_errors(case: dict) -> dict:
    p = prefixed(case, "param.")
    hs, cache = gru.forward(case["x"], case["h0"], p, case["mask"])
    dx, dh0, grads = gru.backward(case["W"], cache)     # d/dhs of Σ W ⊙ hs is W
    errs = {"hs": rel_err(hs, case["hs"]), "dx": rel_err(dx, case["dx"]), "dh0": rel_err(dh0, case["dh0"])}
    expected = prefixed(case, "grad.")
    assert set(grads) == set(expected) == set(gru.NAMES)
    errs.update({"grad." + k: rel_err(grads[k], expected[k]) for k in grads})
    return errs


def assert_small(errs: dict, tol: float = TOL) -> None:
    bad = {k: v for k, v in errs.items() if not v <= tol}
    assert not bad, f"relative errors above {tol:g}: {bad}"


# --------------------------------------------------------------------------------------------- committed fixtures
@pytest.mark.parametrize("name", SEQ2SEQ_CASES)
def test_seq2seq_matches_fixture(name):
    case = load_case(name)
    assert len(case["adamw.losses"]) == 20
    assert_small(seq2seq_errors(case))


def test_fixtures_cover_what_they_claim():
    tiny = load_case("tiny_ar")
    assert tiny["h_enc"].shape[1] == 8 and int(tiny["n_symbols"]) == 5
    assert {1, 2, int(tiny["lengths"].max())} <= set(tiny["lengths"].tolist())
    assert bool(load_case("tiny_noinput")["no_input"]) and not bool(tiny["no_input"])
    paper = load_case("paper_h48")
    assert paper["h_enc"].shape[1] == 48 and int(paper["n_symbols"]) == 30
    g = load_case("gru_masked")
    assert 0 < g["mask"].mean() < 1 and np.abs(g["h0"]).min() > 0
    for name in SEQ2SEQ_CASES + ("gru_masked",):
        assert (GOLDEN / f"{name}.npz").stat().st_size < 1_000_000


def test_gru_matches_fixture():
    assert_small(gru_errors(load_case("gru_masked")))


# -------------------------------------------------------------------------------------------------- live oracle
@pytest.fixture(scope="module")
def oracle():
    pytest.importorskip("torch")
    return load_oracle("make_golden")


@settings(max_examples=8)
@given(hidden=st.integers(1, 10), n_symbols=st.integers(2, 7), no_input=st.booleans(),
       lengths=st.lists(st.integers(1, 6), min_size=1, max_size=5), seed=st.integers(0, 2 ** 32 - 1))
def test_seq2seq_matches_live_oracle(oracle, hidden, n_symbols, no_input, lengths, seed):
    case = oracle.seq2seq_case(hidden, n_symbols, lengths, no_input, seed, steps=3)
    assert_small(seq2seq_errors(case))


@settings(max_examples=8)
@given(T=st.integers(1, 5), B=st.integers(1, 4), E=st.integers(1, 5), H=st.integers(1, 6),
       p_step=st.sampled_from([0.0, 0.5, 1.0]), seed=st.integers(0, 2 ** 32 - 1))
def test_gru_matches_live_oracle(oracle, T, B, E, H, p_step, seed):
    assert_small(gru_errors(oracle.gru_case(T, B, E, H, seed, p_step)))


@pytest.mark.parametrize("name", ["tiny_ar", "gru_masked"])
def test_committed_fixture_is_the_oracle_output(oracle, name):
    fresh = oracle.CASES[name]()
    case = load_case(name)
    assert_oracle_output_matches(fresh, case, name)


def test_oracle_comparison_tolerates_rounding_and_catches_changes():
    """The today-vs-fixture check passes a few ulp (another processor's kernels) and fails a real change."""
    from runhelpers import assert_oracle_output_matches

    rng = np.random.default_rng(0)
    stored = {"g": rng.standard_normal((4, 5)) * 4.5e3, "tok": np.arange(6)}
    ulps = {"g": stored["g"] * (1 + 4 * np.finfo(np.float64).eps * rng.choice([-1, 1], (4, 5))), "tok": np.arange(6)}
    assert_oracle_output_matches(ulps, stored, "ulps")
    changed = {"g": stored["g"].copy(), "tok": np.arange(6)}
    changed["g"][1, 2] *= 1 + 1e-8
    with pytest.raises(AssertionError, match="g"):
        assert_oracle_output_matches(changed, stored, "changed")
    with pytest.raises(AssertionError):
        assert_oracle_output_matches({"g": stored["g"], "tok": np.arange(1, 7)}, stored, "tokens")
    with pytest.raises(AssertionError):
        assert_oracle_output_matches({"g": stored["g"]}, stored, "missing")
