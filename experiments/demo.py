"""The bundled sweeps behind ``ddlsim demo``: the README's main job.

Three preset sweeps (``experiments/presets/demo-*.yaml``) run on one Dask LocalCluster (or in
process with ``workers=0``) and write their tables and plots under one folder:

- ``demo-compressors``: five gradient compressors in simulated data-parallel training, 2 seeds:
  final accuracy against bits per worker, and accuracy against simulated time;
- ``demo-collectives``: four all-reduce algorithms against 4 to 32 workers on a switch and on a
  2-D torus, simulated on the flow-level network;
- ``demo-hardware``: one training run on four hardware configurations (time and energy bars).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .spec import ExperimentSpec, load_experiment
from .sweep import Progress, SweepResult, open_client, run_sweep

__all__ = ["DEMO_SPECS", "DEFAULT_OUT", "PRESETS", "preset", "demo_specs", "run_demo"]

PRESETS = Path(__file__).resolve().parent / "presets"
DEMO_SPECS = ("demo-compressors", "demo-collectives", "demo-hardware")
DEFAULT_OUT = Path("ddlsim-results")


def preset(name: str) -> ExperimentSpec:
    """The bundled spec ``experiments/presets/NAME.yaml``."""
    return load_experiment(PRESETS / f"{name}.yaml")


def demo_specs() -> list[ExperimentSpec]:
    """The demo's three sweeps."""
    return [preset(name) for name in DEMO_SPECS]


def run_demo(out: str | Path = DEFAULT_OUT / "demo", *, workers: int | None = None, scheduler: str | None = None,
             fresh: bool = False, on_point: Progress | None = None, on_sweep: Any = None) -> list[SweepResult]:
    """Run the demo's sweeps into ``out/<spec name>`` on one shared client; their results."""
    specs = demo_specs()
    results = []
    with open_client(workers, scheduler) as client:
        for spec in specs:
            if on_sweep is not None:
                on_sweep(spec)
            results.append(run_sweep(spec, Path(out) / spec.name, client=client, fresh=fresh, on_point=on_point,
                                     workers=0 if client is None else None))
    return results
