"""The ``ddlsim`` command line.

:func:`main` answers ``ddlsim --version`` before any command module loads. Otherwise it imports
the command modules, each of which registers its commands on :data:`app` and imports its heavy
libraries (torch, pandas, matplotlib, scipy, dask, the simulator) only inside the command's body,
so ``ddlsim hw list`` pays for none of them. ``from experiments.cli import app`` loads the
commands too.

The shared parts: :mod:`.application` (the Typer app and :func:`~.application.run`),
:mod:`.options` (reading options: catalog, link, output paths, JSON), :mod:`.errors` (a user's
mistake is one line and exit 2) and :mod:`.progress` (progress on stderr).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

__all__ = ["app", "main", "COMMAND_MODULES"]

# Modules under experiments.cli whose commands register themselves on the app when imported.
COMMAND_MODULES = ("calibrate", "collective", "compare_hw", "compress", "demo", "fl", "hw", "infer", "netsim", "plot", "report",
                   "results", "sweep", "train", "validate")


def _load() -> Any:
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}")
    from .application import app  # noqa: PLC0415

    globals()["app"] = app
    return app


def main() -> None:
    """Console-script entry point."""
    if sys.argv[1:] == ["--version"]:
        from .. import package_version  # noqa: PLC0415

        sys.stdout.write(f"ddlsim {package_version()}\n")
        return
    _load()
    from .application import run  # noqa: PLC0415

    run()


def __getattr__(name: str) -> Any:
    if name == "app":
        return _load()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
