"""The repeat model with each cell (issue 22 part 1: `onionref train --cell gru|lstm|elman`).

- gradients: centred float64 differences of the WHOLE model's loss (embedding, cell, head) w.r.t. every coordinate
  of every parameter, for the LSTM and Elman (tanh, relu), both decoder variants, mixed lengths, hypothesis shapes;
- the LSTM's encoder state is [h; c] (2H) and the decoder starts from all of it; parameters sit under torch's
  module names (lstm., rnn.), and a torch seq2seq holding nn.LSTM / nn.RNN loads them strictly and agrees (float64);
- cells.choice: the GRU is the module cells/gru.py itself (so GRU runs do not change); bad names are refused;
- CLI: a tiny `--cell lstm` / `--cell elman` run learns above chance and records the cell in config.json; the
  default run is bit-identical to one made with `--cell gru`; bad input is one line, exit 2.
"""
from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from cellhelpers import check_decoder_state_gradient, check_whole_model_gradients, model_problem
from onionref.cells import choice, gru, lstm
from onionref.onion import seq2seq
from onionref.onion.train import evaluate_run, load_run
from onionref.tasks.repeat import make_batch, vocab_size
from runhelpers import CLI, strip_timing

CELLS = {"lstm": ("lstm", "tanh"), "elman-tanh": ("elman", "tanh"), "elman-relu": ("elman", "relu")}


@st.composite
def problems(draw, max_H=3, max_symbols=4, max_B=3, max_L=4):
    """(cell, params float64, batch) for a small model and a mixed-length batch."""
    cell = choice.cell_of(*CELLS[draw(st.sampled_from(sorted(CELLS)))])
    H = draw(st.integers(1, max_H))
    return model_problem(draw, cell, H, max_symbols, max_B, max_L, lambda rng, v: 2.0 * v)   # gates off-centre


@settings(max_examples=30, deadline=None)
@given(problems())
def test_whole_model_gradients_match_finite_differences(prob):
    check_whole_model_gradients(*prob)


@settings(max_examples=10, deadline=None)
@given(problems(max_H=4))
def test_decoder_initial_state_gradient_covers_the_whole_state(prob):
    check_decoder_state_gradient(*prob)


def test_lstm_state_is_h_and_c_and_names_are_torchs():
    rng = np.random.default_rng(1)
    params = seq2seq.init_params(5, 4, vocab_size(4, False), rng, np.float64, cell=lstm)
    assert {k.split(".")[0] for k in params} == {"embedding", "lstm", "head"}
    assert params["lstm.weight_hh_l0"].shape == (20, 5)
    b = make_batch(rng.integers(0, 4, size=(3, 4)), np.array([4, 2, 3]), 4, False)
    s, _ = seq2seq.encode_forward(params, b.enc_in, b.mask, lstm)
    assert s.shape == (3, 10) and np.any(s[:, 5:] != 0)            # c is carried to the decoder
    elman = choice.cell_of("elman", "relu")
    assert all(k.startswith(("embedding.", "rnn.", "head."))
               for k in seq2seq.init_params(5, 4, 6, rng, np.float64, cell=elman))


def test_choice_returns_the_gru_module_and_refuses_bad_names():
    assert choice.cell_of("gru") is gru and choice.cell_of("lstm") is lstm
    assert choice.cell_of("elman", "relu") == choice.Elman("relu")
    for bad in [("transformer", "tanh"), ("lstm", "relu"), ("elman", "gelu")]:
        with pytest.raises(ValueError):
            choice.cell_of(*bad)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_a_torch_seq2seq_with_nn_lstm_or_nn_rnn_loads_the_parameters_and_agrees(name):
    """torch.nn.Module(embedding, lstm | rnn, head).load_state_dict takes the parameters unchanged (strict), and its
    encoder → decoder (the whole state, (h, c) for the LSTM) gives the same logits in float64."""
    torch = pytest.importorskip("torch")
    cell_name, phi = CELLS[name]
    cell = choice.cell_of(cell_name, phi)
    H, C = 5, 4
    rng = np.random.default_rng(7)
    params = seq2seq.init_params(H, C, vocab_size(C, False), rng, np.float64, cell=cell)
    b = make_batch(rng.integers(0, C, size=(3, 4)), np.array([4, 4, 4]), C, False)   # one length: no packing

    model = torch.nn.Module()
    model.embedding = torch.nn.Embedding(vocab_size(C, False), H)
    rnn = torch.nn.LSTM(H, H) if cell_name == "lstm" else torch.nn.RNN(H, H, nonlinearity=phi)
    setattr(model, cell.TORCH_NAME, rnn)
    model.head = torch.nn.Linear(H, C)
    model.double().load_state_dict({k: torch.from_numpy(v) for k, v in params.items()}, strict=True)
    with torch.no_grad():
        _, state = rnn(model.embedding(torch.from_numpy(b.enc_in)))
        out, _ = rnn(model.embedding(torch.from_numpy(b.dec_in)), state)
        logits = model.head(out).numpy()
    np.testing.assert_allclose(seq2seq.predict(params, b, cell), logits, rtol=1e-12, atol=1e-12)


