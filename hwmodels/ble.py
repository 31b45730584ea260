"""Bluetooth Low Energy (LE 1M and LE 2M PHY) connections: timing of a transfer in connection events.

In a connection the central and the peripheral alternate packets, T_IFS apart, in
connection events that start every connection interval. To move data one way the
sender fills each packet with up to 251 payload octets (LE Data Length Extension)
and the peer answers with an empty packet that acknowledges it (SN/NESN), so one
data packet costs

    data packet + T_IFS + empty packet + T_IFS,

a packet being preamble + access address + header + payload (+ MIC) + CRC at the
PHY's bit rate. An event holds as many such pairs as fit in the interval (the
share of it the central gives this connection when it serves ``contenders``
connections); the sender's radio sleeps between events. Constants: Bluetooth Core
Specification v5.3, Vol 6 Part B (Link Layer) and Part A (PHY).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .checks import check_positive, is_int
from .errors import SpecError
from .exchange import ExchangeTiming, check_contenders, check_payload_B

__all__ = ["BleProfile", "LE_1M", "LE_2M", "packet_time_s", "pair_time_s", "pairs_per_event", "event_period_s",
           "max_throughput_bps", "exchange_timing", "exchange_time_s", "goodput_bps"]


@dataclass(frozen=True)
class BleProfile:
    """One LE PHY and connection setting (rates in bit/s, times in s, sizes in octets)."""

    name: str
    phy_rate_bps: float                     # 1 Mb/s (LE 1M) or 2 Mb/s (LE 2M)
    preamble_B: int                         # 1 (LE 1M) or 2 (LE 2M)
    access_address_B: int = 4
    header_B: int = 2                       # data channel PDU header
    crc_B: int = 3
    mic_B: int = 0                          # 4 on an encrypted link
    max_payload_B: int = 251                # connMaxTxOctets with LE Data Length Extension
    t_ifs_s: float = 150e-6                 # inter frame space
    connection_interval_s: float = 7.5e-3   # 7.5 ms to 4 s in 1.25 ms steps
    source: str = ""

    def __post_init__(self) -> None:
        check_positive(self, "phy_rate_bps", "t_ifs_s", "connection_interval_s")
        check_positive(self, "preamble_B", "access_address_B", "header_B", "crc_B", "max_payload_B", integer=True)
        check_positive(self, "mic_B", integer=True, allow_zero=True)
        if self.max_payload_B > 251:
            raise SpecError(f"BleProfile {self.name!r}: field 'max_payload_B' must be <= 251 (LE Data Length "
                            f"Extension), got {self.max_payload_B}")
        steps = self.connection_interval_s / 1.25e-3
        if not 7.5e-3 - 1e-12 <= self.connection_interval_s <= 4.0 + 1e-12 or abs(steps - round(steps)) > 1e-6:
            raise SpecError(f"BleProfile {self.name!r}: field 'connection_interval_s' must be 7.5 ms to 4 s in "
                            f"1.25 ms steps, got {self.connection_interval_s}")


_SOURCE = ("Bluetooth Core Specification v5.3 (Bluetooth SIG, 2021): Vol 6 Part B 2.1 packet format (preamble 1 "
           "octet on LE 1M, 2 on LE 2M; access address 4; CRC 3), 2.4 data channel PDU (2-octet header, payload "
           "up to 251 octets with Data Length Extension, 4-octet MIC when encrypted), 4.1.1 T_IFS = 150 us, "
           "4.5.1 connection events (interval 7.5 ms to 4 s in 1.25 ms steps), acknowledgement by SN/NESN (4.5); "
           "Vol 6 Part A 2 (LE 1M: 1 Msym/s, LE 2M: 2 Msym/s, one bit per symbol)")

LE_1M = BleProfile(name="ble-le1m", phy_rate_bps=1e6, preamble_B=1, source=_SOURCE)
LE_2M = BleProfile(name="ble-le2m", phy_rate_bps=2e6, preamble_B=2, source=_SOURCE)


def packet_time_s(profile: BleProfile, payload_B: int) -> float:
    """Air time of one data channel packet with ``payload_B`` octets (0 for an empty packet)."""
    if not is_int(payload_B) or not 0 <= payload_B <= profile.max_payload_B:
        raise SpecError(f"payload_B must be an integer in 0..{profile.max_payload_B}, got {payload_B!r}")
    mic = profile.mic_B if payload_B else 0     # an empty PDU carries no MIC
    octets = profile.preamble_B + profile.access_address_B + profile.header_B + payload_B + mic + profile.crc_B
    return 8.0 * octets / profile.phy_rate_bps


def pair_time_s(profile: BleProfile, payload_B: int) -> float:
    """One data packet and the peer's empty acknowledgement, each followed by T_IFS."""
    return packet_time_s(profile, payload_B) + packet_time_s(profile, 0) + 2.0 * profile.t_ifs_s


