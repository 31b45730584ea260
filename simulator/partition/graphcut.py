"""``graphcut``: partition the neuron graph (every neuron a node, edge weight |W_ji|) into K parts
that cut little weight, by recursive Kernighan-Lin bisection (networkx; K a power of two) or
spectral clustering (scikit-learn); parts are matched to workers by their overlap with the
sensors' inputs (Munkres), inputs stay with their sensors. Then each destination keeps ``keep``
of its foreign inputs by weight magnitude, without refit. The last layer runs on the fusion worker."""

from __future__ import annotations

from typing import Any

import networkx as nx
import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

from hwmodels import SpecError

from .common import PartitionContext, check_width
from .layers import extract
from .plan import PartitionPlan
from .registry import register
from .cascade import restructure

METHODS = ("kernighan-lin", "spectral")


def _graph(layers: list, n_in: int) -> tuple[nx.Graph, list[int]]:
    g = nx.Graph()
    offsets = [0, n_in]
    for w, _, _ in layers[:-1]:
        offsets.append(offsets[-1] + w.shape[0])
    g.add_nodes_from(range(offsets[-1]))
    for l, (w, _, _) in enumerate(layers[:-1]):
        j, i = np.nonzero(w.abs().numpy() > 0)
        vals = w.abs().numpy()[j, i]
        g.add_weighted_edges_from(zip((offsets[l] + i).tolist(), (offsets[l + 1] + j).tolist(), vals.tolist()))
    return g, offsets


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


def _spectral(g: nx.Graph, parts: int, seed: int) -> np.ndarray:
    from sklearn.cluster import SpectralClustering  # noqa: PLC0415

    adj = nx.to_numpy_array(g, nodelist=range(g.number_of_nodes()), weight="weight")
    adj += 1e-6 * adj.max() * np.eye(len(adj))  # keeps isolated nodes in the spectrum
    sc = SpectralClustering(parts, affinity="precomputed", random_state=seed % 2**32, assign_labels="discretize")
    return sc.fit_predict(adj).astype(np.int64)


@register("graphcut")
def graphcut(model: nn.Module, ctx: PartitionContext, *, keep: Any = 0.5, method: str = "kernighan-lin") -> PartitionPlan:
    if method not in METHODS:
        raise SpecError(f"graphcut method {method!r}; known: {', '.join(METHODS)}")
    k = ctx.workers
    if method == "kernighan-lin" and k & (k - 1):
        raise SpecError(f"graphcut: Kernighan-Lin bisection needs a power-of-two number of workers, got {k}; "
                        f"use method: spectral")
    specs, weights, biases = extract(model, ctx.input_shape)
    if any(sp.conv or sp.residual is not None or sp.src is not None for sp in specs):
        raise SpecError("graphcut supports sequential MLPs only (Linear layers); convolutional or residual models: "
                        "use direct, sparse or repurpose")
    layers = [(w, b, sp.act) for sp, w, b in zip(specs, weights, biases)]
    for l, (w, _, _) in enumerate(layers[:-1]):
        check_width(w.shape[0], k, f"layer {l}")
    g, offsets = _graph(layers, len(ctx.input_owner))
    label = _kl(g, k, ctx.seed) if method == "kernighan-lin" else _spectral(g, k, ctx.seed)
    overlap = np.zeros((k, k))
    np.add.at(overlap, (label[:offsets[1]], ctx.input_owner), 1.0)
    parts, workers = linear_sum_assignment(-overlap)
    to_worker = np.empty(k, dtype=np.int64)
    to_worker[parts] = workers
    owners = [to_worker[label[offsets[l + 1]:offsets[l + 2]]] for l in range(len(layers) - 1)]

    def owner_fn(l: int, w: torch.Tensor, x_hat: torch.Tensor, in_owner: np.ndarray, partners: list) -> np.ndarray:
        return owners[l]

    return restructure(model, ctx, owner_fn, keep=keep, score="magnitude", refit_with="none", name="graphcut")
