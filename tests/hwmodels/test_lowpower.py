"""IEEE 802.15.4 and BLE exchange timing: hand computations from the standards, published maxima, properties."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwmodels import SpecError
from hwmodels import ble, ieee802154
from hwmodels.ble import LE_1M, LE_2M
from hwmodels.ieee802154 import O_QPSK_2450 as ZB

US = 1e-6


def test_80215_4_frame_airtime_and_mean_backoff_by_hand():
    # 250 kb/s: one octet = 2 symbols of 16 us = 32 us; SHR 5 + PHR 1 + PSDU 127 = 133 octets
    assert ieee802154.frame_airtime_s(ZB, 127) == pytest.approx(133 * 32 * US)
    # macMinBE = 3: random(2^3 - 1) unit backoff periods, mean 3.5 x 20 symbols x 16 us
    assert ieee802154.mean_backoff_s(ZB) == pytest.approx(3.5 * 320 * US)
    with pytest.raises(SpecError, match="aMaxPhyPacketSize"):
        ieee802154.frame_airtime_s(ZB, 128)


def test_80215_4_single_station_exchange_by_hand():
    # 116 payload octets fill one frame (127 - 11 octets of MAC header and FCS):
    # backoff 1120 + CCA 8 sym 128 + turnaround 12 sym 192 + frame 4256 + turnaround 192 + Imm-Ack (6 + 5) x 32 = 352
    # + LIFS 40 sym = 640 (the frame is longer than aMaxSifsFrameSize = 18)
    hand = 1120 + 128 + 192 + 4256 + 192 + 352 + 640
    assert ieee802154.exchange_time_s(ZB, 116, 1) == pytest.approx(hand * US)
    # 5 octets: PSDU 16 <= 18, so SIFS (12 symbols) follows; frame (6 + 16) x 32 = 704
    assert ieee802154.exchange_time_s(ZB, 5, 1) == pytest.approx((1120 + 128 + 192 + 704 + 192 + 352 + 192) * US)
    # 1000 octets = 8 full frames + one of 72 payload octets (PSDU 83)
    last = 1120 + 128 + 192 + (6 + 83) * 32 + 192 + 352 + 640
    assert ieee802154.exchange_time_s(ZB, 1000, 1) == pytest.approx((8 * hand + last) * US)
    t = ieee802154.exchange_timing(ZB, 116, 1)
    assert (t.tx_s, t.rx_s, t.listen_s) == pytest.approx((4256 * US, 352 * US, (1120 + 128 + 192 + 192 + 640) * US))


def test_80215_4_renewal_time_matches_an_independent_simulation_run():
    # contention() measures alpha and p with one seed; a run with another seed counts delivered frames directly
    for n in (2, 4):
        c = ieee802154.contention(ZB, 127, n)
        model = n * c.frames_per_s * 8 * 116
        sample = ieee802154.simulate_csma(ZB, 127, n, np.random.default_rng(4242 + n), frames=3000)
        assert sample.throughput_bps == pytest.approx(model, rel=0.05)
    single = ieee802154.simulate_csma(ZB, 127, 1, np.random.default_rng(1), frames=3000)
    assert single.throughput_bps == pytest.approx(8 * 116 / (6880 * US), rel=0.01) and single.p == 0


@settings(max_examples=25, deadline=None)
@given(payload=st.integers(0, 20_000), extra=st.integers(1, 5_000))
def test_80215_4_more_bytes_never_faster_alone(payload, extra):
    assert ieee802154.exchange_time_s(ZB, payload + extra, 1) >= ieee802154.exchange_time_s(ZB, payload, 1)


def test_80215_4_more_contenders_never_faster():
    elapsed = [ieee802154.exchange_timing(ZB, 2000, n).elapsed_s for n in (1, 2, 3, 5)]
    assert elapsed == sorted(elapsed)
    t = ieee802154.exchange_timing(ZB, 2000, 3)
    assert t.elapsed_s == pytest.approx(3 * t.total_s) and t.tx_s > ieee802154.exchange_timing(ZB, 2000, 1).tx_s


@pytest.mark.parametrize("profile, octet_us, preamble", [(LE_1M, 8, 1), (LE_2M, 4, 2)])
def test_ble_packet_times_by_hand(profile, octet_us, preamble):
    # preamble + access address 4 + header 2 + payload + CRC 3 octets at 1 or 2 Mb/s
    assert ble.packet_time_s(profile, 251) == pytest.approx((preamble + 4 + 2 + 251 + 3) * octet_us * US)
    assert ble.packet_time_s(profile, 0) == pytest.approx((preamble + 9) * octet_us * US)
    encrypted = dataclasses.replace(profile, mic_B=4)
    assert ble.packet_time_s(encrypted, 251) - ble.packet_time_s(profile, 251) == pytest.approx(4 * octet_us * US)
    assert ble.packet_time_s(encrypted, 0) == ble.packet_time_s(profile, 0)
    if profile is LE_1M:   # 2120 us: the longest LE 1M data packet the Core Specification lets a connection use
        assert ble.packet_time_s(encrypted, 251) == pytest.approx(2120 * US)


def test_ble_maximum_throughput_against_the_known_maxima():
    # one 251-octet data packet + T_IFS + empty packet + T_IFS per 251 octets; applications see 244 octets of
    # it after the L2CAP (4) and ATT (3) headers: ~800 kb/s on LE 1M and ~1.4 Mb/s on LE 2M, the figures
    # Bluetooth LE throughput guides quote (e.g. Novel Bits, "Bluetooth 5 speed"; RF Essentials, BLE throughput)
    assert ble.max_throughput_bps(LE_1M) == pytest.approx(8 * 251 / ((2088 + 150 + 80 + 150) * US))
    assert ble.max_throughput_bps(LE_1M) * 244 / 251 == pytest.approx(800e3, rel=0.03)
    assert ble.max_throughput_bps(LE_2M) * 244 / 251 == pytest.approx(1.4e6, rel=0.03)


def test_ble_exchange_in_connection_events_by_hand():
    # 1000 octets = 3 x 251 + 247; a 7.5 ms interval holds floor(7500 / 2468) = 3 pairs on LE 1M:
    # 3 packets in the first event, the last one event later: 7.5 ms + (8 x (1+4+2+247+3) + 80 + 300) us
    assert ble.pairs_per_event(LE_1M) == 3
    t = ble.exchange_timing(LE_1M, 1000, 1)
    assert t.total_s == pytest.approx(7.5e-3 + (2056 + 80 + 300) * US)
    assert t.tx_s == pytest.approx((3 * 2088 + 2056) * US) and t.rx_s == pytest.approx(4 * 80 * US)
    assert t.listen_s == pytest.approx(8 * 150 * US)
    assert t.elapsed_s == pytest.approx(t.total_s) and t.sleep_s == pytest.approx(7.5e-3 - 3 * 2468 * US)
    # four connections share the central: one packet each per round of max(7.5 ms, 4 pairs)
    four = ble.exchange_timing(LE_1M, 1000, 4)
    assert ble.event_period_s(LE_1M, 4) == pytest.approx(4 * 2468 * US)
    assert four.elapsed_s == pytest.approx(3 * 4 * 2468 * US + (2056 + 380) * US)


@settings(max_examples=40, deadline=None)
@given(profile=st.sampled_from([LE_1M, LE_2M]), payload=st.integers(0, 200_000), extra=st.integers(1, 5000),
       n=st.integers(1, 8))
def test_ble_more_bytes_or_connections_never_faster(profile, payload, extra, n):
    now = ble.exchange_timing(profile, payload, n)
    assert ble.exchange_timing(profile, payload + extra, n).elapsed_s >= now.elapsed_s * (1 - 1e-12)
    assert ble.exchange_timing(profile, payload, n + 1).elapsed_s >= now.elapsed_s * (1 - 1e-12)
    assert ble.goodput_bps(profile, payload + extra, n) <= 8 * profile.phy_rate_bps


def test_lowpower_bad_input():
    with pytest.raises(SpecError, match="payload_B"):
        ieee802154.exchange_time_s(ZB, -5, 1)
    with pytest.raises(SpecError, match="contenders"):
        ble.exchange_time_s(LE_1M, 10, 0)
    with pytest.raises(SpecError, match="connection_interval_s"):
        dataclasses.replace(LE_1M, connection_interval_s=5e-3)
    with pytest.raises(SpecError, match="max_payload_B"):
        dataclasses.replace(LE_2M, max_payload_B=300)
    with pytest.raises(SpecError, match="max_be"):
        dataclasses.replace(ZB, max_be=2)
