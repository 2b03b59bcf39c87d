"""`onionref sweep --cells` (issue 22): the cell axis of the grid.

- names: a GRU cell keeps the paper's directory name h<H>-<variant>-s<seed> and its config; another cell's is
  h<H>-<variant>-<cell>-s<seed> (alrnn-pH: P = H, named by its number), on the sweep's backend;
- a tiny sweep of a GRU and an LSTM: each cell is what `onionref train` (+ intervene / probe) writes, sweep.json
  records the cell axis; a GRU-only sweep.json has none;
- bad entries are one line, exit 2.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from onionref import runs
from onionref.onion import sweep
from onionref.onion.interventions.onion import scale_table
from onionref.onion.report import write_sweep_report
from onionref.onion.sweep import Budget, cell_name, plan, run_sweep
from onionref.onion.train import TrainConfig
from runhelpers import assert_one_line_error, assert_same_outputs, call_main, no_plots, outputs
from sweephelpers import TINY_KW


def test_cell_names_and_configs():
    b = Budget(backend="numba")
    assert cell_name(48, "ar", 0) == cell_name(48, "ar", 0, "gru") == "h48-ar-s0"
    assert cell_name(48, "noinput", 2, "alrnn-p4") == "h48-noinput-alrnn-p4-s2"
    assert cell_name(48, "ar", 0, "alrnn-pH") == "h48-ar-alrnn-p48-s0"
    assert cell_name(48, "ar", 0, "elman-relu") == "h48-ar-elman-relu-s0"
    assert b.train_config(48, "ar", 0, "gru") == b.train_config(48, "ar", 0) == TrainConfig(
        hidden=48, steps=b.train_steps, batch=b.batch, n_train=b.n_train, backend="numba")
    c = b.train_config(48, "ar", 0, "alrnn-pH")
    assert (c.cell, c.P, c.backend) == ("alrnn", 48, "numba")   # every cell has a fast path
    c = b.train_config(16, "ar", 0, "elman-relu")
    assert (c.cell, c.nonlinearity, c.P) == ("elman", "relu", None)
    assert cell_name(48, "ar", 1, "alrnn-p4-uniform") == "h48-ar-alrnn-p4-uniform-s1"
    assert cell_name(48, "ar", 0, "alrnn-pH-uniform") == "h48-ar-alrnn-p48-uniform-s0"
    c, d = b.train_config(48, "ar", 0, "alrnn-p4-uniform"), b.train_config(48, "ar", 0, "alrnn-p4")
    assert (c.cell, c.P, c.init, d.init) == ("alrnn", 4, "uniform", None)
    for name in ("h48-ar-s0", "h48-ar-lstm-s1", "h8-noinput-alrnn-p0-s0", "h8-ar-linear-s0",
                 "h8-ar-alrnn-p4-uniform-s0"):
        assert sweep.ANY_CELL_NAME.match(name)
    assert not sweep.CELL_NAME.match("h48-ar-lstm-s1")        # report / transition read the GRU's cells only
    keys = [j.key for j in plan(Path("/nonexistent"), [(8, "ar", 0), (8, "ar", 0, "linear")], ["onion"], Budget())]
    assert keys == ["h8-ar-s0/train", "h8-ar-s0/onion", "h8-ar-linear-s0/train", "h8-ar-linear-s0/onion"]


@pytest.mark.parametrize("cells,needle", [("gru,transformer", "unknown cell 'transformer'"),
                                          ("alrnn", "unknown cell 'alrnn'"), ("alrnn-p9", "--P must be in 0..8"),
                                          ("gru,,lstm", "--cells"), ("lstm-uniform", "unknown cell"),
                                          ("alrnn-p2-normal", "unknown cell")])
def test_bad_cells_are_one_line(tmp_path, capsys, cells, needle):
    argv = ["sweep", "--out", tmp_path / "s", "--hidden", "8", "--cells", cells, "--quiet", "--train-steps", "4"]
    assert_one_line_error(*call_main(argv, capsys), needle)
    assert not (tmp_path / "s").exists()


def test_a_sweep_of_a_gru_and_an_lstm_is_what_the_single_commands_write(tmp_path, monkeypatch, capsys):
    out = tmp_path / "sweep"
    kw = {**TINY_KW, "variants": ("ar",)}
    res = run_sweep(out, workers=1, progress=False, cells=("gru", "lstm"), **kw)
    assert sorted(res["cells"]) == ["h8-ar-lstm-s0", "h8-ar-s0"] and res["jobs"] == 6
    rec = runs.read_json(out / "sweep.json")
    assert rec["grid"]["cell"] == ["gru", "lstm"]
    gru_only = Budget(train_steps=40, batch=32, eval_every=5, n_train=3000, backend="numpy")
    assert runs.read_config(out / "h8-ar-s0") == asdict(gru_only.train_config(8, "ar", 0))
    no_plots(monkeypatch)
    single = tmp_path / "single"
    flags = ["--hidden", 8, "--steps", 40, "--batch", 32, "--eval-every", 5, "--n-train", 3000, "--seed", 0,
             "--cell", "lstm", "--backend", "numpy", "--out", single, "--quiet"]   # TINY_KW's backend
    stage2 = ["--steps", 6, "--batch", 32, "--eval-every", 5, "--quiet"]
    with threadpool_limits(1):             # the sweep's workers run on one thread
        assert call_main(["train"] + flags, capsys)[0] == 0
        assert call_main(["intervene", single, "--mode", "onion"] + stage2, capsys)[0] == 0
        assert call_main(["probe", single, "--kind", "linear"] + stage2, capsys)[0] == 0
    cell = out / "h8-ar-lstm-s0"
    assert runs.read_config(cell) == runs.read_config(single)
    assert_same_outputs(outputs(cell, "weights.safetensors"), outputs(single, "weights.safetensors"), "train")
    for a in ("intervene/onion", "probe/linear"):
        assert_same_outputs(outputs(cell / a, "params.safetensors"), outputs(single / a, "params.safetensors"), a)
    assert runs.load_arrays(cell / "intervene/onion/params.safetensors")[0]["E"].shape[1] == 16   # [h; c]
    # the same command again redoes nothing (a GRU-only sweep.json has no cell axis: tests/test_sweep.py)
    assert run_sweep(out, workers=1, progress=False, cells=("gru", "lstm"), **kw)["cells"] == res["cells"]
    # the report reads every cell: one row per (hidden, variant, cell), a cell column, the cells side by side
    rep = write_sweep_report(out)
    assert [(r["hidden"], r["cell"], r["seeds"]) for r in rep["rows"]] == [(8, "gru", [0]), (8, "lstm", [0])]
    assert all("onion" in r and "probe-linear" in r for r in rep["rows"])
    md = (out / "report.md").read_text()
    assert "| N | decoder | cell | Linear Unigram |" in md and "| 8 | Autoregressive | lstm | " in md
    assert "## Model accuracy (exact match" in md and "GRU accuracy" not in md
    assert (out / "figures" / "by_cell.png").is_file() and not (out / "figures" / "h8-ar-lstm-s0").exists()
    # every cell's learned onion scale per position, beside the GRU's (figure and table), from its own parameters
    params = runs.load_arrays(cell / "intervene/onion/params.safetensors")[0]
    s = np.median(np.abs(scale_table({k: np.asarray(v, np.float64) for k, v in params.items()}, 9)), axis=1)
    lstm = rep["rows"][1]["onion"]
    assert [e["mean"] for e in lstm["scales"]] == s.tolist() and lstm["scales"][0]["n"] == 1
    assert lstm["scale_ratio"]["mean"] == (s[8] / s[0]) ** (1 / 8)
    assert "## The learned onion's scale per position" in md and "| 8 | Autoregressive | lstm | " in md.split(
        "scale per position")[1]
    assert (out / "figures" / "onion_scales_by_cell.png").stat().st_size > 0


def test_an_alrnn_cell_and_its_uniform_init_side_by_side(tmp_path):
    """alrnn-p2 and alrnn-p2-uniform: two cells, their init recorded, analysed; an old spec-init cell (config.json
    without "init") is adopted as it is; the report orders each AL-RNN before its uniform twin."""
    out = tmp_path / "sweep"
    kw = {**TINY_KW, "variants": ("ar",), "analyses": "probe-linear"}
    res = run_sweep(out, workers=1, progress=False, cells=("alrnn-p2", "alrnn-p2-uniform"), **kw)
    assert sorted(res["cells"]) == ["h8-ar-alrnn-p2-s0", "h8-ar-alrnn-p2-uniform-s0"] and res["jobs"] == 4
    spec, uni = out / "h8-ar-alrnn-p2-s0", out / "h8-ar-alrnn-p2-uniform-s0"
    assert runs.read_config(spec)["init"] is None and runs.read_config(uni)["init"] == "uniform"
    assert runs.read_json(uni / "result.json")["init"] == "uniform"
    w = [runs.load_arrays(d / "weights.safetensors")[0]["alrnn.W"] for d in (spec, uni)]
    assert not np.array_equal(w[0], w[1])
    rec = json.loads((spec / "config.json").read_text())
    del rec["config"]["init"]                           # as written before --init existed
    (spec / "config.json").write_text(json.dumps(rec))
    again = run_sweep(out, workers=1, progress=False, cells=("alrnn-p2", "alrnn-p2-uniform"), **kw)
    assert again["cells"] == res["cells"]
    rows = write_sweep_report(out)["rows"]
    assert [r["cell"] for r in rows] == ["alrnn-p2", "alrnn-p2-uniform"]
