"""Bianchi's DCF model against his paper's closed form and against an independent slot-level simulation."""

import numpy as np
import pytest

from hwmodels import SpecError
from hwmodels.dcf import (BIANCHI_FHSS_BACKOFF, Backoff, DcfTiming, bianchi, bianchi_fhss_timing,
                          bianchi_tau_unlimited, saturation_throughput_bps, simulate_dcf)


@pytest.mark.parametrize("stations", [1, 5, 10, 20])
def test_bianchi_within_5_percent_of_simulation_fhss(stations):
    # Bianchi (2000) Table II, FHSS, basic access, W = 32, m = 3, unlimited retries
    timing = bianchi_fhss_timing()
    model = saturation_throughput_bps(stations, BIANCHI_FHSS_BACKOFF, timing)
    sample = simulate_dcf(stations, BIANCHI_FHSS_BACKOFF, timing, np.random.default_rng(stations))
    assert sample.throughput_bps == pytest.approx(model, rel=0.05)
    assert sample.throughput_bps == pytest.approx(model, rel=0.01)   # what it actually achieves
    assert sample.collision_probability == pytest.approx(bianchi(stations, BIANCHI_FHSS_BACKOFF).p, abs=0.02)


@pytest.mark.parametrize("stations", [5, 20])
def test_retry_limit_form_within_5_percent_of_simulation(stations):
    # 802.11a-like windows with dot11ShortRetryLimit = 7: the renewal form of tau, not Bianchi's Eq. (7)
    backoff = Backoff(15, 1023, retry_limit=7)
    timing = DcfTiming(slot_s=9e-6, success_s=300e-6, collision_s=270e-6, payload_bits=12000)
    sample = simulate_dcf(stations, backoff, timing, np.random.default_rng(100 + stations), transmissions=50_000)
    assert sample.throughput_bps == pytest.approx(saturation_throughput_bps(stations, backoff, timing), rel=0.05)


def test_bianchi_paper_values():
    # Bianchi (2000), Fig. 6 (basic access, W = 32, m = 3): S ~ 0.81 at n = 5 and ~ 0.68 at n = 20 (read off
    # the plot); n = 1: tau = 2 / (W + 1), so S = E[P] / ((W - 1)/2 sigma + T_s) exactly
    timing = bianchi_fhss_timing()
    bit = 1e-6
    s = [saturation_throughput_bps(n, BIANCHI_FHSS_BACKOFF, timing) * bit for n in (1, 5, 20)]
    assert s[0] == pytest.approx(8184e-6 / (15.5 * 50e-6 + timing.success_s), rel=1e-12)
    assert s[1] == pytest.approx(0.81, abs=0.01) and s[2] == pytest.approx(0.68, abs=0.01)
    rts = [saturation_throughput_bps(n, BIANCHI_FHSS_BACKOFF, bianchi_fhss_timing(rts_cts=True)) * bit
           for n in (5, 50)]
    assert all(0.82 < v < 0.845 for v in rts)     # RTS/CTS: nearly flat in n (Fig. 7)


@pytest.mark.parametrize("p", [0.0, 0.1, 0.3, 0.45, 0.6, 0.9])
def test_renewal_form_tends_to_bianchi_eq7(p):
    backoff = Backoff(31, 1023)
    w, m = 32, 5
    eq7 = 2 * (1 - 2 * p) / ((1 - 2 * p) * (w + 1) + p * w * (1 - (2 * p) ** m))
    assert bianchi_tau_unlimited(p, backoff) == pytest.approx(eq7, rel=1e-12)
    from hwmodels.dcf import _tau
    assert _tau(p, Backoff(31, 1023, retry_limit=400)) == pytest.approx(eq7, rel=1e-9)


def test_fixed_point_holds():
    for n in (2, 7, 30):
        c = bianchi(n, Backoff(15, 1023, 7))
        assert c.p == pytest.approx(1 - (1 - c.tau) ** (n - 1), abs=1e-12)


def test_bad_backoff_and_station_count():
    with pytest.raises(SpecError, match="power of two"):
        Backoff(15, 1000)
    with pytest.raises(SpecError, match="retry_limit"):
        Backoff(15, 1023, retry_limit=0)
    with pytest.raises(SpecError, match="contenders"):
        bianchi(0, Backoff())
