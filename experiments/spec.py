"""Experiment specs: a base run of one workload kind, sweep axes, repeats, seeds and plot recipes.

A spec is YAML read with ``yaml.safe_load`` (no code runs from it) and validated by pydantic;
an error is a :class:`~hwmodels.SpecError` naming the YAML path of the bad field, e.g.
``demo.yaml: sweep.grid.wrkers: unknown axis path 'wrkers' for workload collective``.

The points of a sweep are the product of its parts, each absent part contributing one empty
override: ``grid`` (every combination), ``zip`` (groups of equally long lists taken together),
``points`` (explicit override mappings) and ``random`` (seeded samples). Axis paths are dotted
(``compressor_params.levels``). Every point runs ``repeats`` times (or once per entry of ``seeds``).

Seeds make comparisons fair by default (``seeding: common``): every point's repeat r runs with
the same seed, so points that differ only in swept factors start from the same initial weights
and see the same batches and channel draws (common random numbers); their differences are the
factors', not the luck of the draw. ``seeding: independent`` gives every point its own seed
(derived from its config without the hardware fields), for when the spread over the whole sweep
should be sampled independently.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any, Literal, Optional, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hwmodels import SpecError

from .train_spec import read_spec_file
from .workloads import get_workload

__all__ = ["ExperimentSpec", "SweepAxes", "RandomAxes", "PlotRecipe", "PublishedSeries", "load_experiment",
           "parse_experiment", "set_path", "expand_overrides", "LEGEND_PLACES", "SEEDINGS"]

# common: repeat r of every point has the same seed (common random numbers); independent: a seed per point.
SEEDINGS = ("common", "independent")
# Where a plot's legend may go: a matplotlib location inside the axes, right of the panels, or nowhere.
LEGEND_PLACES = ("best", "upper left", "upper right", "lower left", "lower right", "upper center", "lower center",
                 "center left", "center right", "center", "outside", "none")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RandomAxes(_Strict):
    """``samples`` draws; each axis is ``{choice: [...]}``, ``{uniform: [lo, hi]}``,
    ``{log_uniform: [lo, hi]}`` or ``{int: [lo, hi]}`` (inclusive)."""

    samples: int = Field(ge=1)
    seed: int = 0
    axes: dict[str, dict[str, list[Any]]]

    @field_validator("axes")
    @classmethod
    def _kinds(cls, axes: dict[str, dict[str, list[Any]]]) -> dict[str, dict[str, list[Any]]]:
        for path, dist in axes.items():
            if len(dist) != 1 or next(iter(dist)) not in ("choice", "uniform", "log_uniform", "int"):
                raise ValueError(f"{path}: give exactly one of choice, uniform, log_uniform, int")
            kind, args = next(iter(dist.items()))
            if kind != "choice" and len(args) != 2:
                raise ValueError(f"{path}: {kind} takes [low, high]")
            if not args:
                raise ValueError(f"{path}: choice needs at least one value")
        return axes


class SweepAxes(_Strict):
    """What varies. The points are grid x zip groups x points x random samples."""

    grid: dict[str, list[Any]] = Field(default_factory=dict)
    zip: list[dict[str, list[Any]]] = Field(default_factory=list)
    points: list[dict[str, Any]] = Field(default_factory=list)
    random: Optional[RandomAxes] = None

    @field_validator("zip", mode="before")
    @classmethod
    def _one_group(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value

    @field_validator("grid")
    @classmethod
    def _nonempty(cls, grid: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for path, values in grid.items():
            if not values:
                raise ValueError(f"axis {path!r} has no values (the sweep would be empty)")
        return grid

    @field_validator("zip")
    @classmethod
    def _same_length(cls, groups: list[dict[str, list[Any]]]) -> list[dict[str, list[Any]]]:
        for group in groups:
            lengths = {len(v) for v in group.values()}
            if len(lengths) > 1:
                raise ValueError(f"zipped axes {', '.join(group)} have different lengths {sorted(lengths)}")
            if lengths == {0}:
                raise ValueError("zipped axes have no values (the sweep would be empty)")
        return groups

    def paths(self) -> list[tuple[str, str]]:
        """(YAML path of the axis, axis path) for every axis."""
        out = [(f"sweep.grid.{p}", p) for p in self.grid]
        out += [(f"sweep.zip.{i}.{p}", p) for i, g in enumerate(self.zip) for p in g]
        out += [(f"sweep.points.{i}.{p}", p) for i, o in enumerate(self.points) for p in o]
        if self.random is not None:
            out += [(f"sweep.random.axes.{p}", p) for p in self.random.axes]
        return out


class PublishedSeries(_Strict):
    """Published numbers drawn beside a ``tradeoff`` plot's simulated lines, in black with open
    markers: ``x`` and ``y`` in the plot's columns' units (SI), ``label`` naming the source for the
    legend; ``col``: only in the panel of that ``col`` value (all panels when absent)."""

    label: str
    x: list[float]
    y: list[float]
    col: Optional[Any] = None

    @model_validator(mode="after")
    def _lengths(self) -> "PublishedSeries":
        if not self.x or len(self.x) != len(self.y):
            raise ValueError(f"published {self.label!r}: x and y must be equally long and not empty")
        return self


class PlotRecipe(_Strict):
    """A named plot drawn after the sweep (see :mod:`experiments.plots`): ``tradeoff`` lines, ``bars``,
    ``stacked`` bars of the ``stack`` columns, or ``compression`` error against bits. Labels default to the
    metric table's; ``legend`` is a matplotlib location, ``outside`` (right of the panels) or
    ``none``; lines and bars keep the order in which the spec gives the ``hue`` values."""

    name: str
    kind: Literal["tradeoff", "bars", "stacked", "compression"] = "tradeoff"
    x: str
    y: str
    stack: Optional[list[str]] = Field(None, description="kind stacked: the columns stacked in each bar "
                                       "(e.g. energy_compute_j, energy_idle_j, energy_link_j)")
    hue: Optional[str] = None
    col: Optional[str] = None
    where: dict[str, Any] = Field(default_factory=dict)
    logx: bool = False
    logy: bool = False
    title: str = ""
    xlabel: str = ""
    ylabel: str = ""
    legend: Optional[Literal[LEGEND_PLACES]] = None   # type: ignore[valid-type]
    published: list[PublishedSeries] = Field(default_factory=list, description="kind tradeoff: published "
                                             "numbers drawn beside the simulated lines")

    @model_validator(mode="after")
    def _published_on_lines(self) -> "PlotRecipe":
        if self.published and self.kind != "tradeoff":
            raise ValueError(f"plot {self.name!r}: published series go on tradeoff plots, not {self.kind}")
        return self


class ExperimentSpec(_Strict):
    """One sweep: ``workload`` kind, its ``base`` config, ``sweep`` axes, repeats and seeds, plots."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    description: str = ""
    workload: str
    base: dict[str, Any] = Field(default_factory=dict)
    sweep: SweepAxes = Field(default_factory=SweepAxes)
    repeats: int = Field(1, ge=1)
    seed: int = 0
    seeds: Optional[list[int]] = None
    seeding: Literal[SEEDINGS] = "common"   # type: ignore[valid-type]
    timeout_s: Optional[float] = Field(None, gt=0)
    plots: list[PlotRecipe] = Field(default_factory=list)

    @field_validator("seeds")
    @classmethod
    def _some_seeds(cls, seeds: Optional[list[int]]) -> Optional[list[int]]:
        if seeds is not None and not seeds:
            raise ValueError("seeds is empty (the sweep would be empty)")
        return seeds

    @model_validator(mode="after")
    def _known(self) -> "ExperimentSpec":
        if self.seeds is not None and self.seeding == "independent":
            raise SpecError("seeding: independent seeds per point contradict the explicit seeds list "
                            "(every point runs those seeds); drop one of them")
        fields = get_workload(self.workload).known_fields()
        if fields is not None:
            for where, path in self.sweep.paths():
                if path.split(".")[0] not in fields:
                    raise SpecError(f"{where}: unknown axis path {path!r} for workload {self.workload} "
                                    f"(known: {', '.join(fields)})")
        return self

    def replicas(self) -> list[int]:
        """Repeat numbers (``seeds`` given: those seeds themselves)."""
        return list(self.seeds) if self.seeds is not None else list(range(self.repeats))

    def overrides(self) -> list[dict[str, Any]]:
        """Every point's overrides, in a stable order."""
        return expand_overrides(self.sweep)


