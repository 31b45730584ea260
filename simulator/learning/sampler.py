"""Each worker's mini-batches: its own shard, reshuffled every pass, from its own generator."""

from __future__ import annotations

import numpy as np

from ..streams import numpy_stream

__all__ = ["WorkerSampler"]


class WorkerSampler:
    """Batches of ``batch`` indices from ``shard``; a pass over the shard is a fresh permutation
    (generator seeded by (seed, worker)); a batch that runs past the end of a pass continues
    in the next one, so shards smaller than a batch still work."""

    def __init__(self, shard: np.ndarray, batch: int, seed: int, worker: int) -> None:
        self.shard = np.asarray(shard, dtype=np.int64)
        self.batch = batch
        self._rng = numpy_stream(seed, "sampler", worker)
        self._order = np.empty(0, dtype=np.int64)
        self._pos = 0

    def next(self) -> np.ndarray:
        """The next batch of sample indices."""
        out = []
        need = self.batch
        while need:
            if self._pos == len(self._order):
                self._order = self.shard[self._rng.permutation(len(self.shard))]
                self._pos = 0
            take = min(need, len(self._order) - self._pos)
            out.append(self._order[self._pos:self._pos + take])
            self._pos += take
            need -= take
        return np.concatenate(out)
