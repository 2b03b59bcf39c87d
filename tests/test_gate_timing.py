"""Gate synchrony (reference/onion/gate_timing.py) and `onionref transition` (reference/onion/transition.py).

- retention R[t] = Π_{t' > t} z[t'] and the written shares (1 − z[t]) R[t], which sum to 1 − Π_t z[t] (hypothesis);
- hand-made gates: channels that close at known steps freeze there; synchronous gates give spread 0 and modal
  fraction 1, staggered ones the spread of their steps; a channel the input never writes is not counted;
- the command on a tiny sweep: one row per hidden size with the interventions, the probes, the synchrony and the
  onion's scale ratio, each cell's gates.json cached; bad input is one line, exit 2.
"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onionref.onion.gate_timing import freeze_steps, retention, synchrony, written_share
from onionref.onion.transition import predicts
from runhelpers import call_main


@settings(max_examples=30, deadline=None)
@given(T=st.integers(1, 7), B=st.integers(1, 3), H=st.integers(1, 4), seed=st.integers(0, 2**31 - 1))
def test_retention_and_written_shares(T, B, H, seed):
    z = np.random.default_rng(seed).uniform(0, 1, (T, B, H))
    R = retention(z)
    for t in range(T):
        assert np.allclose(R[t], np.prod(z[t + 1:], axis=0))
    assert np.allclose(((1 - z) * R).sum(0), written_share(z))
    f = freeze_steps(z, 0.9)
    for t in range(T):        # f is the first step from which the retention reaches 0.9
        assert np.all((R[t] >= 0.9) | (f > t))
        assert np.all((R[f, np.arange(B)[:, None], np.arange(H)[None]] >= 0.9))


def _closing(steps, T=9, B=5):
    """z [T, B, H]: channel j written fully (z = 0) up to step steps[j], then kept (z = 1)."""
    t = np.arange(T)[:, None, None]
    return np.broadcast_to((t > np.asarray(steps)[None, None, :]).astype(float), (T, B, len(steps))).copy()


def test_synchronous_and_staggered_gates():
    sync = synchrony(_closing([4, 4, 4, 4]))
    assert sync["freeze_step"] == [4, 4, 4, 4] and sync["std"] == 0 and sync["modal_fraction"] == 1
    stag = synchrony(_closing([2, 4, 6, 8]))
    assert stag["freeze_step"] == [2, 4, 6, 8] and np.isclose(stag["std"], np.std([2, 4, 6, 8]))
    assert stag["modal_fraction"] == 0.25 and stag["iqr"] == 3.0
    z = _closing([3, 3, 5])
    z[:, :, 2] = 1.0                 # never written: freezes at 0 trivially, and is left out
    dead = synchrony(z)
    assert dead["active"] == [True, True, False] and dead["active_channels"] == 2 and dead["std"] == 0


def _tiny_sweep(out, cells):
    """A sweep directory laid out by hand (as tests/test_report.py does): {cell name: analyses}, tiny sizes."""
    from onionref.onion import methods
    from onionref.onion.analysis import AnalysisConfig
    from onionref.onion.train import TrainConfig, train
    from onionref.sweep.sweepdir import open_sweep
    open_sweep(out, {"kind": "onion", "grid": {"hidden": [8], "variant": ["ar", "noinput"], "seed": [0, 1],
                                               "analysis": ["onion", "linear", "probe-linear"]}},
               {"train_steps": 12, "analysis_steps": 2})
    for name, analyses in cells.items():
        _, variant, seed = name.split("-")
        train(TrainConfig(hidden=8, n_train=3000, batch=32, steps=12, eval_every=6, seed=int(seed[1:]),
                          backend="numpy", no_input=variant == "noinput"), out / name, progress=False)
        for a in analyses:
            group, dname = ("probe", a[6:]) if a.startswith("probe-") else ("intervene", a)
            method = methods.probe(dname) if group == "probe" else methods.intervention(dname)
            methods.analyse(out / name, group, dname, method, AnalysisConfig(steps=2, batch=16, eval_every=2),
                            progress=False)


def test_transition_of_a_tiny_sweep(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    _tiny_sweep(sweep, {"h8-ar-s0": ("onion", "probe-linear"), "h8-ar-s1": ("onion",), "h8-noinput-s0": ()})
    curve = sweep / "h8-ar-s1" / "intervene" / "onion" / "metrics.jsonl"       # still rising by the report's rule
    curve.write_text("".join(json.dumps({"step": t, "valid": {"iia": 0.1 * t, "per_length": {"9": 0.1 * t}},
                                         "train_loss": 1.0}) + "\n" for t in range(1, 6)))
    rc, out, err = call_main(["transition", sweep, "--out", tmp_path / "t", "--json"], capsys)
    assert rc == 0, err
    res = json.loads(out.strip().splitlines()[-1])
    (row,) = res["rows"]                      # the no-input cell is left out
    assert row["hidden"] == 8 and row["seeds"] == 2
    for q in ("onion", "spread", "modal_fraction", "scale_ratio", "accuracy"):
        assert row[q]["n"] == 2 and np.isfinite(row[q]["mean"]), q
    assert row["probe-linear"]["n"] == 1 and "linear" not in row and "bigram" not in row
    assert row["onion"]["still_rising"] == 1 and row["probe-linear"]["still_rising"] == 0   # s1's curve rises
    assert [c["cell"] for c in res["cells"]] == ["h8-ar-s0", "h8-ar-s1"]
    assert res["predicts"]["onion"]["n"] == 2 and res["predicts"]["onion"]["within"] is None    # two cells: undefined
    for s in ("s0", "s1"):
        g = json.loads((sweep / f"h8-ar-{s}" / "gates.json").read_text())
        assert g["length"] == 9 and g["channels"] == 8 and len(g["freeze_step"]) == 8
    assert not (sweep / "h8-noinput-s0" / "gates.json").exists()
    assert (tmp_path / "t" / "transition.png").stat().st_size > 0
    assert json.loads((tmp_path / "t" / "transition.json").read_text()) == res
    shutil.copytree(sweep, tmp_path / "empty")
    for s in ("s0", "s1"):
        shutil.rmtree(tmp_path / "empty" / f"h8-ar-{s}")
    for src, args, needle in ((sweep, ["--keep", "1.5"], "--keep"),
                              (tmp_path / "empty", [], "no finished autoregressive cell")):
        rc, _, err = call_main(["transition", src, "--out", tmp_path / "bad", *args], capsys)
        assert rc == 2 and needle in err and len(err.strip().splitlines()) == 1
        assert not (tmp_path / "bad").exists()


def test_predicts_separates_size_from_the_seeds_within_a_size():
    # across sizes the spread and the score both grow with N; within each size the score falls as the spread grows
    cells = [{"hidden": h, "spread": h / 10 + d, "bigram": h / 100 - d} for h in (48, 96, 192) for d in (-0.1, 0, 0.1)]
    cells.append({"hidden": 256, "spread": 30.0, "bigram": 3.0})           # a lone size: across only
    got = predicts(cells)["bigram"]
    assert got["across"] > 0.8 and got["n"] == 10 and got["n_within"] == 9
    assert got["within"] == pytest.approx(-1.0)
    assert predicts(cells)["onion"] == {"across": None, "within": None, "n": 0, "n_within": 0}
