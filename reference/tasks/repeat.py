"""The repeat task of the onion paper (spec §1): store a random token sequence, then say it back.

A *sequence set* is a pair of plain arrays:
    tokens  [N, Lmax] int64   token ids 0..n_symbols-1, padded with 0 past each length
    lengths [N]       int64   each sequence's length L

Sampling follows the authors' rejection sampler exactly: draw L ~ U{min_len..max_len}, draw the tokens, and
reject the candidate if it was seen before, is in an excluded set, or its length is already at its cap. We draw
candidates in large vectorised chunks and accept them in stream order, which is the same sampler, only fast.

Batches are time-major [T, B], as in the paper's code:
    encoder input    x_1 .. x_L                       (no SOS / EOS)
    decoder input    SOS, y_1 .. y_{L-1}              (autoregressive; teacher forcing)
                     SOS, NI, NI, ...                 (the no-input variant)
    target           y_1 .. y_L  (= x)
"""
from __future__ import annotations

from dataclasses import dataclass
from math import comb, factorial, floor

import numpy as np

N_SYMBOLS = 30
ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def sos_id(n_symbols: int) -> int:
    """Id of the start-of-sequence token: the first id after the symbols."""
    return n_symbols


def no_input_id(n_symbols: int) -> int:
    """Id of the constant 'no input' token fed to the decoder after SOS in the no-input variant."""
    return n_symbols + 1


def vocab_size(n_symbols: int, no_input: bool) -> int:
    """Rows of the embedding table: symbols + SOS (+ NI)."""
    return n_symbols + 1 + int(no_input)


@dataclass(frozen=True)
class SetSpec:
    """How to draw one sequence set. `cap` is the largest fraction of all possible sequences of one length."""
    n: int
    min_len: int
    max_len: int
    seed: int
    repeats: bool = True
    cap: float | None = None
    fixed_repeat: bool = False


def max_key_len(n_symbols: int) -> int:
    """Longest sequence whose key fits in one int64: (n_symbols + 1)^L < 2^63 (12 for 30 symbols)."""
    L = 0
    while (n_symbols + 1) ** (L + 1) < 2 ** 63:
        L += 1
    return L


KEY_WORDS = 2   # a longer sequence's key is a pair of int64 words: lengths up to 2·max_key_len (24 for 30 symbols)
PAIR = np.dtype([("w0", np.int64), ("w1", np.int64)])


def max_seq_len(n_symbols: int) -> int:
    """Longest sequence a set can hold (its key must fit in KEY_WORDS int64 words)."""
    return KEY_WORDS * max_key_len(n_symbols)


def _word(tokens: np.ndarray, lengths: np.ndarray, lo: int, hi: int, n_symbols: int) -> np.ndarray:
    """sum_{lo <= i < min(L, hi)} (x_i + 1)·(n_symbols + 1)^(i − lo), int64 [N]."""
    key = np.zeros(len(tokens), dtype=np.int64)
    base = 1
    for i in range(lo, min(hi, tokens.shape[1])):
        key += np.where(i < lengths, tokens[:, i] + 1, 0).astype(np.int64) * np.int64(base)
        base *= n_symbols + 1
    return key


def sequence_keys(tokens: np.ndarray, lengths: np.ndarray, n_symbols: int = N_SYMBOLS) -> np.ndarray:
    """One key per sequence, equal iff the sequences are equal: sum_{i<L} (x_i + 1)·(n_symbols + 1)^i, an int64
    when tokens [N, Lmax] has Lmax <= max_key_len(n_symbols); else a PAIR of int64 words, positions 0..K−1 and
    K..2K−1 (K = max_key_len). Bijective for tokens < n_symbols and Lmax <= max_seq_len(n_symbols)."""
    K = max_key_len(n_symbols)
    if tokens.shape[1] <= K:
        return _word(tokens, lengths, 0, K, n_symbols)
    key = np.empty(len(tokens), dtype=PAIR)
    key["w0"] = _word(tokens, lengths, 0, K, n_symbols)
    key["w1"] = _word(tokens, lengths, K, 2 * K, n_symbols)
    return key


def _n_possible(length: int, n_symbols: int, repeats: bool, fixed_repeat: bool = False) -> int:
    if fixed_repeat and 3 <= length <= n_symbols:
        # One symbol at 3 of the L positions, L−3 other distinct symbols: C(L, 3)·n!/(n − L + 2)!.
        return comb(length, 3) * factorial(n_symbols) // factorial(n_symbols - length + 2)
    if repeats:
        return n_symbols ** length
    return factorial(n_symbols) // factorial(n_symbols - length) if length <= n_symbols else 0


