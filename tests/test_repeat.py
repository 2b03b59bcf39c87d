"""The repeat task's data (tasks/repeat.py): sequence sets, keys, batches, the epoch sampler.

- the paper's sets: sizes, lengths in range, uniqueness, train ∩ valid = ∅, the per-length cap (L=2 in valid),
  no-repeat sets with distinct tokens, the fixed-repeat set with exactly one symbol three times;
- make_set on hypothesis specs: the same invariants, exclusion, determinism by seed;
- sequence_keys is injective on (length, tokens) and ignores tokens past the length;
- make_batch: time-major encoder input, SOS + shifted targets (or SOS, NI, ...), mask t < L;
- epoch_batches: every epoch is a permutation; the stream is stateless in its start step.
"""
from __future__ import annotations

import itertools
from math import comb, factorial, floor

import numpy as np
from runhelpers import time_limit
import pytest
from hypothesis import assume, given, settings, strategies as st

from onionref.tasks.repeat import (N_SYMBOLS, VALID_SETS, SetSpec, epoch_batches, load_set, make_batch, make_set,
                                   max_key_len, max_seq_len, no_input_id, paper_sets, sequence_keys, sos_id, valid_sets,
                                   vocab_size)


def check_set(tokens, lengths, n, lo, hi, n_symbols):
    """Shape, length range, token range, zero padding and uniqueness of a sequence set."""
    assert tokens.shape[0] == lengths.shape[0] == n and tokens.dtype == lengths.dtype == np.int64
    assert lengths.min() >= lo and lengths.max() <= hi and tokens.shape[1] >= hi
    past = np.arange(tokens.shape[1])[None, :] >= lengths[:, None]
    assert np.all(tokens[past] == 0)
    assert tokens.min() >= 0 and tokens.max() < n_symbols
    rows = {tuple(t[:L]) for t, L in zip(tokens.tolist(), lengths.tolist())}
    assert len(rows) == n


def distinct_rows(tokens, lengths):
    return all(len(set(t[:L])) == L for t, L in zip(tokens.tolist(), lengths.tolist()))


@pytest.fixture(scope="module")
def valid():
    return load_set("valid")


def test_valid_set(valid):
    tokens, lengths = valid
    check_set(tokens, lengths, 5000, 2, 9, N_SYMBOLS)
    counts = np.bincount(lengths, minlength=10)
    assert counts[2] <= floor(0.2 * N_SYMBOLS ** 2)          # the cap binds at L=2 only (spec §1.2) ...
    assert counts[2] == floor(0.2 * N_SYMBOLS ** 2)          # ... and 5,000 draws reach it
    assert all(counts[L] <= floor(0.2 * N_SYMBOLS ** L) for L in range(3, 10))
    np.testing.assert_array_equal(load_set("valid")[0], tokens)   # deterministic


def test_small_train_set_is_disjoint_from_valid(valid):
    tokens, lengths = load_set("train", n_train=50_000)
    check_set(tokens, lengths, 50_000, 2, 9, N_SYMBOLS)
    assert not np.intersect1d(sequence_keys(tokens, lengths), sequence_keys(*valid)).size
    # Every length of the range occurs; L=2 gets only the 900 − 180 sequences valid left over.
    counts = np.bincount(lengths, minlength=10)
    assert np.all(counts[2:] > 0) and counts[2] <= N_SYMBOLS ** 2 - floor(0.2 * N_SYMBOLS ** 2)


def test_full_train_set(valid):
    tokens, lengths = load_set("train")
    assert tokens.shape == (1_000_000, 9) and lengths.min() == 2 and lengths.max() == 9
    keys = sequence_keys(tokens, lengths)
    assert np.unique(keys).size == len(keys)
    assert not np.intersect1d(keys, sequence_keys(*valid)).size
    assert np.all(tokens[np.arange(9)[None, :] >= lengths[:, None]] == 0)


@pytest.mark.parametrize("name", ["valid_longer_1_norepeat", "intervention_norepeat"])
def test_no_repeat_sets_have_distinct_tokens(name):
    spec = paper_sets()[name][0]
    tokens, lengths = load_set(name)
    check_set(tokens, lengths, spec.n, spec.min_len, spec.max_len, N_SYMBOLS)
    assert distinct_rows(tokens, lengths)


def fixed_repeat_ok(tokens, lengths) -> bool:
    """Exactly one symbol occurs exactly 3 times, every other symbol once."""
    for t, L in zip(tokens.tolist(), lengths.tolist()):
        counts = sorted(np.bincount(t[:L]).tolist(), reverse=True)
        if [c for c in counts if c] != [3] + [1] * (L - 3):
            return False
    return True


def test_fixed_repeat_set():
    tokens, lengths = load_set("valid_rep_3")
    check_set(tokens, lengths, 1000, 3, 9, N_SYMBOLS)
    assert fixed_repeat_ok(tokens, lengths)
    # Its sibling of the same seed is an ordinary set (with repeats allowed, so some rows are not of that form).
    t2, l2 = load_set("valid_norep_3")
    check_set(t2, l2, 1000, 3, 9, N_SYMBOLS)
    assert not fixed_repeat_ok(t2, l2)


