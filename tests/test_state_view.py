"""`--state all|h|c` (issue 22 item 3): stage 2 on the LSTM's whole state s = [h; c], or on h or c alone.

A part view shows the analysis the part (S = H); the decoder gets the completed state whose other part is the base
sequence's own, and the analysis gets the part's slice of d loss / d state (frozen.py's part / complete).
- `--state all` is the default and bit-identical to no flag;
- by hand on a tiny float64 LSTM: the c (and h) view's decode is the full-state decode of [h_base; c_edited]
  ([h_edited; c_base]), its gradient the slice of the full-state gradient; the onion intervention under the c view
  decodes its edited c beside the corrupted sequence's own h;
- finite differences (float64, numpy) of every method's parameter gradient under the c view;
- the CLI (and the Python API) write <name>-c / <name>-h directories (config.json records the view), resume them,
  run them on numba, and refuse a GRU run or an unknown view in one line (exit 2).
"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from gradcheck import assert_grad
from onionref import runs
from onionref.cells import choice
from onionref.onion import seq2seq
from onionref.onion.frozen import Frozen
from onionref.onion.interventions import targets
from onionref.onion.interventions.onion import OnionIntervention
from runhelpers import (analysis_args, arrays_of, assert_one_line_error, assert_same_outputs, call_main, no_plots,
                        outputs, train_args)
from test_analysis_gradients import METHODS, _check_against_differences

LSTM = choice.cell_of("lstm", "tanh", None)


def _frozen(H=3, C=4, seed=0, view="all"):
    """A random float64 LSTM seq2seq, frozen, on numpy (its cell weights spread to U(−1, 1))."""
    rng = np.random.default_rng(seed)
    params = seq2seq.init_params(H, C, C + 1, rng, np.float64, cell=LSTM)
    params = {k: (rng.uniform(-1, 1, v.shape) if k.startswith(seq2seq.cell_prefix(LSTM)) else v)
              for k, v in params.items()}
    return Frozen(params, C, False, "numpy", cell=LSTM, view=view)


def _sequences(rng, C, B=5, L=4):
    lengths = rng.integers(1, L + 1, B)
    tok = rng.integers(0, C, (B, L))
    return np.where(np.arange(L)[None] < lengths[:, None], tok, 0), lengths


@pytest.mark.parametrize("view", ["h", "c"])
def test_a_part_decodes_completed_by_the_base_and_gets_its_slice_of_the_gradient(view):
    H, C = 3, 4
    full, part = _frozen(H, C), _frozen(H, C, view=view)
    assert (full.state, part.state, part.full_state) == (2 * H, H, 2 * H)
    rng = np.random.default_rng(1)
    tok, lengths = _sequences(rng, C)
    b = full.batch(tok, lengths)
    s_base = full.encode(b.enc_in, b.mask)                    # [B, 2H] = [h; c]
    h_base, c_base = s_base[:, :H], s_base[:, H:]
    np.testing.assert_array_equal(part.part(s_base), c_base if view == "c" else h_base)
    v = rng.standard_normal((len(lengths), H))                # an edited part
    by_hand = np.concatenate([h_base, v] if view == "c" else [v, c_base], axis=1)
    np.testing.assert_array_equal(part.complete(v, s_base), by_hand)
    loss, dv, correct = targets.decode(part, v, s_base, b, True)
    loss_f, ds_f, _, correct_f = full.decode(by_hand, b.dec_in, b.target, b.loss_mask)
    assert loss == loss_f and np.array_equal(correct, correct_f)
    np.testing.assert_array_equal(dv, ds_f[:, H:] if view == "c" else ds_f[:, :H])
    assert_grad(lambda: targets.decode(part, v, s_base, b, False)[0], v, dv, name=f"d loss / d {view}")


def test_the_whole_view_is_the_state_itself():
    frozen = _frozen()
    s = np.random.default_rng(2).standard_normal((4, frozen.state))
    v = s + 1
    assert frozen.part(s) is s and frozen.complete(v, s) is v


def test_the_onion_intervention_on_c_decodes_beside_the_corrupted_sequences_own_h(monkeypatch):
    """Its decoder sees [h(x̃); c(x̃) + edit]: h is the base's (the corrupted sequence's), never the original's."""
    H, C = 3, 4
    frozen = _frozen(H, C, view="c")
    rng = np.random.default_rng(3)
    tok, lengths = _sequences(rng, C)
    method = OnionIntervention("onion")
    params, buffers = method.init(frozen, rng)
    assert params["E"].shape == (C, H) and params["g"].shape == (H,)
    seen, decode = [], Frozen.decode
    monkeypatch.setattr(Frozen, "decode", lambda self, s0, *a, **k: seen.append(s0.copy()) or decode(self, s0, *a, **k))
    method.forward(params, buffers, frozen, tok, lengths, np.random.default_rng(4), train=True)
    from onionref.onion.interventions import corrupt
    from onionref.tasks.repeat import make_batch
    x_t = corrupt.single_token(tok, lengths, C, np.random.default_rng(4))[0]   # the same draws as forward's
    tb = make_batch(x_t, lengths, C)
    s_t = frozen.encode(tb.enc_in, tb.mask)
    (s0,) = seen
    np.testing.assert_array_equal(s0[:, :H], s_t[:, :H])
    assert not np.allclose(s0[:, H:], s_t[:, H:])           # c is edited


