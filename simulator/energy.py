"""The one energy rule of a run, kept by the executor (DESIGN decision 8).

Every device of a run draws its idle (static) power for the whole makespan, and its active power
while it computes: ``compute`` is the dynamic share ``(active - idle) x busy``, ``idle`` is
``idle x makespan``, so a device's total is ``idle x (makespan - busy) + active x busy``. Wired
links charge ``bits x energy per bit`` per link crossed (``link``). Radios charge transmit power
plus circuit power while transmitting and receive power while receiving (``radio``). The
kinds are :data:`hwmodels.ENERGY_KINDS`; they sum to the run's energy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from hwmodels import ENERGY_KINDS, Device, Radio

__all__ = ["EnergyLedger", "radio_energy_j", "device_energy_j"]


def radio_energy_j(radio: Radio, tx_s: float = 0.0, rx_s: float = 0.0, tx_power_W: float | None = None) -> float:
    """Joules a radio spends transmitting ``tx_s`` seconds at ``tx_power_W`` (default its maximum)
    plus its circuit power, and receiving ``rx_s`` seconds at its receive power."""
    power = radio.max_tx_power_W if tx_power_W is None else tx_power_W
    rx_power = radio.rx_power_W or 0.0
    return (power + radio.circuit_power_W) * tx_s + rx_power * rx_s


@dataclass
class _HostEnergy:
    busy_s: float = 0.0
    radio_j: float = 0.0


class EnergyLedger:
    """Busy seconds and radio joules per host, link joules; closed at the makespan.

    ``charged`` hosts are the devices of the run; hosts outside it (mains-powered
    infrastructure such as an access point or a server) are not charged.
    """

    def __init__(self, charged: Iterable[str]) -> None:
        self.hosts = {h: _HostEnergy() for h in charged}
        self.link_j = 0.0

    def busy(self, host: str, seconds: float) -> None:
        """``host`` computed for ``seconds`` (at its active power)."""
        if host in self.hosts:
            self.hosts[host].busy_s += seconds

    def radio(self, host: str, joules: float) -> None:
        """``host``'s radio spent ``joules``."""
        if host in self.hosts:
            self.hosts[host].radio_j += joules

    def link(self, joules: float) -> None:
        """Wired links spent ``joules`` on bits."""
        self.link_j += joules

    def close(self, makespan_s: float, devices: dict) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
        """(per host {compute, idle, radio} joules, run totals by :data:`ENERGY_KINDS`) over
        ``makespan_s``; ``devices`` maps each charged host to its :class:`~hwmodels.Device`."""
        per_host = {host: device_energy_j(devices[host], e.busy_s, makespan_s) | {"radio": e.radio_j}
                    for host, e in self.hosts.items()}
        totals = {k: math.fsum(p.get(k, 0.0) for p in per_host.values()) for k in ENERGY_KINDS}
        totals["link"] = self.link_j
        return per_host, totals


def device_energy_j(device: Device, busy_s: float, makespan_s: float, count: int = 1) -> dict[str, float]:
    """``{compute, idle}`` joules of ``count`` devices busy ``busy_s`` seconds in all over a run of
    ``makespan_s``: (active - idle) x busy and idle x makespan each."""
    return {"compute": (device.active_power_W - device.idle_power_W) * busy_s,
            "idle": count * device.idle_power_W * makespan_s}
