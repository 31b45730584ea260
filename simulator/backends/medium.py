"""The wireless-medium backend: uploads, multicasts and precomputed transmissions on the
cluster's shared channel (:class:`~simulator.network.media.WirelessHardware`).

The band is a simpy container of :data:`BAND_UNITS`: a transmission over the whole band holds
all of it (so transmissions on the medium never overlap: half duplex, one transmitter at a
time), a transmission on a 1/n OFDMA share holds 1/n of it. Worker k of the medium is the
cluster's k-th host.

- :class:`~simulator.taskgraph.Upload`: the MAC's digital upload of fading block ``round``
  (TDMA: in turn, airtime = sum; OFDMA: W/n each, airtime = max), Shannon rate of each sender's
  SNR at full power (or a fixed rate with outage and retransmission);
- :class:`~simulator.taskgraph.Multicast`: one transmitter to a destination set at the rate of
  the worst destination (the AP's downlink when ``src`` is "", else a worker's d2d broadcast on
  a 1/``band_split`` share);
- :class:`~simulator.taskgraph.Airtime`: a transmission computed on the real tensors.

Energy: each worker's radio transmits at its power plus circuit power, and receives what is
multicast to it at its receive power (:func:`~simulator.energy.radio_energy_j`). The AP is
mains powered: its transmit energy is reported apart (``ap_energy_j``), not charged.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

from hwmodels import SpecError

from ..energy import radio_energy_j
from ..network.media import ChannelState
from ..taskgraph import Airtime, Multicast, Upload
from .base import NetworkBackend, NetworkTotals

__all__ = ["MediumBackend", "BAND_UNITS"]

BAND_UNITS = 1 << 20


class MediumBackend(NetworkBackend):
    """Transmissions on ``ex.cluster.medium``, one band shared in time (and in frequency for
    OFDMA shares)."""

    name = "medium"

    def __init__(self, ex: Any) -> None:
        super().__init__(ex)
        self.hw = ex.cluster.medium
        self.radio = self.hw.radio
        self.hosts = list(ex.cluster.hosts[:self.hw.workers])
        self.index = {h: k for k, h in enumerate(self.hosts)}
        self.band = simpy.Container(ex.env, capacity=BAND_UNITS, init=BAND_UNITS)
        self._state: ChannelState | None = None
        self.air_bits = 0.0
        self.ap_energy_j = 0.0
        self.delivered = True
        self._holders = 0
        self._busy_since = 0.0
        self.busy_s = 0.0

    @property
    def state(self) -> ChannelState:
        """The medium's channel state (fading, made on first use)."""
        if self._state is None:
            self._state = ChannelState(self.hw)
        return self._state

    def _station(self, host: str, node: Any) -> int:
        try:
            return self.index[host]
        except KeyError:
            raise SpecError(f"node {node.name!r}: {host!r} is not on the wireless medium "
                            f"(its workers: {', '.join(self.hosts)})") from None

    # ------------------------------------------------------------------ holding the band
    def _hold(self, units: int, seconds: float) -> Generator:
        """Take ``units`` of the band for ``seconds`` once free; returns the start time (s)."""
        yield self.band.get(units)
        env = self.ex.env
        start = float(env.now)
        if self._holders == 0:
            self._busy_since = start
        self._holders += 1
        yield env.timeout(seconds)
        self._holders -= 1
        if self._holders == 0:
            self.busy_s += float(env.now) - self._busy_since
        yield self.band.put(units)
        return start

    def air(self, node: Any) -> Generator:
        """Put an Upload, Multicast or Airtime node on the wireless medium."""
        if isinstance(node, Upload):
            yield from self._upload(node)
        elif isinstance(node, Multicast):
            yield from self._multicast(node)
        elif isinstance(node, Airtime):
            yield from self._airtime(node)
        else:  # pragma: no cover - the executor routes only these kinds here
            raise SpecError(f"node {node.name!r} ({node.kind}) is not a wireless transmission")

    def _spans(self, node: Any, start: float, senders: list[str], offsets: np.ndarray, tx_s: np.ndarray,
               bits: np.ndarray) -> None:
        begin = start + offsets
        self.ex.sim.trace.record_many(senders, "airtime", begin, begin + tx_s, bits / 8.0, node.name)

    def _upload(self, node: Upload) -> Generator:
        bits = np.zeros(self.hw.workers)
        for host, b in node.bits:
            bits[self._station(host, node)] += b
        tx = self.state.mac.upload(bits, node.round, start_s=0.0)
        start = yield from self._hold(BAND_UNITS, tx.airtime_s)
        active = np.flatnonzero(bits > 0)
        self._spans(node, start, [self.hosts[k] for k in active], tx.offsets_s[active], tx.tx_time_s[active],
                    bits[active])
        for k in active.tolist():
            self.ex.ledger.radio(self.hosts[k], radio_energy_j(self.radio, tx_s=float(tx.tx_time_s[k]),
                                                               tx_power_W=float(tx.tx_power_W[k])))
            self.ex.sent(self.hosts[k], float(bits[k]) * tx.attempts[k] / 8.0)
        self.air_bits += float((bits * tx.attempts).sum())   # a lost attempt is sent again in full
        self.delivered &= bool(tx.delivered[active].all())

    def _multicast(self, node: Multicast) -> Generator:
        state = self.state
        dests = tuple(self._station(d, node) for d in node.dsts)
        split = int(node.band_split)
        band_Hz = state.band_Hz / split
        if node.src:
            k = self._station(node.src, node)
            t, ok = state.multicast(node.bits, dests, band_Hz, lambda a: state.d2d_snr(k, node.round, a, band_Hz))
        else:
            if split != 1:
                raise SpecError(f"node {node.name!r}: the access point transmits over the whole band (band_split 1)")
            t, ok = state.multicast(node.bits, dests, band_Hz, lambda a: state.down_snr(node.round, a))
        start = yield from self._hold(BAND_UNITS // split, t)
        if node.src:
            self._spans(node, start, [node.src], np.zeros(1), np.array([t]), np.array([node.bits]))
            self.ex.ledger.radio(node.src, radio_energy_j(self.radio, tx_s=t))
            self.ex.sent(node.src, node.bits / 8.0)
        else:
            self.ex.sim.trace.record("ap", "airtime", start, start + t, node.bits / 8.0, node.name)
            self.ap_energy_j += (self.hw.ap_power_W + self.radio.circuit_power_W) * t
        for d in node.dsts:
            self.ex.ledger.radio(d, radio_energy_j(self.radio, rx_s=t))
        self.air_bits += node.bits
        self.delivered &= ok

    def _airtime(self, node: Airtime) -> Generator:
        for host in node.senders:
            self._station(host, node)
        start = yield from self._hold(BAND_UNITS, node.airtime_s)
        tx_s = np.asarray(node.tx_s, dtype=float)
        sending = np.flatnonzero(tx_s > 0)
        self._spans(node, start, [node.senders[i] for i in sending], np.asarray(node.offsets_s)[sending],
                    tx_s[sending], np.asarray(node.bits)[sending])
        for i in sending.tolist():
            self.ex.ledger.radio(node.senders[i], radio_energy_j(self.radio, tx_s=float(tx_s[i]),
                                                                 tx_power_W=node.tx_power_W[i]))
            self.ex.sent(node.senders[i], node.bits[i] / 8.0)
        self.air_bits += float(sum(node.bits))

    def close(self) -> NetworkTotals:
        """Totals of the run: the bits on the air, the AP's energy (J), deliveries and busy seconds."""
        return NetworkTotals(0.0, self.air_bits, stats={"ap_energy_j": self.ap_energy_j, "delivered": self.delivered,
                                                        "medium_busy_s": self.busy_s})