def test_onion_parameter_gradients_under_the_c_view_match_finite_differences():
    H, C = 3, 4
    frozen = _frozen(H, C, seed=5, view="c")
    rng = np.random.default_rng(6)
    tok, lengths = _sequences(rng, C)
    method = OnionIntervention("onion")
    params, buffers = method.init(frozen, rng)
    params = {k: v.astype(np.float64) + 0.1 * rng.standard_normal(v.shape) for k, v in params.items()}

    def loss():
        return method.forward(params, buffers, frozen, tok, lengths, np.random.default_rng(7), train=True)[0]

    grads = method.backward(method.forward(params, buffers, frozen, tok, lengths, np.random.default_rng(7), True)[2])
    for k in params:
        assert_grad(loss, params[k], grads[k], name=k)


@pytest.mark.parametrize("method", METHODS, ids=lambda m: f"{type(m).__name__}-{list(m.__dict__.values())[0]}")
def test_every_method_on_c_matches_finite_differences(method):
    frozen = _frozen(3, 4, seed=8, view="c")
    _check_against_differences(method, frozen, np.random.default_rng(9), 9)


# ---- the CLI, in process -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    from onionref.cli import main
    mp = pytest.MonkeyPatch()
    no_plots(mp)
    root = tmp_path_factory.mktemp("views")
    try:
        assert main(train_args(root / "lstm", steps=10, eval_every=5) + ["--cell", "lstm"]) == 0
        assert main(train_args(root / "gru", steps=4, eval_every=2)) == 0
    finally:
        mp.undo()
    return root


def test_state_all_is_bit_identical_to_no_flag(runs_dir, tmp_path, capsys, monkeypatch):
    no_plots(monkeypatch)
    for cmd, flag, what in (("intervene", "--mode", "onion"), ("intervene", "--mode", "linear"),
                            ("probe", "--kind", "linear")):
        got = {}
        for state in ([], ["--state", "all"]):
            run = tmp_path / f"{what}{len(state)}"
            shutil.copytree(runs_dir / "lstm", run, dirs_exist_ok=True)
            code, out, err = call_main([cmd, run, flag, what] + state + analysis_args(), capsys)
            assert code == 0, err
            got[len(state)] = outputs(run / cmd / what, "params.safetensors")
            assert runs.read_json(run / cmd / what / "config.json")["state"] == "all"
        assert_same_outputs(got[0], got[2], f"{cmd} {what}")


