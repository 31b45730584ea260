"""Medium-access profiles by name and by catalog radio, and one entry point to price an exchange on any of them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Union

from . import ble, ieee802154, wifi
from .errors import SpecError
from .exchange import ExchangeTiming, check_payload_B
from .radio import Radio
from .registry import Registry

__all__ = ["MacProfile", "MAC_PROFILES", "RADIO_PROFILES", "mac_profile", "profile_for_radio", "exchange_timing",
           "exchange_time_s", "goodput_bps"]

MacProfile = Union[wifi.WifiProfile, ieee802154.Ieee802154Profile, ble.BleProfile]

_PRICERS: dict[type, Callable[[MacProfile, float, int], ExchangeTiming]] = {
    wifi.WifiProfile: wifi.exchange_timing,
    ieee802154.Ieee802154Profile: ieee802154.exchange_timing,
    ble.BleProfile: ble.exchange_timing,
}

MAC_PROFILES: Registry[MacProfile] = Registry.of("MAC profile", {
    **dict(wifi.WIFI_PROFILES.items()),
    ieee802154.O_QPSK_2450.name: ieee802154.O_QPSK_2450,
    ble.LE_1M.name: ble.LE_1M,
    ble.LE_2M.name: ble.LE_2M,
})

# Built-in catalog radios (hwmodels/catalog/radios.yaml) and the profile whose PHY rate matches their max_phy_rate.
RADIO_PROFILES: dict[str, str] = {
    "wifi5-80mhz": wifi.VHT80_MCS9.name,
    "wifi6-80mhz": wifi.HE80_MCS11.name,
    "zigbee-2.4ghz": ieee802154.O_QPSK_2450.name,
    "ble-1m": ble.LE_1M.name,
    "ble-2m": ble.LE_2M.name,
}


def mac_profile(name: str) -> MacProfile:
    """The built-in medium-access profile called ``name``."""
    return MAC_PROFILES.get(name)


def profile_for_radio(radio: Radio) -> MacProfile:
    """The medium-access profile of a catalog radio (by its name or one of its aliases)."""
    for name in (radio.name, *radio.aliases):
        if name in RADIO_PROFILES:
            return MAC_PROFILES[RADIO_PROFILES[name]]
    raise SpecError(f"radio {radio.name!r} has no medium-access profile; radios with one: "
                    f"{', '.join(RADIO_PROFILES)} (or pass a profile, see hwmodels.mac.MAC_PROFILES)")


def exchange_timing(profile: MacProfile, payload_B: float, contenders: int = 1) -> ExchangeTiming:
    """Price delivering ``payload_B`` octets from one of ``contenders`` stations on any profile's medium."""
    pricer = _PRICERS.get(type(profile))
    if pricer is None:
        raise SpecError(f"profile must be one of {', '.join(t.__name__ for t in _PRICERS)}, "
                        f"got {type(profile).__name__}")
    return pricer(profile, payload_B, contenders)


def exchange_time_s(profile: MacProfile, payload_B: float, contenders: int = 1) -> float:
    """Medium time (s) charged to the exchange: ``exchange_timing(...).total_s``."""
    return exchange_timing(profile, payload_B, contenders).total_s


def goodput_bps(profile: MacProfile, payload_B: float, contenders: int = 1) -> float:
    """Payload bit/s on the medium when every contender sends ``payload_B`` octets; 0 for an empty message."""
    octets = check_payload_B(payload_B)
    return 8.0 * octets / exchange_time_s(profile, octets, contenders) if octets else 0.0
