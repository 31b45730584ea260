"""The DDP communication hook on a real 2-process gloo group gives, step after step, the
compressor's own aggregate computed in this process from the same gradients and states."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from experiments.measure.world import run_world
from simulator.compression import State, create
from simulator.compression.ddp_hooks import pack, unpack
from simulator.models import build

SEED = 7
STEPS = 3
SCHEMES = [("none", {}), ("fp16", {}), ("qsgd", {"levels": 4, "bucket": 64}), ("topk", {"ratio": 0.1}),
           ("powersgd", {"rank": 1}), ("qcs", {"bucket": 64}), ("dithered-ec", {"bucket": 64})]


def _model() -> nn.Module:
    return build("mlp", (64,), 10, seed=3, hidden=[32, 16])


def _batch(worker: int, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1000 * worker + step)
    return torch.randn(8, 64, generator=gen), torch.randint(0, 10, (8,), generator=gen)


def _grads(model: nn.Module, worker: int, step: int) -> list[torch.Tensor]:
    model.zero_grad()
    x, y = _batch(worker, step)
    nn.functional.cross_entropy(model(x), y).backward()
    return [p.grad.detach().clone() for p in model.parameters()]


def _ddp_job(rank: int, world: int, schemes: list) -> dict:
    from torch.nn.parallel import DistributedDataParallel  # noqa: PLC0415

    from simulator.compression.ddp_hooks import register  # noqa: PLC0415

    out = {}
    for name, params in schemes:
        model = _model()
        # ~1 KiB buckets: the mlp's 2,778 parameters fall into several buckets from step 1 on
        ddp = DistributedDataParallel(model, bucket_cap_mb=1024 / 2**20)
        state = register(ddp, name, params, seed=SEED)
        steps = []
        for step in range(STEPS):
            x, y = _batch(rank, step)
            ddp.zero_grad()
            nn.functional.cross_entropy(ddp(x), y).backward()
            steps.append([p.grad.detach().clone() for p in model.parameters()])
        out[name] = {"grads": steps, "buckets": state.buckets, "step": state.step, "bits": state.bits}
    return out


def _reference(name: str, params: dict, world: int) -> tuple[list[list[torch.Tensor]], list[int]]:
    """The scheme's aggregate in one process: per (worker, parameter) states kept across steps."""
    comp = create(name, **params)
    model = _model()
    n = len(list(model.parameters()))
    states = [[State(SEED, w, 0, i) for i in range(n)] for w in range(world)]
    steps, bits = [], [0] * world
    for step in range(STEPS):
        payloads = []
        for w in range(world):
            for s in states[w]:
                s.step = step
            payloads.append([comp.compress(g, states[w][i]) for i, g in enumerate(_grads(model, w, step))])
            bits[w] += sum(p.nbits for p in payloads[w])
        steps.append([comp.aggregate([payloads[w][i] for w in range(world)], [states[w][i] for w in range(world)])
                      for i in range(n)])
    return steps, bits


@pytest.fixture(scope="module")
def ddp_results() -> list[dict]:
    # fork: the ranks inherit this process's imports (seconds instead of a fresh start each),
    # including torch._dynamo, which DDP imports when the first one is built
    import torch._dynamo  # noqa: F401, PLC0415
    return run_world(_ddp_job, 2, SCHEMES, timeout_s=120, start_method="fork")


@pytest.mark.parametrize("name, params", SCHEMES, ids=[s for s, _ in SCHEMES])
def test_hook_equals_in_process_aggregate(ddp_results: list[dict], name: str, params: dict) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # the spawned ranks run one thread: same kernels, same rounding
    try:
        expected, bits = _reference(name, params, 2)
    finally:
        torch.set_num_threads(threads)
    # fp16 sums the half-precision payloads in half precision: one rounding of the sum apart
    tol = {"rtol": 1e-3, "atol": 1e-6} if name == "fp16" else {"rtol": 1e-6, "atol": 1e-8}
    for rank, by_scheme in enumerate(ddp_results):
        result = by_scheme[name]
        assert result["buckets"] > 1 and result["step"] == STEPS
        assert result["bits"] == bits[rank]
        for step in range(STEPS):
            for got, want in zip(result["grads"][step], expected[step]):
                torch.testing.assert_close(got, want.reshape(got.shape), **tol)


def test_pack_round_trip_keeps_dtypes_shapes_and_meta() -> None:
    comp = create("qsgd", levels=4, bucket=8)
    g = torch.randn(3, 5)
    payloads = [comp.compress(g, State(0, 0, 0, 0)), create("topk", k=2).compress(g, State(0, 0, 0, 1))]
    payloads[0].meta["nested"] = True
    padded = torch.cat([pack(payloads), torch.zeros(11, dtype=torch.uint8)])
    back = unpack(padded)
    for a, b in zip(payloads, back):
        assert (a.nbits, a.shape, a.meta) == (b.nbits, b.shape, b.meta)
        assert a.data.keys() == b.data.keys()
        for key in a.data:
            assert a.data[key].dtype == b.data[key].dtype
            assert torch.equal(a.data[key], b.data[key])
