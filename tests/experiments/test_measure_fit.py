"""Calibration fits recover known hardware from synthetic timings made from known figures
(with and without noise); the link's timings come from ddlsim's closed forms themselves."""

import math

import numpy as np
import pytest

from experiments.measure.calibrate import SETTINGS, fit_codec_calls, fit_host, host_device
from experiments.measure.records import combine_runs
from experiments.measure.fit import fit_efficiency, fit_linear, fit_rate
from experiments.measure.link import GLOO_ALGORITHMS, fit_link
from experiments.measure.records import measurement
from hwmodels import Device, SpecError
from simulator.collectives import NetParams, analytic_time, reduction_gamma
from simulator.network import LoopbackTopology
from hwmodels import LinkSpec
from simulator.compression import create

RNG = np.random.default_rng(2024)
PEAK = {"fp32": 61.0e9, "fp64": 30.5e9}   # a known device: FLOP/s per dtype
TRIAD_BPS = 14.0e9                          # and its memory bandwidth
ALPHA, BETA = 60e-6, 1 / 2.5e9              # and a known loopback message: 60 us + n / 2.5 GB/s


def _noisy(t, sigma):
    return np.asarray(t) * (1 + sigma * RNG.standard_normal(np.shape(t)))


@pytest.mark.parametrize("sigma, overhead_s, tol", [(0.0, 0.0, 1e-9), (0.02, 2e-6, 0.03)])
def test_calibration_recovers_a_known_device_from_synthetic_timings(sigma, overhead_s, tol):
    """Timings a known device would give (GEMMs, triads, dispatch loops at its per-call
    overhead, codecs at its codec efficiency and their calls), plus noise and a fixed overhead
    per timed call, through calibrate's own fit."""
    known = Device("known", dict(PEAK), TRIAD_BPS, 8e9, 10.0, codec_efficiency=0.3, call_overhead_s=4e-6)
    points = []
    for dtype, peak in PEAK.items():
        for n in SETTINGS["full"].gemm_sizes["fp32"]:
            flops = 2.0 * n**3
            points.append(measurement("gemm", {"dtype": dtype, "n": n, "flops": flops},
                                      _noisy([overhead_s + flops / peak] * 5, sigma)))
    for n in SETTINGS["full"].triad_elements:
        points.append(measurement("triad", {"elements": n, "bytes": 12.0 * n},
                                  _noisy([overhead_s + 12.0 * n / TRIAD_BPS] * 5, sigma)))
    for calls in SETTINGS["full"].dispatch_calls:
        points.append(measurement("dispatch", {"calls": calls}, _noisy([30e-6 + known.call_time(calls)] * 5, sigma)))
    shape = SETTINGS["full"].codec_shape
    for name, params in SETTINGS["full"].codecs:
        work = create(name, **params).work(shape)
        for phase, w in (("encode", work.encode), ("decode", work.decode)):
            config = {"scheme": name, "params": params, "shape": shape, "elements": 2**20, "phase": phase}
            points.append(measurement("codec", config, _noisy([known.codec_time(w)] * 5, sigma)))
    gemm, triad, codec, calls = fit_host(points)
    device = host_device(gemm, triad, codec_efficiency=codec.efficiency, call_overhead_s=1 / calls.rate)
    assert device.call_overhead_s == pytest.approx(4e-6, rel=tol)
    for dtype, peak in PEAK.items():
        assert device.peak_flops[dtype] == pytest.approx(peak, rel=tol)
    assert device.mem_bandwidth_Bps == pytest.approx(TRIAD_BPS, rel=tol)
    assert device.codec_efficiency == pytest.approx(0.3, rel=tol)
    assert len(codec.residuals) == 2 * len(SETTINGS["full"].codecs)


def test_rate_fit_with_an_overhead():
    flops = 2.0 * np.array([128, 256, 384, 512, 768, 1024]) ** 3
    fit = fit_rate(flops, 15e-6 + flops / 61e9)
    assert fit.rate == pytest.approx(61e9, rel=1e-9) and fit.overhead_s == pytest.approx(15e-6, rel=1e-6)
    assert max(abs(r) for r in fit.residuals) < 1e-9
    noisy = fit_rate(flops, _noisy(15e-6 + flops / 61e9, 0.02))
    assert noisy.rate == pytest.approx(61e9, rel=0.03) and 0.004 < np.std(noisy.residuals) < 0.06


@pytest.mark.parametrize("sigma, tol", [(0.0, 1e-9), (0.03, 0.08)])
def test_loopback_from_p2p_and_allreduce_timings(sigma, tol):
    # A known loopback: 60 us per message (30 us per hop), 2.5 GB/s shared, 2 cores and 300 us
    # per process beyond them; the all-reduces priced on its topology by the simulator.
    device = host_device({"fp32": fit_rate([1e9, 2e9], [0.1, 0.2], overhead=False)}, fit_rate([1e9, 2e9], [0.1, 0.2]))
    gamma = reduction_gamma(device)
    link = LinkSpec("known", bandwidth_Bps=1 / BETA, latency_s=ALPHA / 2, host_cores=2, oversubscription_latency_s=300e-6)
    points = []
    for size in 4096.0 * 4.0 ** np.arange(8):
        points.append(measurement("p2p", {"op": "p2p", "world": 2, "size_B": size}, _noisy([ALPHA + BETA * size], sigma)))
        for world in (2, 3, 4):
            net = NetParams.from_topology(LoopbackTopology(world, link), gamma_s_per_B=gamma)
            t = analytic_time("allreduce", GLOO_ALGORITHMS["allreduce"], world, size, net)
            points.append(measurement("collective", {"op": "allreduce", "world": world, "size_B": size}, _noisy([t], sigma)))
    fit = fit_link(points, gamma, cores=2)
    assert fit.alpha_s == pytest.approx(ALPHA, rel=tol)
    assert fit.bandwidth_Bps == pytest.approx(1 / BETA, rel=tol)
    assert fit.oversubscription_latency_s == pytest.approx(300e-6, rel=tol) and fit.cores == 2
    assert len(fit.residuals) == len(points)
    # without points beyond the cores there is no oversubscription term to fit
    within = fit_link([m for m in points if m.config["world"] <= 2], gamma, cores=2)
    assert within.oversubscription_latency_s == 0.0


