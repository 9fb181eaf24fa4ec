"""Scale-out on ``torch.distributed``: who am I, who writes, and how results meet.

Under ``torchrun`` every worker gets the environment variables ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``.
:func:`session` reads them, starts the default process group with the
backend that fits the device (NCCL on CUDA, gloo on CPU) and tears it down
afterwards; without them it is a no-op and :class:`Context` describes a single
process (rank 0 of 1), so every caller runs the same code either way. The
command line opens the session in one place for every subcommand
(:func:`landscape.cli.options.in_rank_session`); the :class:`Context` it yields is
passed explicitly to whatever splits work (the loader, the surface engine, the
curvature operators), never looked up globally.

Rendezvous is torchrun's own (``--standalone`` on one node,
``--rdzv-backend=c10d --rdzv-endpoint=HOST:PORT`` across nodes); nothing here
is home-made.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import torch
import torch.distributed as dist

from landscape.errors import LandscapeError

Backend = Literal["nccl", "gloo"]
TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
T = TypeVar("T")


@dataclass(frozen=True)
class Context:
    """The calling process's place in the job.

    Attributes:
        rank: global rank, ``0 <= rank < world_size``.
        world_size: number of processes (1 without torchrun).
        local_rank: rank on this node (selects the GPU).
        backend: ``nccl`` or ``gloo`` when a process group is active, else ``None``.

    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        """Whether this process is rank 0 (the one that writes files and shows progress)."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        """Whether collectives go through a process group."""
        return self.backend is not None

    def shard(self, n: int) -> slice:
        """Select this rank's share of ``n`` items: every ``world_size``-th, from ``rank`` on.

        >>> list(range(7))[Context(rank=1, world_size=3).shard(7)]
        [1, 4]
        """
        return slice(self.rank, n, self.world_size)

    def barrier(self) -> None:
        """Wait until every rank gets here."""
        if self.active:
            dist.barrier()

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank (picklable objects).

        >>> Context().broadcast({"a": 1})
        {'a': 1}
        """
        if not self.active:
            return obj
        box = [obj if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def on_main(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on rank 0 only and hand its result, or its LandscapeError, to every rank.

        For the steps only rank 0 may take (opening, checking or creating the output
        file): every rank then continues with the same result, or stops with rank 0's
        one-line error instead of waiting for it in a collective.

        >>> Context().on_main(lambda: "checked")
        'checked'
        """
        if not self.active:
            return fn()
        result, error = None, None
        if self.is_main:
            try:
                result = fn()
            except LandscapeError as exc:
                error = exc
        result, message = self.broadcast((result, None if error is None else str(error)))
        if error is not None:
            raise error
        if message is not None:
            raise LandscapeError(message)
        return result

    def all_gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order, on every rank (picklable objects).

        >>> Context().all_gather(3)
        [3]
        """
        if not self.active:
            return [obj]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        r"""Sum ``tensor`` over ranks in place (data-parallel sums such as HVPs) and return it.

        Each rank passes the sum over its own shard of the data; afterwards every
        rank holds the sum over all data, :math:`\sum_r t_r`.

        >>> Context().all_reduce_sum(torch.tensor([1.0, 2.0])).tolist()
        [1.0, 2.0]
        """
        if self.active:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor


def env_context() -> Context | None:
    """Read the rank layout torchrun announced in the environment (``None`` outside torchrun).

    Raises:
        LandscapeError: if the variables are partial or inconsistent.

    """
    present = [v for v in TORCHRUN_VARS if v in os.environ]
    if not present:
        return None
    if len(present) != len(TORCHRUN_VARS):
        missing = ", ".join(v for v in TORCHRUN_VARS if v not in os.environ)
        raise LandscapeError(
            f"distributed: torchrun variables are incomplete (missing {missing}); "
            "launch with torchrun"
        )
    try:
        rank, world, local = (int(os.environ[v]) for v in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    except ValueError:
        raise LandscapeError(
            "distributed: RANK, WORLD_SIZE and LOCAL_RANK must be integers"
        ) from None
    if not 0 <= rank < world:
        raise LandscapeError(f"distributed: expected 0 <= RANK < WORLD_SIZE (got {rank}, {world})")
    return Context(rank=rank, world_size=world, local_rank=local)


def _group_context() -> Context:
    """Describe the active default process group, or a single process if there is none.

    Private: only :func:`session` looks the group up; everything else gets the
    context it yields, passed explicitly.
    """
    if dist.is_available() and dist.is_initialized():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        backend = str(dist.get_backend())
        return Context(dist.get_rank(), dist.get_world_size(), local, backend)
    return Context()


def backend_for(device: torch.device) -> Backend:
    """NCCL for CUDA devices, gloo otherwise.

    >>> backend_for(torch.device("cpu"))
    'gloo'
    """
    return "nccl" if device.type == "cuda" else "gloo"


def rank_device(device: torch.device, ctx: Context) -> torch.device:
    """Pick this rank's device: ``cuda`` without an index becomes ``cuda:LOCAL_RANK``.

    >>> str(rank_device(torch.device("cuda"), Context(rank=3, world_size=4, local_rank=1)))
    'cuda:1'
    """
    if device.type == "cuda" and device.index is None and ctx.world_size > 1:
        return torch.device("cuda", ctx.local_rank)
    return device


@contextlib.contextmanager
def session(device: torch.device) -> Iterator[tuple[Context, torch.device]]:
    """Join the job torchrun started (if any) for the duration of the block.

    Starts the default process group from the torchrun environment unless one
    is already active (a caller's own group is used and left running), picks
    NCCL for CUDA and gloo for CPU, and destroys the group it started on exit.

    Args:
        device: the requested device; under torchrun a bare ``cuda`` becomes
            ``cuda:LOCAL_RANK``.

    Yields:
        ``(context, device)`` for this rank.

    """
    if dist.is_available() and dist.is_initialized():
        ctx = _group_context()
        yield ctx, rank_device(device, ctx)
        return
    env = env_context()
    if env is None:
        yield Context(), device
        return
    if not dist.is_available():
        raise LandscapeError("distributed: this PyTorch build has no torch.distributed")
    device = rank_device(device, env)
    backend = backend_for(device)
    if backend == "nccl":
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend)
    try:
        yield _group_context(), device
    finally:
        dist.destroy_process_group()
