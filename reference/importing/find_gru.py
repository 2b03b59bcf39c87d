"""Which tensors of a foreign file are the paper's model: one embedding, one GRU, one readout (spec §2).

    find(tensors {name: TensorRef}, no_input, embedding=None, gru=None, head=None) -> Found

The GRU is found by torch's names: PREFIX + weight_ih_l0 / weight_hh_l0 / bias_ih_l0 / bias_hh_l0 under any PREFIX,
with W_hh [3H, H], W_ih [3H, E], biases [3H]; a second layer (weight_ih_l1) or direction (weight_ih_l0_reverse) is
refused. The embedding and the readout are found by shape: a float [V, E] with V = 31 (SOS = 30) or, with
--no-input, 32 (NI = 31); a float [30, H] readout whose name ends in "weight" beside a [30] "bias".
When several tensors fit, those named "...weight" are preferred, then those sharing the most leading name parts
with the GRU (so `--gru model.gru` also settles `model.embedding.weight` against `ema.embedding.weight`); any
tie left is an error naming the candidates and the flags that choose: --embedding NAME --gru PREFIX --head NAME.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import UserError
from ..tasks.repeat import N_SYMBOLS, vocab_size

SUFFIXES = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
FLAGS = "--embedding NAME --gru PREFIX --head NAME"
SHOWN = 6


@dataclass(frozen=True)
class Found:
    names: dict     # {our name: theirs}: embedding.weight, gru.{weight,bias}_{ih,hh}_l0, head.weight, head.bias
    hidden: int     # H
    embed: int      # E
    vocab: int      # V


def _desc(tensors, name) -> str:
    return f"{name or '(no name)'} {list(tensors[name].shape)}"


def _listing(items) -> str:
    items = list(items)
    more = f" (+{len(items) - SHOWN} more)" if len(items) > SHOWN else ""
    return ", ".join(items[:SHOWN]) + more if items else "none"


def _prefix_label(p: str) -> str:
    return repr(p.rstrip(".")) if p else "(no prefix)"


def gru_prefixes(tensors) -> list:
    """Every PREFIX under which at least one of the GRU's four names occurs."""
    return sorted({n[:-len(s)] for n in tensors for s in SUFFIXES if n.endswith(s)})


def _parts(name: str) -> list:
    return [p for p in name.split(".") if p]


def _narrow(cands: list, anchor: str) -> list:
    """Candidates named "...weight" if any are, then those sharing the most leading name parts with `anchor`."""
    named = [c for c in cands if _parts(c)[-1:] == ["weight"]]
    cands = named or cands
    def shared(c):
        n = 0
        for a, b in zip(_parts(c), _parts(anchor)):
            if a != b:
                break
            n += 1
        return n
    best = max(map(shared, cands), default=0)
    return [c for c in cands if shared(c) == best]


def _check_gru(tensors, p: str) -> tuple[int, int]:
    """(H, E) of the GRU under prefix p, or UserError saying what is wrong with it."""
    label = _prefix_label(p)
    missing = [p + s for s in SUFFIXES if p + s not in tensors]
    if missing:
        raise UserError(f"the GRU {label} lacks {missing[0]}" + (" (a GRU without biases?)" if "bias" in missing[0]
                                                                 else "") + "; onionref needs all four of "
                        f"{', '.join(SUFFIXES)}")
    if p + "weight_ih_l1" in tensors:
        raise UserError(f"the GRU {label} has more than one layer ({p}weight_ih_l1); onionref analyses a "
                        f"single-layer GRU")
    if p + "weight_ih_l0_reverse" in tensors:
        raise UserError(f"the GRU {label} is bidirectional ({p}weight_ih_l0_reverse); onionref analyses a "
                        f"unidirectional GRU")
    t = {s: tensors[p + s] for s in SUFFIXES}
    bad = [p + s for s, r in t.items() if not r.floating]
    if bad:
        raise UserError(f"{bad[0]} is not a float tensor ({t[bad[0][len(p):]].dtype})")
    whh, wih = t["weight_hh_l0"].shape, t["weight_ih_l0"].shape
    if len(whh) != 2 or whh[1] < 1 or whh[0] != 3 * whh[1]:
        hint = " (an LSTM?)" if len(whh) == 2 and whh[0] == 4 * whh[1] else ""
        raise UserError(f"{p}weight_hh_l0 has shape {list(whh)}, a GRU's is [3H, H]{hint}")
    H = whh[1]
    if len(wih) != 2 or wih[0] != 3 * H or wih[1] < 1:
        raise UserError(f"{p}weight_ih_l0 has shape {list(wih)}, the GRU's hidden size {H} needs [{3 * H}, E]")
    for s in ("bias_ih_l0", "bias_hh_l0"):
        if t[s].shape != (3 * H,):
            raise UserError(f"{p}{s} has shape {list(t[s].shape)}, the GRU's hidden size {H} needs [{3 * H}]")
    return H, wih[1]


