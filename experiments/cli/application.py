"""The ``ddlsim`` Typer application: its global options (``--catalog``, ``--debug``,
``--version``) and :func:`run`, which runs it on the command line.

Command modules register their commands on :data:`app` (``@app.command(...)``);
:func:`experiments.cli.main` imports them all before calling :func:`run`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from .. import package_version
from .options import CATALOG_HELP

__all__ = ["app", "run"]

app = typer.Typer(
    name="ddlsim",
    help="Simulate and price distributed deep learning on modelled hardware.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"ddlsim {package_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    catalog_paths: Optional[list[Path]] = typer.Option(
        None, "--catalog", help=CATALOG_HELP),
    debug: bool = typer.Option(False, "--debug", help="Show the Python traceback of a failed command."),
    _version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."),
) -> None:
    ctx.obj = {"catalog_paths": list(catalog_paths or []), "debug": debug}


def run() -> None:
    """Run the app on ``sys.argv`` (after :func:`experiments.cli.main` loaded the commands).
    A malformed command line (unknown option, a value of the wrong type) is one line and exit 2,
    like every other user error, instead of click's usage box."""
    try:
        code = app(standalone_mode=False)   # without standalone mode an Exit(code) comes back as the value
    except typer.TyperException as exc:   # typer's parser: usage errors (exit 2) and the like
        ctx = getattr(exc, "ctx", None)
        if ctx is not None and not exc.format_message():   # no arguments at all: the help, as before
            typer.echo(ctx.get_help())
            sys.exit(exc.exit_code)
        path = ctx.command_path.split(" ", 1) if ctx is not None else []
        hint = f" (see 'ddlsim {path[1]} --help')" if len(path) == 2 else " (see 'ddlsim --help')"
        typer.echo(f"error: {' '.join(exc.format_message().split())}{hint}", err=True)
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    if isinstance(code, int) and code:
        sys.exit(code)
