"""How catalog entries are summarised for people: the one line of numbers a reader scans for,
where an entry is defined, and the start of a long citation (``ddlsim hw``, sweep reports)."""

from __future__ import annotations

from hwmodels import units
from hwmodels.catalog import BUILTIN_DIR, Catalog, Record

__all__ = ["headline", "origin", "short_source"]


def headline(record: Record) -> str:
    """The one number a reader scans the list for."""
    if record.kind == "device":
        memory = units.fmt(record.mem_bandwidth_Bps, "rate", 4, bytes_per_s=True)
        return f"{units.fmt(record.peak_flops['fp32'], 'flops', 4)} fp32, {memory}, {units.fmt(record.active_power_W, 'power', 4)}"
    if record.kind == "link":
        return f"{units.fmt(record.bandwidth_Bps, 'rate', 4)}, {units.fmt(record.latency_s, 'time', 4)}"
    return f"{units.fmt(record.max_tx_power_W, 'power', 4)}, {units.fmt(record.bandwidth_Hz, 'frequency', 4)}"


def short_source(text: str, width: int = 56) -> str:
    """The start of a long citation; ``hw show`` prints it whole."""
    first = text.split(" ; ")[0]
    return first if len(first) <= width else first[: width - 1].rstrip() + "\u2026"


def origin(cat: Catalog, record: Record) -> str:
    """Where ``record`` comes from: ``built-in``, the user file, or ``added in code``."""
    path = cat.origin.get((record.kind, record.name))
    if path is None:
        return "added in code"
    return "built-in" if path.parent == BUILTIN_DIR else str(path)
