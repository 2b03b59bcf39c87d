"""Finding the paper's model among a foreign file's tensors (reference/importing/find_gru.py), on tensor descriptions
alone (no file, no torch):

- hypothesis: the embedding, GRU and readout are found under any names / prefixes, among distractors of other
  shapes (an optimizer's step counters, a second readout of another width, integer tensors), with H, E, V right;
- an optimizer's moments of the same shapes, or an EMA copy, are ties: the error names the candidates and the flags
  (--embedding NAME --gru PREFIX --head NAME); --gru alone then settles embedding and readout by their shared
  name parts, and each flag chooses its part;
- every refusal is one line naming what was found: no GRU, a missing bias, two layers, bidirectional, an LSTM, a
  readout of another hidden size, a readout without bias, V not 31 / 32, --no-input against V.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from onionref.errors import UserError
from onionref.importing.find_gru import FLAGS, find
from onionref.importing.tensors import TensorRef


def ref(*shape, dtype="float32"):
    return TensorRef(tuple(shape), dtype, lambda: np.zeros(shape, np.float32))


def model(H=8, E=None, V=31, emb="emb.weight", gru="rnn.", head="out.", bias=True):
    E = H if E is None else E
    t = {emb: ref(V, E), gru + "weight_ih_l0": ref(3 * H, E), gru + "weight_hh_l0": ref(3 * H, H),
         head + "weight": ref(30, H)}
    if bias:
        t.update({gru + "bias_ih_l0": ref(3 * H), gru + "bias_hh_l0": ref(3 * H), head + "bias": ref(30)})
    return t


def one_line_error(fn, *needles) -> str:
    with pytest.raises(UserError) as e:
        fn()
    msg = str(e.value)
    assert "\n" not in msg
    for n in needles:
        assert n in msg, (n, msg)
    return msg


name = st.text(alphabet="abcxyz_0123456789", min_size=1, max_size=6)


@settings(max_examples=60)
@given(H=st.integers(1, 40), E=st.integers(1, 40), no_input=st.booleans(),
       parts=st.lists(name, min_size=0, max_size=3), emb=name, head=name, sep=st.sampled_from([".", "_", "/"]))
def test_found_under_any_names_among_distractors(H, E, no_input, parts, emb, head, sep):
    pre = sep.join(parts) + sep if parts else ""
    emb, head = pre + "E" + emb, pre + "H" + head + sep    # upper case: never one of the distractors' names
    t = model(H, E, 32 if no_input else 31, emb=emb, gru=pre + "g" + sep, head=head)
    t.update({"OPT.step": ref(), "IDS": ref(31, E, dtype="int64"), "OTHER.weight": ref(30, H + 1),
              "OTHER.bias": ref(30), "TABLE": ref(33, E)})
    f = find(t, no_input)
    assert (f.hidden, f.embed, f.vocab) == (H, E, 32 if no_input else 31)
    assert f.names == {"embedding.weight": emb, **{f"gru.{s}": f"{pre}g{sep}{s}" for s in
                       ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")},
                       "head.weight": head + "weight", "head.bias": head + "bias"}


def test_optimizer_moments_lose_to_weight_names():
    t = model(emb="model.emb.weight", gru="model.rnn.", head="model.out.")
    t.update({"optimizer.state.0.exp_avg": ref(31, 8), "optimizer.state.5.exp_avg": ref(30, 8)})
    f = find(t, False)
    assert f.names["embedding.weight"] == "model.emb.weight" and f.names["head.weight"] == "model.out.weight"


def test_an_ema_copy_is_a_tie_that_the_flags_settle():
    t = {**model(gru="model.rnn.", emb="model.emb.weight", head="model.out."),
         **model(gru="ema.rnn.", emb="ema.emb.weight", head="ema.out.")}
    one_line_error(lambda: find(t, False), "several GRUs", "'ema.rnn'", "'model.rnn'", FLAGS)
    f = find(t, False, gru="ema.rnn")                  # the prefix with or without its dot
    assert f.names["embedding.weight"] == "ema.emb.weight" and f.names["head.bias"] == "ema.out.bias"
    assert find(t, False, gru="model.rnn.").names["gru.weight_hh_l0"] == "model.rnn.weight_hh_l0"
    f = find(t, False, gru="ema.rnn", embedding="model.emb.weight", head="model.out.weight")
    assert f.names["embedding.weight"] == "model.emb.weight" and f.names["head.bias"] == "model.out.bias"


def test_ties_of_embedding_and_readout_name_their_candidates():
    t = {**model(), "emb2.weight": ref(31, 8)}
    one_line_error(lambda: find(t, False), "several embeddings", "emb.weight", "emb2.weight", "--embedding NAME")
    assert find(t, False, embedding="emb2.weight").names["embedding.weight"] == "emb2.weight"
    t = {**model(), "out2.weight": ref(30, 8), "out2.bias": ref(30)}
    one_line_error(lambda: find(t, False), "several readouts", "out.weight", "out2.weight", "--head NAME")
    assert find(t, False, head="out2.weight").names["head.bias"] == "out2.bias"


@pytest.mark.parametrize("mutate, no_input, needles", [
    (lambda t: t.clear() or t.update({"w": ref(3, 3)}), False, ("no GRU", "w [3, 3]", FLAGS)),
    (lambda t: t.pop("rnn.bias_hh_l0"), False, ("lacks rnn.bias_hh_l0", "without biases")),
    (lambda t: t.update({"rnn.weight_ih_l1": ref(24, 8)}), False, ("more than one layer", "weight_ih_l1")),
    (lambda t: t.update({"rnn.weight_ih_l0_reverse": ref(24, 8)}), False, ("bidirectional",)),
    (lambda t: t.update({"rnn.weight_hh_l0": ref(32, 8)}), False, ("[32, 8]", "LSTM")),
    (lambda t: t.update({"rnn.weight_ih_l0": ref(21, 8)}), False, ("weight_ih_l0 has shape [21, 8]",)),
    (lambda t: t.update({"rnn.bias_ih_l0": ref(25)}), False, ("bias_ih_l0 has shape [25]",)),
    (lambda t: t.update({"rnn.weight_hh_l0": ref(24, 8, dtype="int64")}), False, ("not a float",)),
    (lambda t: t.update({"out.weight": ref(30, 9)}), False, ("no readout [30, 8]", "out.weight [30, 9]")),
    (lambda t: t.pop("out.bias"), False, ("has no bias out.bias",)),
    (lambda t: t.update({"emb.weight": ref(40, 8)}), False, ("no embedding [31, 8]", "emb.weight [40, 8]")),
    (lambda t: t.update({"emb.weight": ref(31, 5)}), False, ("no embedding [31, 8]",)),
    (lambda t: t.update({"emb.weight": ref(32, 8)}), False, ("32 rows", "add --no-input")),
    (lambda t: None, True, ("31 rows", "drop --no-input")),
])
def test_refusals_name_what_was_found(mutate, no_input, needles):
    t = model()
    mutate(t)
    one_line_error(lambda: find(t, no_input), *needles)


@pytest.mark.parametrize("kw, needles", [
    (dict(gru="nope"), ("--gru nope", "'rnn'")),
    (dict(embedding="nope"), ("--embedding nope: no such tensor",)),
    (dict(embedding="rnn.bias_ih_l0"), ("not a float [V, 8]",)),
    (dict(embedding="out.weight"), ("30 rows",)),
    (dict(head="emb.weight"), ("not a float [30, 8]",)),
    (dict(head="nope"), ("--head nope: no such tensor",)),
])
def test_flags_naming_the_wrong_tensor(kw, needles):
    t = {**model(), "big.weight": ref(40, 8)}
    one_line_error(lambda: find(t, False, **kw), *needles)
    one_line_error(lambda: find(t, False, embedding="big.weight"), "40 rows", "31", "32")
