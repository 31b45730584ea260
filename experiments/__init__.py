"""What the user asks: experiment specs, sweeps, result tables, plots and the ``ddlsim`` CLI."""

from __future__ import annotations

__all__ = ["package_version"]


def package_version() -> str:
    """The installed ddlsim version (``0+unknown`` when run from a source tree)."""
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        return version("ddlsim")
    except PackageNotFoundError:
        return "0+unknown"
