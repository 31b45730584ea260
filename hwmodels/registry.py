"""One table type for everything looked up by name (compressors, topologies, MAC schemes,
workloads, data sets...), and one way to check a user's parameters against a builder.

It lives in hwmodels, the bottom layer, so that every package (hardware profiles included)
can use the same table; it depends on nothing but :class:`~hwmodels.SpecError`.

``TABLE = Registry("topology")``, then ``@TABLE.register("ring")`` on each builder;
``TABLE.get("rign")`` is a SpecError that lists the known names and suggests close ones.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from .errors import SpecError

__all__ = ["Registry", "bind_params", "suggest"]

T = TypeVar("T")


def suggest(name: object, known: list[str]) -> str:
    """``" (did you mean 'ring'?)"`` when ``name`` is close to a known name, else ``""``."""
    close = difflib.get_close_matches(str(name), known, n=2, cutoff=0.6)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


class Registry(Generic[T]):
    """Named entries of one kind, filled by :meth:`register` where each entry is defined.

    ``what`` names the kind in messages ("topology", "compression scheme"). Registering a
    name twice is a programming error (ValueError), never a silent replacement; an unknown
    name is a :class:`SpecError` listing the known names in registration order (sorted with
    ``sort_known``, for tables shown to users by name).
    """

    def __init__(self, what: str, *, sort_known: bool = False) -> None:
        self.what = what
        self.sort_known = sort_known
        self._entries: dict[str, T] = {}

    @classmethod
    def of(cls, what: str, entries: Mapping[str, T] | tuple[str, ...]) -> Registry[Any]:
        """A registry filled at once: from a mapping, or from plain choices (each its own entry),
        so that a choice among names is checked like any other look-up."""
        table: Registry[Any] = cls(what)
        for name, entry in (entries.items() if isinstance(entries, Mapping) else ((n, n) for n in entries)):
            table.add(name, entry)
        return table

    def add(self, name: str, entry: T) -> T:
        """Put ``entry`` under ``name``; ValueError if the name is taken."""
        if name in self._entries:
            raise ValueError(f"{self.what} {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`: ``@TABLE.register("ring")``."""

        def deco(entry: T) -> T:
            return self.add(name, entry)

        return deco

    def get(self, name: str, *, where: str = "") -> T:
        """The entry called ``name``; SpecError (prefixed by ``where``) naming the known ones."""
        if isinstance(name, str) and name in self._entries:
            return self._entries[name]
        prefix = f"{where}: " if where else ""
        known = sorted(self._entries) if self.sort_known else self.names()
        raise SpecError(f"{prefix}unknown {self.what} {name!r}; known: {', '.join(known)}{suggest(name, known)}")

    def names(self) -> list[str]:
        """Registered names, in registration order."""
        return list(self._entries)

    def values(self) -> list[T]:
        """Entries, in registration order."""
        return list(self._entries.values())

    def items(self) -> list[tuple[str, T]]:
        """(name, entry) pairs, in registration order."""
        return list(self._entries.items())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __repr__(self) -> str:
        return f"Registry({self.what!r}: {', '.join(self._entries)})"


def bind_params(builder: Callable[..., Any], params: Mapping[str, Any], where: str, *,
                given: tuple[str, ...] = ()) -> dict[str, Any]:
    """``params`` checked against ``builder``'s signature: an unknown name or a missing
    required one is a SpecError naming the parameters, found before the call, so that a
    TypeError raised inside the builder stays a bug and is never blamed on the user.

    ``given`` names the leading parameters the caller supplies itself (not the user's).
    """
    signature = inspect.signature(builder)
    accepted = [n for n, p in signature.parameters.items()
                if n not in given and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    unknown = sorted(k for k in params if k not in accepted)
    if unknown and not takes_any:
        raise SpecError(f"{where}: unknown parameter {unknown[0]!r}; known: {', '.join(accepted) or 'none'}")
    missing = [n for n in accepted if signature.parameters[n].default is inspect.Parameter.empty and n not in params]
    if missing:
        raise SpecError(f"{where}: missing parameter {missing[0]!r}; parameters: {', '.join(accepted)}")
    return dict(params)
