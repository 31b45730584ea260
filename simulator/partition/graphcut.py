"""``graphcut``: partition the neuron graph (every neuron or channel a node, edge weight |W_ji|, a
convolution's kernel norm; a Linear layer after a convolution sums its flattened positions per
channel; a residual add ties channel j of both coupled layers with the heaviest weight) into K
parts that cut little weight, by recursive Kernighan-Lin bisection (networkx; K a power of two)
or spectral clustering (scikit-learn); parts are matched to workers by their overlap with the
sensors' inputs (Munkres), inputs stay with their sensors. Then each destination keeps ``keep``
of its foreign inputs by weight magnitude, without refit. The last layer runs on the fusion
worker; coupled layers follow the first of their group (the cascade's rule).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import networkx as nx
import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

from hwmodels import SpecError
from hwmodels.registry import Registry

from .cascade import restructure
from .common import Keep, PartitionContext, check_width, magnitude
from .layers import LayerSpec, extract
from .plan import PartitionPlan
from .registry import register

# method name -> (graph, parts, seed) -> the part of every node
METHODS: Registry[Callable[[nx.Graph, int, int], np.ndarray]] = Registry("graphcut method")


def _graph(specs: list[LayerSpec], weights: list[torch.Tensor], n_in: int) -> tuple[nx.Graph, list[int]]:
    """Nodes: the ``n_in`` input units, then the neurons (channels) of every layer but the last;
    ``offsets[l + 1]`` is where layer l's nodes start (``offsets[0]`` the inputs')."""
    g = nx.Graph()
    offsets = [0, n_in]
    for w in weights[:-1]:
        offsets.append(offsets[-1] + w.shape[0])
    g.add_nodes_from(range(offsets[-1]))
    heavy = 10.0 * max(float(magnitude(w).max()) for w in weights)  # ties coupled channels: never cut
    for l, (sp, w) in enumerate(zip(specs[:-1], weights[:-1])):
        src = sp.source(l)
        mag = magnitude(w).numpy()
        if not sp.conv and src >= 0 and specs[src].conv:  # flattened feature maps: one edge per channel
            mag = mag.reshape(mag.shape[0], weights[src].shape[0], -1).sum(2)
        j, i = np.nonzero(mag > 0)
        g.add_weighted_edges_from(zip((offsets[src + 1] + i).tolist(), (offsets[l + 1] + j).tolist(),
                                      mag[j, i].tolist()))
        if sp.residual is not None and sp.residual >= 0:
            n = w.shape[0]
            g.add_weighted_edges_from(zip(range(offsets[sp.residual + 1], offsets[sp.residual + 1] + n),
                                          range(offsets[l + 1], offsets[l + 1] + n), [heavy] * n))
    return g, offsets


@METHODS.register("kernighan-lin")
def _kl(g: nx.Graph, parts: int, seed: int) -> np.ndarray:
    label = np.zeros(g.number_of_nodes(), dtype=np.int64)
    groups = [list(g.nodes)]
    while len(groups) < parts:
        nxt = []
        for nodes in groups:
            a, b = nx.algorithms.community.kernighan_lin_bisection(g.subgraph(nodes), weight="weight", seed=seed)
            nxt += [sorted(a), sorted(b)]
        groups = nxt
    for p, nodes in enumerate(groups):
        label[nodes] = p
    return label


@METHODS.register("spectral")
def _spectral(g: nx.Graph, parts: int, seed: int) -> np.ndarray:
    from sklearn.cluster import SpectralClustering  # noqa: PLC0415

    adj = nx.to_numpy_array(g, nodelist=range(g.number_of_nodes()), weight="weight")
    adj += 1e-6 * adj.max() * np.eye(len(adj))  # keeps isolated nodes in the spectrum
    sc = SpectralClustering(parts, affinity="precomputed", random_state=seed % 2**32, assign_labels="discretize")
    return sc.fit_predict(adj).astype(np.int64)


@register("graphcut")
def graphcut(model: nn.Module, ctx: PartitionContext, *, keep: Keep = 0.5, method: str = "kernighan-lin") -> PartitionPlan:
    """Min-cut ownership: the layers' weight graph cut into ``ctx.workers`` parts by ``method``
    (Kernighan-Lin bisection or spectral clustering), parts matched to the sensors they overlap
    most, then the cascade at budget ``keep`` with magnitude scores and no refit."""
    cut = METHODS.get(method)
    k = ctx.workers
    if method == "kernighan-lin" and k & (k - 1):
        raise SpecError(f"graphcut: Kernighan-Lin bisection needs a power-of-two number of workers, got {k}; "
                        f"use method: spectral")
    specs, weights, _ = extract(model, ctx.input_shape)
    for l, w in enumerate(weights[:-1]):
        check_width(w.shape[0], k, f"layer {l}")
    first = specs[0]
    n_in = first.in_shape[0]
    g, offsets = _graph(specs, weights, n_in)
    label = cut(g, k, ctx.seed)
    # how much of each input unit every worker's sensors hold (a split input channel: its pieces)
    per_unit = math.prod(first.in_shape[1:]) if first.conv else 1
    held = np.zeros((n_in, k))
    np.add.at(held, (np.arange(ctx.input_owner.size) // per_unit, ctx.input_owner), 1.0)
    overlap = np.zeros((k, k))
    np.add.at(overlap, label[:offsets[1]], held)
    parts, workers = linear_sum_assignment(-overlap)
    to_worker = np.empty(k, dtype=np.int64)
    to_worker[parts] = workers
    owners = [to_worker[label[offsets[l + 1]:offsets[l + 2]]] for l in range(len(weights) - 1)]

    def owner_fn(l: int, w: torch.Tensor, x_hat: torch.Tensor, in_owner: np.ndarray, partners: list) -> np.ndarray:
        return owners[l]

    return restructure(model, ctx, owner_fn, keep=keep, score="magnitude", refit_with="none", name="graphcut")
