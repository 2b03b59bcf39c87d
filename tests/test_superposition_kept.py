"""Features kept against N_h (superposition/kept.py, `onionref superposition kept`): the per-seed numbers on a
hand-made W_yᵀW_k, the grouping and mean ± std over seeds, the figure, and the command on tiny vector-input runs."""
from __future__ import annotations

import json

import numpy as np
import pytest

from onionref.errors import UserError
from onionref.superposition.config import SuperConfig
from onionref.superposition.geometry import features_kept
from onionref.superposition.kept import finished_results, kept_table, plot_kept_vs_hidden, seed_stats
from onionref.superposition.train import train_seeds
from runhelpers import run_cli


def _result(A_k, hidden=2, seed=0, k=1):
    A_k = np.asarray(A_k, dtype=float)
    return {"model": "ssm", "k": k, "p": 0.05, "features": A_k.shape[0], "hidden": hidden, "seed": seed,
            "a": [np.zeros_like(A_k).tolist()] * k + [A_k.tolist()], "features_kept": features_kept(A_k),
            "loss_normalised": 0.1 + seed}


A3 = [[1.2, -0.1, 0.3], [-0.3, 0.9, 0.0], [0.05, 0.2, 0.1]]     # keeps 0 and 1


def test_seed_stats_by_hand():
    s = seed_stats(_result(A3))
    assert s["kept"] == 2 and s["diag_kept"] == pytest.approx((1.2 + 0.9) / 2)
    assert s["off_kept"] == pytest.approx((-0.1 - 0.3) / 2)
    assert s["off_all"] == pytest.approx((-0.1 + 0.3 - 0.3 + 0.0 + 0.05 + 0.2) / 6)
    none = seed_stats(_result(np.zeros((3, 3))))
    assert none == {"kept": 0, "diag_kept": None, "off_kept": None, "off_all": 0.0, "loss": 0.1}
    one = seed_stats(_result(np.diag([0.0, 0.8, 0.1])))
    assert one["kept"] == 1 and one["diag_kept"] == 0.8 and one["off_kept"] is None


def test_table_groups_by_size_and_averages_seeds(tmp_path):
    rs = [_result(A3, hidden=2, seed=0), _result(np.eye(3), hidden=2, seed=1), _result(np.eye(3), hidden=5, seed=0)]
    rows = kept_table(rs)
    assert [(r["hidden"], r["n_seeds"]) for r in rows] == [(2, 2), (5, 1)]
    assert rows[0]["kept_per_seed"] == [2, 3] and rows[0]["kept_mean"] == 2.5
    assert rows[0]["kept_std"] == pytest.approx(np.std([2, 3], ddof=1))
    assert rows[0]["off_kept_mean"] == pytest.approx((-0.2 + 0.0) / 2) and rows[1]["kept_std"] == 0.0
    assert rows[0]["features_kept"] == [[0, 1], [0, 1, 2]] and rows[0]["loss_mean"] == pytest.approx(0.6)
    with pytest.raises(UserError, match="a seed appears twice"):
        kept_table(rs + [_result(A3, hidden=5, seed=0)])
    plot_kept_vs_hidden(rows, tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 1000


def test_kept_command_on_runs(tmp_path):
    cfg = SuperConfig(model="ssm", k=1, p=0.2, features=4, hidden=3, steps=10, batch=32, T=5, eval_every=5,
                      eval_events=500)
    train_seeds(cfg, [0, 1], [tmp_path / "sw" / "a", tmp_path / "sw" / "b"], progress=False, figures=False)
    train_seeds(cfg.__class__(**{**cfg.__dict__, "hidden": 2}), [0], [tmp_path / "h2"], progress=False,
                figures=False)
    assert len(finished_results([tmp_path / "sw", tmp_path / "h2"])) == 3
    r = run_cli(["superposition", "kept", tmp_path / "sw", tmp_path / "h2", "--out", tmp_path / "k", "--json"])
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout.strip().splitlines()[-1])["rows"]
    assert [(x["hidden"], x["n_seeds"]) for x in rows] == [(2, 1), (3, 2)]
    assert (tmp_path / "k" / "features_kept_vs_hidden.png").is_file() and (tmp_path / "k" / "kept.json").is_file()
    r = run_cli(["superposition", "kept", tmp_path / "sw"])
    assert r.returncode == 0 and "off-diag (kept)" in r.stdout
    train_seeds(cfg.__class__(**{**cfg.__dict__, "features": 1}), [0], [tmp_path / "x1"], progress=False,
                figures=False)
    r = run_cli(["superposition", "kept", tmp_path / "x1"])
    assert r.returncode == 2 and "one input feature" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run_cli(["superposition", "kept", tmp_path / "nothing"])
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "no finished run" in r.stderr
