"""Helpers of the reliability tests: run a command in process, assert a one-line user error."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from experiments.cli import app

runner = CliRunner()


def invoke(*args: str):
    """``ddlsim ARGS`` in this process (no subprocess: fast)."""
    return runner.invoke(app, [str(a) for a in args])


def assert_user_error(result, *fragments: str) -> str:
    """Exit 2 with one line on stderr, no traceback, containing every fragment; the line."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture(name="run")
def _run():
    return invoke


@pytest.fixture(name="user_error")
def _user_error():
    return assert_user_error
