"""The superposition sweep: its job function is idempotent, aggregation picks the lowest-loss seed and finds the
jump p, the sweep figures are written; the command on a one-worker LocalCluster, and its bad input."""
from __future__ import annotations

import json

import pytest

from onionref.superposition import sweep
from onionref.superposition.config import SuperConfig
from onionref.superposition.sweep_figures import sweep_figures
from runhelpers import run_cli, strip_timing

BASE = SuperConfig(steps=8, batch=16, T=5, eval_every=4, eval_events=500)


def test_jobs_are_idempotent_and_aggregate(tmp_path):
    specs = sweep.job_specs(tmp_path, BASE, ["linear", "ssm"], [0.5, 0.1], [1], 2)
    assert len(specs) == 4 and len({s["key"] for s in specs}) == 4
    first = {s["key"]: sweep.train_cell(**s["kwargs"]) for s in specs}
    again = {s["key"]: sweep.train_cell(**s["kwargs"]) for s in specs}
    assert strip_timing(first) == strip_timing(again)
    summary = sweep.aggregate([r for v in first.values() for r in v["results"]])
    assert len(summary["cells"]) == 4 and {j["model"] for j in summary["jumps"]} == {"linear", "ssm"}
    for row in summary["cells"]:
        seeds = [r for v in first.values() for r in v["results"] if (r["model"], r["p"]) == (row["model"], row["p"])]
        assert row["loss"] == min(r["loss"] for r in seeds) and len(row["all_seeds"]) == 2
        assert 0 <= row["fraction_interference_free"] <= 1
    files = sweep_figures(summary, tmp_path)
    assert sorted(p.rsplit("/", 1)[1] for p in files) == ["phase_diagram.png", "phase_transition_k1.png",
                                                          "seeds_geometry.png"]
    for row in summary["cells"]:                       # every seed's a_s and verdict, for the seeds figure
        assert all(len(s["a"]) == 2 and isinstance(s["interference_free"], bool) for s in row["all_seeds"])
        assert row["fraction_interference_free"] == sum(s["interference_free"] for s in row["all_seeds"]) / 2


def _result(model, k, p, a, loss=1.0, seed=0):
    return {"model": model, "k": k, "p": p, "a": a, "loss": loss, "loss_normalised": loss, "seed": seed,
            "k_theta_deg": 0.0, "spectral_radius": 0.5}


def test_interference_free_and_jump():
    free, dense = [0.0, -3.0, 0.01, 1.0], [-0.13, 0.15, 0.29, 0.3]
    assert sweep.interference_free(_result("ssm", 3, 0.1, free))
    assert not sweep.interference_free(_result("ssm", 3, 1.0, dense))
    assert not sweep.interference_free(_result("ssm", 3, 0.1, [0.0, -3.0, 0.06, 1.0]))
    rs = [_result("ssm", 3, 1.0, dense), _result("ssm", 3, 0.5, free), _result("ssm", 3, 0.2, dense),
          _result("ssm", 3, 0.1, free), _result("ssm", 3, 0.02, free, loss=0.5),
          _result("ssm", 3, 0.02, dense, loss=0.9, seed=1)]
    s = sweep.aggregate(rs)
    assert s["jumps"] == [{"model": "ssm", "k": 3, "jump_p": 0.1, "note": s["jumps"][0]["note"]}]
    cell = next(r for r in s["cells"] if r["p"] == 0.02)
    assert cell["fraction_interference_free"] == 0.5 and cell["best_seed"] == 0


def test_sweep_command_on_the_engine(tmp_path):
    """`onionref superposition sweep` on a one-worker LocalCluster: summary, figures, run directories; another
    budget is refused with one line and exit 2 (that jobs redo nothing is tested above, without the engine)."""
    out = tmp_path / "sw"
    args = ["superposition", "sweep", "--p", "0.5,0.1", "--k", "1", "--models", "ssm", "--seeds", "2", "--steps", "8",
            "--batch", "16", "--T", "5", "--eval-every", "4", "--eval-events", "500", "--workers", "1", "--out", out, "--json", "--quiet"]
    r = run_cli(args, timeout=600)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["jobs"] == 2 and res["runs"] == 4 and res["wall_seconds"] > 0
    summary = json.loads((out / "summary.json").read_text())
    assert [(c["model"], c["k"], c["p"]) for c in summary["cells"]] == [("ssm", 1, 0.5), ("ssm", 1, 0.1)]
    assert (out / "sweep.json").is_file() and (out / "phase_diagram.png").is_file()
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == [f"ssm-k1-p{p}-s{s}" for p in (0.1, 0.5)
                                                                     for s in (0, 1)]
    other = run_cli([a if a != "8" else "9" for a in args], timeout=600)
    assert other.returncode == 2 and len(other.stderr.strip().splitlines()) == 1 and "budget" in other.stderr


@pytest.mark.parametrize("args, message", [
    (["--p", "0,0.5"], "--p must be in (0, 1]"), (["--k", "1,-1"], "--k takes comma-separated integers >= 0"),
    (["--models", "linear,gru"], "--models takes a comma-separated subset"), (["--hidden", "0"], "--hidden must be"),
    (["--p", "a,b"], "--p takes comma-separated numbers"), (["--seeds", "0"], "--seeds must be"),
])
def test_sweep_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    out = tmp_path / "never"
    r = run_cli(["superposition", "sweep", "--out", out, "--quiet", *args])
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and message in r.stderr
    assert not out.exists()
