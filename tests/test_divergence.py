"""Divergence: a NaN or Inf in the loss or a gradient stops a run with one line naming the step, keeps the last good
checkpoint intact, and marks the run FAILED (no DONE). For training and for stage-2 analyses.

Injected failures monkeypatch the loss-and-gradient function in-process (NaN / Inf at step k exactly); a real one
comes from `--lr 1e39 --wd 0`, run through the console script: the first AdamW update of a float32 parameter with a
non-zero gradient is then ±lr = ±1e39, past float32's largest number (3.4e38), whatever the data or the BLAS.
(A merely huge rate such as 1e30 leaves it to the forward pass to overflow, which depends on the machine, and never
happens to the rotation of the linear interventions: expm of a skew-symmetric matrix stays orthogonal.)
"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from onionref import adamw, runs
from onionref.onion import seq2seq
from onionref.onion.interventions.onion import OnionIntervention
from onionref.onion.probes.state_decoder import StateDecoderProbe
from runhelpers import (tiny_trained_run, analysis_args, arrays_of, assert_one_line_error, assert_same_arrays, call_main, no_plots,
                        run_cli, strip_timing, train_args)

EVERY = 5


@pytest.fixture(scope="module")
def good10(tmp_path_factory):
    """An uninterrupted run of 10 steps: what the checkpoint of a run that diverges at steps 11..14 must hold."""
    return tiny_trained_run(tmp_path_factory, "div", steps=10, eval_every=EVERY)


def _poison(arrays_or_loss, value):
    if isinstance(arrays_or_loss, dict):
        g = {k: v.copy() for k, v in arrays_or_loss.items()}
        k = sorted(g)[len(g) // 2]
        g[k].reshape(-1)[len(g[k].reshape(-1)) // 2] = value
        return g
    return value


def _assert_failed_at(run_dir, step, good_dir, weights):
    failed = json.loads((run_dir / "FAILED").read_text())
    assert failed["step"] == step
    assert not (run_dir / "DONE").exists() and not (run_dir / "result.json").exists()
    # The last good checkpoint is intact: bit-identical to an uninterrupted run that stopped there.
    ck, meta = runs.load_arrays(run_dir / "checkpoint.safetensors")
    assert int(meta["step"]) == (step - 1) // EVERY * EVERY
    assert_same_arrays(ck, arrays_of(good_dir / "checkpoint.safetensors"), "checkpoint")
    assert_same_arrays(arrays_of(run_dir / weights), arrays_of(good_dir / weights), "weights")
    rows = strip_timing(runs.read_jsonl(run_dir / "metrics.jsonl"))
    assert rows == strip_timing(runs.read_jsonl(good_dir / "metrics.jsonl"))


@pytest.mark.parametrize("where, value, at", [("loss", np.nan, 13), ("loss", np.inf, 11),
                                              ("grad", np.nan, 14), ("grad", -np.inf, 12)])
def test_training_stops_on_nonfinite(tmp_path, monkeypatch, capsys, good10, where, value, at):
    no_plots(monkeypatch)
    orig, calls = seq2seq.loss_and_grads, [0]

    def loss_and_grads(params, b, *a, **k):
        loss, grads, logits = orig(params, b, *a, **k)
        calls[0] += 1
        if calls[0] == at:
            if where == "loss":
                loss = _poison(loss, value)
            else:
                grads = _poison(grads, value)
        return loss, grads, logits

    monkeypatch.setattr(seq2seq, "loss_and_grads", loss_and_grads)
    d = tmp_path / "run"
    line = assert_one_line_error(*call_main(train_args(d, eval_every=EVERY), capsys), f"step {at}", "diverged")
    assert ("the loss" if where == "loss" else "the gradient") in line
    _assert_failed_at(d, at, good10, "weights.safetensors")

    if where == "loss" and value != value:  # NaN once: the kept checkpoint resumes to a clean finish
        monkeypatch.setattr(seq2seq, "loss_and_grads", orig)
        code, out, err = call_main(train_args(d, eval_every=EVERY) + ["--resume"], capsys)
        assert code == 0, err
        assert (d / "DONE").exists() and not (d / "FAILED").exists()


HUGE_LR = 1e39


def test_real_divergence_from_a_huge_learning_rate(tmp_path):
    """--lr 1e39 --wd 0 through the console script: the first update overflows the float32 parameters."""
    d = tmp_path / "run"
    p = run_cli(train_args(d, lr=HUGE_LR, wd=0, eval_every=1, steps=10))
    assert_one_line_error(p.returncode, p.stdout, p.stderr, "training diverged at step 1: parameter",
                          "after the update is not finite")
    assert json.loads((d / "FAILED").read_text())["step"] == 1
    assert not (d / "DONE").exists() and not (d / "checkpoint.safetensors").exists()


def test_overflow_after_a_good_checkpoint_keeps_it(tmp_path, monkeypatch, capsys, good10):
    """Parameters that overflow in the update of step 12 (finite loss and gradients): FAILED at 12, checkpoint 10."""
    no_plots(monkeypatch)
    orig, calls = adamw.step, [0]

    def step(params, grads, state, cfg):
        orig(params, grads, state, cfg)
        calls[0] += 1
        if calls[0] == 12:
            params[sorted(params)[0]].reshape(-1)[0] = np.inf

    monkeypatch.setattr(adamw, "step", step)
    d = tmp_path / "run"
    assert_one_line_error(*call_main(train_args(d, eval_every=EVERY), capsys), "training diverged at step 12",
                          "parameter ", "after the update is not finite")
    _assert_failed_at(d, 12, good10, "weights.safetensors")


# ------------------------------------------------------------------------------------------------------- stage 2
@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    return tiny_trained_run(tmp_path_factory, "div2", steps=10, eval_every=10)


@pytest.mark.parametrize("cmd, flag, name, cls, where, value, at", [
    ("intervene", "--mode", "onion", OnionIntervention, "grad", np.nan, 8),
    ("probe", "--kind", "linear", StateDecoderProbe, "loss", np.inf, 7),
])
def test_analysis_stops_on_nonfinite(tmp_path, monkeypatch, capsys, base_run, cmd, flag, name, cls, where, value,
                                     at):
    no_plots(monkeypatch)
    run, good = tmp_path / "run", tmp_path / "good"
    shutil.copytree(base_run, run)
    shutil.copytree(base_run, good)
    last_good = (at - 1) // EVERY * EVERY
    code, _, err = call_main([cmd, good, flag, name] + analysis_args(steps=last_good, eval_every=EVERY), capsys)
    assert code == 0, err

    calls = [0]
    if where == "grad":
        orig = cls.backward

        def backward(self, cache):
            calls[0] += 1
            g = orig(self, cache)
            return _poison(g, value) if calls[0] == at else g
        monkeypatch.setattr(cls, "backward", backward)
    else:
        orig = cls.forward

        def forward(self, *a, **k):
            loss, correct, cache = orig(self, *a, **k)
            if k.get("train"):
                calls[0] += 1
                if calls[0] == at:
                    loss = value
            return loss, correct, cache
        monkeypatch.setattr(cls, "forward", forward)

    argv = [cmd, run, flag, name] + analysis_args(steps=20, eval_every=EVERY)
    assert_one_line_error(*call_main(argv, capsys), f"{name} diverged at step {at}")
    _assert_failed_at(run / cmd / name, at, good / cmd / name, "params.safetensors")


@pytest.mark.parametrize("cmd, flag, name", [("intervene", "--mode", m) for m in ("linear", "bigram", "onion",
                                                                                "onion-noscale")]
                         + [("probe", "--kind", k) for k in ("linear", "mlp", "onion", "gru-ar", "gru-noinput")])
def test_analysis_real_divergence(tmp_path, capsys, base_run, cmd, flag, name):
    run = tmp_path / "run"
    shutil.copytree(base_run, run)
    argv = [cmd, run, flag, name] + analysis_args(steps=10, eval_every=1, lr=HUGE_LR, wd=0)
    assert_one_line_error(*call_main(argv, capsys), f"{name} diverged at step 1: parameter",
                          "after the update is not finite")
    out = run / cmd / name
    assert json.loads((out / "FAILED").read_text())["step"] == 1
    assert not (out / "DONE").exists() and not (out / "checkpoint.safetensors").exists()
