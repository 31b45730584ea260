"""The spec of ``ddlsim fl``: a YAML (or JSON) file.

The run's fields (model, data, clients, alpha, participation, local_steps, batch_size, lr,
server_lr, rounds, eval_every, seed, scheme, scheme_params, mac_params, target_accuracy, power)
are those of :class:`~simulator.federated.FLConfig` and validated there (``power: {policy:
managed, target_mse, energy_budget_j, objective}``: :mod:`simulator.federated.power`); the hardware fields are ``device``,
``radio``, ``radio_overrides`` (e.g. ``max_tx_power: 10dBm``), ``channel`` (the fields of
:class:`~hwmodels.channel.Channel`) and ``placement`` (``kind`` and the keywords of
:func:`~hwmodels.placement.place`). ``load_fl_spec(path) -> FLSpec``; a wrong key or value is a
:class:`~hwmodels.SpecError` naming the field.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Optional

import numpy as np

from hwmodels import Catalog, Device, Radio, SpecError
from hwmodels.channel import Channel
from hwmodels.placement import place
from hwmodels.record import from_entry
from hwmodels.registry import bind_params
from simulator.federated import FLConfig
from simulator.streams import numpy_stream

from .train_spec import read_spec_file

__all__ = ["FLSpec", "HARDWARE_FIELDS", "load_fl_spec", "parse_fl_spec", "spec_fields"]

_HARDWARE = {"device": "raspberry-pi-4b-4gb", "radio": "lte-20mhz-ue", "radio_overrides": {},
             "channel": {"path_loss": "umi-nlos"}, "placement": {"kind": "disc", "radius_m": 200.0, "min_distance_m": 10.0}}
HARDWARE_FIELDS = tuple(_HARDWARE)


def spec_fields() -> tuple[str, ...]:
    """Every field an FL spec takes: ``name``, FLConfig's (its schema, in order), then the hardware's."""
    return ("name", *_RUN_FIELDS, *HARDWARE_FIELDS)


_RUN_FIELDS = tuple(f.name for f in dataclasses.fields(FLConfig))


@dataclasses.dataclass(frozen=True)
class FLSpec:
    """A validated FL spec: the run's :class:`FLConfig`, its name and its hardware fields."""

    name: str
    run: FLConfig
    hardware_fields: dict[str, Any]

    def config(self) -> FLConfig:
        """The run's configuration (the library's :class:`FLConfig`)."""
        return self.run

    def hardware(self, catalog: Catalog, base: Optional[Path] = None) -> tuple[Device, Radio, Channel, np.ndarray]:
        """Client device, radio (with overrides), channel and one distance per client."""
        hw = self.hardware_fields
        device = catalog.get(hw["device"], "device")
        radio = catalog.get(hw["radio"], "radio")
        if hw["radio_overrides"]:
            known = dataclasses.fields(Radio)
            entry = {f.name: getattr(radio, f.name) for f in known}
            stems = {f.metadata["stem"]: f.name for f in known if "stem" in f.metadata}
            for key, value in hw["radio_overrides"].items():
                entry.pop(stems.get(key, key), None)
                entry[key] = value
            radio = from_entry(Radio, entry, f"radio_overrides of {hw['radio']!r}")
        channel = Channel(**bind_params(Channel, hw["channel"], "channel"))
        placement = dict(hw["placement"])
        kind = placement.pop("kind", "disc")
        if placement.get("path") is not None and base is not None and not Path(placement["path"]).is_absolute():
            placement["path"] = str(base / placement["path"])
        rng = numpy_stream(self.run.seed, "placement")
        distances = place(kind, self.run.clients, rng,
                          **bind_params(place, placement, "placement", given=("kind", "count", "rng")))
        channel.check_distances(distances)
        return device, radio, channel, distances


def parse_fl_spec(data: Any, where: str = "spec") -> FLSpec:
    """Validate a mapping; SpecError names the first bad field."""
    if not isinstance(data, dict):
        raise SpecError(f"{where}: an FL spec is a mapping of fields (model, data, clients, scheme, ...)")
    fields = dict(data)
    name = str(fields.pop("name", "") or "")
    hardware = {k: fields.pop(k, v) for k, v in _HARDWARE.items()}
    for key in ("radio_overrides", "channel", "placement"):
        if not isinstance(hardware[key], dict):
            raise SpecError(f"{where}: {key}: expected a mapping of fields")
    unknown = [k for k in fields if k not in _RUN_FIELDS]
    if unknown:
        raise SpecError(f"{where}: unknown field {unknown[0]!r}; known fields: "
                        f"{', '.join((*_RUN_FIELDS, *HARDWARE_FIELDS))}")
    try:
        run = FLConfig(**fields)
    except SpecError as exc:   # FLConfig's own checks: say which spec
        raise SpecError(f"{where}: {exc}") from None
    from .limits import HOST_B, check_fits  # noqa: PLC0415

    check_fits(f"{where}: clients {run.clients}", HOST_B * run.clients, "use fewer clients")
    return FLSpec(name, run, hardware)


def load_fl_spec(path: str | Path) -> FLSpec:
    """Read and validate a YAML/JSON FL spec."""
    return parse_fl_spec(read_spec_file(path), str(path))
