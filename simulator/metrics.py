"""Metrics users compare runs by, computed from a run's evaluation curve."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

__all__ = ["to_target", "TARGET_KEYS"]

TARGET_KEYS = ("target_accuracy", "time_to_target_s", "energy_to_target_j", "bits_to_target")


def to_target(curve: Sequence[tuple[float, float, float, float]], target: Optional[float]) -> dict[str, Optional[float]]:
    """``time_to_target_s``, ``energy_to_target_j`` and ``bits_to_target`` at the first evaluation
    whose test accuracy reaches ``target`` (``curve``: (accuracy, cumulative seconds, joules, bits)
    per evaluation, in order); None when no evaluation reaches it or no target is given.

    Resolution is the evaluation interval: the run reached the target somewhere before that
    evaluation, and no later than it.
    """
    hit = next((row for row in curve if target is not None and row[0] >= target), None)
    out: dict[str, Optional[float]] = {"target_accuracy": target}
    out.update(zip(TARGET_KEYS[1:], (None, None, None) if hit is None else (float(hit[1]), float(hit[2]), float(hit[3]))))
    return out