def n_sequences(L: int, n_symbols: int, spec: SetSpec) -> int:
    """How many distinct sequences of length L the spec allows (counted here independently of the library)."""
    perm = lambda k: factorial(n_symbols) // factorial(n_symbols - k)
    if spec.fixed_repeat:                 # 3 positions for the repeated symbol, L − 2 distinct symbols in all
        return comb(L, 3) * perm(L - 2)
    return n_symbols ** L if spec.repeats else perm(L)


def capacity(spec: SetSpec, n_symbols: int) -> int:
    lo = max(spec.min_len, 2) if spec.min_len < spec.max_len else spec.min_len
    total = 0
    for L in range(lo, spec.max_len + 1):
        k = n_sequences(L, n_symbols, spec)
        total += k if spec.cap is None else floor(spec.cap * k)
    return total


@st.composite
def specs(draw):
    n_symbols = draw(st.integers(3, 8))
    kind = draw(st.sampled_from(["repeats", "norepeat", "fixed"]))
    min_len = draw(st.integers(3 if kind == "fixed" else 1, 4 if kind == "repeats" else min(4, n_symbols)))
    max_len = draw(st.integers(min_len, min(min_len + 3, n_symbols if kind != "repeats" else 8)))
    cap = draw(st.sampled_from([None, 0.3]))
    spec = SetSpec(1, min_len, max_len, draw(st.integers(0, 2 ** 32 - 1)), repeats=kind == "repeats", cap=cap,
                   fixed_repeat=kind == "fixed")
    room = min(capacity(spec, n_symbols) // 2, 400)
    assume(room >= 1)
    return SetSpec(draw(st.integers(1, room)), min_len, max_len, spec.seed, spec.repeats, cap, spec.fixed_repeat), \
        n_symbols


@settings(max_examples=40)
@given(specs())
def test_make_set_invariants(spec_n):
    spec, n_symbols = spec_n
    tokens, lengths = make_set(spec, n_symbols)
    lo = max(spec.min_len, 2) if spec.min_len < spec.max_len else spec.min_len
    check_set(tokens, lengths, spec.n, lo, spec.max_len, n_symbols)
    if spec.cap is not None:
        for L, c in enumerate(np.bincount(lengths)):
            assert c <= floor(spec.cap * n_sequences(L, n_symbols, spec))
    if not spec.repeats and not spec.fixed_repeat:
        assert distinct_rows(tokens, lengths)
    if spec.fixed_repeat:
        assert fixed_repeat_ok(tokens, lengths)
    t2, l2 = make_set(spec, n_symbols)
    np.testing.assert_array_equal(t2, tokens)
    np.testing.assert_array_equal(l2, lengths)
    # Excluding a set's own first half forces a disjoint set.
    half = sequence_keys(tokens[: spec.n // 2], lengths[: spec.n // 2], n_symbols)
    if capacity(spec, n_symbols) - len(half) >= spec.n:
        t3, l3 = make_set(spec, n_symbols, exclude=half)
        assert not np.intersect1d(sequence_keys(t3, l3, n_symbols), half).size


def test_seed_changes_the_set():
    a = make_set(SetSpec(500, 2, 6, seed=1))
    b = make_set(SetSpec(500, 2, 6, seed=2))
    assert not np.array_equal(a[0], b[0])


@pytest.mark.parametrize("n_symbols,L", [(3, 3), (4, 3), (4, 4), (5, 4)])
def test_fixed_repeat_sets_can_be_exhausted_and_no_further(n_symbols, L):
    spec = SetSpec(comb(L, 3) * factorial(n_symbols) // factorial(n_symbols - L + 2), L, L, seed=5, fixed_repeat=True)
    with time_limit(20):
        tokens, lengths = make_set(spec, n_symbols)
        assert fixed_repeat_ok(tokens, lengths) and len({tuple(t) for t in tokens.tolist()}) == spec.n
        with pytest.raises(ValueError):
            make_set(SetSpec(spec.n + 1, L, L, seed=5, fixed_repeat=True), n_symbols)


def test_impossible_sets_are_refused():
    with pytest.raises(ValueError):
        make_set(SetSpec(10, 2, 2, 0), n_symbols=3)              # only 9 sequences of length 2 exist
    with pytest.raises(ValueError):
        make_set(SetSpec(10, 2, 5, 0, repeats=False), n_symbols=4)
    with pytest.raises(ValueError):
        make_set(SetSpec(10, 2, max_seq_len(N_SYMBOLS) + 1, 0))
    with pytest.raises(ValueError):
        load_set("no_such_set")


def test_sequence_keys_are_injective_exhaustively():
    n_symbols, Lmax = 3, 5
    seqs = [s for L in range(Lmax + 1) for s in itertools.product(range(n_symbols), repeat=L)]
    tokens = np.array([list(s) + [0] * (Lmax - len(s)) for s in seqs], dtype=np.int64)
    keys = sequence_keys(tokens, np.array([len(s) for s in seqs]), n_symbols)
    assert np.unique(keys).size == len(seqs)


@given(st.integers(2, 40), st.booleans(), st.data())
def test_sequence_keys_are_injective(n_symbols, two_words, data):
    """One int64 word up to max_key_len positions, a pair of words up to max_seq_len (both capped for speed)."""
    Lmax = min(max_seq_len(n_symbols), 24) if two_words else min(max_key_len(n_symbols), 12)
    sym = st.integers(0, n_symbols - 1)
    a = data.draw(st.lists(sym, min_size=0, max_size=Lmax))
    near = [st.lists(sym, min_size=0, max_size=Lmax), st.just(list(a)),
            st.integers(1, Lmax).map(lambda k: (a + [0] * k)[:Lmax])]           # trailing zeros
    if a:
        near.append(st.tuples(st.integers(0, len(a) - 1), sym).map(lambda iv: a[:iv[0]] + [iv[1]] + a[iv[0] + 1:]))
        near.append(st.just(a[:-1]))
    b = data.draw(st.one_of(near))
    pad = lambda s: np.array([s + [data.draw(st.integers(0, n_symbols - 1))] * (Lmax - len(s))], dtype=np.int64)
    ka = sequence_keys(pad(a), np.array([len(a)]), n_symbols)[0]     # garbage past the length is ignored
    kb = sequence_keys(pad(b), np.array([len(b)]), n_symbols)[0]
    assert bool(ka == kb) == (a == b)


def test_long_sequence_sets():
    """Lengths past one word's 12 positions (issue 21: capacity at L 15, 20): unique, disjoint train and valid,
    every length present; the key is then a pair of words."""
    assert max_key_len(N_SYMBOLS) == 12 and max_seq_len(N_SYMBOLS) == 24
    train = load_set("train", N_SYMBOLS, 2, 20, n_train=20_000)
    valid = load_set("valid", N_SYMBOLS, 2, 20)
    kt, kv = sequence_keys(*train, N_SYMBOLS), sequence_keys(*valid, N_SYMBOLS)
    assert kt.dtype.names == ("w0", "w1") and train[0].shape == (20_000, 20)
    assert np.unique(kt).size == len(kt) and np.unique(kv).size == len(kv)
    assert not np.isin(kt, kv).any()
    assert set(np.unique(train[1])) == set(range(2, 21))


@given(st.integers(2, 9), st.booleans(), st.integers(1, 6), st.integers(0, 2 ** 32 - 1))
def test_make_batch_layout(n_symbols, no_input, B, seed):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 8, size=B)
    tokens = rng.integers(0, n_symbols, size=(B, 9))          # garbage past every length
    batch = make_batch(tokens, lengths, n_symbols, no_input)
    T = lengths.max()
    assert batch.enc_in.shape == batch.dec_in.shape == batch.target.shape == batch.mask.shape == (T, B)
    for b, L in enumerate(lengths):
        np.testing.assert_array_equal(batch.mask[:, b], np.arange(T) < L)
        np.testing.assert_array_equal(batch.enc_in[:L, b], tokens[b, :L])
        assert np.all(batch.enc_in[L:, b] == 0) and np.all(batch.target[L:, b] == 0)
        np.testing.assert_array_equal(batch.target[:, b], batch.enc_in[:, b])
        assert batch.dec_in[0, b] == sos_id(n_symbols) == n_symbols
        if no_input:
            assert np.all(batch.dec_in[1:, b] == no_input_id(n_symbols))
        else:
            np.testing.assert_array_equal(batch.dec_in[1:L, b], tokens[b, :L - 1])
    assert batch.dec_in.max() < vocab_size(n_symbols, no_input)
    np.testing.assert_array_equal(batch.lengths, lengths)


@given(st.integers(1, 60), st.integers(1, 16), st.integers(0, 2 ** 32 - 1), st.integers(0, 30), st.integers(1, 20))
def test_epoch_batches(n, batch, seed, start, k):
    assume(batch <= n)
    per_epoch = n // batch
    stream = list(itertools.islice(epoch_batches(n, batch, seed), start + k + 2 * per_epoch))
    for e in range(2):
        idx = np.concatenate(stream[e * per_epoch:(e + 1) * per_epoch])
        assert len(idx) == per_epoch * batch == len(np.unique(idx)) and idx.min() >= 0 and idx.max() < n
        if n % batch == 0:
            np.testing.assert_array_equal(np.sort(idx), np.arange(n))
    resumed = list(itertools.islice(epoch_batches(n, batch, seed, start_step=start), k))
    for a, b in zip(resumed, stream[start:start + k]):
        np.testing.assert_array_equal(a, b)


def test_epochs_reshuffle():
    s = list(itertools.islice(epoch_batches(100, 100, 0), 3))
    assert not np.array_equal(s[0], s[1]) and not np.array_equal(s[1], s[2])


def test_valid_sets():
    assert valid_sets() == VALID_SETS
    small = valid_sets(n_symbols=5)        # sequences of 10 distinct symbols out of 5 cannot exist
    assert "valid" in small and "valid_longer_1_norepeat" not in small
