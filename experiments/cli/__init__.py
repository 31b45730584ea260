"""The ``ddlsim`` command line. Each command module registers itself on :data:`app`."""

from . import collective, compress, demo, hw, netsim, train  # noqa: F401  (registration by import)
from .app import app, main

__all__ = ["app", "main"]
