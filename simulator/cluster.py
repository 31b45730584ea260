"""A cluster: a topology, a device per host, per-host slowdowns, and the network model.

Heterogeneity and stragglers are parameters, not special code: ``devices`` may give each
host its own :class:`~hwmodels.Device`, and ``slowdown`` multiplies a host's compute
times (including its reductions inside collectives) by a factor >= 1::

    cluster = Cluster(Topology.switch(4, link), a100, slowdown={"h3": 2.0})
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hwmodels import Device, SpecError

__all__ = ["Cluster", "NETWORK_MODELS"]

# The network models a cluster can use. "flow": max-min fair flows (simulator.network).
NETWORK_MODELS = ("flow",)


@dataclass(frozen=True)
class Cluster:
    """Hosts of ``topology`` with their devices.

    Parameters
    ----------
    topology: a :class:`~simulator.network.Topology`.
    devices: one Device for every host, or ``{host: Device}`` covering every host.
    slowdown: ``{host: factor}``, factor >= 1 (a straggler computes ``factor`` times slower).
    network: the network model (``"flow"``).
    """

    topology: Any
    devices: Device | Mapping[str, Device]
    slowdown: Mapping[str, float] = field(default_factory=dict)
    network: str = "flow"

    def __post_init__(self) -> None:
        hosts = list(self.topology.hosts)
        known = set(hosts)
        if isinstance(self.devices, Mapping):
            for host, dev in self.devices.items():
                if host not in known:
                    raise SpecError(f"cluster: devices names unknown host {host!r}")
                if not isinstance(dev, Device):
                    raise SpecError(f"cluster: devices[{host!r}] must be a Device, got {type(dev).__name__}")
            missing = [h for h in hosts if h not in self.devices]
            if missing:
                raise SpecError(f"cluster: no device for host {missing[0]!r} (give a Device for every host, "
                                f"or one Device for all)")
        elif not isinstance(self.devices, Device):
            raise SpecError(f"cluster: devices must be a Device or a mapping host -> Device, got {type(self.devices).__name__}")
        for host, factor in self.slowdown.items():
            if host not in known:
                raise SpecError(f"cluster: slowdown names unknown host {host!r}")
            if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not math.isfinite(factor) or factor < 1:
                raise SpecError(f"cluster: slowdown[{host!r}] must be a number >= 1, got {factor!r}")
        if self.network not in NETWORK_MODELS:
            raise SpecError(f"cluster: unknown network model {self.network!r}; known: {', '.join(NETWORK_MODELS)}")

    @property
    def hosts(self) -> list[str]:
        return list(self.topology.hosts)

    def device(self, host: str) -> Device:
        if isinstance(self.devices, Device):
            if host not in self.topology.hosts:
                raise SpecError(f"cluster: unknown host {host!r}")
            return self.devices
        try:
            return self.devices[host]
        except KeyError:
            raise SpecError(f"cluster: unknown host {host!r}") from None

    def slowdown_of(self, host: str) -> float:
        return float(self.slowdown.get(host, 1.0))

    def compute_time(self, host: str, flops: float = 0.0, bytes_: float = 0.0, dtype: str = "fp32",
                     duration_s: float | None = None) -> float:
        """Seconds for a compute on ``host``: roofline (or ``duration_s``) times its slowdown."""
        base = duration_s if duration_s is not None else self.device(host).time(flops, bytes_, dtype)
        return base * self.slowdown_of(host)

    def reduction_gamma(self, hosts: Any, dtype: str = "fp32") -> np.ndarray:
        """Reduction seconds per byte of each host (device roofline times slowdown)."""
        from .collectives.analytic import reduction_gamma  # noqa: PLC0415

        return np.array([reduction_gamma(self.device(h), dtype, self.slowdown_of(h)) for h in hosts])
