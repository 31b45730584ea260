"""The spec of ``ddlsim train``: a YAML (or JSON) file validated by pydantic.

``load_spec(path) -> TrainSpec``; ``spec.config()`` is the library's
:class:`~simulator.learning.TrainConfig` and ``spec.cluster(catalog)`` the
:class:`~simulator.cluster.Cluster` (workers ``h0..h{K-1}``, then the parameter server's shards).
The run's fields (model, data, workers, compressor, optimizer, ...) are TrainConfig's: its schema
(fields, types, defaults) validates them, so they are declared once; the spec adds the hardware
and the forms a user writes (``bucket_cap: 25MiB``, ``seq_len``). A wrong key or value is a
:class:`~hwmodels.SpecError` naming the field.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Optional, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, TypeAdapter, ValidationError

from hwmodels import Catalog, SpecError, units
from hwmodels.errors import parse_error_text

if TYPE_CHECKING:
    from simulator.cluster import Cluster
    from simulator.learning import TrainConfig

__all__ = ["TrainSpec", "load_spec", "parse_spec", "spec_fields", "validate_spec", "read_spec_file"]


class CellSpec(BaseModel):
    """The workers share one wireless cell through an access point (AP) under the ``radio``'s
    standard medium access (802.11 DCF for Wi-Fi, 802.15.4 CSMA-CA, BLE: :mod:`hwmodels.mac`):
    every message crosses the medium, station to AP and AP to station (``relay: ap``) or directly
    (``relay: d2d``), one exchange at a time. With ``sync: ps`` the parameter server sits at the
    AP (one exchange each way)."""

    model_config = ConfigDict(extra="forbid")

    radio: str = "wifi6-80mhz"
    relay: Literal["ap", "d2d"] = "ap"


# TrainConfig's fields given in another form by the spec (a size with units: bucket_cap, first_bucket).
_GIVEN_AS = {"bucket_cap_B": "bucket_cap", "first_bucket_B": "first_bucket"}


class TrainSpec(BaseModel):
    """A training run: its hardware (devices, topology and link, or a wireless cell) and its
    :class:`~simulator.learning.TrainConfig` (:meth:`config`), whose fields read through
    (``spec.workers``). Made by :func:`parse_spec`, which validates the run's fields."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    name: str = ""
    device: Union[str, list[str]] = Field("jetson-agx-orin-64gb", description="catalog device, or one per worker")
    server_device: Optional[str] = None
    slowdown: dict[str, float] = Field(default_factory=dict)
    topology: str = "switch"
    link: str = "eth-10g"
    wireless: Optional[CellSpec] = Field(None, description="a shared wireless cell instead of topology/link")
    bucket_cap: Union[str, float, None] = Field(None, description="gradient bucket size (DDP's bucket_cap_mb); "
                                                "null: TrainConfig's (25MiB)")
    first_bucket: Union[str, float, None] = Field(None, description="the first (smallest) gradient bucket; null: "
                                                  "TrainConfig's (1MiB)")
    seq_len: Optional[int] = Field(None, ge=1, description="price_only: tokens per sample (bert-base, gpt2-small)")
    topology_params: dict[str, Any] = Field(default_factory=dict, description="extra topology options; links by "
                                            "catalog name (e.g. hierarchical: {inter_link: ib-hdr, gpus_per_node: 8})")
    _run: Optional[TrainConfig] = PrivateAttr(None)

    def __getattr__(self, name: str) -> Any:
        if name in _run_fields():
            return getattr(self.config(), name)
        return super().__getattr__(name)  # type: ignore[misc]

    def config(self) -> TrainConfig:
        """The library's run configuration."""
        if self._run is None:
            raise ValueError("a TrainSpec is made by parse_spec, which builds its TrainConfig")
        return self._run

    def _build_run(self, fields: dict[str, Any], where: str) -> TrainConfig:
        """TrainConfig from the spec's run ``fields``, validated by its schema: steps or epochs
        default to 1 (steps when pricing), ``seq_len`` is a one-dimensional ``input_shape``, bucket
        sizes parse their units."""
        fields = dict(fields)
        if fields.get("steps") is None and fields.get("epochs") is None:
            fields["steps" if _price_only(fields.get("price_only", False)) else "epochs"] = 1
        if self.seq_len is not None:
            if fields.get("input_shape") is not None:
                raise SpecError("seq_len: give input_shape or seq_len, not both")
            fields["input_shape"] = [self.seq_len]
        for key, given in _GIVEN_AS.items():
            value = getattr(self, given)
            if value is None:
                continue
            try:
                fields[key] = units.parse(value, "size") if isinstance(value, str) else value
            except SpecError as exc:
                raise SpecError(f"{given}: {exc}") from None
        try:
            config = _config_schema().validate_python(fields)
        except ValidationError as exc:
            raise _spec_error(exc, where) from None
        from .limits import HOST_B, check_fits  # noqa: PLC0415

        check_fits(f"workers {config.workers}", HOST_B * config.hosts, "use fewer workers")
        return config

    def cluster(self, catalog: Catalog) -> Cluster:
        """Workers and shards on the topology, each with its catalog device; or the workers on a
        wireless cell with the parameter server (if any) at its access point."""
        from simulator.cluster import Cluster  # noqa: PLC0415
        from simulator.network import build_topology  # noqa: PLC0415
        from simulator.network.media import AP, MacCell  # noqa: PLC0415

        cfg = self.config()
        names = self.device if isinstance(self.device, list) else [self.device] * cfg.workers
        if len(names) != cfg.workers:
            raise SpecError(f"device: give one device for all workers or exactly {cfg.workers}, got {len(names)}")
        server = catalog.get(self.server_device or names[0], "device")
        if self.wireless is not None:
            wired = sorted({"topology", "link"} & self.model_fields_set)
            if wired:
                raise SpecError(f"wireless: give either wireless or a wired {' and '.join(wired)}, not both")
            if cfg.sync == "ps" and cfg.shards != 1:
                raise SpecError(f"shards: on a wireless cell the parameter server is the access point: one shard, "
                                f"got {cfg.shards}")
            workers = tuple(f"h{k}" for k in range(cfg.workers))
            ps = cfg.sync == "ps"
            cell = MacCell(catalog.get(self.wireless.radio, "radio"), cfg.workers, ap_host=AP if ps else None,
                           direct=self.wireless.relay == "d2d")
            devices = {h: catalog.get(n, "device") for h, n in zip(workers, names)}
            if ps:
                devices[AP] = server
            return Cluster(None, devices, slowdown=dict(self.slowdown), medium=cell,
                           hosts_=workers + ((AP,) if ps else ()), uncharged=frozenset({AP} if ps else ()))
        link = catalog.get(self.link, "link")
        options = {k: catalog.get(v, "link") if k.endswith("_link") and isinstance(v, str) else v
                   for k, v in self.topology_params.items()}
        topology = build_topology(self.topology, cfg.hosts, link, **options)
        devices = {h: catalog.get(n, "device") for h, n in zip(topology.hosts, names)}
        devices.update({h: server for h in topology.hosts[cfg.workers:]})
        return Cluster(topology, devices, slowdown=dict(self.slowdown))


