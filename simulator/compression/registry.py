"""Schemes by name, with validated parameters.

Each scheme module decorates its compressor class with :func:`register`; :func:`create`
builds one from a name and parameters (strings from the command line are converted),
wrapping it in error feedback when the scheme's ``ef`` parameter says so. An unknown name
or parameter, or a value out of range, is a :class:`~hwmodels.SpecError` naming the range.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hwmodels import SpecError

__all__ = ["Param", "Scheme", "register", "get", "schemes", "create", "parse_params"]

_REGISTRY: dict[str, Scheme] = {}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Param:
    """One parameter: default, type (int, float, bool or str) and valid range or choices.

    ``low_open`` excludes ``low`` itself; ``None`` as default means "derived" (documented in
    ``help``) and is always accepted.
    """

    default: Any
    kind: type
    help: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: tuple[str, ...] = ()
    power_of_two: bool = False

    def valid_range(self) -> str:
        """The valid values in words."""
        if self.kind is bool:
            return "true or false"
        if self.choices:
            return "one of " + ", ".join(self.choices)
        noun = "an integer" if self.kind is int else "a number"
        if self.power_of_two:
            noun = "a power of two"
        low = "-inf" if self.low is None else repr(self.kind(self.low))
        high = "inf" if self.high is None else repr(self.kind(self.high))
        return f"{noun} in {'(' if self.low_open else '['}{low}, {high}]"

    def check(self, scheme: str, name: str, value: Any) -> Any:
        """``value`` converted to this parameter's type, or SpecError naming the range."""
        if value is None:
            return None
        bad = SpecError(f"{scheme}: {name} must be {self.valid_range()}, got {value!r}")
        try:
            value = self._convert(value)
        except (TypeError, ValueError):
            raise bad from None
        if self.choices and value not in self.choices:
            raise bad
        if self.kind in (int, float):
            if not math.isfinite(value) or (self.low is not None and (value < self.low or (self.low_open and value == self.low))):
                raise bad
            if self.high is not None and value > self.high:
                raise bad
            if self.power_of_two and (value < 1 or value & (value - 1)):
                raise bad
        return value

    def _convert(self, value: Any) -> Any:
        if self.kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).lower()
            if text in _TRUE | _FALSE:
                return text in _TRUE
            raise ValueError(value)
        if self.kind is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            return int(value) if not isinstance(value, str) else int(value, 10)
        if self.kind is float:
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        return str(value)


@dataclass(frozen=True)
class Scheme:
    """A registered scheme: its factory, parameters, bit formula and input kind.

    ``kind`` is "tensor" (one gradient tensor), "workers" (several workers' tensors decoded
    together by ``aggregate``) or "factors" (a linear layer's inputs and output gradients).
    """

    name: str
    factory: Callable[..., Any]
    params: Mapping[str, Param] = field(default_factory=dict)
    summary: str = ""
    bits: str = ""
    kind: str = "tensor"

    def resolve(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults merged with checked ``params``; unknown names raise SpecError."""
        for key in params:
            if key not in self.params:
                known = ", ".join(self.params) or "none"
                raise SpecError(f"{self.name} takes no parameter {key!r}; its parameters: {known}")
        out = {key: p.default for key, p in self.params.items()}
        out.update({key: self.params[key].check(self.name, key, value) for key, value in params.items()})
        return out


def register(name: str, *, summary: str, bits: str, kind: str = "tensor",
             **params: Param) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Class decorator registering a compressor under ``name`` with its parameters."""

    def decorate(factory: Callable[..., Any]) -> Callable[..., Any]:
        if name in _REGISTRY:
            raise ValueError(f"compression scheme {name!r} registered twice")
        _REGISTRY[name] = Scheme(name, factory, dict(params), summary, bits, kind)
        factory.name = name
        return factory

    return decorate


def get(name: str) -> Scheme:
    """The scheme called ``name``; SpecError lists the known ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise SpecError(f"unknown compression scheme {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def schemes(kind: str | None = None) -> list[Scheme]:
    """Every registered scheme (of one input kind), sorted by name."""
    return [s for _, s in sorted(_REGISTRY.items()) if kind is None or s.kind == kind]


def create(name: str, **params: Any) -> Any:
    """A compressor of scheme ``name`` with validated parameters (error feedback applied)."""
    from .feedback import ErrorFeedback

    scheme = get(name)
    values = scheme.resolve(params)
    ef = values.pop("ef", False)
    beta = values.pop("beta", None)
    compressor = scheme.factory(**values)
    if not ef:
        return compressor
    return ErrorFeedback(compressor, compressor.default_beta() if beta is None else beta)


def parse_params(items: list[str] | None) -> dict[str, str]:
    """``["k=10", "levels=4"]`` -> ``{"k": "10", "levels": "4"}``; SpecError on bad items."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SpecError(f"--param must be KEY=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out
