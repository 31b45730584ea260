"""The README's worked example runs and prints what the README says; its commands match CI."""

import doctest
import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from experiments.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def console_blocks(text):
    """(command, expected output) for every ```console block that starts with `$ ddlsim`."""
    for block in re.findall(r"```console\n(.*?)```", text, flags=re.S):
        first, _, rest = block.partition("\n")
        assert first.startswith("$ ddlsim "), first
        yield first[len("$ ddlsim "):], rest


def test_python_example_runs_as_shown():
    failures, tried = doctest.testfile(str(README), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert tried >= 5 and failures == 0


@pytest.mark.parametrize(("command", "expected"), list(console_blocks(README.read_text())))
def test_cli_example_prints_as_shown(command, expected, monkeypatch):
    monkeypatch.delenv("DDLSIM_CATALOG", raising=False)
    result = CliRunner().invoke(app, shlex.split(command))
    assert result.exit_code == 0, result.output
    assert result.stdout == expected


def test_ci_runs_the_readme_commands():
    bash = re.findall(r"```bash\n(.*?)\n```", README.read_text(), flags=re.S)
    assert len(bash) == 2, "the README has exactly two commands"
    ci = (ROOT / ".ci" / "run").read_text()
    for part in bash[0].split(" && ") + [bash[1]]:
        if part.startswith("python3 -m venv"):
            assert "python3 -m venv .venv" in ci
        else:
            assert part.replace(".venv/bin/pip install ", ".venv/bin/pip install --quiet ") in ci, part
