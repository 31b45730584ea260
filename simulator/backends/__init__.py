"""Network backends of the executor: how a task graph's transfers become time.

The executor (:mod:`simulator.executor`) runs every node as a simpy process; a transfer node
asks a backend. Three implementations:

========== ============================================================================
``des``    :class:`FlowBackend`: flows on the max-min fair flow-level network
           (:class:`~simulator.network.FlowNetwork`), collectives by the vectorised DES
           runner; contention between everything in flight
``analytic`` :class:`AnalyticBackend`: path latency + bytes / bottleneck bandwidth per
           transfer, collectives by their closed forms; no contention
medium     :class:`MediumBackend`: the cluster's shared wireless channel
           (:class:`~simulator.network.media.WirelessHardware`, one transmission at a time):
           uploads and multicasts at the channel's rates, transmissions computed on the real
           tensors
cell       :class:`CellBackend`: every send and collective of a
           :class:`~simulator.network.media.MacCell` crosses its medium under the radio's
           standard access (802.11 DCF, 802.15.4 CSMA-CA, BLE), one exchange at a time
========== ============================================================================

A backend implements :meth:`NetworkBackend.send`, :meth:`~NetworkBackend.collective` and
:meth:`~NetworkBackend.air` (simpy generators) and :meth:`~NetworkBackend.close`; it charges
link and radio energy into the executor's :class:`~simulator.energy.EnergyLedger` and busy
reduction time to the hosts that reduce.
"""

from ..network.media import MacCell, WirelessHardware
from .base import NetworkBackend, NetworkTotals
from .cell import CellBackend
from .flow import AnalyticBackend, FlowBackend
from .medium import MediumBackend

__all__ = ["NetworkBackend", "NetworkTotals", "FlowBackend", "AnalyticBackend", "MediumBackend", "CellBackend", "WIRED",
           "MEDIA"]

# Executor modes -> the wired backend they select.
WIRED = {"des": FlowBackend, "analytic": AnalyticBackend}
# Medium records -> the backend that prices them.
MEDIA = {WirelessHardware: MediumBackend, MacCell: CellBackend}
