"""Issue 21's access-order tasks (tasks/reverse.py, tasks/lookup.py, tasks/access.py) and what follows them.

- data: every task draws repeat's sets (unique, disjoint, 30 symbols); reverse targets are x_L..x_1; lookup's queries
  lie in 0..L−1, are seeded, and its decoder input is the query's position token (inside the vocabulary);
- output_step: the target of step output_step(task, p) is the input token at p, for every task;
- the lookup step (a loss mask of its own) on the numba path equals the NumPy reference, and the NumPy reference
  equals float64 finite differences (hypothesis shapes); reverse likewise;
- training on tiny sizes learns reverse and lookup far above chance;
- interventions: the counterfactual target follows the task (recorded on hand-built models; lookup: the intervened
  position and a control position), slot models that answer in reverse / by lookup are repaired exactly by the
  linear intervention's exact solution, and an edit that only writes the answer fails lookup's control;
- bad input: unknown task, --no-input with lookup, a lookup position outside the sequence: one line, exit 2.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradcheck import assert_grad
from handbuilt import SlotModel, slot_linear_params
from onionref.cells import gru_numba
from onionref import runs
from onionref.errors import UserError
from onionref.onion import seq2seq
from onionref.onion.analysis import score
from onionref.onion.interventions import corrupt
from onionref.onion.interventions.linear import LinearIntervention
from onionref.onion.interventions.onion import OnionIntervention
from onionref.tasks import access, lookup, reverse
from onionref.tasks.repeat import load_set, make_batch, sequence_keys, sos_id
from runhelpers import assert_one_line_error, call_main, no_plots


def _seqs(n, lo, hi, C, seed):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(lo, hi + 1, n)
    tok = rng.integers(0, C, (n, hi))
    return np.where(np.arange(hi)[None] < lengths[:, None], tok, 0), lengths


# ------------------------------------------------------------------------------------------------------- data
def test_every_task_draws_the_repeat_sets():
    """The sets are repeat's (one sampler): unique, disjoint train / valid, symbols 0..29."""
    tv, lv = load_set("valid")
    tt, lt = load_set("train", n_train=20_000)
    assert not np.intersect1d(sequence_keys(tt, lt), sequence_keys(tv, lv)).size
    assert len(np.unique(sequence_keys(tv, lv))) == len(lv) and tv.max() < 30
    for task in access.TASKS:
        q = lookup.eval_queries(lv) if task == "lookup" else None
        b = access.batch(task, tv[:256], lv[:256], 30, False, None if q is None else q[:256])
        np.testing.assert_array_equal(b.enc_in, make_batch(tv[:256], lv[:256]).enc_in)   # the same input


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 40), st.integers(1, 9), st.integers(0, 2**31 - 1))
def test_reverse_batch(n, hi, seed):
    tok, ln = _seqs(n, 1, hi, 30, seed)
    b = reverse.make_batch(tok, ln)
    for j in range(n):
        L = ln[j]
        assert list(b.target[:L, j]) == list(tok[j, :L][::-1])
        assert list(b.dec_in[:L, j]) == [sos_id(30)] + list(tok[j, :L][::-1][:-1])
        assert np.all(b.target[L:, j] == 0) and list(b.enc_in[:L, j]) == list(tok[j, :L])
    assert b.out_mask is None and np.array_equal(b.loss_mask, np.arange(b.mask.shape[0])[:, None] < ln[None])
    assert np.all(reverse.make_batch(tok, ln, no_input=True).dec_in[1:] == 31)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 40), st.integers(1, 9), st.integers(0, 2**31 - 1))
def test_lookup_queries_and_batch(n, hi, seed):
    tok, ln = _seqs(n, 1, hi, 30, seed)
    q = lookup.draw_queries(ln, np.random.default_rng(seed))
    assert np.all((0 <= q) & (q < ln))
    np.testing.assert_array_equal(q, lookup.draw_queries(ln, np.random.default_rng(seed)))   # seeded
    b = lookup.make_batch(tok, ln, q)
    assert b.dec_in.shape == b.target.shape == b.loss_mask.shape == (1, n) and b.loss_mask.all()
    np.testing.assert_array_equal(b.dec_in[0], 31 + q)                    # after the 30 symbols and SOS
    assert b.dec_in.max() < lookup.vocab_size(30, 9) == access.vocab("lookup", 30, False, 9) == 40
    np.testing.assert_array_equal(b.target[0], tok[np.arange(n), q])
    assert b.mask.shape[0] == ln.max()                                    # the encoder keeps its own mask


