"""The spec of ``ddlsim infer`` and ``ddlsim restructure``: a YAML (or JSON) file validated by pydantic.

``load_spec(path) -> InferSpec``; ``spec.setup()`` trains (or loads from the cache) the model and
gives ``(model, dataset, PartitionContext)``; ``spec.cluster(catalog)`` the simulated hardware
(workers ``h0..h{K-1}``); with a ``wireless:`` mapping, ``spec.wireless_hardware(catalog)`` the
shared channel every transfer goes over (the cluster then only gives the devices). A wrong key or value is a :class:`~hwmodels.SpecError` naming the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from hwmodels import Catalog, SpecError
from hwmodels.channel import Channel
from hwmodels.placement import place
from hwmodels.registry import bind_params
from simulator.cluster import Cluster
from simulator.data import Dataset, load
from simulator.models import trained
from simulator.network import build_topology
from simulator.models import accuracy
from simulator.partition import DEFAULT_KEEPS, PartitionContext, Target, evaluate, optimise, partition, sensor_owner
from simulator.partition.optimiser import DEFAULT_REFINE, DEFAULT_SPREAD, OptimiserConfig, OptimiseResult
from simulator.network.media import MacCell, WirelessHardware
from simulator.streams import numpy_stream

from .train_spec import read_spec_file, validate_spec

__all__ = ["InferSpec", "WirelessSpec", "load_spec", "parse_spec", "run_infer_spec", "run_restructure_spec"]


class WirelessSpec(BaseModel):
    """The workers share one wireless multiple-access channel to an access point: a ``radio``
    from the catalog, the digital ``access`` scheme, the ``channel`` (fields of
    :class:`~hwmodels.channel.Channel`) and the ``placement`` (``kind`` and the keywords of
    :func:`~hwmodels.placement.place`), drawn from the spec's seed. ``relay``: ``ap`` (the access
    point forwards every activation: one uplink, then one downlink broadcast at the worst
    destination's rate, the AP transmitting at ``ap_power_dbm``, default the radio's maximum) or
    ``d2d`` (workers hear each other directly; see :mod:`simulator.partition.wireless_cost`).

    ``access: mac`` instead puts the workers on a cell under the radio's standard medium access
    (802.11 DCF for Wi-Fi, 802.15.4 CSMA-CA, BLE connection events: :mod:`hwmodels.mac`), at the
    profile's PHY rate: every transfer is its own exchange (through the AP, or direct with
    ``relay: d2d``), frame, contention and acknowledgement overheads included; ``channel``,
    ``placement`` and ``ap_power_dbm`` do not apply."""

    model_config = ConfigDict(extra="forbid")

    radio: str = "wifi6-80mhz"
    access: Literal["tdma", "ofdma", "mac"] = "tdma"
    relay: Literal["ap", "d2d"] = "ap"
    ap_power_dbm: Optional[float] = Field(None, allow_inf_nan=False, description="AP transmit power (dBm)")
    channel: dict[str, Any] = Field(default_factory=lambda: {"path_loss": "log-distance"})
    placement: dict[str, Any] = Field(default_factory=lambda: {"kind": "disc", "radius_m": 30.0, "min_distance_m": 2.0})

    def build(self, catalog: Catalog, workers: int, seed: int) -> WirelessHardware | MacCell:
        """The shared medium of ``workers`` devices: a cell under the radio's MAC (``access: mac``)
        or the channel with the devices' distances (metres) drawn from ``seed``."""
        radio = catalog.get(self.radio, "radio")
        if self.access == "mac":
            return MacCell(radio, workers, direct=self.relay == "d2d")
        channel = Channel(**bind_params(Channel, self.channel, "wireless.channel"))
        placement = dict(self.placement)
        kind = placement.pop("kind", "disc")
        params = bind_params(place, placement, "wireless.placement", given=("kind", "count", "rng"))
        distances = place(kind, workers, numpy_stream(seed, "placement"), **params)
        return WirelessHardware(radio, channel, distances, access=self.access, seed=seed, relay=self.relay,
                                ap_power_dbm=self.ap_power_dbm)