def _draw_candidates(rng: np.random.Generator, n: int, spec: SetSpec, n_symbols: int):
    lengths = rng.integers(max(spec.min_len, 2) if spec.min_len < spec.max_len else spec.min_len,
                           spec.max_len + 1, size=n)
    if spec.repeats and not spec.fixed_repeat:
        tokens = rng.integers(0, n_symbols, size=(n, spec.max_len))
    else:
        # The first L entries of a random permutation: all distinct.
        tokens = np.argsort(rng.random((n, n_symbols)), axis=1)[:, :spec.max_len]
        if spec.fixed_repeat:
            tokens = _make_fixed_repeat(rng, tokens, lengths)
    tokens = np.where(np.arange(spec.max_len)[None, :] < lengths[:, None], tokens, 0)
    return tokens.astype(np.int64), lengths.astype(np.int64)


def _make_fixed_repeat(rng, tokens, lengths):
    """Copy one symbol of a no-repeat sequence to exactly two other positions (3 occurrences in all)."""
    n = len(lengths)
    tokens = tokens.copy()
    order = np.argsort(rng.random((n, tokens.shape[1])) + (np.arange(tokens.shape[1]) >= lengths[:, None]), axis=1)
    src, d1, d2 = order[:, 0], order[:, 1], order[:, 2]
    rows = np.arange(n)
    tokens[rows, d1] = tokens[rows, src]
    tokens[rows, d2] = tokens[rows, src]
    return tokens


def make_set(spec: SetSpec, n_symbols: int = N_SYMBOLS, exclude: np.ndarray | None = None):
    """Draw `spec.n` unique sequences; returns (tokens [N, max_len], lengths [N]).

    `exclude` is an array of sequence keys (see `sequence_keys`) that may not be drawn."""
    if not 1 <= spec.min_len <= spec.max_len <= max_seq_len(n_symbols):
        raise ValueError(f"lengths must satisfy 1 <= min_len <= max_len <= {max_seq_len(n_symbols)}, "
                         f"got {spec.min_len}..{spec.max_len}")
    if not spec.repeats and spec.max_len > n_symbols:
        raise ValueError(f"sequences without repeats cannot be longer than n_symbols={n_symbols}")
    lo = max(spec.min_len, 2) if spec.min_len < spec.max_len else spec.min_len
    caps = {}
    for L in range(lo, spec.max_len + 1):
        total = _n_possible(L, n_symbols, spec.repeats and not spec.fixed_repeat, spec.fixed_repeat)
        caps[L] = total if spec.cap is None else floor(spec.cap * total)
    if sum(caps.values()) < spec.n:
        raise ValueError(f"cannot draw {spec.n} unique sequences of length {lo}..{spec.max_len} "
                         f"from {n_symbols} symbols (at most {sum(caps.values())} exist under the cap)")
    rng = np.random.default_rng(spec.seed)
    kind = np.int64 if spec.max_len <= max_key_len(n_symbols) else PAIR      # sequence_keys' key type
    seen = np.sort(exclude.astype(kind)) if exclude is not None else np.zeros(0, kind)
    count = {L: 0 for L in caps}
    out_tok, out_len, got = [], [], 0
    while got < spec.n:
        need = spec.n - got
        tok, ln = _draw_candidates(rng, 2 * need + 1024, spec, n_symbols)
        keys = sequence_keys(tok, ln, n_symbols)
        _, first = np.unique(keys, return_index=True)
        first = np.sort(first)  # first occurrence of each key inside the chunk, in stream order
        first = first[~np.isin(keys[first], seen, assume_unique=False)]
        # Per-length caps, in stream order.
        keep = np.zeros(len(first), dtype=bool)
        for L in caps:
            idx = np.flatnonzero(ln[first] == L)
            room = max(caps[L] - count[L], 0)
            keep[idx[:room]] = True
        first = first[keep][:need]
        for L in caps:
            count[L] += int(np.sum(ln[first] == L))
        out_tok.append(tok[first])
        out_len.append(ln[first])
        seen = np.union1d(seen, keys[first])
        got += len(first)
    return np.concatenate(out_tok), np.concatenate(out_len)


# The paper's sequence sets (spec §1.2). Each entry: name -> (SetSpec, names of sets it must be disjoint from).
def paper_sets(n_symbols: int = N_SYMBOLS, min_len: int = 2, max_len: int = 9, n_train: int = 1_000_000):
    """The named set specifications of the paper, for a given length range."""
    return {
        "valid": (SetSpec(5000, min_len, max_len, 123, cap=0.2), ()),
        "train": (SetSpec(n_train, min_len, max_len, 0), ("valid",)),
        "valid_longer_1": (SetSpec(1000, max_len + 1, max_len + 1, 674), ()),
        "valid_longer_2": (SetSpec(1000, max_len + 2, max_len + 2, 345), ()),
        "valid_longer_1_norepeat": (SetSpec(1000, max_len + 1, max_len + 1, 345, repeats=False), ()),
        "intervention": (SetSpec(5000, max_len, max_len, 1234), ()),
        "intervention_norepeat": (SetSpec(5000, max_len, max_len, 3452, repeats=False), ()),
        "train_l9": (SetSpec(n_train, max_len, max_len, 0), ("intervention",)),
        "valid_rep_3": (SetSpec(1000, max(3, min_len), max_len, 126, fixed_repeat=True), ()),
        "valid_norep_3": (SetSpec(1000, max(3, min_len), max_len, 126), ()),
    }


