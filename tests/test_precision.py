"""`onionref precision` (reference/onion/precision.py): a model's exact match with its numbers rounded to a type.

- round_to: bfloat16 keeps the upper 16 bits of the float32 and is the nearest of them (ties to even), within half
  an ulp; float16 / float32 are NumPy's casts; float64 is the identity (hypothesis);
- predict_rounded in float64 is the reference model's own teacher-forced prediction;
- on a trained tiny run: precision.json holds every type and length, float64's exact match is the reference's,
  the predicted positions grow with the precision; bad input is one line, exit 2.
"""
from __future__ import annotations

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from onionref.onion import seq2seq
from onionref.onion.evaluate import evaluate
from onionref.onion.precision import TYPES, predict_rounded, round_to
from onionref.onion.train import load_run
from onionref.tasks.repeat import load_set, make_batch
from runhelpers import call_main, train_args

FINITE = st.floats(-1e30, 1e30, allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(x=FINITE)
def test_bfloat16_is_the_nearest_upper_half_of_a_float32(x):
    q = round_to(np.array([x]), "bfloat16")[0]
    bits = np.array([q], np.float32).view(np.uint32)[0]
    assert bits & 0xFFFF == 0                                        # a bfloat16 number
    f = float(np.float32(x))
    # bfloat16's spacing at q: 7 stored mantissa bits; below 2^-126 (subnormal) a fixed 2^-133
    ulp = 2.0 ** (max(np.floor(np.log2(abs(q))), -126) - 7) if q != 0 else 2.0 ** -133
    assert abs(f - q) <= ulp / 2 * (1 + 1e-12)                       # within half an ulp
    for nb in (int(bits) - 0x10000, int(bits) + 0x10000):            # the neighbouring bfloat16 numbers
        if not 0 <= nb < 2 ** 32:
            continue
        other = float(np.array([nb], np.uint32).view(np.float32)[0])
        assert not np.isfinite(other) or abs(f - other) >= abs(f - q)


@given(x=st.lists(FINITE.filter(lambda v: abs(v) < 6e4), min_size=1, max_size=8))
def test_other_types_are_casts(x):
    a = np.array(x)
    assert np.array_equal(round_to(a, "float64"), a)
    assert np.array_equal(round_to(a, "float32"), a.astype(np.float32).astype(np.float64))
    assert np.array_equal(round_to(a, "float16"), a.astype(np.float16).astype(np.float64))


def test_precision_of_a_trained_run(tmp_path, capsys):
    run = tmp_path / "r"
    assert call_main(train_args(run, steps=60, eval_every=30), capsys)[0] == 0
    cfg, params = load_run(run)
    tok, ln = load_set("valid", cfg.symbols, cfg.min_len, cfg.max_len)
    b = make_batch(tok[:64], ln[:64], cfg.symbols)
    p64 = {k: np.asarray(v, np.float64) for k, v in params.items()}
    assert np.allclose(predict_rounded(params, b, "float64"), seq2seq.predict(p64, b), rtol=0, atol=1e-12)

    rc, out, err = call_main(["precision", run, "--n", "300", "--json"], capsys)
    assert rc == 0, err
    res = json.loads(out.strip().splitlines()[-1])
    assert list(res["types"]) == list(TYPES) and len(res["footprint"]) == cfg.max_len
    ref = evaluate(lambda bb: seq2seq.predict(p64, bb), tok[:300], ln[:300], cfg.symbols, False)
    assert res["types"]["float64"]["accuracy"] == ref["accuracy"]
    assert all(res["types"][k]["n"] == 300 and len(res["types"][k]["per_length"]) == len(np.unique(ln[:300]))
               for k in TYPES)
    kept = [res["predicted_positions"][k] for k in TYPES]
    assert kept == sorted(kept) and all(0 <= k <= cfg.max_len for k in kept)
    assert (run / "precision.png").stat().st_size > 0
    for args in (["--n", "0"], ["--n", "x"]):
        rc, _, err = call_main(["precision", run, *args], capsys)
        assert rc == 2 and len(err.strip().splitlines()) == 1
    rc, _, err = call_main(["precision", tmp_path / "none"], capsys)
    assert rc == 2 and len(err.strip().splitlines()) == 1
