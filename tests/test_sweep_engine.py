"""The sweep engine: job ordering, dependencies on a real Dask LocalCluster, failures, the sweep directory."""
import json
import os
import sys

import cloudpickle
import pytest

from onionref.errors import UserError
from onionref.sweep.engine import WORKER_PRE_SPAWN_ENV, Job, ordered, run_jobs
from onionref.sweep.sweepdir import open_sweep

cloudpickle.register_pickle_by_value(sys.modules[__name__])   # workers cannot import a test module by name


def write_job(path, value, read=None):
    """Write value (+ the value found in `read`, which a dependency must have written) to path."""
    from threadpoolctl import threadpool_info

    from onionref.jit.threads import get_threads

    got = json.loads(open(read).read())["value"] if read else 0
    with open(path, "w") as f:
        json.dump({"value": value + got}, f)
    blas = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    malloc = {k: os.environ.get(k) for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")}
    return {"value": value + got, "threads": get_threads(), "blas": blas, "pid": os.getpid(), "malloc": malloc}


def failing_job():
    raise UserError("diverged at step 3")


def test_ordered_puts_dependencies_first_and_rejects_bad_graphs():
    jobs = [Job("c", write_job, deps=("b",)), Job("a", write_job), Job("b", write_job, deps=("a",))]
    assert [j.key for j in ordered(jobs)] == ["a", "b", "c"]
    with pytest.raises(UserError, match="cycle"):
        ordered([Job("a", write_job, deps=("b",)), Job("b", write_job, deps=("a",))])
    with pytest.raises(UserError, match="not in the sweep"):
        ordered([Job("a", write_job, deps=("x",))])
    with pytest.raises(UserError, match="share the key"):
        ordered([Job("a", write_job), Job("a", write_job)])


def test_run_jobs_on_a_local_cluster_respects_dependencies_and_pins_threads(tmp_path):
    a, b, c = (str(tmp_path / n) for n in "abc")
    jobs = [Job("b", write_job, {"path": b, "value": 10, "read": a}, deps=("a",)),
            Job("a", write_job, {"path": a, "value": 1}),
            Job("c", write_job, {"path": c, "value": 100, "read": b}, deps=("b",))]
    out = run_jobs(jobs, workers=2, progress=False)
    assert [out[k]["value"] for k in "abc"] == [1, 11, 111]
    assert all(r["threads"] == 1 and r["blas"] and set(r["blas"]) == {1} for r in out.values())
    assert all(r["pid"] != os.getpid() for r in out.values())
    want = {k: str(v) for k, v in WORKER_PRE_SPAWN_ENV.items()}                 # glibc's, set before the spawn
    assert all(r["malloc"] == want for r in out.values())


def test_a_job_with_a_known_result_is_not_submitted_and_its_dependents_still_run(tmp_path, capsys):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    with open(a, "w") as f:
        json.dump({"value": 7}, f)
    jobs = [Job("a", failing_job, result={"value": 7}),            # would fail if it ran
            Job("b", write_job, {"path": b, "value": 10, "read": a}, deps=("a",))]
    out = run_jobs(jobs, workers=1, progress=True)
    assert out["a"] == {"value": 7} and out["b"]["value"] == 17
    assert "1/2" in capsys.readouterr().err        # the bar starts with the known job counted


def test_a_failing_job_fails_its_dependents_and_the_rest_still_run(tmp_path):
    ok = str(tmp_path / "ok")
    jobs = [Job("bad", failing_job), Job("after-bad", write_job, {"path": str(tmp_path / "x"), "value": 1},
                                         deps=("bad",)),
            Job("ok", write_job, {"path": ok, "value": 5})]
    with pytest.raises(UserError, match="2 of 3 jobs failed.*diverged at step 3"):
        run_jobs(jobs, workers=1, progress=False)
    assert json.loads(open(ok).read())["value"] == 5
    assert not (tmp_path / "x").exists()


def test_unreachable_scheduler_is_one_line():
    with pytest.raises(UserError, match="cannot reach the Dask scheduler"):
        run_jobs([Job("a", write_job, {"path": "/nonexistent/x", "value": 1})], scheduler="tcp://127.0.0.1:9",
                 progress=False)


def test_open_sweep_merges_grids_and_refuses_another_budget(tmp_path):
    out = tmp_path / "sw"
    rec = open_sweep(out, {"kind": "onion", "grid": {"hidden": [48], "seed": [0, 1]}}, {"steps": 100})
    assert rec["grid"] == {"hidden": [48], "seed": [0, 1]} and "numpy" in rec["versions"]
    rec = open_sweep(out, {"kind": "onion", "grid": {"hidden": [64, 48], "seed": [0]}}, {"steps": 100})
    assert rec["grid"] == {"hidden": [48, 64], "seed": [0, 1]}
    before = (out / "sweep.json").read_bytes()
    with pytest.raises(UserError, match=r"another budget \(steps 100 -> 200\)"):
        open_sweep(out, {"kind": "onion", "grid": {"hidden": [48]}}, {"steps": 200})
    with pytest.raises(UserError, match="not a superposition sweep"):
        open_sweep(out, {"kind": "superposition", "grid": {"hidden": [48]}}, {"steps": 100})
    assert (out / "sweep.json").read_bytes() == before
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not a sweep directory"):
        open_sweep(other, {"kind": "onion", "grid": {}}, {})
    assert sorted(p.name for p in other.iterdir()) == ["notes.txt"]


def test_a_budget_key_added_later_reads_as_its_default_in_an_old_sweep(tmp_path):
    """A sweep written before a config field existed reopens when the field has its default, and only then."""
    out = tmp_path / "sw"
    open_sweep(out, {"kind": "alrnn-copy", "grid": {"P": [0]}}, {"steps": 100})
    new = {"steps": 100, "until_solved": False}
    with pytest.raises(UserError, match=r"another budget \(until_solved None -> False\)"):
        open_sweep(out, {"kind": "alrnn-copy", "grid": {"P": [1]}}, new)
    with pytest.raises(UserError, match=r"another budget \(until_solved False -> True\)"):
        open_sweep(out, {"kind": "alrnn-copy", "grid": {"P": [1]}}, {**new, "until_solved": True},
                   defaults={"until_solved": False})
    rec = open_sweep(out, {"kind": "alrnn-copy", "grid": {"P": [1]}}, new, defaults={"until_solved": False, "x": 3})
    assert rec["grid"] == {"P": [0, 1]} and rec["budget"] == new
    assert open_sweep(out, {"kind": "alrnn-copy", "grid": {"P": [1]}}, new) == rec
