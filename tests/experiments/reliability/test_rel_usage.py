"""A malformed command line is one line on stderr and exit 2, as every other user error (the
console entry point, not typer's test runner, which keeps click's own handling)."""

import subprocess
import sys

import pytest

ENTRY = "import sys; from experiments.cli import main; sys.argv[0] = 'ddlsim'; main()"


def ddlsim(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", ENTRY, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args, words", [
    (["collective", "--workers", "abc"], "Invalid value for '--workers'"),
    (["collective", "--bogus", "1"], "No such option: --bogus"),
    (["nosuchcommand"], "No such command 'nosuchcommand'"),
    (["train"], "Missing argument 'spec'"),
])
def test_usage_errors_are_one_line_and_exit_2(args, words):
    out = ddlsim(*args)
    assert out.returncode == 2 and out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], out.stderr
    assert "--help" in lines[0]


def test_exit_codes_of_commands_survive_and_help_still_works(tmp_path):
    missing = ddlsim("train", str(tmp_path / "none.yaml"))
    assert missing.returncode == 2 and missing.stderr.startswith("error: ")
    assert ddlsim("compress", "--list").returncode == 0
    bare = ddlsim()
    assert bare.returncode == 2 and "Usage: ddlsim" in bare.stdout
