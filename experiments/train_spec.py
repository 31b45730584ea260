"""The spec of ``ddlsim train``: a YAML (or JSON) file validated by pydantic.

``load_spec(path) -> TrainSpec``; ``spec.config()`` is the library's
:class:`~simulator.learning.TrainConfig` and ``spec.cluster(catalog)`` the
:class:`~simulator.cluster.Cluster` (workers ``h0..h{K-1}``, then the parameter server's shards).
A wrong key or value is a :class:`~hwmodels.SpecError` naming the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Optional, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hwmodels import Catalog, SpecError, units
from hwmodels.errors import parse_error_text

if TYPE_CHECKING:   # the simulator (torch) loads when a run is built, not when a spec is read
    from simulator.cluster import Cluster
    from simulator.learning import TrainConfig

__all__ = ["TrainSpec", "load_spec", "parse_spec", "validate_spec", "read_spec_file"]


class CellSpec(BaseModel):
    """The workers share one wireless cell through an access point (AP) under the ``radio``'s
    standard medium access (802.11 DCF for Wi-Fi, 802.15.4 CSMA-CA, BLE: :mod:`hwmodels.mac`):
    every message crosses the medium, station to AP and AP to station (``relay: ap``) or directly
    (``relay: d2d``), one exchange at a time. With ``sync: ps`` the parameter server sits at the
    AP (one exchange each way)."""

    model_config = ConfigDict(extra="forbid")

    radio: str = "wifi6-80mhz"
    relay: Literal["ap", "d2d"] = "ap"


class TrainSpec(BaseModel):
    """Everything a training run needs: model, data, workers, hardware, compressor, optimizer."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    name: str = ""
    model: str = "mlp"
    model_params: dict[str, Any] = Field(default_factory=dict)
    data: str = "digits"
    data_params: dict[str, Any] = Field(default_factory=dict)
    alpha: Optional[float] = Field(None, description="Dirichlet concentration of a non-IID split; null: IID")
    workers: int = 4
    batch_size: int = Field(32, description="per worker")
    device: Union[str, list[str]] = Field("jetson-agx-orin-64gb", description="catalog device, or one per worker")
    server_device: Optional[str] = None
    slowdown: dict[str, float] = Field(default_factory=dict)
    topology: str = "switch"
    link: str = "eth-10g"
    wireless: Optional[CellSpec] = Field(None, description="a shared wireless cell instead of topology/link")
    compressor: str = "none"
    compressor_params: dict[str, Any] = Field(default_factory=dict)
    sync: Literal["auto", "allreduce", "allgather", "ps"] = "auto"
    shards: int = 1
    optimizer: Literal["sgd", "momentum", "adam"] = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 0.0
    steps: Optional[int] = None
    epochs: Optional[int] = None
    eval_every: int = 0
    seed: int = 0
    encode_s_per_element: Optional[float] = Field(
        None, description="measured codec seconds per gradient element on every device; null: the declared work on each device")
    decode_s_per_element: Optional[float] = Field(
        None, description="as encode_s_per_element, for decoding one payload")
    backward_factor: float = Field(2.0, description="backward FLOPs over forward for matmul-like layers")
    mode: Literal["des", "analytic"] = "des"
    overlap: Literal["ddp", "none"] = Field("ddp", description="bucketed communication during backward, or after it")
    bucket_cap: Union[str, float] = Field("25MiB", description="gradient bucket size (DDP's bucket_cap_mb)")
    first_bucket: Union[str, float] = Field("1MiB", description="the first (smallest) gradient bucket")
    target_accuracy: Optional[float] = Field(None, gt=0, le=1, description="test accuracy whose first crossing "
                                             "gives time_to_target_s, energy_to_target_j and bits_to_target")
    compute_dtype: str = Field("fp32", description="forward/backward precision: fp32, tf32, bf16, fp16 (the "
                               "device's peak for it; gradients stay fp32)")
    price_only: bool = Field(False, description="no data, no training: price steps of the model (meta device)")
    input_shape: Optional[list[int]] = Field(None, description="price_only: one sample's shape, e.g. [3, 224, 224]")
    seq_len: Optional[int] = Field(None, ge=1, description="price_only: tokens per sample (bert-base, gpt2-small)")
    classes: Optional[int] = Field(None, ge=2, description="price_only: output classes (default per model)")
    topology_params: dict[str, Any] = Field(default_factory=dict, description="extra topology options; links by "
                                            "catalog name (e.g. hierarchical: {inter_link: ib-hdr, gpus_per_node: 8})")

    def config(self) -> TrainConfig:
        """The library's run configuration (validated again there)."""
        from simulator.learning import TrainConfig  # noqa: PLC0415

        fields = self.model_dump(exclude={"name", "device", "server_device", "slowdown", "topology", "link",
                                          "bucket_cap", "first_bucket", "wireless", "seq_len", "topology_params"})
        if fields["steps"] is None and fields["epochs"] is None:
            fields["steps" if self.price_only else "epochs"] = 1
        if self.seq_len is not None:
            if self.input_shape is not None:
                raise SpecError("seq_len: give input_shape or seq_len, not both")
            fields["input_shape"] = [self.seq_len]
        if fields["input_shape"] is not None:
            fields["input_shape"] = tuple(fields["input_shape"])
        for key, value in (("bucket_cap", self.bucket_cap), ("first_bucket", self.first_bucket)):
            try:
                fields[f"{key}_B"] = units.parse(value, "size") if isinstance(value, str) else value
            except SpecError as exc:
                raise SpecError(f"{key}: {exc}") from None
        config = TrainConfig(**fields)
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
        errors = exc.errors()
        # a union field fails once per branch: the deepest location is the most specific message
        err = max((e for e in errors if e["loc"][:1] == errors[0]["loc"][:1]), key=lambda e: len(e["loc"]))
        field = ".".join(str(p) for p in err["loc"] if isinstance(p, int) or str(p).isidentifier()) or "spec"
        message = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        raise SpecError(f"{where}: {field}: {message}") from None


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
    """Validate a mapping; SpecError names the first bad field."""
    return validate_spec(TrainSpec, data, where, "a training spec is a mapping of fields (model, data, workers, ...)")


def load_spec(path: str | Path) -> TrainSpec:
    """Read and validate a YAML/JSON training spec."""
    return parse_spec(read_spec_file(path), str(path))
