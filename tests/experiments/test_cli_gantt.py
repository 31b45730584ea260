"""``--gantt`` on ``ddlsim netsim`` and ``ddlsim collective``: one bar per recorded span, one lane
per resource, checked before anything runs."""

from importlib import resources

from typer.testing import CliRunner

from experiments import plots
from experiments.cli import app
from simulator.network.scenario import load_scenario, run_scenario

EXAMPLES = resources.files("experiments") / "examples"
runner = CliRunner()


def test_the_chart_draws_every_span_in_its_lane():
    result = run_scenario(load_scenario(EXAMPLES / "dumbbell.yaml"), record_flows=True)
    spans = result.timeline.spans
    fig = plots.timeline(result.timeline)
    ax = fig.axes[0]
    bars = [p for p in ax.patches]
    assert len(bars) == len(spans) == 3
    lanes = [t.get_text() for t in ax.get_yticklabels()]
    for bar, span in zip(bars, spans):
        assert bar.get_x() == span.start_s and abs(bar.get_width() - (span.end_s - span.start_s)) < 1e-15
        assert lanes[round(bar.get_y() + bar.get_height() / 2)] == span.resource


def test_netsim_and_collective_write_the_chart(tmp_path):
    png, svg = tmp_path / "n.png", tmp_path / "c.svg"
    res = runner.invoke(app, ["netsim", str(EXAMPLES / "dumbbell.yaml"), "--gantt", str(png)])
    assert res.exit_code == 0, res.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    res = runner.invoke(app, ["collective", "--op", "allreduce", "--algorithm", "ring", "--workers", "4",
                              "--size", "1MiB", "--bandwidth", "10Gbps", "--gantt", str(svg)])
    assert res.exit_code == 0, res.output
    assert "Gantt chart written to" in res.stdout and svg.read_text().lstrip().startswith("<?xml")


def test_bad_chart_options_fail_before_running(tmp_path):
    trace, bad = tmp_path / "t.json", tmp_path / "chart.txt"
    res = runner.invoke(app, ["netsim", str(EXAMPLES / "dumbbell.yaml"), "--trace", str(trace), "--gantt", str(bad)])
    assert res.exit_code == 2 and "--gantt: give a .png, .svg or .pdf file" in res.stderr
    assert not trace.exists() and not bad.exists()
    res = runner.invoke(app, ["collective", "--op", "allreduce", "--algorithm", "ring", "--workers", "4",
                              "--size", "1MiB", "--bandwidth", "10Gbps", "--mode", "analytic",
                              "--gantt", str(tmp_path / "c.png")])
    assert res.exit_code == 2 and "--gantt needs --mode des" in res.stderr
