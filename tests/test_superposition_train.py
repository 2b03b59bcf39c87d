"""Training delayed-recall models: seeds side by side equal seeds alone (bit for bit), a resumed run equals an
uninterrupted one, the `onionref superposition train` command (JSON, files, bad input: one line, exit 2)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from onionref import runs
from onionref.superposition.config import SuperConfig
from onionref.superposition.train import train, train_seeds
from runhelpers import run_cli, strip_timing

TINY = SuperConfig(model="ssm", k=2, p=0.3, hidden=2, steps=30, batch=64, eval_every=10, T=8, eval_events=2000)


def weights(d):
    return runs.load_arrays(d / "weights.safetensors")[0]


def test_vectorised_seeds_equal_seeds_alone(tmp_path):
    train_seeds(TINY, [4, 7], [tmp_path / "a4", tmp_path / "a7"], progress=False, figures=False)
    train(TINY.__class__(**{**TINY.__dict__, "seed": 7}), tmp_path / "b7", progress=False, figures=False)
    wa, wb = weights(tmp_path / "a7"), weights(tmp_path / "b7")
    assert set(wa) == set(wb)
    for k in wa:
        np.testing.assert_array_equal(wa[k], wb[k])
    assert not np.array_equal(weights(tmp_path / "a4")["weight_hh"], wa["weight_hh"])


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_resume_is_bit_for_bit(tmp_path, backend):
    cfg = SuperConfig(**{**TINY.__dict__, "backend": backend, "untied": True})
    full = train(cfg, tmp_path / "full", progress=False, figures=False)
    short = SuperConfig(**{**cfg.__dict__, "steps": 20})
    train(short, tmp_path / "part", progress=False, figures=False)
    resumed = train(cfg, tmp_path / "part", resume=True, progress=False, figures=False)
    assert strip_timing({**full, "run": None}) == strip_timing({**resumed, "run": None})
    for k, v in weights(tmp_path / "full").items():
        np.testing.assert_array_equal(weights(tmp_path / "part")[k], v)
    rows = [strip_timing(r) for r in runs.read_jsonl(tmp_path / "part" / "metrics.jsonl")]
    assert [r["step"] for r in rows] == [10, 20, 30]
    assert rows == [strip_timing(r) for r in runs.read_jsonl(tmp_path / "full" / "metrics.jsonl")]


def test_train_command_json_and_files(tmp_path):
    out = tmp_path / "run"
    r = run_cli(["superposition", "train", "--model", "linear", "--k", "2", "--p", "0.5", "--steps", "40",
                 "--batch", "64", "--T", "8", "--eval-every", "20", "--eval-events", "2000", "--out", out, "--json", "--quiet"])
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    for key in ("model", "k", "p", "loss", "loss_normalised", "spectral_radius", "k_theta_deg", "a", "analytic_loss"):
        assert key in res
    assert len(res["a"]) == 3 and res["model"] == "linear" and res["k"] == 2
    assert res["analytic_loss"]["total"] > 0 and res["loss"] > 0
    for name in ("DONE", "config.json", "metrics.jsonl", "result.json", "weights.safetensors", "trace.png",
                 "geometry.png"):
        assert (out / name).is_file(), name
    again = run_cli(["superposition", "train", "--out", out, "--quiet"])
    assert again.returncode == 2 and "not empty" in again.stderr
    figs = tmp_path / "figs"
    r = run_cli(["superposition", "plot", out, "--out", figs, "--json"])
    assert r.returncode == 0, r.stderr
    written = json.loads(r.stdout.strip().splitlines()[-1])["figures"]
    assert sorted(p.rsplit("/", 1)[1] for p in written) == ["geometry.png", "trace.png"]
    assert all((figs / "run" / n).stat().st_size > 1000 for n in ("geometry.png", "trace.png"))
    r = run_cli(["superposition", "plot", tmp_path / "nothing"])
    assert r.returncode == 2 and "not a finished run" in r.stderr


@pytest.mark.parametrize("args, message", [
    (["--p", "0"], "--p must be in (0, 1]"), (["--p", "1.5"], "--p must be in (0, 1]"),
    (["--p", "nan"], "--p must be in (0, 1]"), (["--k", "-1"], "--k must be"),
    (["--hidden", "0"], "--hidden must be"), (["--model", "gru"], "'gru' is not one of"),
    (["--features", "0"], "--features must be"), (["--steps", "0"], "--steps must be"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    out = tmp_path / "never"
    r = run_cli(["superposition", "train", "--out", out, "--quiet", *args])
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and message in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()


@pytest.mark.parametrize("model, features", [("relu", 1), ("ssm", 3)])
def test_figures_of_each_kind_of_run(tmp_path, model, features):
    cfg = SuperConfig(**{**TINY.__dict__, "model": model, "features": features, "steps": 10, "eval_every": 5})
    res = train(cfg, tmp_path / "r", progress=False)
    names = {"trace.png", "geometry.png"} | ({"projections.png"} if features > 1 else set())
    assert {p.name for p in (tmp_path / "r").glob("*.png")} == names
    assert ("a_impulse" in res) == (model == "relu")


def test_init_scale_sets_the_initial_weights(tmp_path):
    """--init-scale reaches the initialisation: the first checkpointed weights at steps 0 differ by the scale ratio
    (the same draws, N(0, scale²/N_h)); the default 0.5 is what init_params draws by default."""
    from onionref.superposition.model import init_params
    from dataclasses import replace
    one = replace(TINY, steps=1, eval_every=1)
    for scale in (0.5, 2.0):
        train(replace(one, init_scale=scale), tmp_path / f"s{scale}", progress=False, figures=False)
    cfg = replace(one, init_scale=2.0)
    p0 = init_params(cfg.model_config(), np.random.default_rng([cfg.seed, 1]), scale=2.0)
    q0 = init_params(cfg.model_config(), np.random.default_rng([cfg.seed, 1]))
    assert np.allclose(p0["weight_hh"], 4 * q0["weight_hh"])
    w2, w05 = weights(tmp_path / "s2.0")["weight_hh"], weights(tmp_path / "s0.5")["weight_hh"]
    # one Adam step moves each weight by at most lr: what is left is the init, 4x apart
    assert np.abs(w2 - p0["weight_hh"]).max() <= 1.01 * one.lr and np.abs(w05 - q0["weight_hh"]).max() <= 1.01 * one.lr
