"""Closed-form counterparts of measured collectives (on the loopback topology) agree with
`ddlsim collective` and the hand formula; a step's work is the traced model's."""

import pytest

from experiments.collective import collective_row as collective_result
from experiments.measure.cases import CollectiveCase
from experiments.measure.predict import collective_s, compute_work
from experiments.measure.training import TrainCase
from hwmodels import load_catalog
from simulator.collectives import reduction_gamma


@pytest.mark.parametrize("op", ["allreduce", "allgather", "broadcast"])
def test_collectives_match_the_cli_on_loopback(op):
    catalog = load_catalog()
    device, link = catalog.device("epyc-7763"), catalog.link("eth-10g")
    case = CollectiveCase(op, 3, 4 * 2**20)
    alg = {"allreduce": "ring", "allgather": "ring", "broadcast": "binomial-tree"}[op]
    cli = collective_result(op, alg, 3, case.size_B, "loopback", link.bandwidth_Bps, link.latency_s, mode="analytic",
                            device=device)
    # torch's all_gather into a list also copies n/p in and n out (each read and written) on the device
    staging = device.time(0.0, 2 * (1 + 1 / 3) * case.size_B) if op == "allgather" else 0.0
    assert collective_s(case, device, link) == pytest.approx(cli["time_s"] + staging, rel=1e-12)


def test_p2p_is_two_hops_and_the_message():
    catalog = load_catalog()
    device, link = catalog.device("epyc-7763"), catalog.link("eth-10g")
    assert collective_s(CollectiveCase("p2p", 2, 1e6), device, link) == pytest.approx(2 * 10e-6 + 1e6 / 1.25e9)
    # a 2-process ring all-reduce: two steps of two messages of half the vector sharing the
    # host's copy capacity, one half reduced
    t = collective_s(CollectiveCase("allreduce", 2, 1e6), device, link)
    assert t == pytest.approx(2 * (2 * 10e-6 + 2 * 0.5e6 / 1.25e9) + 0.5e6 * reduction_gamma(device))


def test_step_work_of_the_mlp_by_hand():
    flops, nbytes = compute_work(TrainCase("mlp", "digits", 2, 32))
    # 64-128-10 MLP: forward 2 (64*128 + 128*10) per sample plus 128 ReLU and flatten-free ops;
    # backward twice the linear layers' and once the ReLU's
    linear = 2 * (64 * 128 + 128 * 10)
    assert flops == pytest.approx(32 * (3 * linear + 2 * 128), rel=1e-12)
    assert nbytes > 3 * 4 * 9610   # parameters read twice and gradients written once, plus activations