def load_set(name: str, n_symbols: int = N_SYMBOLS, min_len: int = 2, max_len: int = 9, n_train: int = 1_000_000):
    """Build one named set (and, first, the sets it must be disjoint from). Returns (tokens, lengths)."""
    sets = paper_sets(n_symbols, min_len, max_len, n_train)
    if name not in sets:
        raise ValueError(f"unknown sequence set {name!r}; known: {', '.join(sets)}")
    spec, disjoint_from = sets[name]
    exclude = [sequence_keys(*load_set(d, n_symbols, min_len, max_len, n_train), n_symbols) for d in disjoint_from]
    return make_set(spec, n_symbols, np.concatenate(exclude) if exclude else None)


VALID_SETS = ("valid", "valid_longer_1", "valid_longer_2", "valid_longer_1_norepeat", "intervention",
              "intervention_norepeat", "valid_rep_3", "valid_norep_3")


def valid_sets(n_symbols: int = N_SYMBOLS, min_len: int = 2, max_len: int = 9):
    """The validation sets that exist for this configuration (long or no-repeat sets may be impossible)."""
    sets = paper_sets(n_symbols, min_len, max_len, n_train=0)
    ok = []
    for name in VALID_SETS:
        spec = sets[name][0]
        if spec.max_len > max_seq_len(n_symbols) or (not spec.repeats or spec.fixed_repeat) and spec.max_len > n_symbols:
            continue
        if spec.fixed_repeat and spec.max_len < 3:
            continue
        ok.append(name)
    return tuple(ok)


@dataclass(frozen=True)
class Batch:
    """One time-major batch.

    enc_in  [T, B] encoder inputs x_1..x_L (0-padded)     lengths [B]
    dec_in  [T, B] decoder inputs (SOS-prefixed)            mask    [T, B] bool, True where t < L
    target  [T, B] targets y_1..y_L (0-padded)
    out_mask [Td, B] bool or None: the loss's mask over the decoder steps when it is not the encoder's `mask`
             (tasks/lookup.py: one output step, dec_in and target [1, B]); None for repeat and reverse
    """
    enc_in: np.ndarray
    dec_in: np.ndarray
    target: np.ndarray
    lengths: np.ndarray
    mask: np.ndarray
    out_mask: np.ndarray | None = None

    @property
    def loss_mask(self) -> np.ndarray:
        """[Td, B] the positions that carry loss and count for exact match."""
        return self.mask if self.out_mask is None else self.out_mask


def make_batch(tokens: np.ndarray, lengths: np.ndarray, n_symbols: int = N_SYMBOLS,
               no_input: bool = False) -> Batch:
    """Time-major batch of sequences `tokens` [B, Lmax] with `lengths` [B]; T = max length in the batch."""
    T = int(lengths.max())
    x = np.ascontiguousarray(tokens[:, :T].T)
    mask = (np.arange(T)[:, None] < lengths[None, :])
    x = np.where(mask, x, 0)
    dec = np.empty_like(x)
    dec[0] = sos_id(n_symbols)
    dec[1:] = no_input_id(n_symbols) if no_input else x[:-1]
    return Batch(enc_in=x, dec_in=dec, target=x, lengths=lengths.astype(np.int64), mask=mask)


def epoch_batches(n: int, batch: int, seed: int, start_step: int = 0):
    """Infinite stream of index arrays for `batch`-sized batches: a fresh permutation every epoch.

    Stateless in the step: the indices of step s depend only on (seed, s), so a resumed run sees the same
    batches as an uninterrupted one. Batches do not straddle epochs (the last partial batch is dropped)."""
    per_epoch = n // batch
    step = start_step
    epoch, perm = -1, None
    while True:
        e, i = divmod(step, per_epoch)
        if e != epoch:
            epoch, perm = e, np.random.default_rng([seed, 7, e]).permutation(n)
        yield perm[i * batch:(i + 1) * batch]
        step += 1


def decode_tokens(ids) -> str:
    """Human-readable form of a token sequence: ids 0..29 -> '0'..'9','a'..'t'."""
    return " ".join(ALPHABET[int(i)] for i in ids)
