"""AL-RNN training and the `onionref alrnn` commands, on tiny configurations:

- `train --json` prints one JSON object with the fields scripts rely on; the run directory is complete;
- a run stopped after some epochs and resumed equals the uninterrupted run bit for bit (numba backend, fixed threads);
- the NumPy and Numba backends train to the same numbers (within float32 round-off);
- bad input (P > M, P < 0, an unknown task, a copy delay the length cannot hold, a bad run directory): one line on
  stderr, exit code 2, nothing written;
- `regions --json` reports codes used ≤ 2^P and a normalised histogram.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from onionref.alrnn.config import resolve
from onionref.alrnn.train import train
from runhelpers import arrays_of, call_main, assert_same_arrays, strip_timing
from onionref import runs

TINY = ["--epochs", "4", "--eval-every", "2", "--n-train", "96", "--n-test", "40", "--batch", "32", "--quiet"]



@pytest.mark.parametrize("task,extra", [("addition", ["--length", "12"]), ("context", ["--length", "10", "--n-valid", "20"]),
                                         ("copy", ["--seq-len", "2", "--delay", "3"]), ("multitask", [])])
def test_train_json_and_run_directory(tmp_path, capsys, task, extra):
    rc, out, err = call_main(["alrnn", "train", "--task", task, "--hidden", "6", "--P", "2", *extra, *TINY,
                        "--out", tmp_path / "r", "--json"], capsys)
    assert rc == 0, err
    res = json.loads(out.strip().splitlines()[-1])
    for k in ("task", "P", "hidden", "loss", "accuracy", "codes_used"):
        assert k in res
    assert res["task"] == task and res["P"] == 2 and res["hidden"] == 6 and 1 <= res["codes_used"] <= 4
    assert ("mse" in res) == (task == "addition") and ("sequence_accuracy" in res) == (task == "copy")
    for f in ("config.json", "metrics.jsonl", "weights.safetensors", "checkpoint.safetensors", "result.json",
              "curves.png", "DONE"):
        assert (tmp_path / "r" / f).exists(), f
    rc, out, err = call_main(["alrnn", "regions", tmp_path / "r", "--json"], capsys)
    assert rc == 0, err
    reg = json.loads(out.strip().splitlines()[-1])
    assert reg["codes_used"] == res["codes_used"] <= 2 ** 2
    assert np.isclose(sum(h["freq"] for h in reg["histogram"]), 1.0)
    assert (tmp_path / "r" / "regions" / "histogram.png").exists()
    if task == "multitask":     # the JSD between the 11 tasks within this one model
        J = np.array(reg["jsd_matrix"])
        assert J.shape == (11, 11) and np.allclose(J, J.T) and np.allclose(np.diag(J), 0) and J.max() <= 1
        assert (tmp_path / "r" / "regions" / "jsd.png").exists()


def test_resume_is_bit_identical(tmp_path):
    cfg = resolve("addition", dict(hidden=8, P=3, length=10, n_train=64, n_test=32, batch=16, epochs=6, eval_every=2))
    train(cfg, tmp_path / "full", progress=False)
    from dataclasses import replace
    train(replace(cfg, epochs=2), tmp_path / "part", progress=False)
    # The first session stopped at epoch 2 (its config said 2); continue the same run to 6.
    train(cfg, tmp_path / "part", resume=True, progress=False)
    assert_same_arrays(arrays_of(tmp_path / "full" / "weights.safetensors"),
                       arrays_of(tmp_path / "part" / "weights.safetensors"), "weights")
    assert_same_arrays(arrays_of(tmp_path / "full" / "checkpoint.safetensors"),
                       arrays_of(tmp_path / "part" / "checkpoint.safetensors"), "checkpoint")
    full = strip_timing(runs.read_jsonl(tmp_path / "full" / "metrics.jsonl"))
    part = strip_timing(runs.read_jsonl(tmp_path / "part" / "metrics.jsonl"))
    assert full == part
    a, b = (strip_timing(runs.read_json(tmp_path / d / "result.json")) for d in ("full", "part"))
    a.pop("run"), b.pop("run")
    assert a == b


def test_numpy_and_numba_backends_agree(tmp_path):
    kw = dict(hidden=6, P=2, length=10, n_train=64, n_valid=16, n_test=32, batch=16, epochs=3, eval_every=3)
    r = {b: train(resolve("context", {**kw, "backend": b}), tmp_path / b, progress=False) for b in ("numpy", "numba")}
    assert abs(r["numpy"]["loss"] - r["numba"]["loss"]) < 1e-4
    wa, wb = arrays_of(tmp_path / "numpy" / "weights.safetensors"), arrays_of(tmp_path / "numba" / "weights.safetensors")
    for k in wa:
        assert np.allclose(wa[k], wb[k], atol=1e-4), k


@pytest.mark.parametrize("args,msg", [
    (["--P", "30", "--hidden", "20"], "must be <= --hidden"),
    (["--P", "-1"], "--P must be >= 0"),
    (["--task", "multiply"], "unknown task"),
    (["--task", "copy", "--length", "20", "--delay", "50"], "does not fit --length"),
    (["--task", "copy", "--length", "5"], "too short"),
    (["--hidden", "0"], "--hidden"),
    (["--mar-units", "50"], "--mar-units"),
    (["--task", "multitask", "--length", "40"], "does not apply"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, msg):
    rc, out, err = call_main(["alrnn", "train", *args, "--out", tmp_path / "bad", "--quiet"], capsys)
    assert rc == 2 and msg in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "bad").exists()


def test_regions_on_a_bad_run_directory(tmp_path, capsys):
    rc, _, err = call_main(["alrnn", "regions", tmp_path / "nope"], capsys)
    assert rc == 2 and len(err.strip().splitlines()) == 1
    (tmp_path / "half").mkdir()
    rc, _, err = call_main(["alrnn", "regions", tmp_path / "half"], capsys)
    assert rc == 2 and "DONE" in err


def test_threads_flag(tmp_path, capsys):
    """`train --threads 1` is the run trained in-process on one chunk thread, bit for bit; a bad count: exit 2."""
    from onionref.jit.threads import get_threads, set_threads
    from runhelpers import assert_one_line_error
    before = get_threads()
    try:
        argv = ["alrnn", "train", "--task", "copy", "--hidden", "6", "--P", "2", "--seq-len", "2", "--delay", "3",
                *TINY]
        rc, _, err = call_main([*argv, "--threads", "1", "--out", tmp_path / "cli"], capsys)
        assert rc == 0, err
        set_threads(1)
        cfg = resolve("copy", dict(hidden=6, P=2, seq_len=2, delay=3, epochs=4, eval_every=2, n_train=96, n_test=40,
                                   batch=32))
        train(cfg, tmp_path / "lib", progress=False)
        assert_same_arrays(arrays_of(tmp_path / "cli" / "weights.safetensors"),
                           arrays_of(tmp_path / "lib" / "weights.safetensors"), "weights")
        for bad in ("0", "-1", "100000"):
            assert_one_line_error(*call_main([*argv, "--threads", bad, "--out", tmp_path / f"b{bad}"], capsys),
                                  "--threads must be in")
            assert not (tmp_path / f"b{bad}").exists()
    finally:
        set_threads(before)
