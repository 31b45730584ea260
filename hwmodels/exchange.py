"""One result shape for a transfer over a shared wireless medium, and the checks every MAC model shares.

Every medium-access model (:mod:`hwmodels.wifi`, :mod:`hwmodels.ieee802154`,
:mod:`hwmodels.ble`) prices one exchange, "deliver ``payload_B`` bytes from one
station while ``contenders`` stations (itself included) share the medium", as an
:class:`ExchangeTiming`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .checks import is_int, is_number
from .errors import SpecError

__all__ = ["ExchangeTiming", "check_payload_B", "check_contenders"]


@dataclass(frozen=True)
class ExchangeTiming:
    """Medium time of one exchange and the sender's radio time in each state, in seconds.

    ``total_s`` is the medium time charged to the exchange: its share of the medium
    when ``contenders`` saturated stations take turns, so the exchanges of all
    contenders add up to the time the medium needs for all of them (Bianchi's
    saturated time per success for 802.11, a share of the connection interval for
    BLE). With one contender it is the plain exchange time.

    The other four fields say what the sender's radio does from the start of its
    exchange to the delivery of the last octet (``elapsed_s``; under saturated
    contention on 802.11 and 802.15.4 that is ``contenders * total_s``):
    ``tx_s`` transmitting (its own collided attempts included), ``rx_s`` receiving
    what is addressed to it (ACK, Block-ACK, the peer's BLE packets), ``listen_s``
    awake without sending or receiving (backoff, carrier sense, interframe spaces,
    other stations' frames) and ``sleep_s`` asleep (BLE between connection events).
    Charge tx, rx, listen and sleep power on them and nothing more for the time
    the sender waits for the medium.
    """

    total_s: float
    tx_s: float
    rx_s: float
    listen_s: float
    sleep_s: float = 0.0

    def __post_init__(self) -> None:
        for name in ("total_s", "tx_s", "rx_s", "listen_s", "sleep_s"):
            value = getattr(self, name)
            if not (is_number(value) and value >= -1e-15):
                raise SpecError(f"ExchangeTiming.{name} must be a finite non-negative number of seconds, got {value!r}")

    @property
    def elapsed_s(self) -> float:
        """How long the sender's radio is busy with (or waiting on) the exchange: tx + rx + listen + sleep."""
        return self.tx_s + self.rx_s + self.listen_s + self.sleep_s

    def __add__(self, other: ExchangeTiming) -> ExchangeTiming:
        if not isinstance(other, ExchangeTiming):
            return NotImplemented
        return ExchangeTiming(self.total_s + other.total_s, self.tx_s + other.tx_s, self.rx_s + other.rx_s,
                              self.listen_s + other.listen_s, self.sleep_s + other.sleep_s)

    def scaled(self, factor: float) -> ExchangeTiming:
        """Every duration times ``factor`` (``factor`` identical exchanges in a row)."""
        return ExchangeTiming(self.total_s * factor, self.tx_s * factor, self.rx_s * factor,
                              self.listen_s * factor, self.sleep_s * factor)


def check_payload_B(payload_B: float) -> int:
    """The payload in whole octets (a frame carries whole octets: fractions round up)."""
    if not is_number(payload_B) or payload_B < 0:
        raise SpecError(f"payload_B must be a finite number of bytes >= 0, got {payload_B!r}")
    return math.ceil(payload_B)


def check_contenders(contenders: int) -> int:
    """The number of stations sharing the medium (the sender included): an integer >= 1."""
    if not is_int(contenders) or contenders < 1:
        raise SpecError(f"contenders must be an integer >= 1 (the sender counts), got {contenders!r}")
    return contenders
