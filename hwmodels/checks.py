"""The type tests every user-facing check shares: an integer is not a bool, a number is a
finite int or float (numpy scalars included), and the one-line errors built on them.

Callers keep their own messages (they name the field and the fix); only the tests live here.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

from .errors import SpecError

__all__ = ["check_positive", "is_int", "is_number", "require_int", "require_number"]


def is_int(value: Any) -> bool:
    """True for a Python or numpy integer, False for a bool (``True`` is not a count)."""
    return isinstance(value, Integral) and not isinstance(value, bool)


def is_number(value: Any, *, finite: bool = True) -> bool:
    """True for a (finite, unless ``finite=False``) int or float, numpy scalars included; a bool
    or a numeric string is not a number."""
    if isinstance(value, bool) or not isinstance(value, Real):
        return False
    return not finite or math.isfinite(value)


def require_int(value: Any, where: str, *, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int, or a SpecError ``"{where} must be an integer >= low, got ..."``."""
    if not is_int(value) or (low is not None and value < low) or (high is not None and value > high):
        bound = " in [%s, %s]" % (low, high) if low is not None and high is not None else (
            f" >= {low}" if low is not None else (f" <= {high}" if high is not None else ""))
        raise SpecError(f"{where} must be an integer{bound}, got {value!r}")
    return int(value)


def require_number(value: Any, where: str, *, low: float | None = None, high: float | None = None,
                   low_open: bool = False) -> float:
    """``value`` as a finite float within the bounds (``low_open`` excludes ``low``), or a
    SpecError naming the range."""
    ok = is_number(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        lo = "-inf" if low is None else repr(low)
        hi = "inf" if high is None else repr(high)
        raise SpecError(f"{where} must be a number in {'(' if low_open else '['}{lo}, {hi}], got {value!r}")
    return float(value)


def check_positive(record: object, *names: str, integer: bool = False, allow_zero: bool = False) -> None:
    """Raise a :class:`SpecError` naming the first field of ``record`` that is not a positive number."""
    for name in names:
        value = getattr(record, name)
        ok = is_number(value)
        ok = ok and (value >= 0 if allow_zero else value > 0) and (not integer or float(value).is_integer())
        if not ok:
            kind = "an integer" if integer else "a number"
            bound = ">= 0" if allow_zero else "> 0"
            label = getattr(record, "name", type(record).__name__)
            raise SpecError(f"{type(record).__name__} {label!r}: field {name!r} must be {kind} {bound}, got {value!r}")
