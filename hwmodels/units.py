"""Human quantities at the edges, SI floats inside.

``parse("10Gbps", "rate")`` gives 1.25e9 (bytes per second); ``fmt(1.25e9, "rate")``
gives ``"10 Gbps"``. Decimal prefixes are powers of 1000 and binary ones powers of
1024, exactly; a lower-case ``b`` means bits and ``B`` bytes. Internal SI units per
dimension:

========== ============ ==========================================
dimension   SI unit      accepted examples
========== ============ ==========================================
time        s            5us, 1.5ms, 2s, 1min
size        B (bytes)    64MiB, 100MB, 1GB, 800Mb (bits / 8)
bits        bit          1Mbit, 2kb, 1KiB (bytes * 8)
rate        B/s          10Gbps, 1.25GB/s, 900MiB/s
power       W            0.2W, 20dBm, -3dBW, 500mW
energy      J            1.5mJ, 3pJ, 2Wh
energy_per_bit J/bit     5pJ/bit, 1nJ/bit
flops       FLOP/s       312TFLOPS, 19.5 TFLOP/s, 624TOPS
frequency   Hz           2.4GHz, 125kHz
dB          dB           7dB, 3dBi (stays in decibels)
ratio       1 (linear)   3dB (becomes 1.995...), 0.5
========== ============ ==========================================

A bare number (or a number string without a unit) is taken as already SI.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from collections.abc import Callable

from .errors import SpecError

__all__ = [
    "DIMENSIONS",
    "parse",
    "fmt",
    "units_of",
    "dbm_to_watts",
    "watts_to_dbm",
    "db_to_linear",
    "linear_to_db",
]

_DEC = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
_SMALL = {"m": 1e-3, "u": 1e-6, "\u00b5": 1e-6, "\u03bc": 1e-6, "n": 1e-9, "p": 1e-12, "f": 1e-15}
_BIN = {"Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50}

Converter = Callable[[float], float]


def dbm_to_watts(dbm: float) -> float:
    """Power in dBm to watts (0 dBm = 1 mW)."""
    return 10.0 ** ((dbm - 30.0) / 10.0)


def watts_to_dbm(watts: float) -> float:
    """Power in watts to dBm; ``-inf`` for zero power."""
    return 10.0 * math.log10(watts) + 30.0 if watts > 0 else -math.inf


def db_to_linear(db: float) -> float:
    """A power ratio in dB to a linear factor."""
    return 10.0 ** (db / 10.0)


def linear_to_db(ratio: float) -> float:
    """A linear power ratio to dB; ``-inf`` for zero."""
    return 10.0 * math.log10(ratio) if ratio > 0 else -math.inf


def _scaled(base: dict[str, float], suffixes: dict[str, float], prefixes: dict[str, float]) -> dict[str, float]:
    out = dict(base)
    for suffix, factor in suffixes.items():
        for prefix, scale in prefixes.items():
            out[prefix + suffix] = scale * factor
    return out


def _build_tables() -> dict[str, dict[str, float | Converter]]:
    allp = {**_DEC, **_SMALL}
    size = _scaled({}, {"B": 1.0, "byte": 1.0, "bytes": 1.0}, {**_DEC, **_BIN})
    size.update(_scaled({}, {"b": 1 / 8, "bit": 1 / 8, "bits": 1 / 8}, {**_DEC, **_BIN}))
    bits = {unit: factor * 8 for unit, factor in size.items()}
    rate = _scaled({}, {"B/s": 1.0, "Bps": 1.0}, {**_DEC, **_BIN})
    rate.update(_scaled({}, {"bps": 1 / 8, "b/s": 1 / 8, "bit/s": 1 / 8}, {**_DEC, **_BIN}))
    time = _scaled({"min": 60.0, "h": 3600.0}, {"s": 1.0, "sec": 1.0}, {"": 1.0, **_SMALL})
    power: dict[str, float | Converter] = dict(_scaled({}, {"W": 1.0}, allp))
    power["dBm"] = dbm_to_watts
    power["dBW"] = lambda x: 10.0 ** (x / 10.0)
    energy = _scaled({"Wh": 3600.0, "kWh": 3.6e6, "mWh": 3.6}, {"J": 1.0}, allp)
    per_bit = _scaled({}, {"J/bit": 1.0, "J/b": 1.0}, {"": 1.0, **_SMALL})
    per_bit.update(_scaled({}, {"J/B": 1 / 8}, {"": 1.0, **_SMALL}))
    flops = _scaled({}, {"FLOPS": 1.0, "FLOP/s": 1.0, "flops": 1.0, "OPS": 1.0, "OP/s": 1.0}, _DEC)
    frequency = _scaled({}, {"Hz": 1.0}, _DEC)
    db: dict[str, float | Converter] = {"dB": 1.0, "dBi": 1.0}
    ratio: dict[str, float | Converter] = {"dB": db_to_linear, "x": 1.0, "%": 0.01}
    return {
        "time": dict(time),
        "size": dict(size),
        "bits": dict(bits),
        "rate": dict(rate),
        "power": power,
        "energy": dict(energy),
        "energy_per_bit": dict(per_bit),
        "flops": dict(flops),
        "frequency": dict(frequency),
        "dB": db,
        "ratio": ratio,
    }


_TABLES = _build_tables()
DIMENSIONS: tuple[str, ...] = tuple(_TABLES)

# What fmt() prints, largest first: (unit, SI value of one unit). The rate is printed
# in bits per second, which is how links and radios are quoted.
_PRINT: dict[str, list[tuple[str, float]]] = {
    "time": [("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9), ("ps", 1e-12)],
    "size_dec": [("PB", 1e15), ("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3), ("B", 1.0)],
    "size_bin": [("PiB", 2.0**50), ("TiB", 2.0**40), ("GiB", 2.0**30), ("MiB", 2.0**20), ("KiB", 2.0**10)],
    "bits": [("Tbit", 1e12), ("Gbit", 1e9), ("Mbit", 1e6), ("kbit", 1e3), ("bit", 1.0)],
    "rate_bytes": [("TB/s", 1e12), ("GB/s", 1e9), ("MB/s", 1e6), ("kB/s", 1e3), ("B/s", 1.0)],
    "rate": [("Tbps", 1.25e11), ("Gbps", 1.25e8), ("Mbps", 1.25e5), ("kbps", 125.0), ("bps", 0.125)],
    "power": [("kW", 1e3), ("W", 1.0), ("mW", 1e-3), ("uW", 1e-6), ("nW", 1e-9), ("pW", 1e-12)],
    "energy": [("kJ", 1e3), ("J", 1.0), ("mJ", 1e-3), ("uJ", 1e-6), ("nJ", 1e-9), ("pJ", 1e-12), ("fJ", 1e-15)],
    "energy_per_bit": [("J/bit", 1.0), ("mJ/bit", 1e-3), ("uJ/bit", 1e-6), ("nJ/bit", 1e-9), ("pJ/bit", 1e-12), ("fJ/bit", 1e-15)],
    "flops": [("PFLOPS", 1e15), ("TFLOPS", 1e12), ("GFLOPS", 1e9), ("MFLOPS", 1e6), ("kFLOPS", 1e3), ("FLOPS", 1.0)],
    "frequency": [("THz", 1e12), ("GHz", 1e9), ("MHz", 1e6), ("kHz", 1e3), ("Hz", 1.0)],
}

_SI_UNIT = {
    "time": "s", "size": "B", "bits": "bit", "rate": "B/s", "power": "W", "energy": "J",
    "energy_per_bit": "J/bit", "flops": "FLOPS", "frequency": "Hz",
}

_NUMBER = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")


def units_of(dimension: str) -> list[str]:
    """The unit strings accepted for ``dimension``, sorted."""
    _check_dimension(dimension)
    return sorted(_TABLES[dimension])


def _check_dimension(dimension: str) -> None:
    if dimension not in _TABLES:
        raise SpecError(f"unknown dimension {dimension!r}; known: {', '.join(DIMENSIONS)}")


def parse(value: str | float | int, dimension: str) -> float:
    """Parse a quantity into SI units of ``dimension`` (see the module table).

    Numbers pass through as SI. Raises ``SpecError`` naming the accepted units when
    the unit is unknown for the dimension.
    """
    _check_dimension(dimension)
    if isinstance(value, bool):
        raise SpecError(f"expected a {dimension} quantity, got a boolean {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str):
        raise SpecError(f"expected a {dimension} quantity (number or string with unit), got {value!r}")
    match = _NUMBER.match(value)
    if match is None:
        raise SpecError(f"cannot read {value!r} as a {dimension} quantity: expected a number and a unit, e.g. {_example(dimension)}")
    number, unit = float(match.group(1)), match.group(2)
    if unit == "":
        return number
    table = _TABLES[dimension]
    factor = table.get(unit)
    if factor is None:
        shown = ", ".join(_headline_units(dimension))
        raise SpecError(f"unknown {dimension} unit {unit!r} in {value!r}; accepted: {shown} (with k/M/G/T or Ki/Mi/Gi prefixes)")
    if callable(factor):
        return float(factor(number))
    # Decimal arithmetic on the written digits: "5us" is 5e-06 and "1.001MB" is
    # 1001000 to the last bit, as a reader of the string expects.
    return float(Decimal(match.group(1)) * Decimal(repr(factor)))


def _headline_units(dimension: str) -> list[str]:
    bare = {
        "time": ["s", "ms", "us", "ns", "min", "h"],
        "size": ["B", "kB", "MB", "GB", "KiB", "MiB", "GiB", "bit", "Mb"],
        "bits": ["bit", "kbit", "Mbit", "B", "KiB", "MiB"],
        "rate": ["bps", "kbps", "Mbps", "Gbps", "B/s", "MB/s", "GB/s", "GiB/s"],
        "power": ["W", "mW", "uW", "dBm", "dBW"],
        "energy": ["J", "mJ", "uJ", "nJ", "pJ", "Wh"],
        "energy_per_bit": ["J/bit", "nJ/bit", "pJ/bit", "pJ/B"],
        "flops": ["FLOPS", "GFLOPS", "TFLOPS", "PFLOPS", "FLOP/s", "TOPS"],
        "frequency": ["Hz", "kHz", "MHz", "GHz"],
        "dB": ["dB", "dBi"],
        "ratio": ["dB", "x", "%"],
    }
    return bare[dimension]


def _example(dimension: str) -> str:
    return {
        "time": "'5us'", "size": "'64MiB'", "bits": "'1Mbit'", "rate": "'10Gbps'",
        "power": "'20dBm'", "energy": "'1.5mJ'", "energy_per_bit": "'5pJ/bit'",
        "flops": "'312TFLOPS'", "frequency": "'2.4GHz'", "dB": "'7dB'", "ratio": "'3dB'",
    }[dimension]


def fmt(value: float, dimension: str, digits: int = 6, *, bytes_per_s: bool = False) -> str:
    """Format an SI value of ``dimension`` as a readable string that ``parse`` reads back.

    Sizes that are whole multiples of a binary unit print in it (``64 MiB``);
    rates print in bits per second (``10 Gbps``), or in bytes per second
    (``1.555 TB/s``) with ``bytes_per_s`` (memory bandwidths are quoted so).
    """
    _check_dimension(dimension)
    if dimension in ("dB", "ratio"):
        return f"{value:.{digits}g} dB" if dimension == "dB" else f"{value:.{digits}g}"
    if value == 0 or not math.isfinite(value):
        return f"{value:g} {_SI_UNIT[dimension]}"
    family = {"size": "size_dec", "rate": "rate_bytes" if bytes_per_s else "rate"}.get(dimension, dimension)
    choices = _PRINT[family]
    unit, scale = next(((u, s) for u, s in choices if abs(value) >= s * (1 - 1e-12)), choices[-1])
    if dimension == "size" and not (abs(value) / scale).is_integer():
        # 64 MiB reads better than 67.1089 MB; 2 GB better than 1953125 KiB.
        for binary_unit, binary_scale in _PRINT["size_bin"]:
            if abs(value) >= binary_scale and (abs(value) / binary_scale).is_integer():
                return f"{value / binary_scale:.{digits}g} {binary_unit}"
    return f"{value / scale:.{digits}g} {unit}"