# ---- the CLI ----------------------------------------------------------------------------------------------------
# Seconds per run; each cell reaches 0.47..0.58 exact match here (seed 1), chance is about 30^-3 ≈ 4e-5.
SMALL = ["--hidden", "32", "--symbols", "30", "--min-len", "2", "--max-len", "3", "--n-train", "4000",
         "--batch", "32", "--steps", "400", "--eval-every", "400", "--lr", "0.003", "--seed", "1", "--quiet"]


def run_cli(args):
    return subprocess.run(CLI + [str(a) for a in args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("flags,name", [(["--cell", "lstm"], "lstm"), (["--cell", "elman"], "elman"),
                                        (["--cell", "elman", "--nonlinearity", "relu"], "elman")])
def test_tiny_runs_learn_above_chance_and_record_the_cell(tmp_path, flags, name):
    out = tmp_path / "run"
    r = run_cli(["train", *SMALL, *flags, "--out", out, "--json"])
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    cfg = json.loads((out / "config.json").read_text())["config"]
    assert cfg["cell"] == name and cfg["backend"] == "numba"   # every cell's default: its fast path
    assert cfg["nonlinearity"] == ("relu" if "relu" in flags else "tanh")
    assert res["cell"] == name
    assert res["accuracy"] > 0.2, res   # chance ≈ 4e-5
    cfg, params = load_run(out, cells=choice.CELLS)   # what `onionref eval` reads (test below)
    assert evaluate_run(cfg, params, names=["valid"])["valid"]["accuracy"] == res["accuracy"]


def test_eval_takes_an_lstm_run_and_the_gru_analyses_refuse_it(tmp_path):
    """`onionref eval` runs any cell; a command reading the GRU's state (here precision) refuses in one line.
    (max-len 4: at max-len 3 `eval` stops at valid_rep_3, which 30 symbols cannot fill; an older limitation.)"""
    out = tmp_path / "lstm"
    small = [a if a != "3" else "4" for a in SMALL[:SMALL.index("--steps")]] + ["--steps", "20", "--quiet"]
    assert run_cli(["train", *small, "--cell", "lstm", "--out", out]).returncode == 0
    ev = run_cli(["eval", out, "--json"])
    assert ev.returncode == 0, ev.stderr
    assert json.loads(ev.stdout)["sets"]["valid"]["accuracy"] == json.loads((out / "result.json").read_text())[
        "accuracy"]
    r = run_cli(["precision", out])
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "lstm run" in r.stderr, r.stderr


def test_default_run_is_bit_identical_to_cell_gru(tmp_path):
    small = SMALL[:SMALL.index("--steps")] + ["--steps", "20", "--eval-every", "10", "--backend", "numpy", "--quiet"]
    for name, extra in (("a", []), ("b", ["--cell", "gru"])):
        r = run_cli(["train", *small, *extra, "--out", tmp_path / name])
        assert r.returncode == 0, r.stderr
    a, b = tmp_path / "a", tmp_path / "b"
    assert (a / "weights.safetensors").read_bytes() == (b / "weights.safetensors").read_bytes()
    res = [strip_timing({k: v for k, v in json.loads((d / "result.json").read_text()).items() if k != "run"})
           for d in (a, b)]
    assert res[0] == res[1] and res[0]["cell"] == "gru"
    assert (a / "metrics.jsonl").read_text().count("\n") == 2
    rows = [[strip_timing(json.loads(r)) for r in (d / "metrics.jsonl").read_text().splitlines()] for d in (a, b)]
    assert rows[0] == rows[1]
    assert json.loads((a / "config.json").read_text())["config"]["cell"] == "gru"


@pytest.mark.parametrize("flags,msg", [
    (["--cell", "transformer"], "--cell"),
    (["--nonlinearity", "relu"], "--nonlinearity"),
    (["--cell", "lstm", "--nonlinearity", "tanh"], "--nonlinearity"),
    (["--cell", "elman", "--nonlinearity", "gelu"], "--nonlinearity"),
    (["--init", "uniform"], "--init is the AL-RNN's"),
    (["--cell", "lstm", "--init", "sequence"], "--init is the AL-RNN's"),
    (["--cell", "alrnn", "--P", "2", "--init", "normal"], "--init"),
])
def test_bad_cell_flags_are_one_line_exit_2(tmp_path, flags, msg):
    r = run_cli(["train", *SMALL, *flags, "--out", tmp_path / "run"])
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and msg in lines[0], r.stderr
    assert not (tmp_path / "run").exists()


def test_an_lstm_run_resumes_bit_for_bit_and_keeps_its_cell(tmp_path):
    small = SMALL[:SMALL.index("--steps")] + ["--eval-every", "10", "--quiet", "--cell", "lstm", "--task",
                                               "reverse", "--no-input"]
    a, b = tmp_path / "a", tmp_path / "b"
    assert run_cli(["train", *small, "--steps", "10", "--out", a]).returncode == 0
    r = run_cli(["train", "--resume", "--steps", "20", "--out", a, "--quiet"])
    assert r.returncode == 0, r.stderr
    assert run_cli(["train", *small, "--steps", "20", "--out", b]).returncode == 0
    assert (a / "weights.safetensors").read_bytes() == (b / "weights.safetensors").read_bytes()
    for flags, msg in ((["--cell", "gru"], "differs"), (["--nonlinearity", "relu"], "--nonlinearity")):
        r = run_cli(["train", "--resume", "--steps", "30", "--out", a, "--quiet", *flags])
        assert r.returncode == 2 and msg in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
