"""The Python API (onionref.api) and examples/notebook_session.py.

- the example script runs end to end at a tiny budget and prints what the run's own files hold;
- api.train and Run.intervene give bit-identical files to `onionref train` / `onionref intervene`;
- Run.states / gates / decode agree with inspect.py; onion_edit is h(x with x_p := new) + (tanh E[x_p] − tanh E[new])
  ⊙ (g ⊙ γ^p + p·ℓ + b) with the run's stored intervention parameters;
- api.sweep on a finished sweep (the shared reference sweep, copied) redoes nothing; api.report reads it;
- unknown settings and missing runs raise UserError.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from runhelpers import TINY_TRAIN, analysis_args, arrays_of, run_cli, strip_timing, train_args
from onionref import api, runs
from onionref.errors import UserError
from onionref.onion import inspect

ROOT = Path(__file__).resolve().parents[1]
TINY_API = dict(TINY_TRAIN)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return api.train(tmp_path_factory.mktemp("api") / "run", progress=False, **TINY_API)


def test_example_runs_end_to_end(tmp_path):
    out = tmp_path / "ex"
    r = subprocess.run([sys.executable, str(ROOT / "examples" / "notebook_session.py"), "--out", str(out), "--tiny"],
                       capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONWARNINGS": "default"})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    acc = runs.read_json(out / "result.json")["accuracy"]
    assert lines[0] == f"H = 8, valid exact match {acc:.4f}"
    iia = runs.read_json(out / "intervene" / "onion" / "result.json")["iia"]
    assert lines[1].startswith(f"intervene onion: iia {iia:.4f}")
    assert lines[-1] == f"6 figures in {out / 'figures'}"
    assert len(list((out / "figures").glob("*.png"))) == 6


def test_api_matches_the_cli(tiny, tmp_path):
    cli_run = tmp_path / "cli"
    assert run_cli(train_args(cli_run)).returncode == 0
    for name in ("weights.safetensors", "checkpoint.safetensors"):
        a, b = arrays_of(cli_run / name), arrays_of(tiny.path / name)
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    res = tiny.intervene("onion", progress=False, steps=6, batch=16, eval_every=3, seed=5)
    r = run_cli(["intervene", cli_run, "--mode", "onion", *analysis_args()])
    assert r.returncode == 0, r.stderr
    assert strip_timing(runs.read_json(tiny.path / "intervene/onion/result.json")) == \
        strip_timing(runs.read_json(cli_run / "intervene/onion/result.json"))
    assert res["iia"] == runs.read_json(cli_run / "intervene/onion/result.json")["iia"]
    a = arrays_of(cli_run / "intervene/onion/params.safetensors")
    b = arrays_of(tiny.path / "intervene/onion/params.safetensors")
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert tiny.analysis_result("intervene", "onion")["iia"] == res["iia"]
    assert tiny.analysis_result("probe", "onion") is None
    with pytest.raises(UserError, match="already holds"):
        tiny.intervene("onion", progress=False, steps=6, batch=16)


def test_states_gates_decode_and_onion_edit(tiny):
    seqs = ["a b 1 c", "2 3"]
    tok, ln = inspect.parse_sequences(seqs, 30)
    np.testing.assert_array_equal(tiny.states(seqs), inspect.final_states(tiny.params, tok, ln))
    assert tiny.states(seqs, every_step=True).shape == (4, 2, 8)
    g = tiny.gates(seqs)
    assert g["encoder"]["z"].shape == (4, 2, 8) and g["decoder"]["n"].shape == (4, 2, 8)
    texts, logits = tiny.decode(tiny.states(seqs), 3, logits=True)
    assert logits.shape == (3, 2, 30) and all(len(t.split()) == 3 for t in texts)
    assert texts == [" ".join("0123456789abcdefghijklmnopqrst"[i] for i in row) for row in logits.argmax(-1).T]

    rng = np.random.default_rng(0)
    p = {"E": rng.standard_normal((30, 8)).astype(np.float32), "g": rng.random(8).astype(np.float32),
         "b": rng.random(8).astype(np.float32), "gamma": rng.uniform(0.5, 1, 8).astype(np.float32),
         "lin": rng.random(8).astype(np.float32)}
    (tiny.path / "intervene" / "onion").mkdir(parents=True, exist_ok=True)
    runs.save_arrays(tiny.path / "intervene" / "onion" / "params.safetensors", p)
    h = tiny.onion_edit("a b 1 c", 2, "7")
    base = tiny.states("a b 7 c")
    want = base + (np.tanh(p["E"][1]) - np.tanh(p["E"][7])) * (p["g"] * p["gamma"] ** 2 + 2 * p["lin"] + p["b"])
    np.testing.assert_allclose(h, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tiny.onion_edit("a b 1 c", 2, 7), h)


def test_bad_input(tiny, tmp_path):
    with pytest.raises(UserError, match="unknown training settings"):
        api.train(tmp_path / "x", hiden=4)
    with pytest.raises(UserError, match="unknown analysis settings"):
        tiny.probe("onion", stpes=3)
    with pytest.raises(UserError, match="unknown probe"):
        tiny.probe("cubic")
    with pytest.raises(UserError, match="no run directory"):
        api.open_run(tmp_path / "missing")
    with pytest.raises(UserError, match="position"):
        tiny.onion_edit("a b", 5, "1")
    with pytest.raises(UserError, match="unknown symbol"):
        tiny.states("a b z")
    assert not (tmp_path / "x").exists()


def test_api_sweep_then_report(reference_sweep, tmp_path):
    """api.sweep on a finished sweep redoes nothing and returns its results; api.report reads part A's layout."""
    from sweephelpers import TINY_KW

    ref, ref_res = reference_sweep
    out = tmp_path / "sweep"
    shutil.copytree(ref, out)
    res = api.sweep(out, workers=1, progress=False, **TINY_KW)
    assert strip_timing(res["cells"]) == strip_timing(ref_res["cells"])
    rep = api.report(out, out=tmp_path / "docs")
    assert rep["cells"] == 2 and [(r["hidden"], r["variant"]) for r in rep["rows"]] == [(8, "ar"), (8, "noinput")]
    md = (tmp_path / "docs" / "report.md").read_text()
    for cell, label in (("h8-ar-s0", "Autoregressive"), ("h8-noinput-s0", "No input")):
        acc = ref_res["cells"][cell]["train"]["accuracy"]
        onion = ref_res["cells"][cell]["onion"]
        assert f"| 8 | {label} | {acc:.3f} (n=1) |" in md
        assert f"{onion['iia']:.3f} (n=1); model {onion['model_accuracy']:.3f}" in md
