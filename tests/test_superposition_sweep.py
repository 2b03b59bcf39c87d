"""The superposition sweep without the engine: its job function is idempotent, aggregation picks the lowest-loss
seed and finds the jump p, and the sweep figures are written."""
from __future__ import annotations

from onionref.superposition import sweep
from onionref.superposition.config import SuperConfig
from onionref.superposition.sweep_figures import sweep_figures
from runhelpers import strip_timing

BASE = SuperConfig(steps=12, batch=32, T=6, eval_every=6)


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
    assert sorted(p.rsplit("/", 1)[1] for p in files) == ["phase_diagram.png", "phase_transition_k1.png"]


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
