"""The distributed context: environment parsing, and collectives on two gloo ranks."""

from __future__ import annotations

import socket

import pytest
import torch
import torch.multiprocessing as mp

from landscape.distributed import Context, env_context, session
from landscape.errors import LandscapeError

VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for v in VARS:
        monkeypatch.delenv(v, raising=False)
    return monkeypatch


def test_outside_torchrun_is_one_process(clean_env: pytest.MonkeyPatch) -> None:
    assert env_context() is None
    with session(torch.device("cpu")) as (ctx, dev):
        assert ctx == Context() and not ctx.active and ctx.is_main and dev == torch.device("cpu")
        assert ctx.all_gather({"a": 1}) == [{"a": 1}]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RANK": "0"}, "incomplete \\(missing WORLD_SIZE"),
        (
            {
                "RANK": "x",
                "WORLD_SIZE": "2",
                "LOCAL_RANK": "0",
                "MASTER_ADDR": "h",
                "MASTER_PORT": "1",
            },
            "integers",
        ),
        (
            {
                "RANK": "2",
                "WORLD_SIZE": "2",
                "LOCAL_RANK": "0",
                "MASTER_ADDR": "h",
                "MASTER_PORT": "1",
            },
            "RANK < WORLD",
        ),
    ],
)
def test_bad_torchrun_environment(
    clean_env: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for k, v in env.items():
        clean_env.setenv(k, v)
    with pytest.raises(LandscapeError, match=message):
        env_context()


def test_shards_cover_every_item_once() -> None:
    n, world = 11, 3
    seen = sorted(i for r in range(world) for i in range(n)[Context(r, world).shard(n)])
    assert seen == list(range(n))


def _worker(rank: int, port: int, queue: mp.Queue) -> None:
    import os

    os.environ.update(
        {
            "RANK": str(rank),
            "WORLD_SIZE": "2",
            "LOCAL_RANK": str(rank),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
        }
    )
    with session(torch.device("cpu")) as (ctx, _):
        total = ctx.all_reduce_sum(torch.tensor([1.0, 10.0]) * (rank + 1))
        gathered = ctx.all_gather(rank * 2)
        shared = ctx.broadcast(f"from {rank}")
        on_main = ctx.on_main(lambda: f"ran on {rank}")

        def refuse() -> None:
            raise LandscapeError(f"refused on rank {rank}")

        try:
            ctx.on_main(refuse)
            error = None
        except LandscapeError as exc:
            error = str(exc)
        ctx.barrier()
        queue.put(
            (rank, ctx.backend, ctx.world_size, total.tolist(), gathered, shared, on_main, error)
        )
    assert not torch.distributed.is_initialized()  # the session tore its group down


def test_collectives_on_two_gloo_ranks() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    queue = mp.get_context("spawn").SimpleQueue()
    mp.spawn(_worker, args=(port, queue), nprocs=2, join=True)
    results = sorted(queue.get() for _ in range(2))
    for rank, backend, world, total, gathered, shared, on_main, error in results:
        assert (backend, world) == ("gloo", 2)
        assert total == [3.0, 30.0]  # 1 * (1, 10) + 2 * (1, 10)
        assert gathered == [0, 2]
        assert shared == "from 0", rank
        assert on_main == "ran on 0" and error == "refused on rank 0", rank  # rank 0's, everywhere
