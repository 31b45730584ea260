"""The CLI starts without the heavy libraries: ``--version`` before any command module loads,
``hw list`` without torch, pandas, matplotlib, scipy or dask; ``--catalog`` after a subcommand."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from experiments.cli import app

HEAVY = ("torch", "pandas", "matplotlib", "scipy", "dask", "distributed", "sklearn")
ROOT = Path(__file__).resolve().parents[2]


def _loaded_after(argv):
    """Run ``ddlsim ARGV`` in a fresh interpreter; (its stdout, the modules it had loaded)."""
    code = ("import json, sys\n"
            f"sys.argv = ['ddlsim', *{list(argv)!r}]\n"
            "from experiments.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "sys.stdout.write('\\nMODULES ' + json.dumps(sorted(sys.modules)))\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, cwd=ROOT).stdout
    text, _, modules = out.rpartition("\nMODULES ")
    return text, set(json.loads(modules))


def _heavy(modules):
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


def test_version_is_answered_before_any_command_loads():
    text, modules = _loaded_after(["--version"])
    assert text.startswith("ddlsim ")
    assert not [m for m in modules if m.startswith(("experiments.cli.", "typer", "hwmodels", "numpy"))]


@pytest.mark.parametrize("argv", [["hw", "list"], ["hw", "show", "eth-10g", "--json"], ["--help"]])
def test_light_commands_load_no_heavy_library(argv):
    text, modules = _loaded_after(argv)
    assert text.strip() and _heavy(modules) == []
    assert "experiments.cli.collective" in modules         # every command registered, none of their libraries


def test_importing_the_cli_and_listing_workloads_loads_no_heavy_library():
    code = ("import sys, json\nfrom experiments.cli import app\nfrom experiments.workloads import workloads\n"
            "names = [w.name for w in workloads()]\n"
            "print(json.dumps([names, sorted(m for m in sys.modules if m.split('.')[0] in %r)]))" % (HEAVY,))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    names, heavy = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                                             check=True, cwd=ROOT).stdout)
    assert {"train", "fl", "infer", "collective"} <= set(names) and heavy == []


def test_catalog_is_accepted_after_the_subcommand(tmp_path):
    extra = tmp_path / "mine.yaml"
    extra.write_text("links:\n  - name: my-link\n    bandwidth: 3Gbps\n    latency: 7us\n    source: test\n")
    for argv in (["hw", "show", "my-link", "--json", "--catalog", str(extra)],
                 ["--catalog", str(extra), "hw", "show", "my-link", "--json"]):
        res = CliRunner().invoke(app, argv)
        assert res.exit_code == 0, res.output
        assert json.loads(res.stdout)["bandwidth_Bps"] == 3e9 / 8
    assert "--catalog" in CliRunner().invoke(app, ["sweep", "--help"]).stdout


def test_app_is_the_typer_app_whatever_was_imported_first():
    # importing a command module first imports the shared submodules; when one of them was called app,
    # Python bound it as the package's `app` (found when two test files ran in that order)
    code = ("import experiments.cli.collective\nfrom experiments.cli import app\nimport typer\n"
            "assert isinstance(app, typer.Typer), type(app)\nfrom experiments.cli.application import run\nprint('ok')")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, check=False)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