def set_path(config: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``config`` with dotted ``path`` set to ``value`` (intermediate mappings created)."""
    out = dict(config)
    head, _, rest = path.partition(".")
    if rest:
        inner = out.get(head)
        out[head] = set_path(dict(inner) if isinstance(inner, dict) else {}, rest, value)
    else:
        out[head] = value
    return out


def _draw(kind: str, args: list[Any], rng: np.random.Generator) -> Any:
    if kind == "choice":
        return args[int(rng.integers(len(args)))]
    low, high = float(args[0]), float(args[1])
    if kind == "uniform":
        return float(rng.uniform(low, high))
    if kind == "log_uniform":
        return float(math.exp(rng.uniform(math.log(low), math.log(high))))
    return int(rng.integers(int(low), int(high) + 1))


def expand_overrides(sweep: SweepAxes) -> list[dict[str, Any]]:
    """The product grid x zip groups x points x random samples, as flat {path: value} mappings."""
    parts: list[list[dict[str, Any]]] = []
    if sweep.grid:
        keys = list(sweep.grid)
        parts.append([dict(zip(keys, combo)) for combo in itertools.product(*(sweep.grid[k] for k in keys))])
    for group in sweep.zip:
        keys = list(group)
        parts.append([dict(zip(keys, values)) for values in zip(*(group[k] for k in keys))])
    if sweep.points:
        parts.append([dict(p) for p in sweep.points])
    if sweep.random is not None:
        rng = np.random.default_rng(sweep.random.seed)
        parts.append([{path: _draw(*next(iter(dist.items())), rng) for path, dist in sweep.random.axes.items()}
                      for _ in range(sweep.random.samples)])
    out = [{}]
    for part in parts:
        out = [{**a, **b} for a in out for b in part]
    return out


def _yaml_path(loc: tuple[Union[int, str], ...]) -> str:
    return ".".join(str(p) for p in loc if p not in ("function-after", "function-before")) or "spec"


def parse_experiment(data: Any, where: str = "spec") -> ExperimentSpec:
    """Validate a mapping into an :class:`ExperimentSpec`; SpecError names the YAML path."""
    if not isinstance(data, dict):
        raise SpecError(f"{where}: an experiment spec is a mapping (name, workload, base, sweep, ...)")
    try:
        return ExperimentSpec.model_validate(data)
    except SpecError as exc:
        raise SpecError(f"{where}: {exc}") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        message = "unknown field" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
        path = _yaml_path(err["loc"])
        raise SpecError(f"{where}: {path + ': ' if err['loc'] else ''}{message}") from None


def load_experiment(path: str | Path) -> ExperimentSpec:
    """Read and validate a YAML experiment spec (``yaml.safe_load``: data only)."""
    return parse_experiment(read_spec_file(path), str(path))
