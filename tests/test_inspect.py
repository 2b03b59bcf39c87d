"""inspect.py: encoder states, gates, greedy decoding of a (possibly edited) state, single-token differences.

- the last encoder state equals seq2seq.encode_forward's h_enc (mixed lengths, both variants);
- r and z recomputed from their definition with the returned previous state, and h' = (1 − z) n + z h;
- the teacher-forced decoder states give seq2seq.decode_forward's logits;
- greedy decoding equals a teacher-forced decode fed its own argmax (or SOS, NI, ... without input);
- single-token differences land at the changed position only, for a GRU that forgets all but the last input;
- parse_sequences reads the alphabet and refuses unknown symbols.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st

from onionref.cells.gru import sigmoid
from onionref.errors import UserError
from onionref.onion import inspect, seq2seq
from onionref.tasks.repeat import make_batch, no_input_id, sos_id, vocab_size


@st.composite
def models(draw):
    H, C = draw(st.integers(1, 6)), draw(st.integers(2, 6))
    no_input = draw(st.booleans())
    lengths = np.array(draw(st.lists(st.integers(1, 5), min_size=1, max_size=4)))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    params = seq2seq.init_params(H, C, vocab_size(C, no_input), rng, np.float64)
    params = {k: (2.0 * v if k.startswith("gru.") else v) for k, v in params.items()}
    tokens = rng.integers(0, C, size=(len(lengths), 5))
    return params, tokens, lengths, no_input


@given(models())
def test_states_and_gates_agree_with_the_model(m):
    params, tokens, lengths, no_input = m
    C, H = params["head.weight"].shape
    b = make_batch(tokens, lengths, C, no_input)
    h_enc, _ = seq2seq.encode_forward(params, b.enc_in, b.mask)
    np.testing.assert_allclose(inspect.final_states(params, tokens, lengths), h_enc, rtol=1e-12, atol=1e-12)
    g = inspect.gates(params, tokens, lengths, no_input)
    np.testing.assert_allclose(g["decoder"]["h"] @ params["head.weight"].T + params["head.bias"],
                               seq2seq.decode_forward(params, h_enc, b.dec_in)[0], rtol=1e-10, atol=1e-12)
    for phase, x_ids, h0 in (("encoder", b.enc_in, np.zeros_like(h_enc)), ("decoder", b.dec_in, h_enc)):
        G = g[phase]
        prev = np.concatenate([h0[None], G["h"][:-1]])
        gi = params["embedding.weight"][x_ids] @ params["gru.weight_ih_l0"].T + params["gru.bias_ih_l0"]
        gh = prev @ params["gru.weight_hh_l0"].T + params["gru.bias_hh_l0"]
        np.testing.assert_allclose(G["r"], sigmoid(gi[..., :H] + gh[..., :H]), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(G["z"], sigmoid(gi[..., H:2 * H] + gh[..., H:2 * H]), rtol=1e-10, atol=1e-12)
        step = (1 - G["z"]) * G["n"] + G["z"] * prev
        live = b.mask[..., None] if phase == "encoder" else np.ones_like(step, bool)
        np.testing.assert_allclose(np.where(live, step, prev), G["h"], rtol=1e-10, atol=1e-12)


@given(models(), st.integers(0, 2 ** 32 - 1))
def test_greedy_decode_is_the_teacher_forced_decode_of_its_own_output(m, seed):
    params, tokens, lengths, no_input = m
    C, H = params["head.weight"].shape
    h0 = np.random.default_rng(seed).standard_normal((len(lengths), H))   # any state, e.g. an edited one
    out, logits = inspect.greedy_decode(params, h0, lengths, no_input)
    T = int(lengths.max())
    pred = logits.argmax(-1)                                  # [T, B]
    dec_in = np.empty_like(pred)
    dec_in[0] = sos_id(C)
    dec_in[1:] = no_input_id(C) if no_input else pred[:-1]
    np.testing.assert_allclose(logits, seq2seq.decode_forward(params, h0, dec_in)[0], rtol=1e-10, atol=1e-12)
    past = np.arange(T)[None, :] >= lengths[:, None]
    assert (out[past] == -1).all() and (out[~past] == pred.T[~past]).all()


def test_differences_sit_at_the_changed_position_for_a_last_input_gru():
    H, C, L = 4, 6, 5
    params = seq2seq.init_params(H, C, vocab_size(C, False), np.random.default_rng(0), np.float64)
    params["gru.weight_hh_l0"][:] = 0.0                      # no recurrence into the gates or n ...
    params["gru.bias_ih_l0"][H:2 * H] = -50.0                # ... and z ≈ 0: h' = n(x_t) forgets everything else
    tokens = np.random.default_rng(1).integers(0, C, size=(7, L))
    d = inspect.single_token_differences(params, tokens, np.random.default_rng(2))
    assert d.shape == (L, 7, H)
    np.testing.assert_allclose(d[:-1], 0.0, atol=1e-12)
    assert (np.abs(d[-1]).max(-1) > 1e-6).all()              # the token always changes


def test_parse_sequences():
    tok, ln = inspect.parse_sequences(["a b 1", "2 c", [3, 4, 5, 6]], 30)
    assert ln.tolist() == [3, 2, 4]
    assert tok.tolist() == [[10, 11, 1, 0], [2, 12, 0, 0], [3, 4, 5, 6]]
    tok, ln = inspect.parse_sequences("ab1", 30)
    assert tok.tolist() == [[10, 11, 1]]
    for bad in ("a z", "", [[31]], [[-1]]):
        with pytest.raises(UserError):
            inspect.parse_sequences(bad, 30)