class InferSpec(BaseModel):
    """A trained model, its sensors and workers, a partitioner, the hardware; for ``restructure``
    also the budgets to search, the baselines and the target."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    name: str = ""
    model: str = "mlp"
    model_params: Optional[dict[str, Any]] = Field(None, description="the model's parameters (mlp default: hidden [128, 128])")
    data: str = "digits"
    data_params: dict[str, Any] = Field(default_factory=dict)
    epochs: int = Field(30, ge=1, description="central training epochs of the model (cached)")
    seed: int = 0
    workers: int = Field(4, ge=1)
    sensors: Union[Literal["quadrants", "rows", "segments"], list[int]] = "quadrants"
    fusion: int = 0
    calibration: Optional[int] = Field(None, ge=1, description="training samples used to refit (default all)")
    partitioner: str = "repurpose"
    params: dict[str, Any] = Field(default_factory=dict, description="the partitioner's parameters")
    device: Union[str, list[str]] = "raspberry-pi-4b-4gb"
    slowdown: dict[str, float] = Field(default_factory=dict)
    topology: str = "switch"
    link: str = "eth-1g"
    wireless: Optional[WirelessSpec] = Field(None, description="a shared wireless channel instead of topology/link")
    batch: int = Field(1, ge=1)
    activation_bits: int = Field(32, ge=1, le=64)
    mode: Literal["des", "analytic"] = "des"
    keeps: list[float] = Field(default_factory=lambda: list(DEFAULT_KEEPS))
    baselines: list[str] = Field(default_factory=lambda: ["central", "direct", "pipeline", "sparse", "graphcut"])
    refit: Literal["lstsq", "nettrim", "none"] = "lstsq"
    alternate: int = Field(0, ge=0)
    finetune: int = Field(0, ge=0, description="epochs of distillation training of every RePurpose candidate (0: off)")
    lam_c: Union[Annotated[float, Field(ge=0)], list[Annotated[float, Field(ge=0)]]] = Field(
        0.0, description="link weight(s) of the link-aware assignment to search (0: off)")
    spread: int = Field(DEFAULT_SPREAD, ge=0, description="bands of the per-source load balance (0: off)")
    refine: int = Field(DEFAULT_REFINE, ge=0, description="extra candidates of the per-layer budget search (0: off)")
    compute_workers: Optional[list[Annotated[int, Field(ge=1)]]] = Field(
        None, description="numbers of computing workers to search (the others only send their inputs)")
    share: Union[Literal["speed", "equal"], list[Annotated[float, Field(ge=0)]]] = Field(
        "equal", description="neuron capacity of the computing workers: by device speed, equal, or one per worker")
    target: Target = Field(default_factory=Target, description="validated by Target's own fields and checks")

    @field_validator("compute_workers")
    @classmethod
    def _compute_workers_fit(cls, v: Optional[list[int]], info: ValidationInfo) -> Optional[list[int]]:
        workers = info.data.get("workers")
        if v is not None and not v:
            raise ValueError("list at least one count, or leave it out (every worker computes)")
        if v is not None and workers is not None and max(v) > workers:
            raise ValueError(f"every count must be at most workers ({workers}), got {max(v)}")
        return v

    @field_validator("share")
    @classmethod
    def _share_fits(cls, v: Any, info: ValidationInfo) -> Any:
        workers = info.data.get("workers")
        if isinstance(v, list) and workers is not None and (len(v) != workers or sum(v) <= 0):
            raise ValueError(f"give 'speed', 'equal' or one non-negative number per worker ({workers}), not all zero")
        return v

    def model_kwargs(self) -> dict[str, Any]:
        """The model's parameters: ``model_params``, or the default (mlp: hidden layers of 128 and 128)."""
        if self.model_params is not None:
            return dict(self.model_params)
        return {"hidden": [128, 128]} if self.model == "mlp" else {}

    def setup(self) -> tuple[Any, Dataset, PartitionContext]:
        """(trained model, data set, partition context)."""
        dataset = load(self.data, seed=self.seed, **self.data_params)
        model = trained(self.model, self.data, seed=self.seed, epochs=self.epochs, model_params=self.model_kwargs(),
                        data_params=self.data_params)
        calib = dataset.x_train if self.calibration is None else dataset.x_train[:self.calibration]
        owner = sensor_owner(self.sensors, dataset.input_shape, self.workers)
        return model, dataset, PartitionContext(self.workers, owner, calib, fusion=self.fusion, seed=self.seed)

    def cluster(self, catalog: Catalog) -> Cluster:
        """The workers ``h0..h{K-1}`` on the wired topology, or on a cell with ``access: mac``."""
        names = self.device if isinstance(self.device, list) else [self.device] * self.workers
        if len(names) != self.workers:
            raise SpecError(f"device: give one device for all workers or exactly {self.workers}, got {len(names)}")
        medium = self._medium(catalog)
        if isinstance(medium, MacCell):
            hosts = tuple(f"h{k}" for k in range(self.workers))
            return Cluster(None, {h: catalog.get(n, "device") for h, n in zip(hosts, names)},
                           slowdown=dict(self.slowdown), medium=medium, hosts_=hosts)
        topology = build_topology(self.topology, self.workers, catalog.get(self.link, "link"))
        devices = {h: catalog.get(n, "device") for h, n in zip(topology.hosts, names)}
        return Cluster(topology, devices, slowdown=dict(self.slowdown))

    def _medium(self, catalog: Catalog) -> WirelessHardware | MacCell | None:
        if self.wireless is None:
            return None
        wired = sorted({"topology", "link"} & self.model_fields_set)
        if wired:
            raise SpecError(f"wireless: give either wireless or a wired {' and '.join(wired)}, not both")
        return self.wireless.build(catalog, self.workers, self.seed)

    def wireless_hardware(self, catalog: Catalog) -> Optional[WirelessHardware]:
        """The shared wireless channel the plans' transfers are priced on (uploads and multicasts),
        or None: wired ``topology`` and ``link``, or a cell (``access: mac``) that the cluster carries."""
        medium = self._medium(catalog)
        return medium if isinstance(medium, WirelessHardware) else None

    def hardware_label(self) -> str:
        """The hardware in a few words, for titles: ``4 x raspberry-pi-4b-4gb, eth-1g switch``."""
        names = self.device if isinstance(self.device, list) else [self.device]
        devices = f"{self.workers} x {names[0]}" if len(set(names)) == 1 else ", ".join(names)
        if self.wireless is not None:
            return f"{devices}, {self.wireless.radio} ({self.wireless.access}, relay {self.wireless.relay})"
        return f"{devices}, {self.link} {self.topology}"

    def target_value(self) -> Target:
        """The restructuring target (an accuracy drop, a latency in seconds or an energy in joules per batch)."""
        return self.target