def _choose_gru(tensors, gru) -> str:
    found = gru_prefixes(tensors)
    if gru is not None:
        for p in (gru, gru + "."):
            if p in found:
                return p
        raise UserError(f"--gru {gru}: no tensor {gru}.weight_ih_l0 (or the other GRU names) in the file; GRUs found "
                        f"under: {_listing(map(_prefix_label, found))}")
    if not found:
        floats = [_desc(tensors, n) for n, r in tensors.items() if r.floating]
        raise UserError(f"no GRU in the file (no tensor named *weight_ih_l0, *weight_hh_l0, *bias_ih_l0, *bias_hh_l0"
                        f"); tensors found: {_listing(floats)}; choose with {FLAGS}")
    if len(found) > 1:
        raise UserError(f"several GRUs in the file, under {_listing(map(_prefix_label, found))}; choose one with "
                        f"--gru PREFIX (the flags {FLAGS} choose each part)")
    return found[0]


def _choose_embedding(tensors, name, E, no_input, taken, anchor) -> str:
    V = vocab_size(N_SYMBOLS, no_input)
    other = vocab_size(N_SYMBOLS, not no_input)
    variant = ("a no-input model (SOS 30, NI 31): add --no-input" if other == 32 else
               "an autoregressive model (SOS 30, no NI token): drop --no-input")
    if name is not None:
        r = tensors.get(name)
        if r is None:
            raise UserError(f"--embedding {name}: no such tensor in the file")
        if not r.floating or len(r.shape) != 2 or r.shape[1] != E:
            raise UserError(f"--embedding {_desc(tensors, name)} is not a float [V, {E}] table (the GRU's input "
                            f"size is {E})")
        if r.shape[0] == other:
            raise UserError(f"the embedding {name} has {other} rows, {variant}")
        if r.shape[0] != V:
            raise UserError(f"the embedding {name} has {r.shape[0]} rows; the paper's {N_SYMBOLS} symbols need 31 "
                            f"(SOS = 30) or, with --no-input, 32 (NI = 31)")
        return name
    fits = lambda rows: [n for n, r in tensors.items() if n not in taken and r.floating and r.shape == (rows, E)]
    cands = fits(V)
    if not cands:
        if fits(other):
            raise UserError(f"the embedding {fits(other)[0]} has {other} rows, {variant}")
        wide = [_desc(tensors, n) for n, r in tensors.items() if n not in taken and len(r.shape) == 2
                and r.shape[1] == E]
        raise UserError(f"no embedding [{V}, {E}] in the file (the paper's {N_SYMBOLS} symbols + SOS"
                        f"{' + NI' if no_input else ''}, the GRU's input size {E}); 2-D tensors with {E} columns: "
                        f"{_listing(wide)}; choose with --embedding NAME")
    best = _narrow(cands, anchor)
    if len(best) > 1:
        raise UserError(f"several embeddings [{V}, {E}] in the file: {_listing(best)}; choose one with --embedding "
                        f"NAME (the flags {FLAGS} choose each part)")
    return best[0]


def _bias_of(tensors, name):
    if not name.endswith("weight"):
        return None
    b = name[:-len("weight")] + "bias"
    r = tensors.get(b)
    return b if r is not None and r.floating and r.shape == (N_SYMBOLS,) else None


def _choose_head(tensors, name, H, taken, anchor) -> tuple[str, str]:
    if name is not None:
        r = tensors.get(name)
        if r is None:
            raise UserError(f"--head {name}: no such tensor in the file")
        if not r.floating or r.shape != (N_SYMBOLS, H):
            raise UserError(f"--head {_desc(tensors, name)} is not a float [{N_SYMBOLS}, {H}] readout (the GRU's "
                            f"hidden size is {H})")
        cands = [name]
    else:
        cands = [n for n, r in tensors.items() if n not in taken and r.floating and r.shape == (N_SYMBOLS, H)]
    if not cands:
        rows = [_desc(tensors, n) for n, r in tensors.items() if n not in taken and len(r.shape) == 2
                and r.shape[0] == N_SYMBOLS]
        raise UserError(f"no readout [{N_SYMBOLS}, {H}] in the file (the paper's {N_SYMBOLS} symbols from the GRU's "
                        f"hidden size {H}); 2-D tensors with {N_SYMBOLS} rows: {_listing(rows)}; choose with "
                        f"--head NAME")
    with_bias = [c for c in cands if _bias_of(tensors, c)]
    if not with_bias:
        b = cands[0][:-len("weight")] + "bias" if cands[0].endswith("weight") else "<NAME ending in weight>"
        raise UserError(f"the readout {cands[0]} has no bias {b} [{N_SYMBOLS}]; onionref's readout is "
                        f"Linear(H, {N_SYMBOLS}) with a bias")
    best = _narrow(with_bias, anchor)
    if len(best) > 1:
        raise UserError(f"several readouts [{N_SYMBOLS}, {H}] in the file: {_listing(best)}; choose one with --head "
                        f"NAME (the flags {FLAGS} choose each part)")
    return best[0], _bias_of(tensors, best[0])


def find(tensors: dict, no_input: bool, embedding: str | None = None, gru: str | None = None,
         head: str | None = None) -> Found:
    """The embedding, GRU and readout of the paper's model among `tensors`; UserError (one line) otherwise."""
    p = _choose_gru(tensors, gru)
    H, E = _check_gru(tensors, p)
    names = {"gru." + s: p + s for s in SUFFIXES}
    taken = set(names.values())
    emb = _choose_embedding(tensors, embedding, E, no_input, taken, p)
    taken.add(emb)
    w, b = _choose_head(tensors, head, H, taken, p)
    names = {"embedding.weight": emb, **names, "head.weight": w, "head.bias": b}
    return Found(names=names, hidden=H, embed=E, vocab=tensors[emb].shape[0])
