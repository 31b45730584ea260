"""Wi-Fi exchange pricing: hand computations from IEEE Std 802.11-2020, a peer tool's table, properties, bad input."""

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwmodels import SpecError, load_catalog
from hwmodels.wifi import (DOT11A_54, HE80_MCS11, VHT80_MCS9, WIFI_PROFILES, airtime_breakdown, exchange_time_s,
                           exchange_timing, goodput_bps, ppdu_time_s, wifi_profile)

US = 1e-6


def test_one_1500_byte_msdu_on_80211a_by_hand():
    # DIFS = SIFS + 2 slots = 16 + 18 = 34 us; mean backoff CWmin/2 = 7.5 slots = 67.5 us
    # PPDU: MPDU = 24 (header) + 1500 + 4 (FCS) = 1528 octets; (16 + 8 x 1528 + 6) / 216 = 56.7 -> 57 symbols
    #       20 us preamble + 57 x 4 us = 248 us
    # SIFS 16 us; ACK 14 octets at 24 Mb/s: (16 + 112 + 6) / 96 -> 2 symbols: 20 + 8 = 28 us
    hand = 34 + 67.5 + 248 + 16 + 28
    assert exchange_time_s(DOT11A_54, 1500, 1) == pytest.approx(hand * US, rel=1e-12)
    assert goodput_bps(DOT11A_54, 1500, 1) == pytest.approx(12000 / (hand * US), rel=1e-12)
    t = exchange_timing(DOT11A_54, 1500, 1)
    assert (t.tx_s, t.rx_s, t.listen_s, t.sleep_s) == pytest.approx((248 * US, 28 * US, 117.5 * US, 0.0))


def test_a_two_mpdu_ampdu_on_vht_by_hand():
    # 3000 octets = two 1500-octet MSDUs; MPDU = 26 + 1500 + 4 = 1530 ... QoS header 26 + FCS 4 = 30 -> 1530
    # subframes: 4 + 1530 = 1534, the first padded to 1536, the last not: PSDU 3070 octets
    # (16 + 8 x 3070 + 6) / 1560 = 15.76 -> 16 symbols x 3.6 us = 57.6 us, on the 4 us grid -> 60 us; + 40 us preamble
    # BlockAck 32 octets at 24 Mb/s: (16 + 256 + 6) / 96 -> 3 symbols: 32 us
    assert ppdu_time_s(VHT80_MCS9, 3070) == pytest.approx(100 * US)
    hand = 34 + 67.5 + 100 + 16 + 32
    assert exchange_time_s(VHT80_MCS9, 3000, 1) == pytest.approx(hand * US, rel=1e-12)


def test_a_512_bit_message_is_slower_on_wifi_than_on_gigabit_ethernet():
    gbe = load_catalog().link("eth-1g")
    for profile in WIFI_PROFILES.values():
        wifi = exchange_time_s(profile, 64, 1)
        assert wifi > gbe.transfer_time(64)
        assert wifi > 150 * US     # DIFS + backoff + preamble + SIFS + ACK alone exceed 150 us


def test_profiles_match_the_catalog_radios_phy_rate():
    cat = load_catalog()
    for radio, profile in (("wifi5-80mhz", VHT80_MCS9), ("wifi6-80mhz", HE80_MCS11)):
        assert profile.data_rate_bps == pytest.approx(8 * cat.radio(radio).max_phy_rate_Bps, rel=1e-3)
    assert DOT11A_54.data_rate_bps == 54e6 and DOT11A_54.difs_s == pytest.approx(34 * US)


def test_aggregation_limits():
    # VHT: the 64-MPDU Block Ack window binds; HE: 256 MPDUs, and every PPDU stays within aPPDUMaxTime
    from hwmodels.wifi import _full_mpdus_per_ppdu, _ppdus
    assert _full_mpdus_per_ppdu(VHT80_MCS9) == 64 and _full_mpdus_per_ppdu(HE80_MCS11) == 256
    for profile in (VHT80_MCS9, HE80_MCS11):
        for _, _, psdu, _ in _ppdus(profile, 5_000_000):
            assert ppdu_time_s(profile, psdu) <= 5.484e-3 and psdu <= profile.max_psdu_B
    short = dataclasses.replace(HE80_MCS11, name="he-1ms", max_ppdu_s=1e-3)
    k = _full_mpdus_per_ppdu(short)
    assert k < 256 and ppdu_time_s(short, _ppdus(short, 1500 * k)[0][2]) <= 1e-3


