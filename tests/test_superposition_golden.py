"""The delayed-recall models against the PyTorch float64 oracle in golden/make_golden_superposition.py: forward,
loss, every gradient and a 5-step Adam trajectory, for the three models tied and untied (committed fixtures and
the live oracle on hypothesis-chosen shapes), and the fixtures are what the oracle writes today."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from gradcheck import rel_err
from runhelpers import assert_oracle_output_matches, load_oracle
from onionref import adamw
from onionref.superposition.model import MODELS, ModelConfig, loss_and_grads
from onionref.tasks.delay_recall import delayed_targets

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
CASES = sorted(p.stem for p in GOLDEN.glob("superposition_*.npz"))
TOL = 1e-10


def load_case(name: str) -> dict:
    with np.load(GOLDEN / f"{name}.npz", allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def errors(case: dict) -> dict:
    params = {k[6:]: v.copy() for k, v in case.items() if k.startswith("param.")}
    n_x, n_h = params["weight_ih"].shape[1], params["weight_ih"].shape[0]
    cfg = ModelConfig(MODELS[int(case["model"])], n_x, n_h, int(case["k"]), bool(case["tied"]), bool(case["bias"]))
    # the oracle builds its own targets: ours must agree
    np.testing.assert_array_equal(delayed_targets(case["x"], cfg.k), case["y"])
    loss, grads, yhat = loss_and_grads(params, cfg, case["x"], case["y"], case["importance"])
    assert set(grads) == set(params) == {k[5:] for k in case if k.startswith("grad.")}
    errs = {"loss": rel_err(loss, case["loss"]), "yhat": rel_err(yhat, case["yhat"])}
    errs.update({"grad." + k: rel_err(g, case["grad." + k]) for k, g in grads.items()})
    opt, opt_cfg, losses = adamw.init_state(params), adamw.AdamWConfig(lr=float(case["adam.lr"]), weight_decay=0), []
    for _ in range(len(case["adam.losses"])):
        l, g, _ = loss_and_grads(params, cfg, case["x"], case["y"], case["importance"])
        adamw.step(params, g, opt, opt_cfg)
        losses.append(l)
    errs["adam.losses"] = rel_err(np.array(losses), case["adam.losses"])
    errs.update({"adam.final." + k: rel_err(v, case["adam.final." + k]) for k, v in params.items()})
    return errs


def assert_small(errs: dict) -> None:
    bad = {k: v for k, v in errs.items() if not v <= TOL}
    assert not bad, f"relative errors above {TOL:g}: {bad}"


def test_fixtures_cover_every_model_tied_and_untied():
    seen = {(MODELS[int(c["model"])], bool(c["tied"])) for c in map(load_case, CASES)}
    assert seen == {(m, t) for m in MODELS for t in (True, False)}
    assert any(not bool(load_case(n)["bias"]) for n in CASES)


@pytest.mark.parametrize("name", CASES)
def test_matches_fixture(name):
    case = load_case(name)
    if MODELS[int(case["model"])] != "linear":  # a ReLU that never cuts would not test the ReLU's gradient
        assert (case["yhat"] == 0).any() and (case["yhat"] > 0).any()
    assert_small(errors(case))


@pytest.fixture(scope="module")
def oracle():
    pytest.importorskip("torch")
    return load_oracle("make_golden_superposition")


@settings(max_examples=10)
@given(model=st.sampled_from(MODELS), tied=st.booleans(), bias=st.booleans(), k=st.integers(0, 3),
       extra_T=st.integers(1, 4), B=st.integers(1, 4), n_x=st.integers(1, 4), n_h=st.integers(1, 5),
       seed=st.integers(0, 2**31))
def test_matches_live_oracle(oracle, model, tied, bias, k, extra_T, B, n_x, n_h, seed):
    assert_small(errors(oracle.case(model, tied, bias, k, k + extra_T, B, n_x, n_h, 0.6, seed, steps=2)))


@pytest.mark.parametrize("name", ["superposition_relu_tied", "superposition_linear_tied_nobias_k0"])
def test_committed_fixture_is_the_oracle_output(oracle, name):
    fresh, case = oracle.CASES[name](), load_case(name)
    assert_oracle_output_matches(fresh, case, name)
