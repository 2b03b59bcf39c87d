"""`onionref alrnn sweep` on the sweep engine, at a tiny budget: the grid's run directories, the per-P summary and
figures; jobs are idempotent (a second sweep retrains nothing); another budget in the same directory is refused
(exit 2, one line); --collect reports finished runs only; a diverged run counts as unsolved."""
from __future__ import annotations

import json
from dataclasses import asdict

from onionref import runs
from onionref.alrnn import sweep
from onionref.alrnn.config import resolve
from runhelpers import call_main

TINY = ["--task", "context", "--length", "6", "--epochs", "2", "--n-train", "32", "--hidden", "4", "--seeds", "2",
        "--P", "0,2", "--workers", "1", "--quiet"]



def test_sweep_runs_the_grid_and_is_idempotent(tmp_path, capsys):
    out = tmp_path / "sw"
    rc, stdout, err = call_main(["alrnn", "sweep", *TINY, "--out", out, "--json"], capsys)
    assert rc == 0, err
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert [r["P"] for r in summary["rows"]] == [0, 2]
    for r in summary["rows"]:
        assert r["seeds"] == 2 and 0 <= r["solved"] <= 2 and r["codes_used"]["mean"] <= 2 ** r["P"]
        assert len(r["jsd_between_contexts"]) == 2
    names = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert names == ["context-m4-p0-s0", "context-m4-p0-s1", "context-m4-p2-s0", "context-m4-p2-s1"]
    for f in ("sweep.json", "summary.json", "accuracy_vs_P.png", "codes_vs_P.png"):
        assert (out / f).exists(), f
    # A job of a finished run reads its result back and trains nothing.
    stamp = (out / names[0] / "weights.safetensors").stat().st_mtime_ns
    cfg = resolve("context", dict(length=6, epochs=2, n_train=32, hidden=4, P=0, seed=0))
    again = sweep.train_job(str(out), asdict(cfg))
    assert again == runs.read_json(out / names[0] / "result.json")
    assert (out / names[0] / "weights.safetensors").stat().st_mtime_ns == stamp
    # --collect reports the finished runs without the engine: the same summary.
    rc, stdout2, err = call_main(["alrnn", "sweep", *TINY, "--out", out, "--json", "--collect"], capsys)
    assert rc == 0, err
    assert json.loads(stdout2.strip().splitlines()[-1]) == summary
    args = [a if a != "2" else "3" for a in TINY]                     # --epochs 3 (and --seeds 3): another budget
    rc, _, err = call_main(["alrnn", "sweep", *args, "--out", out], capsys)
    assert rc == 2 and "another budget" in err and len(err.strip().splitlines()) == 1


def test_a_diverged_run_counts_as_unsolved(tmp_path):
    cfg = resolve("addition", dict(hidden=4, P=1, length=6, n_train=8, n_test=8, batch=8, epochs=1))
    run = tmp_path / sweep.run_name(cfg)
    run.mkdir()
    runs.write_json(run / "FAILED", {"step": 3, "reason": "the loss is not finite"})
    res = sweep.train_job(str(tmp_path), asdict(cfg))
    assert "failed" in res and sweep.regions_job(str(run)) == {"failed": True}