def validate_spec(model: type[BaseModel], data: Any, where: str, what: str) -> Any:
    """Validate a mapping into the pydantic ``model``; SpecError names the first bad field
    (``what`` says what the mapping should be when it is not one)."""
    if not isinstance(data, dict):
        raise SpecError(f"{where}: {what}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _spec_error(exc, where) from None


def _spec_error(exc: ValidationError, where: str) -> SpecError:
    """The first error of a pydantic validation as a SpecError naming the field; a SpecError
    raised by the validated class itself (TrainConfig's own checks) as it was."""
    errors = exc.errors()
    # a union field fails once per branch: the deepest location is the most specific message
    err = max((e for e in errors if e["loc"][:1] == errors[0]["loc"][:1]), key=lambda e: len(e["loc"]))
    cause = err.get("ctx", {}).get("error")
    if isinstance(cause, SpecError):
        return cause
    field = ".".join(str(p) for p in err["loc"] if isinstance(p, int) or str(p).isidentifier()) or "spec"
    message = "unknown field" if err["type"] in ("extra_forbidden", "unexpected_keyword_argument") else err["msg"]
    return SpecError(f"{where}: {field}: {message}")


@functools.cache
def _config_schema() -> TypeAdapter[TrainConfig]:
    from simulator.learning import TrainConfig  # noqa: PLC0415  (torch: when a spec is checked, not when listed)

    return TypeAdapter(TrainConfig)


@functools.cache
def _run_fields() -> frozenset[str]:
    """TrainConfig's fields a spec gives as they are."""
    from simulator.learning import TrainConfig  # noqa: PLC0415

    return frozenset(f.name for f in dataclasses.fields(TrainConfig)) - set(_GIVEN_AS)


def _price_only(value: Any) -> bool:
    """``price_only`` as the schema will read it (a wrong value is reported by the schema)."""
    try:
        return TypeAdapter(bool).validate_python(value)
    except ValidationError:
        return False


def spec_fields() -> tuple[str, ...]:
    """Every field a training spec takes: the spec's own, then TrainConfig's (in its order)."""
    from simulator.learning import TrainConfig  # noqa: PLC0415

    run = [f.name for f in dataclasses.fields(TrainConfig) if f.name not in _GIVEN_AS]
    return (*TrainSpec.model_fields, *run)


def read_spec_file(path: str | Path) -> Any:
    """The data of a YAML/JSON file (``yaml.safe_load``: JSON is YAML); SpecError with the line and
    column when it does not parse."""
    path = Path(path)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        kind = "JSON" if path.suffix.lower() == ".json" else "YAML"
        raise SpecError(f"{path}: not valid {kind}: {parse_error_text(exc)}") from None


def parse_spec(data: Any, where: str = "spec") -> TrainSpec:
    """Validate a mapping: the spec's own fields, then the run's by TrainConfig's schema; SpecError
    names the first bad field."""
    what = "a training spec is a mapping of fields (model, data, workers, ...)"
    if not isinstance(data, dict):
        raise SpecError(f"{where}: {what}")
    run = _run_fields()
    spec = validate_spec(TrainSpec, {k: v for k, v in data.items() if k not in run}, where, what)
    spec._run = spec._build_run({k: v for k, v in data.items() if k in run}, where)
    return spec


def load_spec(path: str | Path) -> TrainSpec:
    """Read and validate a YAML/JSON training spec."""
    return parse_spec(read_spec_file(path), str(path))
