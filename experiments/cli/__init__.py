"""The ``ddlsim`` command line. Each command module registers itself on :data:`app`."""

from . import calibrate, collective, compare_hw, compress, demo, fl, hw, infer, netsim, plot, results, sweep, train  # noqa: F401  (registration by import)
from .app import app, main

__all__ = ["app", "main"]