def test_lookup_queries_cover_every_position_uniformly():
    ln = np.full(90_000, 9)
    counts = np.bincount(lookup.draw_queries(ln, np.random.default_rng(0)), minlength=9)
    assert counts.min() > 9_600 and counts.max() < 10_400
    tv, lv = load_set("valid")
    q = lookup.eval_queries(lv)
    assert np.all(q < lv) and np.array_equal(q, lookup.eval_queries(lv))


@pytest.mark.parametrize("task", access.TASKS)
def test_output_step_holds_the_input_token(task):
    tok, ln = _seqs(200, 2, 9, 30, 1)
    p = np.random.default_rng(2).integers(0, ln)
    b = access.batch(task, tok, ln, queries=p if task == "lookup" else None)
    steps = access.output_step(task, p, ln)
    np.testing.assert_array_equal(b.target[steps, np.arange(200)], tok[np.arange(200), p])
    assert np.all(b.loss_mask[steps, np.arange(200)])


def test_bad_queries_and_tasks_are_refused():
    tok, ln = _seqs(4, 3, 3, 30, 0)
    for q in ([0, 1, 2, 3], [-1, 0, 0, 0]):
        with pytest.raises(UserError, match="outside the sequence"):
            lookup.make_batch(tok, ln, np.array(q))
    with pytest.raises(UserError, match="unknown task"):
        access.check("sort")
    with pytest.raises(UserError, match="--no-input"):
        access.check("lookup", no_input=True)


# ------------------------------------------------------------------------------- gradients and the fast path
@pytest.mark.parametrize("task", ["lookup", "reverse"])
@settings(max_examples=5, deadline=None)
@given(H=st.integers(2, 6), C=st.integers(2, 5), seed=st.integers(0, 2**31 - 1))
def test_model_gradient_matches_finite_differences(task, H, C, seed):
    """float64: the whole model's loss (lookup: the position token enters the decoder) against its gradient."""
    rng = np.random.default_rng(seed)
    L = 4
    params = seq2seq.init_params(H, C, access.vocab(task, C, False, L), rng, np.float64)
    tok, ln = _seqs(5, 1, L, C, seed)
    b = access.batch(task, tok, ln, C, queries=lookup.draw_queries(ln, rng))
    _, grads, _ = seq2seq.loss_and_grads(params, b)
    for k, v in params.items():
        coords = rng.choice(v.size, size=min(6, v.size), replace=False)
        assert_grad(lambda: seq2seq.loss_and_grads(params, b)[0], v, grads[k], coords, atol=1e-6, name=k)


@pytest.mark.parametrize("task", ["lookup", "reverse"])
def test_numba_step_matches_the_reference(task):
    tok, ln = _seqs(96, 2, 9, 30, 3)
    params = seq2seq.init_params(24, 30, access.vocab(task, 30, False, 9), np.random.default_rng(4))
    b = access.batch(task, tok, ln, queries=lookup.draw_queries(ln, np.random.default_rng(5)))
    l1, g1, lg1 = seq2seq.loss_and_grads(params, b)
    l2, g2, lg2 = gru_numba.loss_and_grads(params, b)
    assert abs(l1 - l2) < 1e-5 and set(g1) == set(g2)
    for k in g1:
        np.testing.assert_allclose(g2[k], g1[k], rtol=1e-4, atol=1e-6 * np.abs(g1[k]).max(), err_msg=k)
    np.testing.assert_allclose(lg2, lg1, atol=1e-5)
    np.testing.assert_allclose(gru_numba.predict(params, b), seq2seq.predict(params, b), atol=1e-5)


