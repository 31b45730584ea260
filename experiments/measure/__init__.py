"""Real measurements on this host, for calibration and validation (docs/validation.md).

``world`` runs multi-process gloo jobs on 127.0.0.1; ``collectives`` and ``training`` time
collectives and DDP training steps (with the compression hooks); ``host`` times single-process
kernels; ``fit`` and ``link`` fit hardware figures to the timings; ``calibrate`` writes the
``this-host`` catalog file; ``cases`` lists the validation configurations; ``predict`` gives
closed-form counterparts; ``validate`` sets every measured configuration beside its simulation
on the calibrated entries (``ddlsim validate``). Records are :class:`~.records.Measurement`.
"""

from __future__ import annotations

import importlib
from types import ModuleType

# The submodules, loaded when first used: they import torch, which ``ddlsim hw list`` must not pay for.
__all__ = ["calibrate", "cases", "collectives", "fit", "host", "link", "predict", "records", "training", "validate",
           "world"]


def __getattr__(name: str) -> ModuleType:
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
