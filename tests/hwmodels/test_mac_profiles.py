"""Profiles by name and by catalog radio; one entry point for every medium."""

import pytest

from hwmodels import SpecError, load_catalog
from hwmodels import ble, ieee802154, mac, wifi


def test_every_builtin_radio_with_a_mac_has_a_profile_at_its_phy_rate():
    cat = load_catalog()
    rates = {wifi.WifiProfile: lambda p: p.data_rate_bps, ble.BleProfile: lambda p: p.phy_rate_bps,
             ieee802154.Ieee802154Profile: lambda p: 8 / p.octet_s}
    for name in mac.RADIO_PROFILES:
        radio = cat.radio(name)
        profile = mac.profile_for_radio(radio)
        assert rates[type(profile)](profile) == pytest.approx(8 * radio.max_phy_rate_Bps, rel=1e-3)
    assert mac.profile_for_radio(cat.radio("zigbee")) is ieee802154.O_QPSK_2450     # by alias


def test_radios_without_a_mac_and_unknown_names_are_errors():
    with pytest.raises(SpecError, match="'lora-eu868-125khz' has no medium-access profile"):
        mac.profile_for_radio(load_catalog().radio("lora-eu868-125khz"))
    with pytest.raises(SpecError, match="unknown MAC profile 'wifi7'"):
        mac.mac_profile("wifi7")
    with pytest.raises(SpecError, match="profile must be one of"):
        mac.exchange_timing(object(), 10, 1)


def test_dispatch_equals_the_module_functions():
    for name, profile in mac.MAC_PROFILES.items():
        module = {wifi.WifiProfile: wifi, ble.BleProfile: ble, ieee802154.Ieee802154Profile: ieee802154}[type(profile)]
        assert mac.mac_profile(name) is profile
        assert mac.exchange_timing(profile, 3000, 1) == module.exchange_timing(profile, 3000, 1)
        assert mac.goodput_bps(profile, 3000, 1) == pytest.approx(module.goodput_bps(profile, 3000, 1))
