"""The sequential-digits task (tasks/digits.py; sklearn's bundled 8×8 digits read pixel by pixel) in the AL-RNN lab.

- the data: s [64, n, 1] in [0, 1], the image row-major over time, labels 0..9 read at step 63; three disjoint
  pools covering the 1 797 images; the same split for every run seed and in every call;
- without scikit-learn: one UserError naming the `data` extra;
- a short training run learns (test accuracy far above chance 0.1 on the fixed 300-image test set);
- `alrnn train --task digits --json`, `alrnn regions` on it, and `alrnn sweep --task digits --collect`;
- bad input (--length, too many images): one line, exit 2, no run directory.
"""
from __future__ import annotations

import json
import sys
from dataclasses import asdict

import numpy as np
import pytest

from onionref.alrnn import data, sweep
from onionref.alrnn.config import resolve
from onionref.alrnn.train import train
from onionref.errors import UserError
from onionref.tasks import digits
from runhelpers import assert_one_line_error, call_main

TINY = ["--hidden", "6", "--P", "2", "--epochs", "2", "--eval-every", "1", "--n-train", "64", "--n-valid", "20",
        "--n-test", "30", "--batch", "32", "--quiet"]


def test_images_read_pixel_by_pixel():
    from sklearn.datasets import load_digits
    ref = load_digits()
    tr = digits.make("test", 300)
    assert tr.s.shape == (64, 300, 1) and tr.s.dtype == np.float32
    assert tr.s.min() == 0.0 and tr.s.max() == 1.0
    assert tr.y.shape == (1, 300) and tr.y.dtype == np.int64 and set(np.unique(tr.y)) == set(range(10))
    assert np.all(tr.t_out == 63) and np.all(tr.length == 64)
    idx = digits.pool("test")
    assert np.allclose(tr.s[:, :, 0].T * 16, ref.data[idx]) and np.array_equal(tr.y[0], ref.target[idx])
    assert np.array_equal(tr.s[8:16, 0, 0] * 16, ref.images[idx[0], 1])       # step 8..15 = the second row


def test_split_is_disjoint_fixed_and_seed_independent():
    pools = [digits.pool(s) for s in ("train", "valid", "test")]
    assert [len(p) for p in pools] == [1197, 300, 300]
    assert np.array_equal(np.sort(np.concatenate(pools)), np.arange(1797))
    for s in ("train", "valid", "test"):
        a = data.make_split(resolve("digits", {"seed": 0}), s)
        b = data.make_split(resolve("digits", {"seed": 3}), s)
        assert all(np.array_equal(x, y) for x, y in zip(a, b)), s
    small = digits.make("test", 40)                                            # a smaller split: the pool's first n
    assert np.array_equal(small.s, digits.make("test", 300).s[:, :40])
    assert np.bincount(digits.make("test", 300).y[0]).min() >= 20               # every class is tested


def test_without_scikit_learn_one_user_error(monkeypatch):
    digits._images.cache_clear()
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    try:
        with pytest.raises(UserError, match=r"pip install 'onionref\[data\]'"):
            digits.make("train", 10)
    finally:
        digits._images.cache_clear()


def test_a_short_run_learns(tmp_path):
    """20 epochs of the 1 197 training images at lr 3e-3 (0.69 when written): test accuracy ≥ 0.5 on 300 images,
    where guessing (0.1) has mean 30 and sd 5.2 correct, and the commonest test class is 0.13."""
    cfg = resolve("digits", dict(hidden=20, P=2, lr=3e-3, epochs=20, eval_every=5))
    res = train(cfg, tmp_path / "r", progress=False)
    assert res["accuracy"] >= 0.5 and res["selection"] == "best_valid_loss", res
    assert 1 <= res["codes_used"] <= 4


def test_train_regions_and_sweep_cli(tmp_path, capsys):
    rc, out, err = call_main(["alrnn", "train", "--task", "digits", *TINY, "--out", tmp_path / "r", "--json"], capsys)
    assert rc == 0, err
    res = json.loads(out.strip().splitlines()[-1])
    assert res["task"] == "digits" and res["length"] == 64 and res["hidden"] == 6 and 1 <= res["codes_used"] <= 4
    assert 0 <= res["accuracy"] <= 1 and np.isfinite(res["loss"])
    rc, out, err = call_main(["alrnn", "regions", tmp_path / "r", "--json"], capsys)
    assert rc == 0, err
    reg = json.loads(out.strip().splitlines()[-1])
    assert reg["codes_used"] == res["codes_used"] and reg["steps"] == 30 * 64
    assert (tmp_path / "r" / "regions" / "histogram.png").exists()
    # The sweep's tables know the task: two runs trained by its job, then reported by `sweep --collect`.
    sw, small = tmp_path / "sw", dict(hidden=6, epochs=2, n_train=64, batch=32)
    argv = ["alrnn", "sweep", "--task", "digits", "--P", "0,2", "--seeds", "1", "--hidden", "6", "--epochs", "2",
            "--n-train", "64", "--batch", "32", "--out", sw, "--collect", "--json", "--quiet"]
    rc, out, err = call_main(argv, capsys)                  # opens the sweep directory; nothing finished yet
    assert rc == 0 and json.loads(out.strip().splitlines()[-1])["rows"] == [], err
    for P in (0, 2):
        sweep.train_job(str(sw), asdict(resolve("digits", {**small, "P": P})))
    rc, out, err = call_main(argv, capsys)
    assert rc == 0, err
    rows = json.loads(out.strip().splitlines()[-1])["rows"]
    assert [r["P"] for r in rows] == [0, 2] and all(r["seeds"] == 1 and r["solved_rule"] == "accuracy >= 0.9"
                                                     and "loss" in r and "accuracy" in r for r in rows)
    assert (sw / "accuracy_vs_P.png").exists() and (sw / "codes_vs_P.png").exists()


@pytest.mark.parametrize("args,needle", [
    (["--length", "30"], "--length does not apply to digits"),
    (["--n-train", "2000"], "--n-train must be <= 1197"),
    (["--n-test", "301"], "--n-test must be <= 300"),
    (["--n-valid", "0"], "--n-valid must be >= 1"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, needle):
    rc, out, err = call_main(["alrnn", "train", "--task", "digits", *args, "--out", tmp_path / "bad", "--quiet"],
                             capsys)
    assert_one_line_error(rc, out, err, needle)
    assert not (tmp_path / "bad").exists()
