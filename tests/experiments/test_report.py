"""``ddlsim report``: one self-contained HTML page per sweep, checked in a real headless browser.

The browser test drives Debian's ``chromium`` over the DevTools protocol (tornado's websocket
client, installed with dask.distributed): it loads the page from disk, collects console messages,
uncaught exceptions and log entries of level error, and asks the page for every image's decoded
size. It skips, saying why, where no chromium is installed (``apt-get install -y chromium``).
"""

import asyncio
import dataclasses
import json
import os
import re
import shutil
import subprocess
import tempfile
import urllib.request
from html.parser import HTMLParser

import pytest
from typer.testing import CliRunner

from experiments import workloads
from experiments.cli import app
from experiments.report import report_html

SPEC = """name: rep
description: ring against halving-doubling, and one misspelt algorithm
workload: collective
base: {op: allreduce, size: 1MiB, link: eth-10g, device: jetson-agx-orin-64gb, mode: analytic}
sweep:
  grid: {workers: [2, 4, 8], algorithm: [ring, halving-doubling, no-such-algorithm]}
repeats: 2
plots:
  - {name: scaling, x: workers, y: time_s, hue: algorithm, logx: true, logy: true}
  - {name: messages, kind: bars, x: algorithm, y: messages, where: {workers: 8}}
"""


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    (root / "spec.yaml").write_text(SPEC)
    # sweeps refuse invalid points up front; lift that check so the misspelt points fail while
    # running, as points that time out or lose their worker do, and the report shows failures
    collective = workloads.get_workload("collective")
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(workloads.WORKLOADS._entries, "collective", dataclasses.replace(collective, validate=None))
        res = CliRunner().invoke(app, ["sweep", str(root / "spec.yaml"), "--out", str(root / "out"), "--workers", "0"])
    assert res.exit_code == 1 and "6 point(s) failed" in res.stderr      # the misspelt points, by design
    return root / "out"


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.headers, self.links, self.scripts, self._in_th = [], [], [], 0, False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        elif tag in ("link", "a") and attrs.get("href", "").startswith(("http", "//")):
            self.links.append(attrs["href"])
        elif tag == "script":
            self.scripts += 1
        self._in_th = tag == "th"

    def handle_data(self, data):
        if self._in_th:
            self.headers.append(data)

    def handle_endtag(self, tag):
        self._in_th = False


def test_report_holds_spec_environment_results_figures_and_failures(sweep_dir):
    page = report_html(sweep_dir)
    parsed = _Page()
    parsed.feed(page)
    pngs = sorted((sweep_dir / "plots").glob("*.png"))
    assert len(pngs) == 2 and len(parsed.images) == 2
    assert all(src.startswith("data:image/png;base64,") for src in parsed.images)
    assert not parsed.links and not parsed.scripts                       # self-contained, nothing to fetch
    assert {"collective time (s)", "messages", "workers", "algorithm"} <= set(parsed.headers)
    assert "6 run(s) failed" in page and page.count("unknown collective algorithm &#x27;no-such-algorithm&#x27;") == 6
    assert "halving-doubling" in page and "name: rep" in page                  # the spec as run
    assert "IEEE Std 802.3ae" in page and "jetson-agx-orin-64gb" in page      # catalog entries with sources
    assert re.search(r"<td>ddlsim</td><td>[^<]+</td>", page) and "<td>torch</td>" in page


def test_report_command_writes_the_page(sweep_dir, tmp_path):
    res = CliRunner().invoke(app, ["report", str(sweep_dir), "--out", str(tmp_path / "r.html")])
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == str(tmp_path / "r.html") and (tmp_path / "r.html").stat().st_size > 10_000
    res = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert res.exit_code == 2 and "not a sweep directory" in res.stderr


# ---- in a real browser ---------------------------------------------------------------------

def _chromium():
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


async def _inspect(ws_url, page_url):
    """Load ``page_url`` in the page target at ``ws_url``; (problems reported, images' states)."""
    from tornado.websocket import websocket_connect  # noqa: PLC0415  (a dependency of dask.distributed)

    conn = await websocket_connect(ws_url)
    ids = iter(range(1, 1000))
    problems, replies = [], {}

    async def call(method, **params):
        key = next(ids)
        await conn.write_message(json.dumps({"id": key, "method": method, "params": params}))
        while key not in replies:
            await pump()
        return replies.pop(key)

    async def pump():
        message = json.loads(await asyncio.wait_for(conn.read_message(), 30))
        if "id" in message:
            replies[message["id"]] = message
        elif message["method"] == "Runtime.consoleAPICalled" and message["params"]["type"] in ("error", "warning", "assert"):
            problems.append(message["params"])
        elif message["method"] == "Runtime.exceptionThrown":
            problems.append(message["params"])
        elif message["method"] == "Log.entryAdded" and message["params"]["entry"]["level"] in ("error", "warning"):
            problems.append(message["params"]["entry"])
        elif message["method"] == "Page.loadEventFired":
            replies["loaded"] = True

    for domain in ("Runtime.enable", "Log.enable", "Page.enable"):
        await call(domain)
    await call("Page.navigate", url=page_url)
    while "loaded" not in replies:
        await pump()
    expression = ("JSON.stringify(Array.from(document.images).map(i => [i.complete, i.naturalWidth, "
                  "i.getBoundingClientRect().width]))")
    result = await call("Runtime.evaluate", expression=expression, returnByValue=True)
    conn.close()
    return problems, json.loads(result["result"]["result"]["value"])


def _browse(page):
    """Open the file ``page`` in headless chromium; (problems reported, images' states). Skips without chromium."""
    browser = _chromium()
    if browser is None:
        pytest.skip("no chromium on this machine: install it (Debian: apt-get install -y chromium) to test the "
                    "report in a real browser")
    profile = tempfile.mkdtemp()
    args = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--remote-debugging-port=0",
            f"--user-data-dir={profile}", "about:blank"]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True, env={**os.environ, "LANG": "C"})
    try:
        endpoint = None
        for line in proc.stderr:
            match = re.search(r"DevTools listening on (ws://[^\s]+)", line)
            if match:
                endpoint = match.group(1)
                break
        assert endpoint, "chromium did not open its DevTools endpoint"
        port = re.search(r":(\d+)/", endpoint).group(1)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as fh:
            target = next(t for t in json.load(fh) if t["type"] == "page")
        return asyncio.run(_inspect(target["webSocketDebuggerUrl"], page.as_uri()))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(profile, ignore_errors=True)


def test_the_browser_check_catches_a_broken_page(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body>'
                    '<img src="data:image/png;base64,bm90IGEgcG5n"><script>console.error("boom")</script></body></html>')
    problems, images = _browse(page)
    assert any("boom" in json.dumps(p) for p in problems)
    assert images and not images[0][1]                    # the image did not decode


def test_report_loads_in_a_headless_browser_without_errors_and_shows_every_figure(sweep_dir, tmp_path):
    page = tmp_path / "report.html"
    CliRunner().invoke(app, ["report", str(sweep_dir), "--out", str(page)])
    problems, images = _browse(page)
    assert problems == []
    assert len(images) == len(list((sweep_dir / "plots").glob("*.png"))) == 2
    assert all(complete and natural > 100 and shown > 100 for complete, natural, shown in images)
