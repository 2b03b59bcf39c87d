"""`onionref positions RUN` (onion/positions.py): per position, the unigram intervention moving that position alone,
the channels its assignment gives it, the linear probe's and the model's token accuracy."""
from __future__ import annotations

import json

import numpy as np
from hypothesis import given, settings, strategies as st

from onionref import runs
from onionref.onion import positions
from onionref.onion.frozen import Frozen
from onionref.onion.interventions import autosegment
from onionref.onion.train import load_run
from onionref.tasks.repeat import load_set, make_batch
from runhelpers import call_main, tiny_trained_run, tree_hashes

import pytest


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return tiny_trained_run(tmp_path_factory, "positions", steps=40, eval_every=20)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 6), L=st.integers(1, 9), seed=st.integers(0, 2**31), data=st.data())
def test_swap_one_gives_each_row_its_partners_token_at_t_alone(n, L, seed, data):
    tok = np.random.default_rng(seed).integers(0, 30, (2 * n, L))
    t = data.draw(st.integers(0, L - 1))
    x, partner = positions.swap_one(tok, t)
    assert np.array_equal(partner[partner], np.arange(2 * n)) and not np.any(partner == np.arange(2 * n))
    keep = np.arange(L) != t
    assert np.array_equal(x[:, keep], tok[:, keep]) and np.array_equal(x[:, t], tok[partner, t])
    assert np.array_equal(x[partner, t], tok[:, t])        # the source holds the base's own token at t


def test_with_every_channel_kept_the_iia_is_the_models_exact_match_on_the_swapped_inputs(run):
    """No channel assigned to any position: the intervention changes nothing (h' = h R^T R), so moving position t
    repairs exactly the pairs the model decodes right from the swapped input: computed here by encode and decode."""
    cfg, params = load_run(run)
    frozen = Frozen(params, cfg.symbols, cfg.no_input, "numpy")
    tok, ln = load_set("intervention", cfg.symbols, cfg.min_len, cfg.max_len, cfg.n_train)
    tok, ln = tok[:400], ln[:400]
    p, base = autosegment.init(frozen.hidden, 9, np.random.default_rng(1))
    p["M"][:, -1] = 10.0                                                   # every channel: keep the base
    p = {k: v.astype(np.float32) for k, v in p.items()}
    got = positions.unigram_iia_per_position(frozen, p, base, tok, ln, batch=128)
    perm = np.random.default_rng(positions.PAIR_SEED).permutation(400)
    for t in range(9):
        right = []
        for i in range(0, 200, 64):
            rows = np.concatenate([perm[0::2][i:i + 64], perm[1::2][i:i + 64]])
            x, _ = positions.swap_one(tok[rows], t)
            b, orig = make_batch(x, ln[rows], cfg.symbols, False), make_batch(tok[rows], ln[rows], cfg.symbols, False)
            right.append(frozen.decode(frozen.encode(b.enc_in, b.mask), orig.dec_in, orig.target, orig.mask,
                                       need_grad=False)[3])
        want = np.concatenate(right).mean()
        assert abs(got[t] - want) <= 2 / 400, (t, got[t], want)            # a rounding flip of one pair at most


def test_positions_command_on_a_run_with_its_linear_analyses(run, tmp_path, capsys):
    stage2 = ["--steps", "4", "--batch", "32", "--eval-every", "2", "--quiet"]
    assert call_main(["positions", run], capsys)[0] == 2                   # nothing to diagnose yet
    assert call_main(["intervene", run, "--mode", "linear"] + stage2, capsys)[0] == 0
    assert call_main(["probe", run, "--kind", "linear"] + stage2, capsys)[0] == 0
    code, out, err = call_main(["positions", run, "--json"], capsys)
    assert code == 0, err
    res = json.loads(out.strip().splitlines()[-1])
    assert res == runs.read_json(run / "positions.json")
    u = res["unigram"]
    assert len(u["iia"]) == 9 and all(0 <= v <= 1 for v in u["iia"]) and sum(u["channels"]) == res["hidden"]
    assert u["channels"] == positions.assignment_counts(runs.load_arrays(run / "intervene/linear/params.safetensors")
                                                        [0]["M"])
    assert len(res["probe_linear"]["token_accuracy"]) == 9 and len(res["model_token_accuracy"]) == 9
    assert (run / "positions.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_run_without_linear_analyses_is_one_line(tmp_path, capsys):
    from runhelpers import assert_one_line_error
    before = tree_hashes(tmp_path)
    assert_one_line_error(*call_main(["positions", tmp_path / "nothing"], capsys), "nothing")
    assert tree_hashes(tmp_path) == before
