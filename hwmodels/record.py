"""Shared machinery of the hardware records: SI fields with units, validation, YAML, JSON.

A record field declared with :func:`quantity` has an SI name with its unit as suffix
(``bandwidth_Bps``). A catalog entry may give it either under that name as an SI
number, or under the stem (``bandwidth``) as a string with a unit (``"10Gbps"``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, TypeVar

from . import units
from .checks import is_number
from .errors import SpecError

__all__ = ["quantity", "validate", "from_entry", "to_json", "readable_fields"]

T = TypeVar("T")

_TEXT_FIELDS = ("name", "source", "notes", "category", "standard")


def quantity(dimension: str, *, stem: str, default: Any = dataclasses.MISSING,
             minimum: float | None = 0.0, positive: bool = False, maximum: float | None = None,
             bytes_per_s: bool = False) -> Any:
    """A dataclass field holding an SI quantity of ``dimension``.

    ``stem`` is the YAML key that takes a string with units. ``minimum``/``maximum``
    bound the value (inclusive); ``positive`` excludes zero. ``bytes_per_s`` prints a
    rate in B/s rather than bit/s.
    """
    meta = {"dimension": dimension, "stem": stem, "minimum": minimum, "positive": positive, "maximum": maximum,
            "bytes_per_s": bytes_per_s}
    return dataclasses.field(default=default, metadata=meta)


def _check_value(cls_name: str, name: str, field_name: str, value: float, meta: Mapping[str, Any]) -> None:
    where = f"{cls_name} {name!r}: field {field_name!r}"
    if not is_number(value):
        raise SpecError(f"{where} must be a finite number, got {value!r}")
    if meta["positive"] and value <= 0:
        raise SpecError(f"{where} must be positive, got {value!r}")
    if meta["minimum"] is not None and value < meta["minimum"]:
        raise SpecError(f"{where} must be >= {meta['minimum']}, got {value!r}")
    if meta["maximum"] is not None and value > meta["maximum"]:
        raise SpecError(f"{where} must be <= {meta['maximum']}, got {value!r}")


def validate(record: Any) -> None:
    """Check every quantity field of a record (called from ``__post_init__``)."""
    cls_name = type(record).__name__
    name = getattr(record, "name", "?")
    if not isinstance(name, str) or not name.strip():
        raise SpecError(f"{cls_name}: field 'name' must be a non-empty string")
    for f in dataclasses.fields(record):
        if "dimension" not in f.metadata:
            continue
        value = getattr(record, f.name)
        if value is None:
            continue
        if isinstance(value, Mapping):
            if not value:
                raise SpecError(f"{cls_name} {name!r}: field {f.name!r} needs at least one entry")
            for key, item in value.items():
                _check_value(cls_name, name, f"{f.name}.{key}", item, f.metadata)
        else:
            _check_value(cls_name, name, f.name, value, f.metadata)


def _parse_value(value: Any, dimension: str, where: str) -> Any:
    try:
        if isinstance(value, Mapping):
            return {str(k): units.parse(v, dimension) for k, v in value.items()}
        return units.parse(value, dimension)
    except SpecError as exc:
        raise SpecError(f"{where}: {exc}") from None


def from_entry(cls: type[T], entry: Mapping[str, Any], where: str = "") -> T:
    """Build a record from a catalog entry (a YAML mapping), parsing units.

    ``where`` prefixes error messages (e.g. ``"devices.yaml: entry 'a100'"``).
    """
    if not isinstance(entry, Mapping):
        raise SpecError(f"{where}: expected a mapping of fields, got {type(entry).__name__}")
    name = entry.get("name")
    where = where or f"{cls.__name__} {name!r}"
    fields = {f.name: f for f in dataclasses.fields(cls)}
    stems = {f.metadata["stem"]: f.name for f in fields.values() if "stem" in f.metadata}
    kwargs: dict[str, Any] = {}
    for key, value in entry.items():
        key = str(key)
        target = stems.get(key, key)
        if target not in fields or not fields[target].init:
            known = sorted(set(stems) | {k for k, f in fields.items() if f.init})
            raise SpecError(f"{where}: unknown field {key!r}; known fields: {', '.join(known)}")
        if target in kwargs:
            raise SpecError(f"{where}: field {key!r} is given twice (as {target!r} and its unit-free stem)")
        meta = fields[target].metadata
        if "dimension" in meta and value is not None:
            value = _parse_value(value, meta["dimension"], f"{where}: field {key!r}")
        elif target == "aliases":
            value = tuple(str(a) for a in (value or ()))
        elif target in _TEXT_FIELDS and value is not None:
            value = str(value).strip()
        kwargs[target] = value
    missing = [f.metadata.get("stem", n) for n, f in fields.items()
               if f.init and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
               and n not in kwargs]
    if missing:
        raise SpecError(f"{where}: missing required field {missing[0]!r}")
    try:
        return cls(**kwargs)
    except SpecError as exc:
        message = str(exc)
        raise SpecError(f"{where}: {message.split(': ', 1)[1] if ': ' in message else message}") from None


def to_json(record: Any) -> dict[str, Any]:
    """Every field in SI under its unit-suffixed key, plus ``name``, ``kind`` and ``source``.

    Mapping quantities are flattened (``peak_flops`` -> ``peak_flops_fp32``).
    """
    out: dict[str, Any] = {"name": record.name, "kind": record.kind}
    for f in dataclasses.fields(record):
        if f.name == "name":
            continue
        value = getattr(record, f.name)
        if isinstance(value, Mapping):
            for key, item in value.items():
                out[f"{f.name}_{key}"] = item
        elif isinstance(value, tuple):
            out[f.name] = list(value)
        else:
            out[f.name] = value
    return out


def readable_fields(record: Any) -> list[tuple[str, str]]:
    """(field, human-readable value) pairs, quantities printed with units."""
    rows: list[tuple[str, str]] = []
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        if value is None or value == () or value == "":
            continue
        dimension = f.metadata.get("dimension")
        if dimension is None or dimension == "ratio":
            shown = ", ".join(value) if isinstance(value, tuple) else str(value)
        elif isinstance(value, Mapping):
            shown = ", ".join(f"{k} {units.fmt(v, dimension, 4)}" for k, v in value.items())
        else:
            shown = units.fmt(value, dimension, 4, bytes_per_s=f.metadata["bytes_per_s"])
        rows.append((f.metadata.get("stem", f.name), shown))
    return rows
