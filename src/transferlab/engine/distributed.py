"""Data-parallel runs on PyTorch's own stack: torchrun starts the processes, this module joins them.

Under `torchrun` (RANK/WORLD_SIZE set in the environment) `init_distributed` joins the process
group: gloo on the CPU, NCCL on GPUs (one per process, `LOCAL_RANK`). Everything else asks
`current_world()` who it is. Work that only the first process does (writing files, the final
evaluation, the advice of `auto`) runs inside `on_main`, which hands its result (or its error)
to every rank, so no rank waits forever on another that failed.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist

from ..errors import TransferlabError

log = logging.getLogger(__name__)

T = TypeVar("T")
# Rank 0 may work alone for a long time (the advice of `auto`, the final evaluation and report)
# while the others wait in a collective: far longer than torch's default of 10-30 minutes.
TIMEOUT = datetime.timedelta(hours=6)

_ALONE: ContextVar[bool] = ContextVar("transferlab_alone", default=False)


@dataclass(frozen=True)
class World:
    """This process's place among the processes of one run."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        """True when there are other processes to share work with right now."""
        return self.size > 1


def launched_distributed() -> bool:
    """True in a process that torchrun started as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_distributed(device: str = "auto") -> World:
    """Join the process group torchrun set up (once); a plain process stays a world of one.

    Raises:
        TransferlabError: CUDA asked for but fewer GPUs than local processes.
    """
    if not launched_distributed() or not dist.is_available():
        return current_world()
    if not dist.is_initialized():
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        cuda = device != "cpu" and torch.cuda.is_available()
        if cuda:
            if local_rank >= torch.cuda.device_count():
                raise TransferlabError(f"process {local_rank} has no GPU ({torch.cuda.device_count()} visible): "
                                       f"start at most that many processes per node")
            torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl" if cuda else "gloo", timeout=TIMEOUT)
        log.info("distributed: rank %d of %d (%s)", dist.get_rank(), dist.get_world_size(), dist.get_backend())
    return current_world()


def current_world() -> World:
    """Who this process is; a world of one outside a process group or inside `alone()`."""
    if _ALONE.get() or not (dist.is_available() and dist.is_initialized()):
        return World()
    return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def is_main_process() -> bool:
    """True on rank 0 of the launched processes (also inside `alone()`), and in a plain process."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return int(os.environ.get("RANK", "0")) == 0


@contextlib.contextmanager
def alone() -> Iterator[None]:
    """Inside the block this process works as if it were the only one (no collectives)."""
    token = _ALONE.set(True)
    try:
        yield
    finally:
        _ALONE.reset(token)


def on_main(work: Callable[[], T]) -> T:
    """Run `work` on rank 0 only (alone) and return its result on every rank.

    An error raised by `work` stops every rank: rank 0 raises it as it is, the others a
    `TransferlabError` with its message (a `TransferlabError` itself where it was one).
    """
    world = current_world()
    if not world.active:
        return work()
    result, failure, message = None, None, None
    if world.is_main:
        try:
            with alone():
                result = work()
        except Exception as exc:  # handed on, then raised again below: no rank waits for a result
            failure, message = exc, str(exc) if isinstance(exc, TransferlabError) else \
                f"rank 0 failed: {type(exc).__name__}: {exc}"
    result, message = broadcast((result, message))
    if failure is not None:
        raise failure
    if message is not None:
        raise TransferlabError(message)
    return result


def rank_device(device: torch.device) -> torch.device:
    """The GPU of this process in a distributed run (one per process); other devices unchanged."""
    world = current_world()
    if world.active and device.type == "cuda":
        return torch.device("cuda", world.local_rank)
    return device


def any_rank(flag: bool) -> bool:
    """True on every rank when `flag` is true on at least one."""
    return bool(all_sum([float(flag)])[0]) if current_world().active else flag


def broadcast(value: T) -> T:
    """Rank 0's `value` on every rank."""
    if not current_world().active:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(value: T) -> list[T]:
    """Every rank's `value`, in rank order, on every rank."""
    world = current_world()
    if not world.active:
        return [value]
    values: list = [None] * world.size
    dist.all_gather_object(values, value)
    return values


def all_sum(values: Sequence[float]) -> list[float]:
    """Element-wise sums of `values` over the ranks (float64)."""
    if not current_world().active:
        return list(values)
    tensor = torch.tensor(list(values), dtype=torch.float64)
    if dist.get_backend() == "nccl":
        tensor = tensor.cuda()
    dist.all_reduce(tensor)
    return tensor.cpu().tolist()


def barrier() -> None:
    if current_world().active:
        dist.barrier()


def shard_batches(count: int, batch_size: int, world: World) -> list[int]:
    """Indices of the whole batches (of `batch_size` out of `count` items) that `world.rank` takes.

    Batch b goes to rank b % size: every rank runs batches of the size a single process runs, so
    each item's result is computed exactly as it would be alone.
    """
    batches = range((count + batch_size - 1) // batch_size)
    return [i for b in batches[world.rank :: world.size] for i in range(b * batch_size, min(count, (b + 1) * batch_size))]


def finish() -> None:
    """Leave the process group (end of a command)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
