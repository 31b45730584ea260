"""The loopback topology: processes of one host sharing its copy capacity.

References: hand-computed step times (every message of a step shares the bus), and the flow
DES against the closed forms on the same topology."""

import pytest

from hwmodels import LinkSpec, SpecError
from simulator.collectives import NetParams, analytic_time, run
from simulator.network import LoopbackTopology, build_topology

LINK = LinkSpec("lo", bandwidth_Bps=2.5e9, latency_s=100e-6, host_cores=2, oversubscription_latency_s=400e-6)


def test_every_path_crosses_the_shared_bus_and_pays_the_oversubscription():
    topo = build_topology("loopback", 4, LINK)
    assert topo.path_links("h0", "h3") == ["h0->lo", "lo->h3", "lo->bus"]
    # two hops of 100 us and two processes beyond the two cores at 400 us
    assert topo.path_latency_s("h1", "h2") == pytest.approx(2 * 100e-6 + 2 * 400e-6, rel=1e-12)
    assert topo.shared_capacity_Bps == 2.5e9
    # the topology's own cores and latency override the link's
    assert LoopbackTopology(4, LINK, cores=4).path_latency_s(0, 1) == pytest.approx(200e-6, rel=1e-12)


@pytest.mark.parametrize("op, algorithm, p", [("allreduce", "ring", 2), ("allreduce", "ring", 5),
                                              ("allgather", "ring", 4), ("broadcast", "binomial-tree", 4),
                                              ("broadcast", "binomial-tree", 7), ("alltoall", "direct", 3),
                                              ("allreduce", "recursive-doubling", 8)])
def test_des_equals_the_closed_form_on_loopback(op, algorithm, p):
    topo = LoopbackTopology(p, LINK)
    des = run(op, algorithm, p, 4 << 20, topo, mode="des").time_s
    assert run(op, algorithm, p, 4 << 20, topo, mode="analytic").time_s == pytest.approx(des, rel=1e-9)


def test_binomial_broadcast_by_hand():
    # 4 processes: step 1 one message of n, step 2 two at once sharing the bus
    n = 8e6
    net = NetParams.from_topology(LoopbackTopology(4, LINK))
    alpha = 2 * 100e-6 + 2 * 400e-6
    assert analytic_time("broadcast", "binomial-tree", 4, n, net) == pytest.approx(
        (alpha + n / 2.5e9) + (alpha + 2 * n / 2.5e9), rel=1e-12)


@pytest.mark.parametrize("kwargs, match", [({"cores": -1}, "cores"), ({"cores": 1.5}, "cores"),
                                           ({"oversubscription_latency_s": -1e-6}, "oversubscription_latency_s"),
                                           ({"oversubscription_latency_s": "soon"}, "oversubscription_latency_s")])
def test_bad_loopback_options_are_one_line_errors(kwargs, match):
    with pytest.raises(SpecError, match=match):
        LoopbackTopology(3, LINK, **kwargs)
    with pytest.raises(SpecError, match="host_cores"):
        LinkSpec("x", bandwidth_Bps=1e9, host_cores=-2)
