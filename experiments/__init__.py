"""What the user asks: experiment specs, sweeps, result tables, plots and the ``ddlsim`` CLI."""

from __future__ import annotations

__all__ = ["as_flag", "package_version"]


def as_flag(field: str) -> str:
    """The command-line option of a field (``d_in`` -> ``--d-in``), for messages read by CLI users."""
    return "--" + field.replace("_", "-")


def package_version() -> str:
    """The installed ddlsim version (``0+unknown`` when run from a source tree)."""
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        return version("ddlsim")
    except PackageNotFoundError:
        return "0+unknown"