def test_ring_allreduce_on_loopback_by_hand():
    # 3 processes, 2 cores: 2(p-1) = 4 steps, each p messages of n/p sharing the bus, and each
    # message 2 hops of latency plus one process's oversubscription latency.
    link = LinkSpec("lo", bandwidth_Bps=2e9, latency_s=50e-6, host_cores=2, oversubscription_latency_s=400e-6)
    n = 3e6
    net = NetParams.from_topology(LoopbackTopology(3, link))
    step = 2 * 50e-6 + 400e-6 + 3 * (n / 3) / 2e9
    assert analytic_time("allreduce", "ring", 3, n, net) == pytest.approx(4 * step, rel=1e-12)


def test_alpha_beta_needs_two_sizes_and_positive_times():
    with pytest.raises(SpecError, match="two different sizes"):
        fit_linear([[1, 100], [1, 100]], [1e-3, 1.1e-3])
    with pytest.raises(SpecError, match="grow with message size"):
        fit_linear([[1, 100], [1, 200]], [1e-3, 1e-3])
    with pytest.raises(SpecError, match="positive"):
        fit_linear([[1, 100], [1, 200]], [1e-3, -1.0])
    with pytest.raises(SpecError, match="two different work sizes"):
        fit_rate([5.0, 5.0], [1.0, 1.0])


@pytest.mark.parametrize("sigma, tol", [(0.0, 1e-12), (0.05, 0.05)])
def test_codec_efficiency_from_measured_seconds_and_declared_work(sigma, tol):
    # A known device whose codecs run at 0.3 of its roofline; each scheme's declared work.
    known = Device("known", {"fp32": 61e9}, 14e9, 8e9, 10.0, codec_efficiency=0.3)
    ideal = Device("ideal", {"fp32": 61e9}, 14e9, 8e9, 10.0, codec_efficiency=1.0)
    pairs = []
    for name in ("none", "fp16", "qsgd", "topk", "powersgd", "qcs"):
        for shape in ((256, 256), (1024, 1024)):
            work = create(name).work(shape)
            pairs += [(float(_noisy(known.codec_time(w), sigma)), w) for w in (work.encode, work.decode)]
    fit = fit_efficiency(pairs, ideal.codec_time)
    assert fit.efficiency == pytest.approx(0.3, rel=tol)
    faster = [(ideal.codec_time(w) / 3.0, w) for _, w in pairs]
    assert fit_efficiency(faster, ideal.codec_time).efficiency == 1.0   # capped: faster than the roofline


@pytest.mark.parametrize("sigma, tol", [(0.0, 1e-9), (0.05, 0.08)])
def test_codec_call_overhead_from_small_tensors(sigma, tol):
    # A known device whose codecs pay 6 us per declared call on top of their roofline.
    known = Device("known", {"fp32": 61e9}, 14e9, 8e9, 10.0, codec_efficiency=0.3, codec_call_overhead_s=6e-6)
    fitted = Device("fitted", {"fp32": 61e9}, 14e9, 8e9, 10.0, codec_efficiency=0.3)
    points = []
    for name in ("qsgd", "topk", "powersgd", "qcs"):
        for shape in ((10,), (128,), (1280,), (8192,)):
            work = create(name).work(shape)
            for phase, w in (("encode", work.encode), ("decode", work.decode)):
                config = {"scheme": name, "params": {}, "shape": shape, "phase": phase}
                points.append(measurement("codec-calls", config, _noisy([known.codec_time(w)], sigma)))
    points.append(measurement("codec", {"scheme": "qsgd", "params": {}, "shape": (9,), "phase": "encode"}, [9.0]))
    fit = fit_codec_calls(points, fitted)   # the large-tensor "codec" point is not a calls point
    assert 1.0 / fit.rate == pytest.approx(6e-6, rel=tol) and len(fit.residuals) == len(points) - 1
    assert fit_codec_calls(points[-1:], fitted) is None


def test_runs_combine_into_the_median_of_their_medians():
    cfg = {"op": "allreduce", "world": 2, "size_B": 4096.0}
    runs = [[measurement("collective", cfg, [1.0, 2.0, 3.0])], [measurement("collective", cfg, [4.0, 5.0, 6.0])],
            [measurement("collective", cfg, [2.5, 3.0, 3.5])]]
    (m,) = combine_runs(runs)
    assert m.measured_s == 3.0 and m.runs_s == (2.0, 5.0, 3.0) and m.repeats == 9
    assert m.run_spread == pytest.approx((5.0 - 2.0) / 3.0)
    assert math.isnan(combine_runs(runs[:1])[0].run_spread)   # one run: no spread between runs
    with pytest.raises(ValueError, match="different configurations"):
        combine_runs([runs[0], [measurement("p2p", {"op": "p2p"}, [1.0])]])
