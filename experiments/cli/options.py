"""What the commands share to read their options: this invocation's global options (the
``--catalog`` files, ``--debug``), the catalog they give, a link from ``--link`` or
``--bandwidth``/``--latency``, output paths checked before any work, and JSON on stdout."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

try:  # typer >= 0.2x vendors click; older releases use click itself
    from typer._click.globals import get_current_context
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import get_current_context

import typer

from hwmodels import Catalog, LinkSpec, SpecError, units
from hwmodels.catalog import ENV_VAR

__all__ = ["CATALOG_HELP", "catalog", "catalog_env", "echo_json", "figure_path", "invocation_state",
           "link_option", "output_path"]

CATALOG_HELP = "Extra hardware catalog YAML file or folder (repeatable); its entries shadow built-ins. Also $DDLSIM_CATALOG."


def invocation_state() -> dict[str, Any]:
    """This invocation's global options: ``catalog_paths`` (the ``--catalog`` files) and ``debug``."""
    ctx = get_current_context(silent=True)
    while ctx is not None and ctx.obj is None:
        ctx = ctx.parent
    return ctx.obj if ctx is not None and ctx.obj is not None else {"catalog_paths": [], "debug": False}


def catalog() -> Catalog:
    """The catalog for this invocation: built-ins, ``$DDLSIM_CATALOG``, then ``--catalog`` files."""
    return Catalog.load(invocation_state()["catalog_paths"])


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
    paths = [str(Path(p).resolve()) for p in invocation_state()["catalog_paths"]]
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
