"""Schemes by name, with validated parameters.

Each scheme module decorates its compressor class with :func:`register`; :func:`create`
builds one from a name and parameters (strings from the command line are converted),
wrapping it in error feedback when the scheme's ``ef`` parameter says so. An unknown name
or parameter, or a value out of range, is a :class:`~hwmodels.SpecError` naming the range.

A parameter's default is written once: in the compressor constructor's signature (``ef``,
which is no constructor argument, defaults to the class's ``error_feedback``; ``beta`` to
None, i.e. :meth:`~.base.Compressor.default_beta`). A :class:`Param` declares only the type,
the range and the help; :func:`register` reads the defaults from the signature.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hwmodels import SpecError
from hwmodels.registry import Registry

from .base import Compressor

__all__ = ["Param", "Scheme", "SCHEMES", "register", "get", "schemes", "create", "parse_params"]

SCHEMES: Registry[Scheme] = Registry("compression scheme", sort_known=True)
# Parameters that are no constructor argument: create() applies them around the compressor.
_FEEDBACK = ("ef", "beta")
_UNSET: Any = inspect.Parameter.empty
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Param:
    """One parameter: type (int, float, bool or str), help and valid range or choices.

    ``low_open`` excludes ``low`` itself. ``default`` is not given in a declaration:
    :func:`register` fills it from the compressor constructor's signature (``None`` means
    "derived", documented in ``help``, and is always accepted).
    """

    kind: type
    help: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: tuple[str, ...] = ()
    power_of_two: bool = False
    default: Any = _UNSET

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
    """A registered scheme: its factory (the compressor class), parameters (defaults filled
    from the factory's signature), summary and bit formula."""

    name: str
    factory: type[Compressor]
    params: Mapping[str, Param] = field(default_factory=dict)
    summary: str = ""
    bits: str = ""

    @property
    def kind(self) -> str:
        """What the compressor takes (:attr:`~.base.Compressor.inputs`): "tensor" (one gradient
        tensor), "workers" (several workers' tensors decoded together by ``aggregate``) or
        "factors" (a linear layer's inputs and output gradients)."""
        return self.factory.inputs

    def resolve(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults merged with checked ``params``; unknown names raise SpecError."""
        for key in params:
            if key not in self.params:
                known = ", ".join(self.params) or "none"
                raise SpecError(f"{self.name} takes no parameter {key!r}; its parameters: {known}")
        out = {key: p.default for key, p in self.params.items()}
        out.update({key: self.params[key].check(self.name, key, value) for key, value in params.items()})
        return out


def _defaults(name: str, factory: type[Compressor], params: Mapping[str, Param]) -> dict[str, Any]:
    """Each declared parameter's default: the constructor's, ``ef``'s from the class's
    ``error_feedback``, ``beta``'s None (derived); ValueError for a declaration that gives a
    default itself, names no constructor argument, or one the constructor gives no default."""
    signature = inspect.signature(factory).parameters
    out: dict[str, Any] = {}
    for key, param in params.items():
        if param.default is not _UNSET:
            raise ValueError(f"compression scheme {name!r}: give {key}'s default in the constructor, not in Param")
        if key in _FEEDBACK:
            out[key] = factory.error_feedback if key == "ef" else None
        elif key in signature and signature[key].default is not _UNSET:
            out[key] = signature[key].default
        else:
            raise ValueError(f"compression scheme {name!r}: {key} needs a default in {factory.__name__}'s constructor")
    taken = [k for k, p in signature.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    undeclared = [k for k in taken if k not in params]
    if undeclared:
        raise ValueError(f"compression scheme {name!r}: constructor argument {undeclared[0]} has no Param")
    return out


def register(name: str, *, summary: str, bits: str, **params: Param) -> Callable[[type[Compressor]], type[Compressor]]:
    """Class decorator registering a compressor under ``name`` with its parameters (their
    defaults read from the constructor's signature)."""

    def decorate(factory: type[Compressor]) -> type[Compressor]:
        defaults = _defaults(name, factory, params)
        filled = {key: dataclasses.replace(p, default=defaults[key]) for key, p in params.items()}
        SCHEMES.add(name, Scheme(name, factory, filled, summary, bits))
        factory.name = name
        return factory

    return decorate


def get(name: str) -> Scheme:
    """The scheme called ``name``; SpecError lists the known ones (sorted by name, as
    :func:`schemes` and ``ddlsim compress --list`` show them)."""
    return SCHEMES.get(name)


def schemes(kind: str | None = None) -> list[Scheme]:
    """Every registered scheme (of one input kind), sorted by name."""
    return [s for _, s in sorted(SCHEMES.items()) if kind is None or s.kind == kind]


def create(name: str, **params: Any) -> Compressor:
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
