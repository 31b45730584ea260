"""The network: topologies of hosts, switches and links, and flow-level transfers on them.

``Topology`` (the graph of ``HOST`` and ``SWITCH`` nodes and its routing), its builders and their
``TOPOLOGIES`` registry (:mod:`~simulator.network.builders`), ``FlowNetwork`` (max-min fair
flow-level transfers inside a ``Simulation``) and scenario files (``load_scenario``,
``run_scenario``) for ``ddlsim netsim``; ``LoopbackTopology``: processes of one host sharing its
copy capacity (127.0.0.1). The wireless channel and MACs are in :mod:`~simulator.network.media`
and :mod:`~simulator.network.wireless` (imported on their own: they need torch).
"""

from .builders import TOPOLOGIES, build_topology
from .flows import FlowBatch, FlowNetwork
from .loopback import LoopbackTopology
from .maxmin import max_min_rates
from .patterns import FlowPattern
from .scenario import Scenario, ScenarioFlow, ScenarioResult, load_scenario, parse_scenario, run_scenario
from .topology import HOST, SWITCH, Topology

__all__ = ["HOST", "SWITCH", "TOPOLOGIES", "FlowBatch", "FlowNetwork", "FlowPattern", "LoopbackTopology", "Scenario",
           "ScenarioFlow", "ScenarioResult", "Topology", "build_topology", "load_scenario", "max_min_rates",
           "parse_scenario", "run_scenario"]