@pytest.mark.parametrize("stations, ns3_mbps", [(5, 29.8324), (10, 28.1519), (20, 26.2925), (50, 23.5618)])
def test_against_ns3_reference_bianchi_table(stations, ns3_mbps):
    # ns-3 src/wifi/examples/wifi-bianchi.cc, bianchiResultsDifs["OfdmRate54Mbps"]: 802.11a 54 Mb/s, ACK at
    # 24 Mb/s, 1500-octet packets plus 6 octets of upper-layer header, 28-octet MAC overhead, T_c with DIFS,
    # unlimited retries. Their MATLAB script also scales E[P] and T_s by 1/(1 - 1/W) and adds a slot; within 1 %.
    profile = dataclasses.replace(DOT11A_54, retry_limit=None, msdu_B=1506)
    ours = 8 * 1500 / exchange_time_s(profile, 1506, stations)
    assert ours / 1e6 == pytest.approx(ns3_mbps, rel=0.012)


def test_breakdown_adds_up_and_single_station_backoff_is_cwmin_over_two():
    for profile in WIFI_PROFILES.values():
        for stations in (1, 7):
            parts = airtime_breakdown(profile, 123_456, stations)
            assert parts.total_s == pytest.approx(exchange_time_s(profile, 123_456, stations), rel=1e-12)
            assert parts.payload_s == pytest.approx(8 * 123_456 / profile.data_rate_bps)
        alone = airtime_breakdown(profile, 1500, 1)
        assert alone.backoff_s == pytest.approx(7.5 * profile.slot_s) and alone.collision_s == 0


def test_rts_cts_trades_handshake_for_cheap_collisions():
    rts = dataclasses.replace(HE80_MCS11, name="he-rts", rts_cts=True)
    assert exchange_time_s(rts, 1_000_000, 1) > exchange_time_s(HE80_MCS11, 1_000_000, 1)
    assert exchange_time_s(rts, 1_000_000, 20) < 0.9 * exchange_time_s(HE80_MCS11, 1_000_000, 20)


@settings(max_examples=60, deadline=None)
@given(profile=st.sampled_from(list(WIFI_PROFILES.values())), payload=st.integers(0, 3_000_000),
       extra=st.integers(1, 20_000), stations=st.integers(1, 30))
def test_more_bytes_or_more_contenders_never_faster(profile, payload, extra, stations):
    now = exchange_timing(profile, payload, stations)
    # Monotone up to float rounding: equal frame counts sum the same terms in another order.
    assert exchange_timing(profile, payload + extra, stations).total_s >= now.total_s * (1 - 1e-12)
    assert exchange_timing(profile, payload, stations + 1).elapsed_s >= now.elapsed_s * (1 - 1e-12)
    assert now.elapsed_s == pytest.approx(stations * now.total_s, rel=1e-9, abs=1e-15)


def test_empty_and_fractional_payloads():
    assert exchange_time_s(HE80_MCS11, 0, 5) == 0 and goodput_bps(HE80_MCS11, 0) == 0
    assert exchange_time_s(DOT11A_54, 99.2, 1) == exchange_time_s(DOT11A_54, 100, 1)   # whole octets


def test_bad_input_names_the_field():
    with pytest.raises(SpecError, match="payload_B"):
        exchange_time_s(DOT11A_54, -1, 1)
    with pytest.raises(SpecError, match="contenders"):
        exchange_time_s(DOT11A_54, 100, 0)
    with pytest.raises(SpecError, match="contenders"):
        exchange_time_s(DOT11A_54, 100, 2.5)
    with pytest.raises(SpecError, match="unknown Wi-Fi profile 'wifi7'"):
        wifi_profile("wifi7")
    with pytest.raises(SpecError, match="'slot_s'"):
        dataclasses.replace(DOT11A_54, slot_s=0)
    with pytest.raises(SpecError, match="WifiProfile"):
        exchange_time_s("802.11a-54", 100, 1)
