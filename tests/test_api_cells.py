"""The Python API on a run of any cell (issue 22): `open_run` takes every cell; `states`, `decode`, `onion_edit`'s
encoder and `lookup` run the run's own cell; `gates` is the GRU's alone (one-line UserError otherwise).

- states: the final state [B, S] (S = 2H for the LSTM's [h; c]) is the frozen model's encode (NumPy reference), and
  the every-step states end in it;
- decode: the greedy decoder's logits are the teacher-forced decoder's when its own argmax is fed back, for every
  cell (the GRU included: the same check pins the generic step loop);
- a tiny LSTM run trained through api.train opens again with its cell.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from onionref import api
from onionref.errors import UserError
from onionref.onion import seq2seq
from onionref.onion.frozen import Frozen
from onionref.onion.train import TrainConfig
from onionref.tasks.repeat import make_batch, sos_id

CELLS = [dict(cell="gru"), dict(cell="lstm"), dict(cell="elman", nonlinearity="relu"), dict(cell="linear"),
         dict(cell="alrnn", P=2)]
SEQS = ["a b 1 c", "7 7", "p q r 0 1"]


def _run(kw, H=6, seed=0) -> api.Run:
    cfg = TrainConfig(hidden=H, backend="numpy", **kw).validate()
    params = seq2seq.init_params(H, cfg.symbols, cfg.symbols + 1, np.random.default_rng(seed),
                                 cell=cfg.cell_module())
    params = {k: (3 * v if k.startswith(seq2seq.cell_prefix(cfg.cell_module())) else v) for k, v in params.items()}
    return api.Run(Path("/nonexistent"), cfg, params)


@pytest.mark.parametrize("kw", CELLS, ids=lambda kw: "-".join(map(str, kw.values())))
def test_states_are_the_frozen_models_and_decode_feeds_back_its_argmax(kw):
    run = _run(kw)
    tok, ln = run.tokens(SEQS)
    S = run.cell.state_size(6)
    s = run.states(SEQS)
    assert s.shape == (3, S) == (3, 12 if kw["cell"] == "lstm" else 6)
    b = make_batch(tok, ln)
    frozen = Frozen.of_run(run.config, run.params)
    np.testing.assert_array_equal(s, frozen.encode(b.enc_in, b.mask))
    np.testing.assert_array_equal(run.states(SEQS, every_step=True)[-1], s)
    texts, logits = run.decode(s, length=5, logits=True)
    assert len(texts) == 3 and all(len(t.replace(" ", "")) == 5 for t in texts)
    fed = np.concatenate([np.full((1, 3), sos_id(run.config.symbols)), logits.argmax(-1)[:-1]])
    tf_logits = seq2seq.decode_forward(run.params, s, fed, run.cell)[0]
    np.testing.assert_allclose(logits, tf_logits, rtol=1e-5, atol=1e-6)
    if kw["cell"] != "gru":
        with pytest.raises(UserError, match=f"reads a GRU's gates; .* is a {kw['cell']} run"):
            run.gates(SEQS)
    else:
        np.testing.assert_array_equal(run.gates(SEQS)["encoder"]["h"][-1], s)


def test_a_tiny_lstm_run_opens_with_its_cell(tmp_path):
    run = api.train(tmp_path / "lstm", progress=False, hidden=4, steps=3, batch=8, eval_every=3, n_train=3000,
                    cell="lstm")
    again = api.open_run(tmp_path / "lstm")
    assert again.config.cell == "lstm" and again.states("a b").shape == (1, 8)
    np.testing.assert_array_equal(again.states("a b"), run.states("a b"))
    assert isinstance(again.decode(again.states("a b"))[0], str)
