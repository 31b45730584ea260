"""Named random streams: every random choice outside a running simulation draws from here.

A stream is the user's one seed plus the stream's fixed salt (and any per-use keys such as a
worker or a round): ``numpy_stream(seed, "data.split")``. Streams of different names are
independent; the same seed, name and keys always give the same numbers, in any process, so a
sweep gives the same rows locally and on a cluster. Inside a simulation use
:meth:`simulator.engine.Simulation.rng`, which derives keys from the simulation's root seed.

The salts are part of the results: changing one changes every number drawn from that stream.
"""

from __future__ import annotations

import numpy as np
import torch

from hwmodels.checks import is_int

__all__ = ["STREAMS", "numpy_stream", "seed_sequence", "torch_stream"]

# name -> salt; the salt goes last in the seed sequence: [seed, *keys, salt]
STREAMS: dict[str, int] = {
    "data.split": 0xDA7A,          # train/test permutation of a data set
    "data.mnist1d": 0x1D,          # MNIST-1D's procedural generator
    "data.shards": 0x5B1,          # non-IID label shards of federated clients
    "sampler": 0x5A4,              # a worker's mini-batch order (keys: worker)
    "fl.participants": 0x41C,      # which clients take part in a round (keys: round)
    "fl.projection": 0xAD5,        # a compressed-sensing aggregator's random matrix
    "wireless.phases": 0xD2D,      # carrier phases of a wireless cell's devices
    "placement": 0x91AC,           # devices' distances from the access point (infer and fl specs)
}


def seed_sequence(seed: int, name: str, *keys: int) -> np.random.SeedSequence:
    """The seed sequence of stream ``name`` for ``seed`` and ``keys`` (non-negative ints)."""
    if name not in STREAMS:
        raise ValueError(f"unknown random stream {name!r}; add it to simulator.streams.STREAMS")
    parts = (seed, *keys)
    if not all(is_int(k) and k >= 0 for k in parts):
        raise ValueError(f"stream {name!r}: seed and keys must be non-negative integers, got {parts!r}")
    return np.random.SeedSequence([*(int(k) for k in parts), STREAMS[name]])


def numpy_stream(seed: int, name: str, *keys: int) -> np.random.Generator:
    """A numpy generator for stream ``name`` (see :data:`STREAMS`)."""
    return np.random.default_rng(seed_sequence(seed, name, *keys))


def torch_stream(seed: int, name: str, *keys: int) -> torch.Generator:
    """A torch CPU generator for stream ``name``, seeded with the stream's first 32-bit word."""
    word = int(seed_sequence(seed, name, *keys).generate_state(1)[0])
    return torch.Generator().manual_seed(word)
