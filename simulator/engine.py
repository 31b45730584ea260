"""The event engine: one :class:`Simulation` owns a simpy environment, a seed and a trace.

There is no module-level state: every component (network, executor, MAC) receives the
``Simulation`` it belongs to, so several simulations run side by side in one process and
tests build tiny worlds in three lines:

>>> from hwmodels import LinkSpec
>>> from simulator.network import FlowNetwork, Topology
>>> sim = Simulation(seed=1)
>>> net = FlowNetwork(sim, Topology.switch(4, LinkSpec("10G", bandwidth_Bps=1.25e9, latency_s=1e-6)))
>>> done = net.transfer("h0", "h1", 1.25e6)      # 1.25 MB over two 10 Gbps hops
>>> sim.run()
>>> round(done.value * 1e3, 6)                    # finish time in ms: 2 us latency + 1 ms
1.002

Time is simulated and in seconds (SI). Randomness comes from :meth:`Simulation.rng`, which
derives an independent, reproducible generator for any key of non-negative integers
(e.g. ``(worker, step)``) from the simulation's root ``numpy.random.SeedSequence``.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

from hwmodels.checks import is_int

from .timeline import TraceRecorder

__all__ = ["Simulation", "LATE"]

# simpy processes events of equal time by (priority, insertion order); URGENT = 0 and
# NORMAL = 1 are simpy's. Components that want to see *all* same-time activity before
# acting (the flow network batching flows that start at one instant) schedule at LATE.
LATE = 2


class Simulation:
    """One simulated world: a ``simpy.Environment``, a root seed and a trace recorder.

    Parameters
    ----------
    seed:
        Root seed (an int, or a ``numpy.random.SeedSequence`` to derive from).
    trace:
        Whether spans are recorded (``self.trace.enabled``). Per-link statistics of the
        network are kept either way.
    """

    def __init__(self, seed: int | np.random.SeedSequence = 0, *, trace: bool = True) -> None:
        if isinstance(seed, np.random.SeedSequence):
            self.seed_sequence = seed
        else:
            if not is_int(seed) or seed < 0:
                raise ValueError(f"seed must be a non-negative integer or a SeedSequence, got {seed!r}")
            self.seed_sequence = np.random.SeedSequence(int(seed))
        self.env = simpy.Environment()
        self.trace = TraceRecorder(enabled=trace)

    @property
    def seed(self) -> int | Any:
        """The root entropy (the int given, for an int seed)."""
        return self.seed_sequence.entropy

    @property
    def now(self) -> float:
        """Current simulated time in seconds."""
        return float(self.env.now)

    def rng(self, *key: int) -> np.random.Generator:
        """A generator for ``key`` (non-negative ints), independent of every other key.

        The same root seed and key always give the same stream, whatever else was drawn
        before: ``sim.rng(worker, step)`` is reproducible per worker and step.
        """
        for k in key:
            if not is_int(k) or k < 0:
                raise ValueError(f"rng key parts must be non-negative integers, got {key!r}")
        root = self.seed_sequence
        child = np.random.SeedSequence(root.entropy, spawn_key=tuple(root.spawn_key) + tuple(int(k) for k in key),
                                       pool_size=root.pool_size)
        return np.random.default_rng(child)

    def process(self, generator: Generator[Any, Any, Any]) -> simpy.Process:
        """Start a simpy process in this simulation."""
        return self.env.process(generator)

    def timeout(self, delay_s: float, value: Any = None) -> simpy.Timeout:
        """A simpy timeout of ``delay_s`` seconds."""
        return self.env.timeout(delay_s, value)

    def run(self, until: float | simpy.Event | None = None) -> None:
        """Run until no events are left, or until time / event ``until``."""
        self.env.run(until=until)

    def __repr__(self) -> str:
        return f"Simulation(seed={self.seed!r}, now={self.now:g}s, trace={self.trace.enabled})"
