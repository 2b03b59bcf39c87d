"""The low-data multi-task protocol (Fig. 5a) and the task-structure numbers (Fig. 5b), on tiny configurations:

- --per-task N: the training set is N × 11 fixed trials, N of each task, and every epoch visits exactly those;
- the validation and test sets are fresh draws, disjoint from the training set and from each other;
- --steps S: every training-set size gets exactly S Adam steps (epochs = ⌈S / batches per epoch⌉);
- the model is the one with the best validation accuracy;
- HARD durations: every period in the launcher's range (np.randint, upper end exclusive); SIMPLE unchanged;
- task_groups on a hand-built JSD matrix: known within/between numbers and a clustering that keeps the groups apart;
- `alrnn sweep --per-task` runs the sizes as a grid axis (a narrower command covers only its own grid);
  `alrnn groups` reads the sweep;
- bad input (--per-task 0, --steps 0, --per-task on another task, --durations nonsense): one line, exit 2.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from onionref import runs
from onionref.alrnn import data, model, task_groups
from onionref.alrnn.config import resolve
from onionref.alrnn.train import train
from onionref.tasks import cognitive
from runhelpers import call_main

TINY = dict(hidden=4, P=1, n_test=22, batch=8, backend="numpy")


def _trial_keys(trials) -> list:
    """One hashable key per trial: its real inputs."""
    return [trials.s[:trials.length[b], b].tobytes() for b in range(trials.n)]


def test_fixed_training_set_is_balanced_and_the_same_every_epoch(tmp_path, monkeypatch):
    cfg = resolve("multitask", dict(**TINY, per_task=3, epochs=4, eval_every=2))
    assert cfg.n_train == 33 and cfg.n_valid == 550
    train_set = data.make_split(cfg, "train")
    assert np.array_equal(np.bincount(train_set.task, minlength=11), [3] * 11)
    seen, real = [], model.loss_and_grads

    def record(params, trials, backend):
        seen.append(_trial_keys(trials))
        return real(params, trials, backend)
    monkeypatch.setattr(model, "loss_and_grads", record)
    train(cfg, tmp_path / "r", progress=False)
    per_epoch = [sum(seen[i:i + 5], []) for i in range(0, len(seen), 5)]      # ⌈33 / 8⌉ = 5 batches an epoch
    assert len(per_epoch) == 4
    for keys in per_epoch:
        assert len(keys) == 33 and sorted(keys) == sorted(_trial_keys(train_set))
    assert per_epoch[0] != per_epoch[1]                                       # reshuffled, not re-drawn


def test_valid_and_test_are_fresh_and_disjoint():
    cfg = resolve("multitask", dict(**TINY, per_task=5, n_valid=55, steps=4))
    keys = {s: set(_trial_keys(data.make_split(cfg, s))) for s in ("train", "valid", "test")}
    assert [len(keys[s]) for s in ("train", "valid", "test")] == [55, 55, 22]
    assert not keys["train"] & keys["valid"] and not keys["train"] & keys["test"] and not keys["valid"] & keys["test"]


def test_step_budget_is_the_same_for_every_size(tmp_path):
    res = {}
    for n in (1, 2, 7):
        cfg = resolve("multitask", dict(**TINY, per_task=n, n_valid=11, steps=10))
        assert cfg.epochs == -(-10 // -(-11 * n // 8)) and cfg.steps == 10
        res[n] = train(cfg, tmp_path / f"n{n}", progress=False)
        last = runs.read_jsonl(tmp_path / f"n{n}" / "metrics.jsonl")[-1]
        assert res[n]["adam_steps"] == 10 and last["step"] == 10 and last["epoch"] == cfg.epochs
        assert runs.read_json(tmp_path / f"n{n}" / "config.json")["config"]["steps"] == 10
    assert {r["selection"] for r in res.values()} == {"best_valid_accuracy"}


def test_selection_is_the_best_validation_accuracy(tmp_path):
    cfg = resolve("multitask", dict(**TINY, per_task=2, n_valid=22, steps=12, eval_every=1))
    res = train(cfg, tmp_path / "r", progress=False)
    rows = runs.read_jsonl(tmp_path / "r" / "metrics.jsonl")
    best = max(r["valid"]["accuracy"] for r in rows)
    assert res["valid_accuracy"] == best
    assert res["selected_epoch"] == max(r["epoch"] for r in rows if r["valid"]["accuracy"] == best)


def test_hard_durations_are_in_their_ranges():
    tr = cognitive.make(440, np.random.default_rng(5), "hard")
    names = np.array(cognitive.TASKS)[tr.task]
    assert tr.length.max() <= cognitive.max_length("hard") == 19 + 39 + 49 + 39 + 19
    lo = hi = None
    for b in np.flatnonzero(names == "DelayPro"):
        L, s = tr.length[b], tr.s[:tr.length[b], b]
        stim = np.flatnonzero(np.abs(s[:, 1:3]).sum(1) > 0)
        response = L - int(np.argmin(s[:, 0]))
        periods = np.array([stim[0], len(stim), L - response - stim[-1] - 1, response])
        lo = periods if lo is None else np.minimum(lo, periods)
        hi = periods if hi is None else np.maximum(hi, periods)
    assert np.all(lo >= [10, 10, 20, 10]) and np.all(hi <= [19, 39, 49, 19])
    assert np.all(hi - lo >= [5, 15, 15, 5])                    # the ranges are used, not one value
    a, b = cognitive.make(33, np.random.default_rng(1)), cognitive.make(33, np.random.default_rng(1), "simple")
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert cognitive.make(33, np.random.default_rng(1), "hard").s.shape[0] > a.s.shape[0]
    assert resolve("multitask", dict(durations="hard")).length == 165
    assert resolve("multitask", {}).length == 60                # the SIMPLE default is unchanged


def test_groups_on_a_hand_built_matrix():
    names = list(cognitive.TASKS)
    pro, anti = [names.index(t) for t in task_groups.PRO], [names.index(t) for t in task_groups.ANTI]

    def matrix(w_pro, w_anti, btw):
        J = np.full((11, 11), 0.9)
        for g, v in ((pro, w_pro), (anti, w_anti)):
            J[np.ix_(g, g)] = v
        J[np.ix_(pro, anti)] = J[np.ix_(anti, pro)] = btw
        np.fill_diagonal(J, 0)
        return J
    res = task_groups.groups([matrix(0.1, 0.2, 0.6), matrix(0.3, 0.2, 0.8)], names)
    assert np.isclose(res["within_pro"]["mean"], 0.2) and res["within_pro"]["per_seed"] == pytest.approx([0.1, 0.3])
    assert np.isclose(res["within_anti"]["mean"], 0.2) and np.isclose(res["within_anti"]["std"], 0)
    assert res["between_pro_anti"]["per_seed"] == pytest.approx([0.6, 0.8])
    assert np.isclose(res["between_pro_anti"]["std"], 0.1) and res["seeds"] == 2
    order = res["order"]
    pos = sorted(order.index(t) for t in task_groups.PRO)
    assert pos == list(range(pos[0], pos[0] + 3))                   # the pro tasks are neighbours
    pos = sorted(order.index(t) for t in task_groups.ANTI)
    assert pos == list(range(pos[0], pos[0] + 3))
    with pytest.raises(ValueError):
        task_groups.groups([np.zeros((3, 3))], names)


def test_sweep_over_sizes_and_groups(tmp_path, capsys):
    out = tmp_path / "sw"
    args = ["alrnn", "sweep", "--task", "multitask", "--hidden", "4", "--P", "0,2", "--seeds", "2", "--per-task",
            "1,3", "--steps", "6", "--batch", "8", "--workers", "1", "--quiet", "--out", out]
    rc, stdout, err = call_main([*args, "--json"], capsys)
    assert rc == 0, err
    rows = json.loads(stdout.strip().splitlines()[-1])["rows"]
    assert [(r["per_task"], r["P"]) for r in rows] == [(1, 0), (1, 2), (3, 0), (3, 2)]
    assert (out / "multitask-m4-p2-n3-s1" / "DONE").exists() and (out / "accuracy_vs_P.png").exists()
    steps = {runs.read_json(p / "result.json")["adam_steps"] for p in out.iterdir() if p.is_dir()}
    assert steps == {6}
    # A narrower command reports (and would train) only the grid it asks for; sweep.json keeps the union.
    narrow = [a if a != "1,3" else "3" for a in args]
    rc, stdout, err = call_main([*narrow, "--json", "--collect"], capsys)
    assert rc == 0, err
    assert [(r["per_task"], r["P"]) for r in json.loads(stdout.strip().splitlines()[-1])["rows"]] == [(3, 0), (3, 2)]
    assert runs.read_json(out / "sweep.json")["grid"]["per_task"] == [1, 3]
    rc, stdout, err = call_main(["alrnn", "groups", out, "--P", "2", "--json"], capsys)
    assert rc == 0, err
    g = json.loads(stdout.strip().splitlines()[-1])
    assert g["per_task"] == 3 and g["seeds"] == 2 and sorted(g["order"]) == sorted(cognitive.TASKS)
    assert (out / "groups_n3_P2.png").exists() and (out / "groups_n3_P2.json").exists()
    rc, _, err = call_main(["alrnn", "groups", out, "--P", "5"], capsys)
    assert rc == 2 and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("args,msg", [
    (["--task", "multitask", "--per-task", "0"], "--per-task must be >= 1"),
    (["--task", "multitask", "--steps", "0"], "--steps must be >= 1"),
    (["--task", "addition", "--per-task", "5"], "multitask only"),
    (["--task", "multitask", "--durations", "medium"], "--durations must be simple or hard"),
    (["--task", "addition", "--durations", "hard"], "--durations"),
    (["--task", "multitask", "--steps", "5", "--epochs", "3"], "not both"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, msg):
    rc, _, err = call_main(["alrnn", "train", *args, "--out", tmp_path / "bad", "--quiet"], capsys)
    assert rc == 2 and msg in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "bad").exists()
    rc, _, err = call_main(["alrnn", "sweep", "--task", "multitask", "--per-task", "0", "--out", tmp_path / "s"],
                           capsys)
    assert rc == 2 and "--per-task" in err and len(err.strip().splitlines()) == 1
    rc, _, err = call_main(["alrnn", "groups", tmp_path, "--P", "2"], capsys)
    assert rc == 2 and "sweep.json" in err
