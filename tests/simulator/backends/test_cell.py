"""Transfers and collectives on a shared cell: every exchange priced by the radio's medium access
(hwmodels.mac), one at a time, at the number of stations contending; energy by hand."""

import pytest

from hwmodels import Device, Radio, load_catalog
from hwmodels.mac import exchange_timing, profile_for_radio
from simulator.cluster import Cluster
from simulator.executor import run
from simulator.network import Topology
from simulator.network.media import MacCell
from simulator.taskgraph import TaskGraph

CAT = load_catalog()
WIFI = CAT.radio("wifi6-80mhz")
RADIO = Radio(name="r", max_tx_power_W=0.1, bandwidth_Hz=80e6, carrier_frequency_Hz=5.2e9, circuit_power_W=0.2,
              aliases=("wifi6-80mhz",))
DEV = Device(name="d", peak_flops={"fp32": 1e9}, mem_bandwidth_Bps=1e10, mem_capacity_B=1e9, active_power_W=5.0,
             idle_power_W=1.0)
HOSTS = ("h0", "h1", "h2", "ps")


def cell(radio=WIFI, **kw):
    return Cluster(None, DEV, hosts_=HOSTS, medium=MacCell(radio, 3, **kw), uncharged={"ps"})


def test_a_send_between_stations_is_two_exchanges_through_the_ap():
    g = TaskGraph()
    g.send("h0", "h1", 1500.0)
    res = run(g, cell(RADIO))
    t = exchange_timing(profile_for_radio(WIFI), 1500.0, 1)
    assert res.makespan_s == pytest.approx(2 * t.total_s, rel=1e-12)
    assert res.air_bits == 2 * 1500 * 8 and res.sent_bytes_per_host["h0"] == 1500.0
    # h0 sends hop 1 (tx at P + circuit, ACK and listening at receive power 0 here); h1 receives hop 2
    # (rx at 0 W) and acknowledges it (tx for the ACK's time at P + circuit)
    radio_j = 0.3 * t.tx_s + 0.3 * t.rx_s
    assert res.energy_breakdown_j["radio"] == pytest.approx(radio_j, rel=1e-12)
    assert res.energy_breakdown_j["idle"] == pytest.approx(2 * 1.0 * res.makespan_s, rel=1e-12)


def test_direct_links_and_a_server_at_the_ap_take_one_exchange():
    g = TaskGraph()
    g.send("h0", "h1", 1500.0)
    t = exchange_timing(profile_for_radio(WIFI), 1500.0, 1).total_s
    assert run(g, cell(direct=True)).makespan_s == pytest.approx(t, rel=1e-12)
    g = TaskGraph()
    g.send("h2", "ps", 1500.0)
    assert run(g, cell(ap_host="ps")).makespan_s == pytest.approx(t, rel=1e-12)


def test_concurrent_senders_contend_and_serialise():
    """Two stations push to the AP's server at once: the first exchange is priced with 2
    contenders, the second (alone by then) with 1; the medium carries one at a time."""
    g = TaskGraph()
    g.send("h0", "ps", 4000.0)
    g.send("h1", "ps", 4000.0)
    res = run(g, cell(ap_host="ps"))
    prof = profile_for_radio(WIFI)
    two, one = exchange_timing(prof, 4000.0, 2).total_s, exchange_timing(prof, 4000.0, 1).total_s
    assert res.makespan_s == pytest.approx(two + one, rel=1e-12)
    assert res.stats["exchanges"] == 2 and res.stats["medium_busy_s"] == pytest.approx(two + one, rel=1e-12)


def test_allreduce_on_a_cell_is_its_program_step_by_step():
    """Ring all-reduce of 3 stations, direct: 4 steps of 3 messages of n/3; each step's three
    exchanges contend (3, 2, 1 pending), then the reduce-scatter steps' reductions."""
    g = TaskGraph()
    n = 3e5
    g.collective("allreduce", ["h0", "h1", "h2"], n, algorithm="ring")
    res = run(g, cell(direct=True), reductions=False)
    prof = profile_for_radio(WIFI)
    step = sum(exchange_timing(prof, n / 3, c).total_s for c in (3, 2, 1))
    assert res.makespan_s == pytest.approx(4 * step, rel=1e-12)
    assert sum(res.sent_bytes_per_host.values()) == pytest.approx(4 * n)


def test_a_small_message_takes_longer_on_wifi_than_on_gigabit_ethernet():
    g = TaskGraph()
    g.send("h0", "h1", 64.0)
    wired = Cluster(Topology.switch(4, CAT.link("eth-1g")), DEV)
    assert run(g, cell()).makespan_s > run(g, wired).makespan_s
