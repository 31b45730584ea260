"""The built-in example behind ``ddlsim demo``: one data-parallel training step, priced.

A GPT-2-small-sized transformer (124 M parameters) trains data-parallel on 8 workers,
each on 8 x 1,024 tokens per step. Compute is the roofline of the device at
6 N T FLOPs per step (Kaplan et al., "Scaling Laws for Neural Language Models",
2020: forward 2NT plus backward 4NT) and 16 N bytes of optimizer-state traffic
(fp32 master weights, two Adam moments and gradients: Rajbhandari et al., ZeRO,
SC 2020). Gradients (fp32, 4 N bytes) are ring all-reduced over a switch (two hops
per message) with the closed form of Thakur, Rabenseifner and Gropp (2005). No
overlap of compute and communication is assumed: the step is their sum.
"""

from __future__ import annotations

from dataclasses import dataclass

from hwmodels import Catalog, Cost, Device, LinkSpec
from simulator.collectives import NetParams, analytic_time

__all__ = ["DemoConfig", "DEMO_CONFIGS", "price_step", "demo_rows"]

PARAMS = 124_000_000
TOKENS_PER_WORKER = 8 * 1024
WORKERS = 8
BYTES_PER_PARAM_STATE = 16
GRAD_BYTES_PER_PARAM = 4


@dataclass(frozen=True)
class DemoConfig:
    """One hardware configuration of the demo: a device per worker and its link to the switch."""

    device: str
    link: str
    dtype: str


DEMO_CONFIGS = (
    DemoConfig("h100-sxm5-80gb", "nvlink4", "bf16"),
    DemoConfig("a100-sxm4-40gb", "nvlink3", "bf16"),
    DemoConfig("a100-sxm4-40gb", "ib-hdr", "bf16"),
    DemoConfig("v100-sxm2-32gb", "eth-100g", "fp16"),
    DemoConfig("jetson-agx-orin-64gb", "eth-10g", "fp32"),
    DemoConfig("jetson-orin-nano-8gb", "eth-1g", "fp32"),
    DemoConfig("raspberry-pi-5-4gb", "eth-1g", "fp32"),
)


def price_step(device: Device, link: LinkSpec, dtype: str, *, workers: int = WORKERS,
               params: int = PARAMS, tokens: int = TOKENS_PER_WORKER) -> dict[str, float | str | bool]:
    """Time (s) and energy (J, all workers) of one data-parallel step on ``device`` x ``workers`` over ``link``."""
    flops = 6.0 * params * tokens
    compute = device.cost(flops, BYTES_PER_PARAM_STATE * params, dtype)
    grad_bytes = GRAD_BYTES_PER_PARAM * params
    net = NetParams.for_link(link, hops=2)
    comm_s = analytic_time("allreduce", "ring", workers, grad_bytes, net)
    # every rank sends 2(p-1)/p of the vector in a ring all-reduce, over two hops
    wire_bits = 8.0 * 2.0 * (workers - 1) / workers * grad_bytes * workers
    comm = Cost(comm_s, device.idle_power_W * comm_s * workers + 2 * wire_bits * link.energy_per_bit_J, wire_bits)
    step = Cost.series([Cost.parallel([compute] * workers), comm])
    return {
        "device": device.name, "link": link.name, "dtype": dtype,
        "fits_memory": BYTES_PER_PARAM_STATE * params <= device.mem_capacity_B,
        "compute_s": compute.latency_s, "allreduce_s": comm_s, "step_s": step.latency_s,
        "energy_j": step.energy_j, "comm_share": comm_s / step.latency_s,
    }


def demo_rows(catalog: Catalog, configs: tuple[DemoConfig, ...] = DEMO_CONFIGS) -> list[dict[str, float | str | bool]]:
    """The demo table: one priced step per hardware configuration."""
    return [price_step(catalog.device(c.device), catalog.link(c.link), c.dtype) for c in configs]
