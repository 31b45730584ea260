"""The cell backend: every transfer of a :class:`~simulator.network.media.MacCell` crosses its
shared medium under the radio's standard medium access (802.11 DCF, 802.15.4 CSMA-CA, BLE).

A Send from station a to station b is two exchanges, a -> AP then AP -> b (one with ``direct``,
or when an end is the AP's host). The medium is a simpy resource of capacity one (half duplex:
one exchange at a time, in the order they asked for it); an exchange holds it for its share of
the medium, :func:`hwmodels.mac.exchange_timing` at the number of stations that have an exchange
waiting or under way at that moment (the AP counts as a station when it forwards). A collective
runs its step program on the cell step by step: every message of a step crosses the medium,
then each rank reduces what it received (its device's reduction roofline), then the next step.

Energy (:func:`~simulator.energy.radio_energy_j`): the sender's radio transmits for ``tx_s`` and
receives (ACKs, Block-ACKs, a BLE peer's packets) and listens (backoff, carrier sense, other
stations' frames) for ``rx_s + listen_s`` at its receive power, sleeps ``sleep_s`` at its sleep
power; the receiver receives the data for ``tx_s`` and transmits its acknowledgements for
``rx_s``. The AP is mains powered and not charged.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

from hwmodels import SpecError
from hwmodels.mac import exchange_timing

from ..energy import radio_energy_j
from ..network.media import AP
from .base import NetworkBackend, NetworkTotals
from .flow import _program

__all__ = ["CellBackend"]


class CellBackend(NetworkBackend):
    """Sends and collectives as exchanges on the cluster's shared cell."""

    name = "cell"

    def __init__(self, ex: Any) -> None:
        super().__init__(ex)
        self.cell = ex.cluster.medium
        self.radio = self.cell.radio
        self.stations = set(ex.cluster.hosts[:self.cell.workers])
        self.medium = simpy.Resource(ex.env, capacity=1)
        self.pending: Counter[str] = Counter()   # stations with an exchange waiting or under way
        self.air_bits = 0.0
        self.busy_s = 0.0
        self.exchanges = 0

    def _check(self, host: str, node: Any) -> None:
        if host not in self.stations and host != self.cell.ap_host:
            raise SpecError(f"node {node.name!r}: {host!r} is not on the cell (its stations: "
                            f"{', '.join(sorted(self.stations))}" + (f", and {self.cell.ap_host!r} at the AP)"
                                                                     if self.cell.ap_host else ")"))

    def _hops(self, src: str, dst: str) -> list[tuple[str, str]]:
        """The exchanges of a transfer: (sender, receiver) as stations, the AP named :data:`AP`."""
        at_ap = self.cell.ap_host
        s, d = (AP if src == at_ap else src), (AP if dst == at_ap else dst)
        if self.cell.direct or AP in (s, d):
            return [(s, d)]
        return [(s, AP), (AP, d)]

    def _exchange(self, sender: str, receiver: str, nbytes: float, name: str) -> Generator:
        self.pending[sender] += 1
        with self.medium.request() as req:
            yield req
            timing = exchange_timing(self.cell.profile, nbytes, len(self.pending))
            start = float(self.ex.env.now)
            yield self.ex.env.timeout(timing.total_s)
        self.pending[sender] -= 1
        if not self.pending[sender]:
            del self.pending[sender]
        self.busy_s += timing.total_s
        self.exchanges += 1
        self.air_bits += 8.0 * nbytes
        trace_as = (self.cell.ap_host or AP) if sender == AP else sender
        self.ex.sim.trace.record(trace_as, "airtime", start, start + timing.total_s, nbytes, name)
        if sender != AP:
            self.ex.sent(sender, nbytes)
            sleep = self.radio.sleep_power_W or 0.0
            self.ex.ledger.radio(sender, radio_energy_j(self.radio, tx_s=timing.tx_s, rx_s=timing.rx_s + timing.listen_s)
                                 + sleep * timing.sleep_s)
        if receiver != AP:
            self.ex.ledger.radio(receiver, radio_energy_j(self.radio, tx_s=timing.rx_s, rx_s=timing.tx_s))

    def _transfer(self, src: str, dst: str, nbytes: float, name: str) -> Generator:
        for sender, receiver in self._hops(src, dst):
            yield from self._exchange(sender, receiver, nbytes, name)

    def send(self, node: Any) -> Generator:
        """Carry a Send's bytes through the cell (via the access point unless direct)."""
        self._check(node.src, node)
        self._check(node.dst, node)
        yield from self._transfer(node.src, node.dst, node.bytes, node.name)

    def collective(self, node: Any) -> Generator:
        """Run a Collective's step program as transfers through the cell."""
        hosts, program, gamma = _program(self.ex, node)
        for h in hosts:
            self._check(h, node)
        env = self.ex.env
        name = node.name or f"{node.op}/{node.algorithm}"
        for k in range(program.num_steps):
            pat = program.step(k)
            moves = [env.process(self._transfer(hosts[s], hosts[d], float(b), name))
                     for s, d, b in zip(pat.src.tolist(), pat.dst.tolist(), pat.nbytes.tolist()) if b > 0]
            if moves:
                yield env.all_of(moves)
            reduce_s = pat.recv_reduce_bytes * gamma
            if np.any(reduce_s > 0):
                for h, t in zip(hosts, reduce_s.tolist()):
                    self.ex.busy(h, t)
                yield env.timeout(float(reduce_s.max()))

    def close(self) -> NetworkTotals:
        """Totals of the run: the bits on the air, the medium's busy seconds and the exchanges."""
        return NetworkTotals(0.0, self.air_bits, stats={"medium_busy_s": self.busy_s, "exchanges": self.exchanges})
