"""The codec work model against this host: measured encode and decode time of every scheme
next to its declared work priced on this host's own roofline.

    python benchmarks/bench_codec.py                    # 2^16, 2^20, 2^22 elements, 7 repeats
    python benchmarks/bench_codec.py --sizes 16 20 --repeats 3 --json out.json

(a) The roofline: fp32 GEMM FLOP/s (2048 x 2048) before each scheme, and a STREAM-style triad
a = b + s c (2^24 floats per array, 12 bytes per element) timed in every repetition right before
the codec calls. Every time is the best of ``--repeats`` after a warm-up: on a shared host the
best run is the least disturbed by other processes, and a codec and the triad it is compared
with are timed in the same repetitions, so a busy moment slows both (and the triad leaves the
caches cold, as a gradient fresh from backward mostly is). (b) Each scheme at its
default parameters on tensors of (n / 1024) x 1024 Gaussian entries (ISGQ: factors of
(64, d, d), d = sqrt(n)); NDQSG: an even and an odd worker, decoded together. Encode and
decode wall time, the warm-up call on the same state (so error feedback and warm starts are in
their steady state). (c) The declared work
(``compressor.work(shape)``) priced on a Device of that roofline with codec_efficiency = 1.
Per row: the implied efficiency modelled / measured (encode + decode); then ONE efficiency,
the median of all rows, and each row's error with it. Torch is limited to ``--threads``
(default 1: on a loaded host a second thread stalls every parallel kernel at its barrier).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable

import torch

from hwmodels import Device
from simulator.compression import State, create, schemes


_TRIAD = 1 << 24   # floats per triad array: 3 x 64 MiB, far beyond the caches


def gemm_flops(repeats: int) -> float:
    """fp32 GEMM FLOP/s (2048 x 2048), the best of ``repeats`` after a warm-up."""
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return 2 * 2048**3 / min(times)


class Triad:
    """A STREAM-style triad a = b + s c, timed between codec calls (12 bytes per element)."""

    def __init__(self) -> None:
        self.x, self.y, self.z = torch.randn(_TRIAD), torch.randn(_TRIAD), torch.empty(_TRIAD)

    def __call__(self) -> float:
        t0 = time.perf_counter()
        torch.add(self.x, self.y, alpha=3.0, out=self.z)
        return time.perf_counter() - t0


def timed(encode: Callable[[int], object], decode: Callable[[object, int], object], repeats: int,
          triad: Triad) -> tuple[float, float, float]:
    """Best encode and decode seconds and the best triad bandwidth (B/s) timed in the same
    repetitions; call ``step`` 0 is the warm-up."""
    enc, dec, stream = [], [], []
    for step in range(repeats + 1):
        stream.append(triad())
        t0 = time.perf_counter()
        payload = encode(step)
        t1 = time.perf_counter()
        decode(payload, step)
        t2 = time.perf_counter()
        if step:
            enc.append(t1 - t0)
            dec.append(t2 - t1)
    return min(enc), min(dec), 12 * _TRIAD / min(stream[1:])


def measure_scheme(name: str, kind: str, n: int, repeats: int, triad: Triad) -> tuple[tuple[int, ...], float, float, float]:
    """(work shape, encode s, decode s, triad B/s) of scheme ``name`` on ``n`` elements."""
    gen = torch.Generator().manual_seed(n)
    c = create(name)
    if kind == "factors":
        d = int(round(n**0.5))
        x, delta = torch.relu(torch.randn(64, d, generator=gen)), torch.randn(64, d, generator=gen)
        enc, dec, bandwidth = timed(lambda s: c.compress(x, delta, State(step=s)),
                                    lambda p, s: c.decompress(p, State(step=s)), repeats, triad)
        return (64, d, d), enc, dec, bandwidth
    g = torch.randn(n // 1024, 1024, generator=gen)
    if kind == "workers":   # an even and an odd worker; decode both together, per payload
        noisy = g + 0.1 * torch.randn(g.shape, generator=gen)
        states = [State(worker=0), State(worker=1)]

        def encode(step: int) -> list:
            for state in states:
                state.step = step
            return [c.compress(g, states[0]), c.compress(noisy, states[1])]

        enc, dec, bandwidth = timed(encode, lambda p, s: c.aggregate(p, states), repeats, triad)
        return tuple(g.shape), enc / 2, dec / 2, bandwidth
    state = State()

    def step_state(step: int) -> State:
        state.step = step
        return state

    enc, dec, bandwidth = timed(lambda s: c.compress(g, step_state(s)), lambda p, s: c.decompress(p, step_state(s)),
                                repeats, triad)
    return tuple(g.shape), enc, dec, bandwidth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 20, 22], help="log2 of the elements")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    triad = Triad()
    rows = []
    for scheme in schemes():
        flops = gemm_flops(args.repeats)
        for log2n in args.sizes:
            shape, enc, dec, bandwidth = measure_scheme(scheme.name, scheme.kind, 1 << log2n, args.repeats, triad)
            # this row's roofline: the GEMM just before the scheme, the triad between its calls
            host = Device(name="this-host", peak_flops={"fp32": flops}, mem_bandwidth_Bps=bandwidth, mem_capacity_B=1e9,
                          active_power_W=1.0, category="cpu", codec_efficiency=1.0)
            work = create(scheme.name).work(shape)
            model_enc, model_dec = host.codec_time(work.encode), host.codec_time(work.decode)
            rows.append({"scheme": scheme.name, "shape": list(shape), "elements": 1 << log2n,
                         "gemm_flops": flops, "triad_Bps": bandwidth,
                         "measured_encode_s": enc, "measured_decode_s": dec,
                         "model_encode_s": model_enc, "model_decode_s": model_dec,
                         "implied_efficiency": (model_enc + model_dec) / (enc + dec)})
            print(f"{scheme.name:11s} 2^{log2n}: {flops / 1e9:5.1f} GFLOP/s {bandwidth / 1e9:5.2f} GB/s; "
                  f"measured {1e3 * enc:8.3f} + {1e3 * dec:8.3f} ms, model at e=1 {1e3 * model_enc:8.3f} + "
                  f"{1e3 * model_dec:8.3f} ms, implied e {rows[-1]['implied_efficiency']:.3f}", flush=True)
    flops = [r["gemm_flops"] for r in rows]
    streams = [r["triad_Bps"] for r in rows]
    print(f"\nroofline: {min(flops) / 1e9:.1f}..{max(flops) / 1e9:.1f} GFLOP/s fp32 GEMM, "
          f"{min(streams) / 1e9:.2f}..{max(streams) / 1e9:.2f} GB/s triad "
          f"({platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} threads)")
    fitted = statistics.median(r["implied_efficiency"] for r in rows)
    for r in rows:
        r["error_with_fit"] = r["implied_efficiency"] / fitted - 1   # modelled at the fit / measured - 1
    print(f"fitted efficiency (median of {len(rows)} rows): {fitted:.3f}\n")
    print("| scheme | " + " | ".join(f"2^{s} measured ms (enc+dec)" for s in args.sizes)
          + " | " + " | ".join(f"2^{s} model ms at e=1" for s in args.sizes) + " | implied efficiency | error at the fit |")
    print("|---|" + "---|" * (2 * len(args.sizes) + 2))
    for scheme in schemes():
        mine = [r for r in rows if r["scheme"] == scheme.name]
        cells = [f"{1e3 * (r['measured_encode_s'] + r['measured_decode_s']):.3g}" for r in mine]
        cells += [f"{1e3 * (r['model_encode_s'] + r['model_decode_s']):.3g}" for r in mine]
        implied = ", ".join(f"{r['implied_efficiency']:.2g}" for r in mine)
        errors = ", ".join(f"{100 * r['error_with_fit']:+.0f} %" for r in mine)
        print(f"| {scheme.name} | " + " | ".join(cells) + f" | {implied} | {errors} |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"fitted_efficiency": fitted,
                       "torch": torch.__version__, "threads": args.threads, "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
