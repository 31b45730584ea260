"""Tables of named builders filled by a decorator: ``register = registrar(TABLE, "topology")``,
then ``@register("ring")`` on each builder (models, topologies, power policies, partitioners)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

__all__ = ["registrar"]

T = TypeVar("T")


def registrar(table: dict[str, T], what: str) -> Callable[[str], Callable[[T], T]]:
    """A decorator factory putting each decorated object into ``table`` under its name (a name
    given twice is a programming error, not silently replaced)."""

    def register(name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in table:
                raise ValueError(f"{what} {name!r} is already registered")
            table[name] = obj
            return obj

        return deco

    return register
