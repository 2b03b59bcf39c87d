"""`--until-solved`: an AL-RNN run stops at the first evaluation whose validation metrics meet the task's solved rule.

- it stops exactly there: every earlier evaluation is unsolved, the stopped one solved, and the model is the stopped
  one (addition selects the last epoch);
- stopping changes nothing before it: the same config trained for exactly that many epochs is bit-identical;
- a run cut off after its solving checkpoint but before DONE resumes to the same result without training further;
- without a validation set the flag is refused in one line (exit 2).
"""
from __future__ import annotations

import shutil
from dataclasses import replace

from onionref import runs
from onionref.alrnn.config import resolve
from onionref.alrnn.train import train
from runhelpers import arrays_of, assert_same_arrays, call_main

# A short addition problem that one or two ReLUs solve within a few dozen epochs (about 1 s on one core).
CFG = resolve("addition", dict(hidden=20, P=2, length=10, n_train=2000, n_valid=500, n_test=500, epochs=300,
                               eval_every=5, until_solved=True))


def test_stops_at_the_first_solved_evaluation(tmp_path):
    res = train(CFG, tmp_path / "r", progress=False)
    stop = res["stopped_solved_epoch"]
    assert stop is not None and stop < CFG.epochs and res["selected_epoch"] == stop
    rows = runs.read_jsonl(tmp_path / "r" / "metrics.jsonl")
    assert rows[-1]["epoch"] == stop and rows[-1]["valid"]["mse"] < 0.01
    assert all(r["valid"]["mse"] >= 0.01 for r in rows[:-1]) and len(rows) == stop // CFG.eval_every
    # The same run without the rule, given exactly that budget, is the same run.
    plain = train(replace(CFG, until_solved=False, epochs=stop), tmp_path / "plain", progress=False)
    assert "stopped_solved_epoch" not in plain
    assert_same_arrays(arrays_of(tmp_path / "r" / "weights.safetensors"),
                       arrays_of(tmp_path / "plain" / "weights.safetensors"), "weights")


def test_cut_off_after_solving_resumes_without_training(tmp_path):
    train(CFG, tmp_path / "r", progress=False)
    shutil.copytree(tmp_path / "r", tmp_path / "cut")
    (tmp_path / "cut" / "DONE").unlink()
    (tmp_path / "cut" / "result.json").unlink()
    res = train(CFG, tmp_path / "cut", resume=True, progress=False)
    before = runs.read_json(tmp_path / "r" / "result.json")
    assert res["stopped_solved_epoch"] == before["stopped_solved_epoch"] == res["selected_epoch"]
    assert runs.read_jsonl(tmp_path / "cut" / "metrics.jsonl") == runs.read_jsonl(tmp_path / "r" / "metrics.jsonl")
    assert_same_arrays(arrays_of(tmp_path / "r" / "checkpoint.safetensors"),
                       arrays_of(tmp_path / "cut" / "checkpoint.safetensors"), "checkpoint")


def test_without_a_validation_set_it_is_refused(tmp_path, capsys):
    rc, out, err = call_main(["alrnn", "train", "--task", "addition", "--until-solved", "--epochs", "2",
                              "--out", tmp_path / "r"], capsys)
    assert rc == 2 and err.strip().count("\n") == 0 and "--n-valid" in err
    assert not (tmp_path / "r").exists()
    rc, out, err = call_main(["alrnn", "sweep", "--task", "addition", "--until-solved", "--P", "1", "--seeds", "1",
                              "--out", tmp_path / "s"], capsys)
    assert rc == 2 and err.strip().count("\n") == 0 and "--n-valid" in err
