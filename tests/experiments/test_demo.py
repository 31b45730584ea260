"""The demo's priced step against a hand calculation, and the command end to end."""

import json

import pytest
from typer.testing import CliRunner

from experiments.cli import app
from experiments.demo import DEMO_CONFIGS, demo_rows, price_step
from hwmodels import Catalog, Device, LinkSpec


def test_price_step_by_hand():
    device = Device(name="d", peak_flops={"fp32": 1e12}, mem_bandwidth_Bps=1e15, mem_capacity_B=1e12,
                    active_power_W=100.0, idle_power_W=10.0)
    link = LinkSpec(name="l", bandwidth_Bps=1e9, latency_s=1e-6, energy_per_bit_J=1e-12)
    row = price_step(device, link, "fp32", workers=4, params=1_000_000, tokens=1000)
    compute = 6 * 1e6 * 1000 / 1e12  # 6 ms
    # ring all-reduce of 4 MB, p = 4, two hops per message: 2(p-1) alpha + 2 (p-1)/p n beta
    comm = 2 * 3 * 2e-6 + 2 * 0.75 * 4e6 / 1e9
    assert row["compute_s"] == pytest.approx(compute)
    assert row["allreduce_s"] == pytest.approx(comm)
    assert row["step_s"] == pytest.approx(compute + comm)
    wire_bits = 8 * 2 * 0.75 * 4e6 * 4
    assert row["energy_j"] == pytest.approx(4 * 100 * compute + 4 * 10 * comm + 2 * wire_bits * 1e-12)


def test_demo_rows_cover_every_config_and_order_by_speed():
    rows = demo_rows(Catalog.load(use_env=False))
    assert len(rows) == len(DEMO_CONFIGS)
    by_name = {(r["device"], r["link"]): r for r in rows}
    # the same A100s are slower on InfiniBand HDR than on NVLink 3, compute unchanged
    nv, ib = by_name[("a100-sxm4-40gb", "nvlink3")], by_name[("a100-sxm4-40gb", "ib-hdr")]
    assert nv["compute_s"] == ib["compute_s"] and ib["allreduce_s"] > nv["allreduce_s"]
    assert rows[0]["step_s"] < rows[-1]["step_s"]


def test_demo_command(monkeypatch):
    monkeypatch.delenv("DDLSIM_CATALOG", raising=False)
    result = CliRunner().invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    assert "Hardware catalog" in result.stdout and "h100-sxm5-80gb" in result.stdout and "all-reduce" in result.stdout
    rows = json.loads(CliRunner().invoke(app, ["demo", "--json"]).stdout)
    assert {"device", "link", "step_s", "energy_j"} <= set(rows[0])
