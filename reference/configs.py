"""What every config dataclass of the lab shares: checking its values, and reading it back from config.json.

    require([(ok, message), ...])     raise UserError(message) for the first check that fails
    from_dict(Config, d)              Config(**d) after checking every key is a field and every value its type
"""
from __future__ import annotations

from dataclasses import fields

from .errors import UserError


def require(checks) -> None:
    """Raise UserError with the message of the first (ok, message) pair whose ok is false."""
    for ok, msg in checks:
        if not ok:
            raise UserError(msg)


def from_dict(cls, d: dict):
    """An instance of the dataclass `cls` from its JSON form: every key must be a field, every value of the field's
    type (an int is accepted for a float field, a bool never for a number; a field whose default is None takes None
    or, as its annotation says, a str (`str | None`) or an int (an optional count)), numbers must fit a float. Not
    validated: callers chain `.validate()`."""
    kinds = {f.name: type(f.default) for f in fields(cls)}
    optional_str = {f.name for f in fields(cls) if f.default is None and str(f.type).startswith("str")}
    unknown = set(d) - set(kinds)
    if unknown:
        raise UserError(f"config has unknown keys: {', '.join(sorted(unknown))}")
    for k, v in d.items():
        want = kinds[k]
        ok = (isinstance(v, bool) if want is bool else
              v is None or isinstance(v, str) if k in optional_str else
              v is None or isinstance(v, int) and not isinstance(v, bool) if want is type(None) else
              isinstance(v, (int, float)) and not isinstance(v, bool) if want is float else
              isinstance(v, want) and not isinstance(v, bool))
        if not ok:
            raise UserError(f"config key {k!r} must be of type {want.__name__}, got {v!r:.40}")
    try:
        return cls(**{k: float(v) if kinds[k] is float else v for k, v in d.items()})
    except OverflowError:
        raise UserError("config has a number too large for a float") from None
