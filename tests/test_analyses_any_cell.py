"""Stage 2 on any cell's state (issue 22 part 3): interventions and probes act on the whole state the encoder hands
the decoder, s [B, S] with S = cell.state_size(H) (2H for the LSTM's [h; c], H otherwise).

- gradients: every intervention and probe, on a random float64 frozen LSTM, Elman, linear RNN and AL-RNN, against
  centred differences (the same check as tests/test_analysis_gradients.py does on the GRU);
- end to end through the CLI: `intervene` and `probe` (a few steps) on tiny LSTM, AL-RNN and linear runs, their
  parameters sized by the state; `positions` on the LSTM run;
- `--backend numba` on a non-GRU run (cells/seq_numba.py): the frozen model's encode and decode agree with numpy,
  and `intervene --backend numba` runs on an LSTM run trained on numpy;
- refusals in one line, exit 2: the tools that read a GRU's gates or parameters (`precision`, `report RUN`).
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from onionref.cells import choice
from onionref.onion import seq2seq
from onionref.onion.frozen import Frozen
from onionref.onion.train import TrainConfig
from runhelpers import analysis_args, assert_one_line_error, call_main, no_plots, train_args
from test_analysis_gradients import METHODS, _check_against_differences

CELLS = {"lstm": ("lstm", "tanh", None), "elman": ("elman", "tanh", None), "linear": ("linear", "tanh", None),
         "alrnn-p1": ("alrnn", "tanh", 1)}


@pytest.mark.parametrize("cell_name", sorted(CELLS))
@pytest.mark.parametrize("method", METHODS, ids=lambda m: f"{type(m).__name__}-{list(m.__dict__.values())[0]}")
@settings(max_examples=2, deadline=None)
@given(H=st.integers(2, 4), C=st.integers(3, 5), seed=st.integers(0, 2**31 - 1))
def test_gradient_matches_finite_differences_on_every_cell(cell_name, method, H, C, seed):
    cell = choice.cell_of(*CELLS[cell_name])
    rng = np.random.default_rng(seed)
    params = seq2seq.init_params(H, C, C + 1, rng, np.float64, cell=cell)
    params = {k: (rng.uniform(-1, 1, v.shape) if k.startswith(seq2seq.cell_prefix(cell)) else v)
              for k, v in params.items()}
    frozen = Frozen(params, C, False, "numpy", cell=cell)
    assert frozen.state == (2 * H if cell_name == "lstm" else H)
    _check_against_differences(method, frozen, rng, seed)


def test_frozen_of_a_run_carries_its_cell_and_runs_on_numba():
    cfg = TrainConfig(hidden=5, cell="lstm", backend="numpy")
    params = seq2seq.init_params(5, 30, 31, np.random.default_rng(0), cell=cfg.cell_module())
    frozen = Frozen.of_run(cfg, params)
    assert frozen.state == 10 and frozen.hidden == 5 and frozen.cell is cfg.cell_module()
    b = frozen.batch(np.zeros((2, 3), np.int64), np.array([3, 2]))
    s = frozen.encode(b.enc_in, b.mask)
    assert s.shape == (2, 10)
    loss, ds, _, _ = frozen.decode(s, b.dec_in, b.target, b.mask)
    assert ds.shape == (2, 10) and np.isfinite(loss)
    fast = Frozen.of_run(cfg, params, backend="numba")
    assert fast.backend == "numba" and fast.cell is cfg.cell_module()
    s_fast = fast.encode(b.enc_in, b.mask)
    np.testing.assert_allclose(s_fast, s, rtol=0, atol=1e-5)
    loss_f, ds_f, logits_f, correct_f = fast.decode(s, b.dec_in, b.target, b.mask)
    assert abs(loss_f - loss) <= 1e-5 * max(1.0, abs(loss))
    np.testing.assert_allclose(ds_f, ds, rtol=0, atol=1e-5 * max(1e-3, float(np.abs(ds).max())) * 20)
    loss_n, ds_n, logits_n, _ = fast.decode(s, b.dec_in, b.target, b.mask, need_grad=False)
    assert ds_n is None and abs(loss_n - loss) <= 1e-5 * max(1.0, abs(loss)) and logits_n.shape == logits_f.shape


# ---- the CLI, in process -----------------------------------------------------------------------------------------
RUNS = {"lstm": ["--cell", "lstm"], "alrnn": ["--cell", "alrnn", "--P", "2"], "linear": ["--cell", "linear"]}


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    from onionref.cli import main
    mp = pytest.MonkeyPatch()
    no_plots(mp)
    root = tmp_path_factory.mktemp("cells")
    try:
        for name, flags in RUNS.items():
            assert main(train_args(root / name, steps=10, eval_every=5) + flags) == 0
    finally:
        mp.undo()
    return root


@pytest.mark.parametrize("name", sorted(RUNS))
def test_intervene_and_probe_run_on_every_cell(runs_dir, tmp_path, capsys, monkeypatch, name):
    no_plots(monkeypatch)
    import shutil
    run = tmp_path / name
    shutil.copytree(runs_dir / name, run)
    S = 16 if name == "lstm" else 8          # train_args: hidden 8
    for cmd, flag, what, metric in (("intervene", "--mode", "onion", "iia"), ("intervene", "--mode", "linear", "iia"),
                                    ("probe", "--kind", "linear", "accuracy"), ("probe", "--kind", "onion", "accuracy"),
                                    ("probe", "--kind", "mlp", "accuracy")):
        code, out, err = call_main([cmd, run, flag, what, "--json"] + analysis_args(), capsys)
        assert code == 0, err
        res = json.loads(out.strip().splitlines()[-1])
        assert 0 <= res[metric] <= 1, res
        arrays = json.loads((run / cmd / what / "result.json").read_text())
        assert arrays[metric] == res[metric]
    from onionref import runs
    p = {k: runs.load_arrays(run / d / "params.safetensors")[0] for k, d in
         (("onion", "intervene/onion"), ("linear", "intervene/linear"), ("probe", "probe/linear"))}
    assert p["onion"]["E"].shape[1] == S and p["linear"]["X"].shape == (S, S)
    assert p["probe"]["out.weight"].shape[1] == S
    code, out, err = call_main(["positions", run, "--json"], capsys)
    assert code == 0, err


def test_numba_runs_and_the_gru_only_tools_refuse_in_one_line(runs_dir, tmp_path, capsys, monkeypatch):
    no_plots(monkeypatch)
    import shutil
    run = tmp_path / "lstm"
    shutil.copytree(runs_dir / "lstm", run)
    code, out, err = call_main(["intervene", run, "--mode", "onion", "--backend", "numba", "--json"]
                               + analysis_args(), capsys)
    assert code == 0, err
    assert 0 <= json.loads(out.strip().splitlines()[-1])["iia"] <= 1
    for argv in (["precision", run], ["report", run]):
        code, out, err = call_main(argv, capsys)
        assert_one_line_error(code, out, err, "lstm run")
