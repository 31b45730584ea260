"""The configurations of validation: measured here, simulated on the calibrated entries.

:func:`load_cases` reads ``experiments/measure/validation.yaml`` (``full`` or ``quick``) into
a :class:`Cases` of :class:`CollectiveCase` and :class:`~.training.TrainCase` configurations,
split into ``calibration`` (what the calibrated figures are fitted to) and ``held_out`` (what
they must predict), disjoint. :func:`measure_cases` runs them for real and
:func:`measured_table` gives one tidy row per measurement with its ``split``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import yaml

from hwmodels import SpecError, units

from .collectives import OPS, measure_collectives
from .records import Measurement
from .training import TrainCase, measure_training

__all__ = ["CollectiveCase", "Case", "Cases", "PRESET", "load_cases", "measure_cases", "measured_table", "split_of"]

PRESET = Path(__file__).resolve().parent / "validation.yaml"


@dataclass(frozen=True)
class CollectiveCase:
    """One collective (or p2p message) of ``size_B`` bytes on ``world`` processes."""

    op: str
    world: int
    size_B: float


Case = Union[CollectiveCase, TrainCase]


@dataclass(frozen=True)
class Cases:
    """Calibration and held-out configurations (disjoint)."""

    calibration: tuple[Case, ...]
    held_out: tuple[Case, ...]

    def __post_init__(self) -> None:
        common = set(self.calibration) & set(self.held_out)
        if common:
            raise SpecError(f"validation cases: {len(common)} configuration(s) are both calibration and held-out, "
                            f"e.g. {next(iter(common))}")

    def all(self) -> tuple[Case, ...]:
        """Every case: the calibration ones, then the held-out ones."""
        return self.calibration + self.held_out


def _list(block: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = block.get(key)
    if not isinstance(value, list) or not value:
        raise SpecError(f"{where}.{key}: a non-empty list is needed")
    return value


def _collectives(block: Mapping[str, Any], where: str) -> list[CollectiveCase]:
    out = []
    for op, world, size in itertools.product(_list(block, "ops", where), _list(block, "worlds", where),
                                             _list(block, "sizes", where)):
        if op not in OPS:
            raise SpecError(f"{where}.ops: unknown operation {op!r}; known: {', '.join(OPS)}")
        if op == "p2p" and world != 2:
            continue
        out.append(CollectiveCase(op, int(world), units.parse(size, "size")))
    return out


def _training(block: Mapping[str, Any], where: str) -> list[TrainCase]:
    out = []
    for model, comp, overlap, workers, batch in itertools.product(
            _list(block, "models", where), _list(block, "compressors", where), _list(block, "overlap", where),
            _list(block, "workers", where), _list(block, "batch_size", where)):
        out.append(TrainCase(model["model"], model["data"], int(workers), int(batch), comp["name"],
                             dict(comp.get("params") or {}), bool(overlap), model_params=dict(model.get("params") or {})))
    return out


def load_cases(quick: bool = False, path: str | Path = PRESET) -> Cases:
    """The ``quick`` or ``full`` configurations of the validation file, held-out ones that are
    also calibration ones dropped."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    level = "quick" if quick else "full"
    if not isinstance(data, Mapping) or level not in data:
        raise SpecError(f"{path}: needs a '{level}' section")
    split: dict[str, list[Case]] = {"calibration": [], "held_out": []}
    for family, expand in (("collectives", _collectives), ("training", _training)):
        for part in split:
            block = data[level].get(family, {}).get(part)
            if block:
                split[part] += expand(block, f"{level}.{family}.{part}")
    calibration = tuple(dict.fromkeys(split["calibration"]))
    held_out = tuple(c for c in dict.fromkeys(split["held_out"]) if c not in set(calibration))
    return Cases(calibration, held_out)


def split_of(cases: Cases, measurement: Measurement) -> str:
    """"calibration" or "held-out": the split of the case a measurement belongs to."""
    config = measurement.config
    for name, group in (("calibration", cases.calibration), ("held-out", cases.held_out)):
        for case in group:
            if isinstance(case, CollectiveCase):
                if measurement.kind in ("p2p", "collective") and (config["op"], config["world"]) == (case.op, case.world) \
                        and abs(config["size_B"] - case.size_B) <= 4 * case.world:   # rounded to whole floats per rank
                    return name
            elif measurement.kind.startswith("train") and all(config[k] == v for k, v in case.config().items()):
                return name
    raise SpecError(f"measurement {measurement.kind} {dict(config)} matches no validation case")


def measure_cases(cases: Sequence[Case], *, quick: bool = False, progress: Callable[[int, int], None] | None = None,
                  start_method: str = "spawn") -> list[Measurement]:
    """Measure every case, one process group per (family, world): collectives (all their ops and
    sizes in one group; points no case asks for are dropped) and training cases;
    ``progress(done, total)`` after each group."""
    groups: dict[tuple[str, int], list[Case]] = {}
    for case in cases:
        key = ("collective", case.world) if isinstance(case, CollectiveCase) else ("training", case.workers)
        groups.setdefault(key, []).append(case)
    # Loopback timings on a small VM are heavy-tailed (a late wake-up costs milliseconds): the
    # median needs tens of repeats to settle to a few per cent, so even the quick set takes them.
    budget, low = (0.3, 15) if quick else (0.6, 25)
    out: list[Measurement] = []
    for i, ((family, world), group) in enumerate(sorted(groups.items())):
        if family == "collective":
            ops, sizes = list(dict.fromkeys(c.op for c in group)), sorted({c.size_B for c in group})
            wanted = {(c.op, c.size_B) for c in group}
            points = measure_collectives(world, ops, sizes, budget_s=budget, min_repeats=low, max_repeats=8 * low,
                                         start_method=start_method)
            out += [m for m, size in zip(points, [s for _ in ops for s in sizes]) if (m.config["op"], size) in wanted]
        else:
            out += measure_training(group, budget_s=budget, min_repeats=low, max_repeats=8 * low,
                                    start_method=start_method)
        if progress is not None:
            progress(i + 1, len(groups))
    return out


def measured_table(cases: Cases, measurements: Sequence[Measurement]) -> list[dict[str, Any]]:
    """One tidy row per measurement (:meth:`~.records.Measurement.row`) with its ``split``."""
    return [{"split": split_of(cases, m), **m.row()} for m in measurements]
