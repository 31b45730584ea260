"""A cluster: a topology, a device per host, per-host slowdowns, and an optional shared
wireless medium.

Heterogeneity and stragglers are parameters, not special code: ``devices`` may give each
host its own :class:`~hwmodels.Device`, and ``slowdown`` multiplies a host's compute
times (including its reductions inside collectives) by a factor >= 1::

    cluster = Cluster(Topology.switch(4, link), a100, slowdown={"h3": 2.0})

A ``medium`` (:class:`~simulator.network.media.WirelessHardware`) puts the first
``medium.workers`` hosts on a shared wireless channel for Upload/Multicast/Airtime nodes. Hosts in
``uncharged`` (mains-powered infrastructure: a server, an access point) take part in the run but
draw no energy in its totals.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hwmodels import Device, SpecError, Work
from hwmodels.checks import is_number
from hwmodels.registry import Registry

__all__ = ["Cluster", "NETWORK_MODELS"]

# The network models a cluster can use: name -> what it is.
NETWORK_MODELS: Registry[str] = Registry("network model")
NETWORK_MODELS.add("flow", "max-min fair flows (simulator.network)")


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
    medium: Any = None
    uncharged: frozenset[str] = frozenset()
    hosts_: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.topology is None:
            if self.hosts_ is None:
                raise SpecError("cluster: give a topology, or the host names (hosts_) of a wireless-only cluster")
            hosts = [str(h) for h in self.hosts_]
        else:
            hosts = list(self.topology.hosts)
        object.__setattr__(self, "hosts_", tuple(hosts))
        object.__setattr__(self, "uncharged", frozenset(self.uncharged))
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
            if not is_number(factor) or factor < 1:
                raise SpecError(f"cluster: slowdown[{host!r}] must be a number >= 1, got {factor!r}")
        NETWORK_MODELS.get(self.network, where="cluster")
        for host in self.uncharged:
            if host not in known:
                raise SpecError(f"cluster: uncharged names unknown host {host!r}")
        if self.medium is not None and self.medium.workers > len(hosts):
            raise SpecError(f"cluster: the wireless medium has {self.medium.workers} workers but the cluster only "
                            f"{len(hosts)} hosts")

    @property
    def hosts(self) -> list[str]:
        """The host names, in the topology's order."""
        return list(self.hosts_)

    @property
    def medium_carries_traffic(self) -> bool:
        """Whether point-to-point sends and collectives go over the medium (a Wi-Fi cell)."""
        return bool(getattr(self.medium, "carries_traffic", False))

    def charged(self, host: str) -> bool:
        """Whether ``host``'s device energy counts in a run's totals."""
        return host not in self.uncharged

    def device(self, host: str) -> Device:
        """The Device of ``host``; SpecError for a host the cluster does not have."""
        if isinstance(self.devices, Device):
            if host not in self.hosts_:
                raise SpecError(f"cluster: unknown host {host!r}")
            return self.devices
        try:
            return self.devices[host]
        except KeyError:
            raise SpecError(f"cluster: unknown host {host!r}") from None

    def slowdown_of(self, host: str) -> float:
        """``host``'s straggler factor (1.0: full speed; 2.0: computes take twice as long)."""
        return float(self.slowdown.get(host, 1.0))

    def compute_time(self, host: str, flops: float = 0.0, bytes_: float = 0.0, dtype: str = "fp32",
                     duration_s: float | None = None, work: str = "model",
                     parts: tuple[tuple[float, float], ...] = (), calls: float = 0.0) -> float:
        """Seconds for a compute on ``host``: roofline (or ``duration_s``) times its slowdown;
        ``work="codec"`` runs at the device's codec efficiency; ``parts`` are priced one roofline
        each and summed; ``calls`` add the device's per-call overhead (not to ``duration_s``)."""
        if duration_s is not None:
            base = duration_s
        elif parts:
            return (sum(self.compute_time(host, f, b, dtype, None, work) for f, b in parts)
                    + self.compute_time(host, dtype=dtype, work=work, calls=calls))
        elif work == "codec":
            base = self.device(host).codec_time(Work(flops, bytes_, calls), dtype)
        else:
            base = self.device(host).time(flops, bytes_, dtype, calls)
        return base * self.slowdown_of(host)

    def reduction_gamma(self, hosts: Any, dtype: str = "fp32") -> np.ndarray:
        """Reduction seconds per byte of each host (device roofline times slowdown)."""
        from .collectives.analytic import reduction_gamma  # noqa: PLC0415

        return np.array([reduction_gamma(self.device(h), dtype, self.slowdown_of(h)) for h in hosts])
