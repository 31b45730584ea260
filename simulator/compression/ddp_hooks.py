"""Any registered compressor as a communication hook of real PyTorch DDP (gloo or any backend).

::

    ddp = DistributedDataParallel(model)
    register(ddp, "qsgd", {"levels": 4}, seed=0)      # or:
    ddp.register_comm_hook(HookState(model, "qsgd", {"levels": 4}), compression_hook)

The hook runs the compressor exactly as the simulated training step does
(:mod:`simulator.learning.exchange`): every parameter's gradient inside DDP's bucket is
compressed on its own, with a :class:`~simulator.compression.State` per (worker, parameter)
kept across steps: ``State(seed, worker=rank, step, bucket=i)``, ``i`` the parameter's index
among the model's trainable parameters, ``step`` counting iterations from 0. The receiver
decodes with twin states of the same (seed, worker, step, i), so SHARED randomness costs no
bits here either, and the mean estimate is the scheme's own ``aggregate``.

Wire. Payloads that sum in compressed form (``none``, ``fp16``) are divided by the world
size in their own dtype and all-reduced (one all-reduce per bucket). Every other scheme's
payloads of one bucket are packed into one byte tensor (a small header: keys, dtypes, shapes,
``nbits`` and local ``meta``; then the tensors' raw bytes) and all-gathered; since gloo
gathers equal sizes, each byte tensor is padded to a per-bucket capacity that all ranks agree
on. The capacity starts at 0 and grows in a second round only when some rank's payload no
longer fits, so a fixed-rate scheme pays one all-gather per bucket per step after the first.

``HookState.bits`` counts the information bits this rank sent (the payloads' ``nbits``) and
``HookState.wire_bytes`` the bytes it put into collectives (container dtypes, header, padding).
"""

# No ``from __future__ import annotations``: DDP checks the hook's annotations as objects.
import pickle
from collections.abc import Mapping
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from hwmodels import SpecError

from .base import State
from .payload import Payload
from .registry import create

__all__ = ["HookState", "compression_hook", "register", "pack", "unpack"]

_LENGTH = 8  # bytes of the int64 length that opens every gathered slot


class HookState:
    """What :func:`compression_hook` keeps between calls: the compressor, the per-parameter
    states of this rank, the step counter, each bucket's agreed gather capacity and counters."""

    def __init__(self, model: nn.Module, compressor: str, params: Mapping[str, Any] | None = None, *, seed: int = 0,
                 group: Any = None) -> None:
        self.compressor = create(compressor, **dict(params or {}))
        if self.compressor.takes_factors:
            raise SpecError(f"{compressor}: a 'factors' scheme needs each linear layer's inputs, which a DDP "
                            f"communication hook does not see; use a tensor scheme")
        self.name = compressor
        self.summable = self.compressor.summable
        self.seed = int(seed)
        self.group = group
        self.rank = dist.get_rank(group)
        self.world = dist.get_world_size(group)
        self.index = {id(p): i for i, p in enumerate(p for p in model.parameters() if p.requires_grad)}
        self.states: dict[int, State] = {}
        self.step = 0
        self.capacity: dict[int, int] = {}
        self.side_groups: dict[int, Any] = {}
        self.buckets = 0
        self.bits = 0
        self.wire_bytes = 0

    def state(self, param: torch.Tensor, step: int) -> State:
        """This rank's persistent state of ``param`` (error memory, warm starts), at ``step``."""
        i = self._index(param)
        state = self.states.get(i)
        if state is None:
            state = self.states[i] = State(self.seed, self.rank, step, i)
        state.step = step
        return state

    def twin(self, worker: int, param: torch.Tensor, step: int) -> State:
        """The receiver's state for ``worker``'s payload of ``param``: same seed stream, no memory."""
        return State(self.seed, worker, step, self._index(param))

    def _index(self, param: torch.Tensor) -> int:
        try:
            return self.index[id(param)]
        except KeyError:
            raise SpecError("compression hook: a bucket holds a parameter of another model; build HookState "
                            "from the module that DDP wraps") from None


def pack(payloads: list[Payload]) -> torch.Tensor:
    """Payloads as one uint8 tensor: an int64 header length, the pickled header, the raw bytes."""
    header, blobs = [], []
    for p in payloads:
        keys = []
        for key, tensor in p.data.items():
            raw = tensor.detach().contiguous().reshape(-1).view(torch.uint8)
            keys.append((key, str(tensor.dtype).removeprefix("torch."), tuple(tensor.shape), raw.numel()))
            blobs.append(raw)
        header.append((keys, int(p.nbits), tuple(p.shape), p.meta))
    head = torch.frombuffer(bytearray(pickle.dumps(header, protocol=pickle.HIGHEST_PROTOCOL)), dtype=torch.uint8)
    size = torch.tensor([head.numel()], dtype=torch.int64).view(torch.uint8)
    return torch.cat([size, head, *blobs])


