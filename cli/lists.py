"""Comma-separated flag values ('48,64,128', '1,0.5,0.2', 'linear,ssm') parsed in one place.

Each parser keeps the order given and drops repeats (unless asked to keep them); bad input is a one-line UserError that names the flag."""
from __future__ import annotations

from onionref.errors import UserError


def _parts(text: str) -> list[str]:
    """The items of 'a,b'; '' has none, and an empty item ('48,', 'a,,b') is kept so that it fails to parse."""
    return [p.strip() for p in text.split(",")] if text.strip() else []


def ints(text: str, flag: str, *, lo: int | None = None, hi: int | None = None, allow_empty: bool = False,
         keep_repeats: bool = False) -> list[int]:
    """'48,64' -> [48, 64]; every value an integer in [lo, hi] (either bound may be open). `keep_repeats` for lists
    read pairwise or as repetitions ('--workers 2,1,2,1')."""
    try:
        vals = [int(p) for p in _parts(text)]
        vals = vals if keep_repeats else list(dict.fromkeys(vals))
    except ValueError:
        vals = None
    in_range = vals is not None and all((lo is None or v >= lo) and (hi is None or v <= hi) for v in vals)
    if not in_range or not (vals or allow_empty):
        raise UserError(f"{flag} takes comma-separated integers{_bounds(lo, hi)}, got {text!r}")
    return vals


def _bounds(lo: int | None, hi: int | None) -> str:
    """' in 1..8', ' >= 0', ' <= 9' or ''."""
    if lo is not None and hi is not None:
        return f" in {lo}..{hi}"
    if lo is not None:
        return f" >= {lo}"
    return f" <= {hi}" if hi is not None else ""


def floats(text: str, flag: str) -> list[float]:
    """'1,0.5' -> [1.0, 0.5]."""
    try:
        vals = list(dict.fromkeys(float(p) for p in _parts(text)))
    except ValueError:
        vals = []
    if not vals:
        raise UserError(f"{flag} takes comma-separated numbers, got {text!r}")
    return vals


def names(text: str, flag: str, known=None) -> list[str]:
    """'linear,ssm' -> ['linear', 'ssm']; with `known`, every name must be one of them."""
    vals = list(dict.fromkeys(_parts(text)))
    if "" in vals or (known is not None and (not vals or any(v not in known for v in vals))):
        what = f"a comma-separated subset of {','.join(known)}" if known is not None else "comma-separated names"
        raise UserError(f"{flag} takes {what}, got {text!r}")
    return vals
