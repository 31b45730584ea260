"""Radios: transmit power limit, channel bandwidth, noise figure, antennas, carrier, DC power draw."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from .errors import SpecError
from .record import quantity, validate

__all__ = ["Radio", "BOLTZMANN_J_PER_K", "REFERENCE_TEMPERATURE_K"]

BOLTZMANN_J_PER_K = 1.380649e-23
REFERENCE_TEMPERATURE_K = 290.0


@dataclass(frozen=True)
class Radio:
    """A wireless transceiver. Powers in W, bandwidth and carrier in Hz, gains in dB(i).

    DC power draw: while transmitting the radio draws ``max_tx_power_W + circuit_power_W``
    (radiated plus everything else); ``rx_power_W`` while receiving; ``sleep_power_W`` while
    duty-cycled off. ``None`` means the catalog entry does not give it.
    """

    name: str
    max_tx_power_W: float = quantity("power", stem="max_tx_power", positive=True)
    bandwidth_Hz: float = quantity("frequency", stem="bandwidth", positive=True)
    carrier_frequency_Hz: float = quantity("frequency", stem="carrier_frequency", positive=True)
    noise_figure_dB: float = quantity("dB", stem="noise_figure", default=0.0)
    tx_antenna_gain_dBi: float = quantity("dB", stem="tx_antenna_gain", default=0.0, minimum=None)
    rx_antenna_gain_dBi: float = quantity("dB", stem="rx_antenna_gain", default=0.0, minimum=None)
    circuit_power_W: float = quantity("power", stem="circuit_power", default=0.0)
    rx_power_W: float | None = quantity("power", stem="rx_power", default=None)
    sleep_power_W: float | None = quantity("power", stem="sleep_power", default=None)
    max_phy_rate_Bps: float | None = quantity("rate", stem="max_phy_rate", default=None, positive=True)
    standard: str = ""
    category: str = "radio"
    source: str = ""
    notes: str = ""
    aliases: tuple[str, ...] = field(default=())

    kind: ClassVar[str] = "radio"

    def __post_init__(self) -> None:
        validate(self)

    def noise_power_W(self, temperature_K: float = REFERENCE_TEMPERATURE_K) -> float:
        """Receiver noise power k T B F over the channel bandwidth, in watts."""
        if temperature_K <= 0:
            raise SpecError(f"radio {self.name!r}: temperature must be positive, got {temperature_K}")
        return BOLTZMANN_J_PER_K * temperature_K * self.bandwidth_Hz * 10.0 ** (self.noise_figure_dB / 10.0)

    def shannon_rate_Bps(self, snr_linear: float) -> float:
        """Shannon capacity B log2(1 + SNR) in bytes per second, capped at ``max_phy_rate_Bps`` if set."""
        if snr_linear < 0:
            raise SpecError(f"radio {self.name!r}: SNR must be non-negative, got {snr_linear}")
        return float(self.rate_bps(snr_linear)) / 8.0

    def rate_bps(self, snr_linear: float | np.ndarray, band_Hz: float | None = None) -> np.ndarray:
        """Shannon rate band log2(1 + SNR) in bit/s over ``band_Hz`` (default: the whole channel),
        capped at the radio's peak PHY rate scaled to that share of the channel (an OFDMA share
        gets its share of the peak rate)."""
        band = self.bandwidth_Hz if band_Hz is None else band_Hz
        rate = band * np.log2(1.0 + np.asarray(snr_linear, dtype=float))
        if self.max_phy_rate_Bps:
            rate = np.minimum(rate, 8.0 * self.max_phy_rate_Bps * band / self.bandwidth_Hz)
        return rate
