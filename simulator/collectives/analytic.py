"""Analytic mode: the closed forms of the spec (Hockney alpha-beta-gamma), in O(1).

The closed form of each (op, algorithm) lives next to its step program in the family
module; this module holds their inputs, :class:`NetParams`, and how those inputs come
from a topology.

Model. A message of m bytes alone on its path costs ``alpha + m * beta``: alpha is the
sum of the latencies of its path, beta the inverse bandwidth of its slowest link. Where
an algorithm has a rank send (or receive) k messages at once, they share the rank's
*port*: the step costs ``alpha + m * max(beta, k * port_beta)``, with ``port_beta`` the
inverse of the rank's total link bandwidth (a switch host has one link, so k flows take
k times as long, as max-min sharing gives; a fully connected host has p-1 links, so
they do not). Reduction costs ``gamma`` seconds per byte received and reduced.

On a topology whose messages all share one capacity (a host's loopback,
:class:`simulator.network.LoopbackTopology`: ``bus_beta_s_per_B`` set) a step costs
``alpha + max(m beta, (bytes of the whole step) bus_beta) + gamma (reduced bytes)``, priced
step by step over the program (:mod:`.shared`).

On a topology where every message of the collective sees the same path (switch, fully
connected, and the ring topology for the ring algorithm) these are exact, and the DES
equals them (tests hold it to 1e-9). Elsewhere (ring topology with non-neighbour
algorithms, 2-D torus, leaf-spine) messages see different, multi-hop, shared paths:
:meth:`NetParams.from_topology` then takes either the *worst* message path of the
collective (``how="worst"``, the default: every message pays it, no contention; an
estimate, not a bound) or the *best* (``how="best"``: a lower bound on the DES time).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hwmodels import DTYPE_BYTES, Device, LinkSpec, SpecError
from hwmodels.checks import is_number

__all__ = ["NetParams", "reduction_gamma", "DEFAULT_PAIR_CAP"]

# Above this many distinct (src, dst) pairs, from_topology looks at an evenly spaced
# sample of them (on a uniform topology it looks at none).
DEFAULT_PAIR_CAP = 20_000


def reduction_gamma(device: Device | None, dtype: str = "fp32", slowdown: float = 1.0) -> float:
    """Seconds per byte to reduce received data on ``device``: one add per element, and
    three bytes of memory traffic per byte (read both operands, write the sum), on the
    roofline; times ``slowdown``. 0 without a device."""
    if device is None:
        return 0.0
    elem = DTYPE_BYTES.get(dtype, 4.0)
    return device.time(1.0 / elem, 3.0, dtype) * float(slowdown)


def _check(name: str, value: float, *, positive: bool = False) -> float:
    if not is_number(value):
        raise SpecError(f"NetParams.{name} must be a finite number, got {value!r}")
    if value < 0 or (positive and value == 0):
        raise SpecError(f"NetParams.{name} must be {'positive' if positive else 'non-negative'}, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class NetParams:
    """Inputs of the closed forms: ``alpha_s`` (path latency of one message),
    ``beta_s_per_B`` (1/bottleneck bandwidth of one message), ``port_beta_s_per_B``
    (1/total link bandwidth of a rank; ``None`` = ``beta_s_per_B``, a one-link host),
    ``gamma_s_per_B`` (reduction time per byte), ``bus_beta_s_per_B`` (1/the capacity every
    message in flight shares, a host's loopback; ``None``: no such sharing)."""

    alpha_s: float
    beta_s_per_B: float
    port_beta_s_per_B: float | None = None
    gamma_s_per_B: float = 0.0
    bus_beta_s_per_B: float | None = None

    def __post_init__(self) -> None:
        _check("alpha_s", self.alpha_s)
        _check("beta_s_per_B", self.beta_s_per_B)
        _check("gamma_s_per_B", self.gamma_s_per_B)
        if self.port_beta_s_per_B is not None:
            _check("port_beta_s_per_B", self.port_beta_s_per_B)
        if self.bus_beta_s_per_B is not None:
            _check("bus_beta_s_per_B", self.bus_beta_s_per_B)

    @property
    def port_beta(self) -> float:
        """Seconds per byte of one host port (the link's beta unless a port limit is given)."""
        return self.beta_s_per_B if self.port_beta_s_per_B is None else float(self.port_beta_s_per_B)

    def step(self, m: float, k: int = 1) -> float:
        """One step in which every rank sends (and receives) ``k`` messages of ``m`` bytes at once."""
        if m == 0:
            return self.alpha_s
        return self.alpha_s + m * max(self.beta_s_per_B, k * self.port_beta)

    def with_gamma(self, gamma_s_per_B: float) -> NetParams:
        """These parameters with the reduction cost ``gamma_s_per_B`` (seconds per byte) replaced."""
        return NetParams(self.alpha_s, self.beta_s_per_B, self.port_beta_s_per_B, gamma_s_per_B, self.bus_beta_s_per_B)

    # ----- constructors -----
    @classmethod
    def for_link(cls, link: LinkSpec, *, hops: int = 1, links_per_host: int = 1, gamma_s_per_B: float = 0.0) -> NetParams:
        """Messages crossing ``hops`` copies of ``link`` (a switch: hops=2), hosts with
        ``links_per_host`` such links."""
        beta = 1.0 / link.bandwidth_Bps
        return cls(hops * link.latency_s, beta, beta / max(1, links_per_host), gamma_s_per_B)

    @classmethod
    def for_builder(cls, name: str, hosts: int, link: LinkSpec, src: Any = None, dst: Any = None, *,
                    how: str = "worst", gamma_s_per_B: float = 0.0) -> NetParams | None:
        """Parameters of the uniform builders without building them: ``switch`` (two
        hops), ``fully-connected`` (one hop, hosts-1 links per host) and ``ring`` (two links
        per host; a message from i to j crosses min(|i-j|, hosts-|i-j|) links: the worst or
        best over the pairs ``src``/``dst``, all pairs when not given). ``None`` for other
        names."""
        if how not in ("worst", "best"):
            raise SpecError(f"how must be 'worst' or 'best', got {how!r}")
        if name == "switch":
            return cls.for_link(link, hops=2, gamma_s_per_B=gamma_s_per_B)
        if name == "fully-connected":
            return cls.for_link(link, hops=1, links_per_host=max(1, hosts - 1), gamma_s_per_B=gamma_s_per_B)
        if name == "ring":
            if src is None or dst is None:
                hops = 1 if how == "best" else max(1, hosts // 2)
            else:
                d = np.abs(np.asarray(src, dtype=np.int64) - np.asarray(dst, dtype=np.int64))
                d = np.minimum(d, hosts - d)
                hops = int(d.max() if how == "worst" else d.min()) if d.size else 1
            return cls.for_link(link, hops=hops, links_per_host=2 if hosts > 2 else 1, gamma_s_per_B=gamma_s_per_B)
        return None

    @classmethod
    def from_topology(cls, topology: Any, src: Any = None, dst: Any = None, *, how: str = "worst",
                      gamma_s_per_B: float = 0.0, pair_cap: int = DEFAULT_PAIR_CAP) -> NetParams:
        """Parameters for messages ``src[i] -> dst[i]`` (host indices) on ``topology``.

        ``how="worst"`` takes the largest latency and inverse bandwidth among the pairs
        and the weakest port; ``how="best"`` the smallest and the strongest (a lower
        bound of the DES). Without pairs, all host pairs. A topology whose hosts all
        hang off one switch by identical links, or are all joined pairwise by identical
        links, is recognised as uniform and no pair is looked at.
        """
        if how not in ("worst", "best"):
            raise SpecError(f"how must be 'worst' or 'best', got {how!r}")
        uniform = _uniform(topology)
        if uniform is not None:
            hops, link_bw, lat, links = uniform
            beta = 1.0 / link_bw
            return cls(hops * lat, beta, beta / links, gamma_s_per_B)
        hosts = list(topology.hosts)
        n_hosts = len(hosts)
        if src is None or dst is None:
            ii, jj = np.meshgrid(np.arange(n_hosts), np.arange(n_hosts), indexing="ij")
            mask = ii != jj
            src, dst = ii[mask], jj[mask]
        src = np.asarray(src, dtype=np.int64)
        dst = np.asarray(dst, dtype=np.int64)
        keys = np.unique(src[src != dst] * n_hosts + dst[src != dst])
        if keys.size == 0:
            return cls(0.0, 0.0, None, gamma_s_per_B)
        if keys.size > pair_cap:
            keys = keys[np.linspace(0, keys.size - 1, pair_cap).astype(np.int64)]
        ksrc, kdst = keys // n_hosts, keys % n_hosts
        ptr, links = topology.paths(ksrc, kdst)
        hops = np.diff(ptr)
        lat = np.add.reduceat(np.asarray(topology.latency_s)[links], ptr[:-1]) if links.size else np.zeros(keys.size)
        cap = np.minimum.reduceat(np.asarray(topology.capacity_Bps)[links], ptr[:-1]) if links.size else np.ones(keys.size)
        lat = np.where(hops > 0, lat, 0.0)
        inv_bw = np.where(hops > 0, 1.0 / cap, 0.0)
        used = np.unique(np.concatenate([keys // n_hosts, keys % n_hosts]))
        port_bw = np.array([_port_bandwidth(topology, hosts[h]) for h in used.tolist()])
        pick = np.max if how == "worst" else np.min
        port_beta = 1.0 / (port_bw.min() if how == "worst" else port_bw.max())
        shared = getattr(topology, "shared_capacity_Bps", None)
        return cls(float(pick(lat)), float(pick(inv_bw)), float(port_beta), gamma_s_per_B,
                   None if shared is None else 1.0 / float(shared))


def _link_of(topology: Any, a: str, b: str) -> LinkSpec:
    return topology.graph.edges[a, b]["link"]


def _port_bandwidth(topology: Any, host: str) -> float:
    """Total bandwidth of the links of ``host`` (one direction)."""
    return float(sum(_link_of(topology, host, nb).bandwidth_Bps for nb in topology.graph.neighbors(host)))


def _uniform(topology: Any) -> tuple[int, float, float, int] | None:
    """(hops, bandwidth, latency, links per host) if every host pair sees the same path
    of identical links: a star around one switch, or a complete graph of hosts."""
    g = topology.graph
    hosts = list(topology.hosts)
    if len(hosts) < 2:
        return None
    links = [d["link"] for _, _, d in g.edges(data=True)]
    bws = {lk.bandwidth_Bps for lk in links}
    lats = {lk.latency_s for lk in links}
    if len(bws) != 1 or len(lats) != 1:
        return None
    bw, lat = bws.pop(), lats.pop()
    others = [n for n in g.nodes if n not in set(hosts)]
    h = len(hosts)
    if len(others) == 1 and g.number_of_edges() == h and all(g.has_edge(x, others[0]) for x in hosts):
        return 2, bw, lat, 1
    if not others and g.number_of_edges() == h * (h - 1) // 2:
        return 1, bw, lat, h - 1
    return None
