"""The ``ddlsim`` typer application, its global options and user-error handling.

Command modules import :data:`app` and decorate their functions with
:func:`user_errors`, so a user's mistake prints one line on stderr and exits 2,
while ``--debug`` shows the traceback.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Optional, TypeVar

import typer

try:  # typer >= 0.2x vendors click; older releases use click itself
    from typer._click.globals import get_current_context
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import get_current_context

from hwmodels import Catalog, LinkSpec, SpecError, units
from hwmodels.catalog import ENV_VAR

from .. import package_version

__all__ = ["app", "user_errors", "catalog", "catalog_env", "link_option", "StepProgress", "echo_json", "package_version",
           "USER_ERRORS", "EXIT_USER_ERROR", "run", "output_path", "figure_path"]

EXIT_USER_ERROR = 2
# Exceptions that mean "the user's input or environment is wrong", never a bug of ours: a bad spec
# (SpecError, also raised for corrupt data files), any file-system failure (a missing file, a path
# through a regular file, no permission, a full disk) and a spec file that is not text.
USER_ERRORS: tuple[type[BaseException], ...] = (SpecError, OSError, UnicodeDecodeError)

F = TypeVar("F", bound=Callable[..., Any])

_CATALOG_HELP = "Extra hardware catalog YAML file or folder (repeatable); its entries shadow built-ins. Also $DDLSIM_CATALOG."

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
        None, "--catalog", help=_CATALOG_HELP),
    debug: bool = typer.Option(False, "--debug", help="Show the Python traceback of a failed command."),
    _version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."),
) -> None:
    ctx.obj = {"catalog_paths": list(catalog_paths or []), "debug": debug}


def _state() -> dict[str, Any]:
    ctx = get_current_context(silent=True)
    while ctx is not None and ctx.obj is None:
        ctx = ctx.parent
    return ctx.obj if ctx is not None and ctx.obj is not None else {"catalog_paths": [], "debug": False}


def catalog() -> Catalog:
    """The catalog for this invocation: built-ins, ``$DDLSIM_CATALOG``, then ``--catalog`` files."""
    return Catalog.load(_state()["catalog_paths"])


def link_option(name: str | None, bandwidth: str | None, latency: str | None, *, required: bool) -> LinkSpec | None:
    """The link of ``--link NAME`` (a catalog link) or of ``--bandwidth`` [``--latency``]; None
    when neither is given and ``required`` is false."""
    if name is not None and (bandwidth is not None or latency is not None):
        raise SpecError("give --link NAME or --bandwidth/--latency, not both")
    if name is not None:
        links = catalog().records["link"]
        for record in links.values():
            if name == record.name or name in record.aliases:
                return record  # type: ignore[return-value]
        raise SpecError(f"--link: unknown link {name!r}; known: {', '.join(sorted(links))}")
    if bandwidth is None:
        if latency is not None:
            raise SpecError("--latency needs --bandwidth (or give a catalog link with --link NAME)")
        if required:
            raise SpecError("give the link: --link NAME (a catalog link; `ddlsim hw list --kind link`) "
                            "or --bandwidth RATE [--latency TIME]")
        return None
    values = []
    for option, value, dimension in (("--bandwidth", bandwidth, "rate"), ("--latency", latency or "0s", "time")):
        try:
            values.append(units.parse(value, dimension))
        except SpecError as exc:
            raise SpecError(f"{option}: {exc}") from None
    return LinkSpec(name="cli-link", bandwidth_Bps=values[0], latency_s=values[1])


@contextlib.contextmanager
def catalog_env() -> Iterator[None]:
    """Export this invocation's ``--catalog`` files through ``$DDLSIM_CATALOG`` while a sweep runs.

    Sweep points load the catalog in their own (Dask worker) processes, which inherit the
    environment but not our options; the variable is restored afterwards.
    """
    paths = [str(Path(p).resolve()) for p in _state()["catalog_paths"]]
    if not paths:
        yield
        return
    before = os.environ.get(ENV_VAR)
    os.environ[ENV_VAR] = os.pathsep.join(([before] if before else []) + paths)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(ENV_VAR, None)
        else:
            os.environ[ENV_VAR] = before


# Every command also takes --catalog after its name (``ddlsim hw list --catalog my.yaml``).
_CATALOG_PARAM = inspect.Parameter("catalog_paths", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[list[Path]],
                                   default=typer.Option(None, "--catalog", help=_CATALOG_HELP))


def user_errors(func: F) -> F:
    """Turn a user's mistake inside a command into one stderr line and exit code 2; give the
    command a ``--catalog`` option of its own (added to the global one)."""

    @functools.wraps(func)
    def wrapper(*args: Any, catalog_paths: Optional[list[Path]] = None, **kwargs: Any) -> Any:
        if catalog_paths:
            state = _state()
            state["catalog_paths"] = [*state["catalog_paths"], *catalog_paths]
        try:
            return func(*args, **kwargs)
        except USER_ERRORS as exc:
            if _state()["debug"]:
                raise
            typer.echo(f"error: {_one_line(exc)}", err=True)
            raise typer.Exit(EXIT_USER_ERROR) from None

    signature = inspect.signature(func, eval_str=True)
    wrapper.__signature__ = signature.replace(parameters=[*signature.parameters.values(), _CATALOG_PARAM])  # type: ignore[attr-defined]
    wrapper.__annotations__ = {**func.__annotations__, "catalog_paths": Optional[list[Path]]}
    return wrapper  # type: ignore[return-value]


def _one_line(exc: BaseException) -> str:
    """The user error's message on one line: a file-system error names its file and the reason."""
    if isinstance(exc, OSError) and exc.strerror:
        names = " -> ".join(str(f) for f in (exc.filename, exc.filename2) if f is not None)
        text = f"{names}: {exc.strerror}" if names else exc.strerror
    elif isinstance(exc, UnicodeDecodeError):
        text = f"a file is not UTF-8 text ({exc.reason} at byte {exc.start})"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def output_path(value: Any, option: str, *, folder: bool = False) -> Path | None:
    """``value`` as a path an output can be written to (a file, or a ``folder``), checked before
    any work and without creating anything: the nearest existing parent must be a writable folder
    and the path itself, if it exists, of the right kind. None stays None."""
    if value is None:
        return None
    path = Path(value)
    if path.exists():
        if folder and not path.is_dir():
            raise SpecError(f"{option} {path}: exists and is not a folder")
        if not folder and path.is_dir():
            raise SpecError(f"{option} {path}: is a folder; give a file name")
        if not os.access(path, os.W_OK):
            raise SpecError(f"{option} {path}: not writable (permission denied)")
        return path
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise SpecError(f"{option} {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SpecError(f"{option} {path}: cannot create it in {parent} (permission denied)")
    return path


class StepProgress:
    """Progress of a run of ``total`` steps (rounds, points) on stderr; call it with
    ``(done, total)`` (a sweep adds the point's ``record``, whose failures are counted) after each
    one and :meth:`stop` it at the end. On a terminal it is a rich bar (``throttle``: redraw only
    every that fraction of the total, for DES runs that call it per step); elsewhere (a log file,
    CI) a plain line at the start, every ``every_s`` seconds and at the end."""

    def __init__(self, label: str, unit: str, *, throttle: float = 0.0, count_errors: bool = False,
                 every_s: float = 20.0) -> None:
        self._label, self._unit, self._throttle, self._count_errors = label, unit, throttle, count_errors
        self._lines = not sys.stderr.isatty()
        self._every_s = every_s
        self._bar: Any = None  # the rich bar, made at the first call, one per run (restart makes the next)
        self._task: Any = None
        self._started = False
        self._shown = self._first = 0
        self._t0 = self._last_line = 0.0
        self.errors = 0

    def _start(self, done: int, total: int) -> None:
        self._started, self._first, self._t0 = True, done, time.monotonic()
        if self._lines:
            self._line(done, total)
            return
        from rich.console import Console  # noqa: PLC0415
        from rich.progress import BarColumn, Progress, TimeElapsedColumn, TimeRemainingColumn  # noqa: PLC0415

        columns = [self._label, BarColumn(), f"{{task.completed}}/{{task.total}} {self._unit}"]
        columns += ["{task.fields[errors]} failed"] if self._count_errors else []
        self._bar = Progress(*columns, TimeElapsedColumn(), TimeRemainingColumn(), transient=True,
                             console=Console(stderr=True))
        self._task = self._bar.add_task(self._label, total=total, errors=0)
        self._bar.start()

    def _line(self, done: int, total: int) -> None:
        """done/total, failures, elapsed seconds and a linear estimate of those left."""
        self._last_line = time.monotonic()
        elapsed, ran = self._last_line - self._t0, done - self._first
        left = f", about {elapsed / ran * (total - done):.0f} s left" if ran > 0 and done < total else ""
        failed = f", {self.errors} failed" if self._count_errors else ""
        sys.stderr.write(f"{self._label}: {done}/{total} {self._unit}{failed}, {elapsed:.0f} s{left}\n")
        sys.stderr.flush()
        self._shown = done

    def __call__(self, done: int, total: int, record: dict[str, Any] | None = None) -> None:
        if record is not None and record.get("status") == "error":
            self.errors += 1
        if not self._started:
            self._start(done, total)
        elif self._lines:
            if (done >= total > self._shown) or time.monotonic() - self._last_line >= self._every_s:
                self._line(done, total)
        elif done - self._shown >= max(1, int(total * self._throttle)) or done >= total or record is not None:
            self._bar.update(self._task, completed=done, total=total, errors=self.errors)
            self._shown = done

    def restart(self, label: str) -> None:
        """Stop this run's progress; the next call starts afresh, labelled ``label``."""
        self.stop()
        self._label, self._bar, self._task, self._started, self._shown, self.errors = label, None, None, False, 0, 0

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def figure_path(value: Any, option: str) -> Path | None:
    """A figure file option (.png, .svg or .pdf) that can be written, checked before anything runs."""
    if value is None:
        return None
    from ..plots import figure_format  # noqa: PLC0415  (matplotlib only when a figure is asked for)

    figure_format(value, option)
    return output_path(value, option)


def echo_json(data: Any) -> None:
    """Print ``data`` as indented, strictly valid JSON on stdout (null for NaN and inf)."""
    from ..finite import json_ready  # noqa: PLC0415

    typer.echo(json.dumps(json_ready(data), indent=2, sort_keys=False, allow_nan=False))


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