def test_the_cli_writes_part_views_to_their_own_directories_and_resumes_them(runs_dir, tmp_path, capsys,
                                                                           monkeypatch):
    no_plots(monkeypatch)
    run = tmp_path / "lstm"
    shutil.copytree(runs_dir / "lstm", run)
    H = 8                                                     # train_args: hidden 8, so S = 16
    for cmd, flag, what, state, metric in (("intervene", "--mode", "onion", "c", "iia"),
                                           ("intervene", "--mode", "linear", "h", "iia"),
                                           ("probe", "--kind", "linear", "c", "accuracy"),
                                           ("probe", "--kind", "gru-ar", "c", "accuracy")):
        code, out, err = call_main([cmd, run, flag, what, "--state", state, "--json"] + analysis_args(), capsys)
        assert code == 0, err
        res = json.loads(out.strip().splitlines()[-1])
        d = run / cmd / f"{what}-{state}"
        assert res["analysis"] == f"{what}-{state}" and 0 <= res[metric] <= 1
        assert runs.read_json(d / "result.json")[metric] == res[metric] and (d / "DONE").exists()
        assert runs.read_json(d / "config.json")["state"] == state
        assert not (run / cmd / what).exists()                # the whole state's analysis is untouched
    p = {d: arrays_of(run / d / "params.safetensors") for d in ("intervene/onion-c", "intervene/linear-h",
                                                                "probe/linear-c")}
    assert p["intervene/onion-c"]["E"].shape[1] == H and p["intervene/linear-h"]["X"].shape == (H, H)
    assert p["probe/linear-c"]["out.weight"].shape[1] == H
    code, out, err = call_main(["intervene", run, "--mode", "onion", "--state", "c"] + analysis_args(), capsys)
    assert_one_line_error(code, out, err, "already holds an analysis")
    code, out, err = call_main(["intervene", run, "--mode", "onion", "--state", "c", "--resume"]
                               + analysis_args(steps=9), capsys)
    assert code == 0, err
    assert runs.read_json(run / "intervene/onion-c/result.json")["steps"] == 9


def test_the_c_view_runs_on_numba(runs_dir, tmp_path, capsys, monkeypatch):
    no_plots(monkeypatch)
    run = tmp_path / "lstm"
    shutil.copytree(runs_dir / "lstm", run)
    for cmd, flag, what in (("intervene", "--mode", "onion"), ("intervene", "--mode", "linear"),
                            ("probe", "--kind", "linear")):
        code, out, err = call_main([cmd, run, flag, what, "--state", "c", "--backend", "numba", "--json"]
                                   + analysis_args(), capsys)
        assert code == 0, err
        assert runs.read_json(run / cmd / f"{what}-c" / "config.json")["backend"] == "numba"


def test_the_python_api_takes_the_view(runs_dir, tmp_path, monkeypatch):
    from onionref import api
    from onionref.errors import UserError
    no_plots(monkeypatch)
    run = tmp_path / "lstm"
    shutil.copytree(runs_dir / "lstm", run)
    kw = dict(steps=3, batch=16, eval_every=3, progress=False)
    assert 0 <= api.open_run(run).probe("onion", state="c", **kw)["accuracy"] <= 1
    assert runs.read_json(run / "probe/onion-c/config.json")["state"] == "c"
    with pytest.raises(UserError, match="needs an LSTM run"):
        api.open_run(runs_dir / "gru").intervene("onion", state="c", **kw)


@pytest.mark.parametrize("argv, needles", [
    (["intervene", "gru", "--mode", "onion", "--state", "c"], ["--state c needs an LSTM run", "cell is gru"]),
    (["probe", "gru", "--kind", "linear", "--state", "h"], ["--state h needs an LSTM run", "cell is gru"]),
    (["intervene", "lstm", "--mode", "onion", "--state", "hc"], ["hc"]),
    (["probe", "lstm", "--kind", "linear", "--state", "x"], ["x"])])
def test_bad_state_exits_2_in_one_line(runs_dir, capsys, argv, needles):
    argv = [argv[0], runs_dir / argv[1]] + argv[2:] + analysis_args()
    code, out, err = call_main(argv, capsys)
    assert_one_line_error(code, out, err, *needles)
    assert not (runs_dir / "gru" / "intervene").exists() and not (runs_dir / "gru" / "probe").exists()