# ------------------------------------------------------------------------------------------------- training
@pytest.mark.parametrize("task", ["reverse", "lookup"])
def test_tiny_training_learns_the_task(task, tmp_path, monkeypatch, capsys):
    """Chance is 1/30 (lookup: one token) or below 1/900 (reverse: every token of L 2–3)."""
    no_plots(monkeypatch)
    code, out, err = call_main(["train", "--task", task, "--hidden", "32", "--min-len", "2", "--max-len", "3",
                                "--n-train", "20000", "--batch", "64", "--steps", "600", "--eval-every", "300",
                                "--lr", "0.003", "--quiet", "--json", "--out", tmp_path / "run"], capsys)
    assert code == 0, err
    res = json.loads(out)
    assert res["task"] == task and res["accuracy"] > 0.3
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())["config"]
    assert cfg["task"] == task
    from onionref.onion.train import evaluate_run, load_run   # (`eval` also wants valid_rep_3, impossible at L 3)
    assert evaluate_run(*load_run(tmp_path / "run"), names=["valid"])["valid"]["accuracy"] == res["accuracy"]


# ------------------------------------------------------------------------------------------ interventions
@dataclass(frozen=True)
class ReverseSlotModel(SlotModel):
    """The slot model answering in reverse: step t reads slot max_len−1−t (every sequence of length max_len)."""
    task: str = "reverse"

    def logits(self, h0, dec_in):
        C, L = self.n_symbols, self.max_len
        return np.stack([h0[:, (L - 1 - t) * C:(L - t) * C] for t in range(dec_in.shape[0])])


@dataclass(frozen=True)
class LookupSlotModel(SlotModel):
    """The slot model answering a query: its one decoder step reads the slot of the asked position."""
    task: str = "lookup"

    def logits(self, h0, dec_in):
        C = self.n_symbols
        i = dec_in[0] - C - 1
        return np.stack([h0[np.arange(len(i))[:, None], i[:, None] * C + np.arange(C)[None]]])


class Recorder(ReverseSlotModel):
    """Records what the methods decode against."""
    def decode(self, h0, dec_in, target, mask, need_grad=True, with_logits=True):
        self.seen.append((dec_in.copy(), target.copy(), mask.copy()))
        return super().decode(h0, dec_in, target, mask, need_grad, with_logits)


@pytest.mark.parametrize("model", [ReverseSlotModel, LookupSlotModel], ids=["reverse", "lookup"])
@pytest.mark.parametrize("ngram", [1, 2])
def test_linear_intervention_repairs_slot_models_in_any_order(model, ngram):
    m = model(n_symbols=5, max_len=4)
    meth = LinearIntervention(ngram, max_len=4)
    params, buffers = slot_linear_params(m, meth.n_vars)
    tok, ln = _seqs(400, 4, 4, 5, 0)
    assert score(meth, params, buffers, m, tok, ln)["iia"] == 1.0
    if model is ReverseSlotModel:  # the same model scored against repeat's order: the targets must follow the task
        assert score(meth, params, buffers, ReverseSlotModel(n_symbols=5, max_len=4, task="repeat"), tok,
                     ln)["iia"] < 0.5


@dataclass(frozen=True)
class AnswerModel(LookupSlotModel):
    """The lookup slot model with C extra "answer" channels that add to every answer's logits (x10): an edit that
    writes the counterfactual token there makes the intervened position come out right, and every other one wrong."""
    @property
    def hidden(self):
        return self.n_symbols * (self.max_len + 1)

    def logits(self, h0, dec_in):
        C, L = self.n_symbols, self.max_len
        return super().logits(h0, dec_in) + 10.0 * h0[None, :, C * L:]


def test_an_edit_that_only_writes_the_answer_fails_the_control():
    m = AnswerModel(n_symbols=5, max_len=4)
    tok, ln = _seqs(400, 4, 4, 5, 3)
    E = np.zeros((5, m.hidden))
    E[np.arange(5), 20 + np.arange(5)] = np.arctanh(0.5)        # tanh E[c] = ½ e(answer c); scale 2
    params = {"E": E, "g": np.full(m.hidden, 2.0), "b": np.zeros(m.hidden), "gamma": np.ones(m.hidden),
              "lin": np.zeros(m.hidden)}
    x_t, p, xo, xn = corrupt.single_token(tok, ln, 5, np.random.default_rng(0))
    h = m.encode(*_enc_of(x_t, ln)) + (np.tanh(E[xo]) - np.tanh(E[xn])) * 2.0
    asked = lookup.make_batch(tok, ln, p, 5)                      # asked only p, the written answer would pass
    assert m.decode(h, asked.dec_in, asked.target, asked.loss_mask, False)[3].all()
    assert score(OnionIntervention(), params, {}, m, tok, ln)["iia"] < 0.5   # the control position catches it