def parse_spec(data: Any, where: str = "spec") -> InferSpec:
    """Validate a mapping; SpecError names the first bad field."""
    return validate_spec(InferSpec, data, where, "an inference spec is a mapping of fields (model, data, workers, ...)")


def load_spec(path: str | Path) -> InferSpec:
    """Read and validate a YAML/JSON inference spec."""
    return parse_spec(read_spec_file(path), str(path))


def run_infer_spec(spec: InferSpec, catalog: Catalog) -> dict[str, Any]:
    """One plan of ``spec`` on its hardware: the row ``ddlsim infer --json`` prints (without the name)."""
    cluster = spec.cluster(catalog)
    wireless = spec.wireless_hardware(catalog)
    model, data, ctx = spec.setup()
    ctx.memory_B = [cluster.device(h).mem_capacity_B for h in cluster.hosts[:spec.workers]]
    plan = partition(spec.partitioner, model, ctx, **spec.params)
    ev = evaluate(plan, cluster, data.x_test, data.y_test, batch=spec.batch, activation_bits=spec.activation_bits,
                  mode=spec.mode, params=spec.params, wireless=wireless)
    return {"original_accuracy": accuracy(model, data.x_test, data.y_test), "workers": spec.workers,
            "batch": spec.batch, "activation_bits": spec.activation_bits, **ev.row()}


def run_restructure_spec(spec: InferSpec, catalog: Catalog) -> OptimiseResult:
    """The cost-driven optimiser of ``spec``: every candidate priced, the Pareto front, the chosen plan."""
    cluster = spec.cluster(catalog)
    wireless = spec.wireless_hardware(catalog)
    model, data, ctx = spec.setup()
    return optimise(model, ctx, cluster, data.x_test, data.y_test, OptimiserConfig(
        target=spec.target_value(), keeps=spec.keeps, baselines=spec.baselines, refit=spec.refit,
        alternate=spec.alternate, finetune=spec.finetune, batch=spec.batch, activation_bits=spec.activation_bits,
        mode=spec.mode, wireless=wireless, lam_c=spec.lam_c, spread=spec.spread, refine=spec.refine,
        compute_workers=spec.compute_workers, share=spec.share))
