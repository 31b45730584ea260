"""The Simulation: clock, seeded generators per key, independence of simulations."""

import doctest

import numpy as np
import pytest

from simulator import engine
from simulator.engine import Simulation


def test_module_example_runs():
    result = doctest.testmod(engine)
    assert result.attempted >= 6 and result.failed == 0


def test_clock_and_run_until():
    sim = Simulation()
    log = []

    def proc():
        yield sim.timeout(1.5)
        log.append(sim.now)
        yield sim.timeout(2.0)
        log.append(sim.now)

    sim.process(proc())
    sim.run(until=2.0)
    assert sim.now == 2.0 and log == [1.5]
    sim.run()
    assert log == [1.5, 3.5]


def test_rng_same_seed_and_key_same_stream_whatever_was_drawn_before():
    a, b = Simulation(seed=42), Simulation(seed=42)
    a.rng(9).random(100)                      # draw elsewhere first
    assert np.array_equal(a.rng(3, 7).random(5), b.rng(3, 7).random(5))
    assert np.array_equal(a.rng(3, 7).random(5), a.rng(3, 7).random(5))


def test_rng_keys_and_seeds_give_different_streams():
    sim = Simulation(seed=1)
    draws = {key: sim.rng(*key).random() for key in [(), (0,), (1,), (0, 1), (1, 0)]}
    assert len(set(draws.values())) == len(draws)
    assert Simulation(seed=2).rng(0).random() != sim.rng(0).random()


def test_rng_matches_numpy_spawn_semantics():
    """rng(k) is the k-th child that SeedSequence.spawn would give."""
    sim = Simulation(seed=5)
    child = np.random.SeedSequence(5).spawn(3)[2]
    assert sim.rng(2).random() == np.random.default_rng(child).random()


def test_bad_seed_and_key_are_refused():
    with pytest.raises(ValueError, match="seed"):
        Simulation(seed=-1)
    with pytest.raises(ValueError, match="non-negative"):
        Simulation().rng(-3)
    seq = np.random.SeedSequence(11)
    assert Simulation(seq).seed == 11


def test_trace_switch_and_independent_recorders():
    on, off = Simulation(trace=True), Simulation(trace=False)
    on.trace.record("w0", "compute", 0.0, 1.0)
    off.trace.record("w0", "compute", 0.0, 1.0)
    assert len(on.trace) == 1 and len(off.trace) == 0
    assert on.trace is not Simulation().trace


def test_two_simulations_interleaved_do_not_interfere():
    def world():
        sim = Simulation(seed=3)
        out = []

        def worker(i):
            rng = sim.rng(i)
            for _ in range(3):
                yield sim.timeout(rng.exponential(1.0))
                out.append((i, sim.now))

        for i in range(3):
            sim.process(worker(i))
        return sim, out

    s1, o1 = world()
    s2, o2 = world()
    s1.run(until=1.0)
    s2.run(until=0.5)
    s1.run()
    s2.run()
    s3, o3 = world()
    s3.run()
    assert o1 == o2 == o3