def _enc_of(tokens, lengths):
    b = make_batch(tokens, lengths, 5)
    return b.enc_in, b.mask


def _recorded(task, method, tok, ln, seed=7):
    rec = Recorder(n_symbols=5, max_len=4, task=task)
    object.__setattr__(rec, "seen", [])
    params, buffers = method.init(rec, np.random.default_rng(0))
    method.forward(params, buffers, rec, tok, ln, np.random.default_rng(seed), train=False)
    return rec.seen[0]


@pytest.mark.parametrize("task", access.TASKS)
def test_onion_and_bigram_counterfactual_targets_follow_the_task(task):
    tok, ln = _seqs(64, 2, 4, 5, 1)
    for method in (OnionIntervention(), LinearIntervention(2, max_len=4)):
        if isinstance(method, LinearIntervention):
            tok, ln = _seqs(64, 4, 4, 5, 1)
        dec_in, target, mask = _recorded(task, method, tok, ln)
        # the same draws as the method's: single_token / ngram_window take p first
        p = np.random.default_rng(7).integers(0, ln)
        want = access.batch(task, tok, ln, 5, queries=p)
        B = 64
        np.testing.assert_array_equal(target[:, :B], want.target)
        np.testing.assert_array_equal(mask[:, :B], want.loss_mask)
        steps = access.output_step(task, p, ln)
        np.testing.assert_array_equal(target[steps, np.arange(B)], tok[np.arange(B), p])
        if task == "lookup":   # asked p, then a control position (another one) whose stored token must stay
            np.testing.assert_array_equal(dec_in[0, :B], lookup.position_id(p, 5))
            control = dec_in[0, B:] - 5 - 1
            assert np.all(control != p) and np.all(control < ln)
            np.testing.assert_array_equal(target[0, B:], tok[np.arange(B), control])
        else:
            assert target.shape[1] == B


def test_unigram_lookup_asks_a_swapped_position():
    tok, ln = _seqs(64, 4, 4, 5, 2)
    dec_in, target, _ = _recorded("lookup", LinearIntervention(1, max_len=4), tok, ln, seed=9)
    rng = np.random.default_rng(9)
    _, _, m = corrupt.unigram_pairs(tok, ln, 4, rng)
    q = dec_in[0, :64] - 5 - 1
    swapped = m[np.arange(64), q] == 1
    assert np.all(swapped | (m.sum(1) == 0)) and swapped.any()
    np.testing.assert_array_equal(target[0, :64], tok[np.arange(64), q])
    np.testing.assert_array_equal(q, corrupt.swapped_queries(m, ln, rng))


# ------------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("args, needle", [
    (["train", "--task", "sort"], "--task"),
    (["train", "--task", "lookup", "--no-input"], "--no-input"),
    (["sweep", "--task", "sort", "--out", "{tmp}/sw"], "--task"),
    (["sweep", "--task", "lookup", "--variants", "noinput", "--out", "{tmp}/sw"], "--no-input"),
])
def test_bad_task_input_is_one_line(args, needle, tmp_path, capsys):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if args[0] == "train":
        args += ["--out", str(tmp_path / "run"), "--quiet"]
    assert_one_line_error(*call_main(args, capsys), needle)
    assert not (tmp_path / "run").exists() and not (tmp_path / "sw").exists()


@pytest.fixture(scope="module")
def lookup_run(tmp_path_factory):
    from onionref.cli import main
    mp = pytest.MonkeyPatch()
    no_plots(mp)
    d = tmp_path_factory.mktemp("lookup") / "run"
    try:
        assert main(["train", "--task", "lookup", "--hidden", "8", "--n-train", "3000", "--batch", "32", "--steps",
                     "4", "--eval-every", "2", "--backend", "numpy", "--quiet", "--out", str(d)]) == 0
    finally:
        mp.undo()
    return d


@pytest.mark.parametrize("args, needle", [
    (["eval", "{run}", "--query", "9"], "outside"),
    (["eval", "{run}", "--query", "-1"], "outside"),
    (["positions", "{run}"], "lookup"),
])
def test_lookup_run_bad_input_is_one_line(lookup_run, args, needle, capsys):
    args = [a.replace("{run}", str(lookup_run)) for a in args]
    assert_one_line_error(*call_main(args, capsys), needle)