def unpack(buffer: torch.Tensor) -> list[Payload]:
    """The payloads :func:`pack` wrote into ``buffer`` (trailing padding ignored)."""
    head_len = int(buffer[:_LENGTH].clone().view(torch.int64))
    header = pickle.loads(buffer[_LENGTH:_LENGTH + head_len].numpy().tobytes())
    offset = _LENGTH + head_len
    out = []
    for keys, nbits, shape, meta in header:
        data = {}
        for key, dtype, tshape, nbytes in keys:
            data[key] = buffer[offset:offset + nbytes].clone().view(getattr(torch, dtype)).reshape(tshape)
            offset += nbytes
        out.append(Payload(data, nbits, torch.Size(shape), meta))
    return out


def _side_group(state: HookState, slot: int) -> Any:
    """The process group of bucket ``slot``'s second rounds (made once, in the hook's thread)."""
    group = state.side_groups.get(slot)
    if group is None:
        ranks = dist.get_process_group_ranks(state.group or dist.group.WORLD)
        group = state.side_groups[slot] = dist.new_group(ranks, use_local_synchronization=True)
    return group


def _gather(state: HookState, slot: int, data: torch.Tensor) -> torch.futures.Future:
    """All-gather ``data`` (uint8) from every rank; a future of the list of their byte tensors.

    Each rank sends [its length, data padded to the agreed capacity]; when some length exceeds
    the capacity, every rank sees it and all take a second round at the new, larger capacity.
    The second round runs in the first one's completion callback, whose timing differs from
    rank to rank; gloo matches collectives by their order in a group, so it goes to a group of
    its own per bucket, where nothing else is ordered against it."""
    capacity = state.capacity.get(slot, 0)
    side = _side_group(state, slot)

    def send(cap: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
        out = torch.zeros(_LENGTH + cap, dtype=torch.uint8)
        out[:_LENGTH] = torch.tensor([data.numel()], dtype=torch.int64).view(torch.uint8)
        n = min(cap, data.numel())
        out[_LENGTH:_LENGTH + n] = data[:n]
        state.wire_bytes += out.numel()
        return out, [torch.empty_like(out) for _ in range(state.world)]

    first, received = send(capacity)
    fut = dist.all_gather(received, first, group=state.group, async_op=True).get_future()

    def finish(done: torch.futures.Future) -> list[torch.Tensor]:
        parts = done.value()
        lengths = [int(p[:_LENGTH].clone().view(torch.int64)) for p in parts]
        if max(lengths) > capacity:   # every rank takes this branch together: same lengths seen
            state.capacity[slot] = max(lengths)
            again, parts = send(max(lengths))
            dist.all_gather(parts, again, group=side)
        return [p[_LENGTH:_LENGTH + n] for p, n in zip(parts, lengths)]

    return fut.then(finish)


def compression_hook(state: HookState, bucket: dist.GradBucket) -> torch.futures.Future[torch.Tensor]:
    """DDP communication hook: compress each gradient of ``bucket``, exchange, write the
    scheme's aggregate (the workers' mean estimate) back into the bucket."""
    step = state.step
    params, grads = bucket.parameters(), bucket.gradients()
    payloads = [state.compressor.compress(g, state.state(p, step)) for p, g in zip(params, grads)]
    state.bits += sum(p.nbits for p in payloads)
    state.buckets = max(state.buckets, bucket.index() + 1)
    if bucket.is_last():
        state.step += 1
    buffer = bucket.buffer()

    if state.summable:
        (key,) = payloads[0].data   # one tensor of plain floats, the same key for every parameter
        flat = torch.cat([p.data[key].reshape(-1) for p in payloads]).div_(state.world)
        state.wire_bytes += flat.numel() * flat.element_size()
        fut = dist.all_reduce(flat, group=state.group, async_op=True).get_future()

        def write_sum(done: torch.futures.Future) -> torch.Tensor:
            total, offset = done.value()[0], 0
            for param, p, g in zip(params, payloads, grads):
                n = g.numel()
                summed = Payload({key: total[offset:offset + n]}, p.nbits, p.shape)
                g.copy_(state.compressor.decompress(summed, state.twin(state.rank, param, step)).reshape(g.shape))
                offset += n
            return buffer

        return fut.then(write_sum)

    def write_aggregate(done: torch.futures.Future) -> torch.Tensor:
        per_rank = [unpack(b) for b in done.value()]
        for i, (p, g) in enumerate(zip(params, grads)):
            twins = [state.twin(w, p, step) for w in range(state.world)]
            g.copy_(state.compressor.aggregate([per_rank[w][i] for w in range(state.world)], twins).reshape(g.shape))
        return buffer

    return _gather(state, bucket.index(), pack(payloads)).then(write_aggregate)


def register(ddp: nn.parallel.DistributedDataParallel, compressor: str, params: Mapping[str, Any] | None = None, *,
             seed: int = 0, group: Any = None) -> HookState:
    """Register :func:`compression_hook` running ``compressor`` with ``params`` on ``ddp``;
    returns the hook's state (counters ``bits``, ``wire_bytes``, ``buckets``, ``step``)."""
    state = HookState(ddp.module, compressor, params, seed=seed, group=group)
    ddp.register_comm_hook(state, compression_hook)
    return state
