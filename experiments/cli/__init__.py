"""The ``ddlsim`` command line.

:func:`main` answers ``ddlsim --version`` before any command module loads. Otherwise it imports
the command modules, each of which registers its commands on :data:`app` and imports its heavy
libraries (torch, pandas, matplotlib, scipy, dask, the simulator) only inside the command's body,
so ``ddlsim hw list`` pays for none of them. ``from experiments.cli import app`` loads the
commands too.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

__all__ = ["app", "main", "COMMAND_MODULES"]

# Modules under experiments.cli whose commands register themselves on the app when imported.
COMMAND_MODULES = ("calibrate", "collective", "compare_hw", "compress", "demo", "fl", "hw", "infer", "netsim", "plot", "report",
                   "results", "sweep", "train", "validate")


def _load() -> Any:
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}")
    from .app import app  # noqa: PLC0415

    globals()["app"] = app   # the Typer app, not the submodule of that name the imports bound here
    return app


def main() -> None:
    """Console-script entry point."""
    if sys.argv[1:] == ["--version"]:
        from .. import package_version  # noqa: PLC0415

        sys.stdout.write(f"ddlsim {package_version()}\n")
        return
    _load()
    from .app import run  # noqa: PLC0415

    run()


def __getattr__(name: str) -> Any:
    if name == "app":
        return _load()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _Package(types.ModuleType):
    """This package, keeping ``app`` for the Typer app: importing a command module first (e.g.
    ``experiments.cli.collective``) imports the submodule ``experiments.cli.app``, and the import
    system would then bind that module as this package's ``app``, so that a later ``from
    experiments.cli import app`` got the module. The submodule stays in ``sys.modules``."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "app" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