def pairs_per_event(profile: BleProfile, contenders: int = 1) -> int:
    """Full-size data packets per connection event when the central serves ``contenders`` connections
    round-robin, each getting connection_interval / contenders (the last T_IFS keeps the gap before the
    next event's anchor); at least one."""
    n = check_contenders(contenders)
    return max(1, math.floor(profile.connection_interval_s / n / pair_time_s(profile, profile.max_payload_B) + 1e-9))


def event_period_s(profile: BleProfile, contenders: int = 1) -> float:
    """Time between one connection's events: the connection interval, or longer when ``contenders``
    connections of one packet each do not fit in it (the central then serves them in turn)."""
    n = check_contenders(contenders)
    return max(profile.connection_interval_s,
               n * pairs_per_event(profile, n) * pair_time_s(profile, profile.max_payload_B))


def max_throughput_bps(profile: BleProfile, payload_B: int | None = None) -> float:
    """Link-layer payload bit/s with back-to-back packets of ``payload_B`` octets (default the largest),
    ignoring the connection-event boundaries: 8 payload / pair time."""
    size = profile.max_payload_B if payload_B is None else payload_B
    if size == 0:
        raise SpecError("payload_B must be >= 1 for a throughput")
    return 8.0 * size / pair_time_s(profile, size)


def exchange_timing(profile: BleProfile, payload_B: float, contenders: int = 1) -> ExchangeTiming:
    """Deliver ``payload_B`` link-layer payload octets over one connection, starting at an anchor point.

    The payload fills packets of ``max_payload_B`` octets, :func:`pairs_per_event` of them per event;
    the sender's exchange lasts (events - 1) event periods (:func:`event_period_s`) plus the last event.
    ``total_s`` charges the central's time: the full periods divided by ``contenders`` (the others' events
    fill them) plus the last event. The sender transmits its data packets, receives the empty ones,
    listens through the T_IFS gaps and sleeps between events. The wait
    for the first anchor point (connection_interval / 2 on average for a message that arrives at a
    random time) is not included.
    """
    if not isinstance(profile, BleProfile):
        raise SpecError(f"profile must be a BleProfile, got {type(profile).__name__}")
    octets = check_payload_B(payload_B)
    n = check_contenders(contenders)
    if not octets:
        return ExchangeTiming(0.0, 0.0, 0.0, 0.0)
    full, rest = divmod(octets, profile.max_payload_B)
    sizes = [(full, profile.max_payload_B)] + ([(1, rest)] if rest else [])
    packets = full + (1 if rest else 0)
    per_event = pairs_per_event(profile, n)
    period = event_period_s(profile, n)
    events, in_last = divmod(packets, per_event)
    if in_last == 0:
        events, in_last = events - 1, per_event
    # the packets of the last event: the short one (if any) plus full ones
    last_event = pair_time_s(profile, rest if rest else profile.max_payload_B) \
        + (in_last - 1) * pair_time_s(profile, profile.max_payload_B)
    elapsed = events * period + last_event
    tx = sum(count * packet_time_s(profile, size) for count, size in sizes)
    rx = packets * packet_time_s(profile, 0)
    listen = packets * 2.0 * profile.t_ifs_s
    return ExchangeTiming(events * period / n + last_event, tx, rx, listen, max(0.0, elapsed - tx - rx - listen))


def exchange_time_s(profile: BleProfile, payload_B: float, contenders: int = 1) -> float:
    """Medium time (s) charged to delivering ``payload_B`` octets over one of ``contenders`` connections."""
    return exchange_timing(profile, payload_B, contenders).total_s


def goodput_bps(profile: BleProfile, payload_B: float, contenders: int = 1) -> float:
    """Payload bit/s over all ``contenders`` connections when each sends ``payload_B`` octets."""
    octets = check_payload_B(payload_B)
    return 8.0 * octets / exchange_time_s(profile, octets, contenders) if octets else 0.0
