"""Federated learning over a wireless multiple-access channel (docs/wireless.md).

``run_federated(FLConfig(...), device, radio, channel, distances_m) -> FLResult``: K clients
with non-IID data take H local steps, their updates reach the server through a registered
scheme (``ideal``, ``digital``, ``baa``, ``cotaf``, ``rlc``, ``adsgd``) over the MAC of
:mod:`simulator.network.wireless`, and every round reports airtime, energy and accuracy.
"""

from .power import InfeasibleTarget, ManagedPower, PowerManager, RoundPlan
from .rounds import FederatedRun, FLConfig, FLResult, FLRow, run_federated
from .schemes import AGGREGATORS, Aggregator, RandomLinearCode, aggregator

__all__ = ["AGGREGATORS", "Aggregator", "FLConfig", "FLResult", "FLRow", "FederatedRun", "InfeasibleTarget",
           "ManagedPower", "PowerManager", "RandomLinearCode", "RoundPlan", "aggregator", "run_federated"]
