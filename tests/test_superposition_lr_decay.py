"""The learning-rate decay of delayed-recall training (--lr-decay, --lr-schedule): the schedule's values, the default
(no decay) is the constant-rate Adam loop bit for bit, a decaying run equals a hand-written loop with lr_at(t), an
interrupted decaying run resumes bit for bit, a changed --steps is refused, and configs and sweep budgets written
before the option existed still load."""
from __future__ import annotations

import math
from dataclasses import asdict, replace

import numpy as np
import pytest

from onionref import adamw, runs
from onionref.superposition import sweep, train as train_mod
from onionref.superposition.config import SuperConfig
from onionref.superposition.model import init_params, loss_and_grads
from onionref.superposition.train import train
from onionref.tasks.delay_recall import delayed_targets, importance, seed_batches
from runhelpers import run_cli, strip_timing

TINY = SuperConfig(model="ssm", k=2, p=0.3, hidden=2, steps=30, batch=64, eval_every=10, T=8, eval_events=2000,
                   seed=3)


def weights(d):
    return runs.load_arrays(d / "weights.safetensors")[0]


def test_schedule_values():
    const = replace(TINY, lr=0.02)
    assert all(const.lr_at(t) == 0.02 for t in range(1, 31))          # exactly lr, not lr · 1.0 rounded
    cos = replace(TINY, lr=0.02, lr_decay=0.1, lr_schedule="cosine", steps=100)
    assert cos.lr_at(100) == pytest.approx(0.002, rel=1e-12)
    assert cos.lr_at(50) == pytest.approx(0.02 * (0.1 + 0.9 * 0.5), rel=1e-12)
    assert cos.lr_at(1) == pytest.approx(0.02 * (0.1 + 0.45 * (1 + math.cos(math.pi / 100))), rel=1e-12)
    ex = replace(cos, lr_schedule="exp")
    assert ex.lr_at(100) == pytest.approx(0.002, rel=1e-12)
    assert ex.lr_at(50) == pytest.approx(0.02 * 0.1 ** 0.5, rel=1e-12)
    for c in (cos, ex):
        lrs = [c.lr_at(t) for t in range(1, 101)]
        assert all(a > b for a, b in zip(lrs, lrs[1:])) and lrs[0] < 0.02


def _by_hand(cfg: SuperConfig) -> dict:
    """The training loop written out: init, batches of (seed, step), Adam at lr_at(t); one seed."""
    mcfg = cfg.model_config()
    params = {k: v[None] for k, v in init_params(mcfg, np.random.default_rng([cfg.seed, 1])).items()}
    opt = adamw.init_state(params)
    for t in range(1, cfg.steps + 1):
        x = seed_batches([cfg.seed], t, cfg.seq_len, cfg.batch_size, cfg.features, cfg.p)
        _, grads, _ = loss_and_grads(params, mcfg, x, delayed_targets(x, cfg.k),
                                     importance(cfg.features, cfg.decay), cfg.backend)
        adamw.step(params, grads, opt, adamw.AdamWConfig(lr=cfg.lr_at(t), weight_decay=0.0))
    return {k: v[0] for k, v in params.items()}


@pytest.mark.parametrize("decay, schedule", [(1.0, "cosine"), (0.05, "cosine"), (0.05, "exp")])
def test_training_is_adam_at_lr_at(tmp_path, decay, schedule):
    cfg = replace(TINY, lr_decay=decay, lr_schedule=schedule)
    train(cfg, tmp_path / "r", progress=False, figures=False)
    got, want = weights(tmp_path / "r"), _by_hand(cfg)
    assert set(got) == set(want)
    for k in want:
        np.testing.assert_array_equal(got[k], want[k])
    rows = runs.read_jsonl(tmp_path / "r" / "metrics.jsonl")
    assert ("lr" in rows[0]) == (decay != 1.0)          # default runs write the rows they always wrote
    if decay != 1.0:
        assert [r["lr"] for r in rows] == [cfg.lr_at(r["step"]) for r in rows]
        assert runs.read_config(tmp_path / "r")["lr_decay"] == decay


def test_default_differs_from_decay(tmp_path):
    train(TINY, tmp_path / "a", progress=False, figures=False)
    train(replace(TINY, lr_decay=0.1), tmp_path / "b", progress=False, figures=False)
    assert not np.array_equal(weights(tmp_path / "a")["weight_hh"], weights(tmp_path / "b")["weight_hh"])


def test_interrupted_decaying_run_resumes_bit_for_bit(tmp_path, monkeypatch):
    cfg = replace(TINY, lr_decay=0.05, lr_schedule="exp")
    full = train(cfg, tmp_path / "full", progress=False, figures=False)
    save = train_mod._save_checkpoint

    def save_then_die(run_dir, params, opt, step):
        save(run_dir, params, opt, step)
        if step == 20:
            raise KeyboardInterrupt
    monkeypatch.setattr(train_mod, "_save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "part", progress=False, figures=False)
    monkeypatch.undo()
    assert not (tmp_path / "part" / "DONE").exists()
    resumed = train(cfg, tmp_path / "part", resume=True, progress=False, figures=False)
    assert strip_timing({**full, "run": None}) == strip_timing({**resumed, "run": None})
    for k, v in weights(tmp_path / "full").items():
        np.testing.assert_array_equal(weights(tmp_path / "part")[k], v)
    rows = [strip_timing(r) for r in runs.read_jsonl(tmp_path / "part" / "metrics.jsonl")]
    assert rows == [strip_timing(r) for r in runs.read_jsonl(tmp_path / "full" / "metrics.jsonl")]


def test_decaying_run_cannot_change_steps_on_resume(tmp_path):
    out = tmp_path / "r"
    args = ["superposition", "train", "--model", "ssm", "--k", "1", "--p", "0.3", "--steps", "20", "--batch", "32",
            "--T", "5", "--eval-every", "10", "--eval-events", "500", "--lr-decay", "0.1", "--out", out, "--quiet"]
    assert run_cli(args).returncode == 0
    r = run_cli(["superposition", "train", "--out", out, "--resume", "--steps", "40", "--quiet"])
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "cannot resume with steps 20 -> 40" in r.stderr
    r = run_cli(["superposition", "train", "--out", out, "--resume", "--lr-decay", "0.5", "--quiet"])
    assert r.returncode == 2 and "--lr-decay 0.5 differs from the run's config (0.1)" in r.stderr


@pytest.mark.parametrize("args, message", [
    (["--lr-decay", "0"], "--lr-decay must be in (0, 1]"), (["--lr-decay", "1.5"], "--lr-decay must be in (0, 1]"),
    (["--lr-decay", "nan"], "--lr-decay must be in (0, 1]"), (["--lr-schedule", "step"], "'step' is not one of"),
])
def test_bad_decay_is_one_line_and_exit_2(tmp_path, args, message):
    out = tmp_path / "never"
    r = run_cli(["superposition", "train", "--out", out, "--quiet", *args])
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and message in r.stderr
    assert not out.exists()


def test_old_configs_and_budgets_still_load():
    old = {k: v for k, v in asdict(TINY).items() if k not in ("lr_decay", "lr_schedule")}
    assert SuperConfig.from_dict(old) == TINY and TINY.lr_decay == 1.0
    budget = sweep.sweep_budget(TINY)
    assert set(budget) == set(old) - {"model", "k", "p", "seed"}      # what sweeps wrote before --lr-decay
    assert sweep.sweep_budget(replace(TINY, lr_decay=0.1))["lr_decay"] == 0.1