def test_lookup_run_answers_a_given_position(lookup_run, capsys):
    code, out, err = call_main(["eval", lookup_run, "--query", "8", "--json"], capsys)
    assert code == 0, err
    sets = json.loads(out)["sets"]
    assert sets["valid"]["per_query"].keys() == {"8"} and set(sets["valid"]["per_length"]) == {"9"}
    from onionref import api
    run = api.open_run(lookup_run)
    assert len(run.lookup(["a b c", "1 2"], [2, 0])) == 2
    with pytest.raises(UserError, match="outside the sequence"):
        run.lookup(["a b c"], 3)


# ------------------------------------------------------------------------------------------ sweeps, reports
def test_the_sweep_budget_records_the_task(tmp_path):
    from onionref.onion.sweep import Budget, budget_record, task_of
    from onionref.sweep.sweepdir import open_sweep
    assert budget_record(tmp_path / "new", Budget(task="reverse"))["task"] == "reverse"
    assert budget_record(tmp_path / "new", Budget())["task"] == "repeat"
    old = {k: v for k, v in vars(Budget()).items() if k != "task"}   # a repeat sweep from before --task
    open_sweep(tmp_path / "old", {"kind": "onion", "grid": {"hidden": [8]}}, old)
    assert "task" not in budget_record(tmp_path / "old", Budget())
    assert task_of(runs.read_json(tmp_path / "old" / "sweep.json")) == "repeat"
    assert budget_record(tmp_path / "old", Budget(task="lookup"))["task"] == "lookup"   # (then refused: budgets differ)


def test_report_of_a_lookup_sweep_shows_the_task(lookup_run, tmp_path, capsys):
    import shutil
    from onionref.onion import methods
    from onionref.onion.analysis import AnalysisConfig
    from onionref.sweep.sweepdir import open_sweep
    out = tmp_path / "sw"
    open_sweep(out, {"kind": "onion", "grid": {"hidden": [8], "variant": ["ar"], "seed": [0],
                                               "analysis": ["onion"]}},
               {"train_steps": 4, "analysis_steps": 2, "task": "lookup"})
    shutil.copytree(lookup_run, out / "h8-ar-s0")
    methods.analyse(out / "h8-ar-s0", "intervene", "onion", methods.intervention("onion"),
                    AnalysisConfig(steps=2, batch=16, eval_every=2, seed=5), progress=False)
    cfg = json.loads((out / "h8-ar-s0" / "intervene" / "onion" / "config.json").read_text())
    assert cfg["task"] == "lookup"
    code, stdout, err = call_main(["report", out, "--json", "--quiet"], capsys)
    assert code == 0, err
    assert json.loads(stdout)["task"] == "lookup"
    md = (out / "report.md").read_text()
    assert "Task: **lookup**" in md and "| *paper* |" not in md and "a control position" in md
    repeat = tmp_path / "rep"
    open_sweep(repeat, {"kind": "onion", "grid": {"hidden": [8]}}, {"train_steps": 4})
    shutil.copytree(lookup_run, repeat / "h9-ar-s0")
    assert_one_line_error(*call_main(["report", out, repeat, "--out", tmp_path / "joint"], capsys), "different tasks")


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_a_resumed_lookup_run_is_bit_identical(backend, tmp_path, monkeypatch):
    """lookup's queries of step s come from (seed, s): a run stopped and resumed asks the same questions."""
    from onionref.onion.train import TrainConfig, train
    no_plots(monkeypatch)
    kw = dict(hidden=8, n_train=3000, batch=32, eval_every=3, seed=2, backend=backend, task="lookup")
    train(TrainConfig(steps=6, **kw), tmp_path / "whole", progress=False)
    train(TrainConfig(steps=3, **kw), tmp_path / "cut", progress=False)
    train(TrainConfig(steps=6, **kw), tmp_path / "cut", resume=True, progress=False)
    a, _ = runs.load_arrays(tmp_path / "whole" / "weights.safetensors")
    b, _ = runs.load_arrays(tmp_path / "cut" / "weights.safetensors")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert a["embedding.weight"].shape == (40, 8)
