"""Out of memory during a batched pass: fewer points per pass with a warning, never a crash."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from landscape.cli import cli
from landscape.evaluators import PointEvaluator, StackedEvaluator
from tests.helpers_specs import tiny_args

GRID = ["--x=-1:1:5", "--y=-1:1:4"]


class Collect(logging.Handler):
    """Keeps the warnings logged while it is attached."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def tight_memory(limit: int, original: Callable[..., Any]) -> Callable[..., Any]:
    """An evaluator call that runs out of memory above ``limit`` points."""

    def call(self: object, coords: np.ndarray) -> Any:
        if len(coords) > limit:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return original(self, coords)

    return call


def test_batched_pass_falls_back_to_fewer_points(
    tmp_path: Path, ckpt: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref, out = tmp_path / "ref.h5", tmp_path / "oom.h5"
    base = ["surface", *tiny_args(ckpt), *GRID]
    assert (
        CliRunner()
        .invoke(cli, ["-q", *base, "--points-per-pass", "1", "--out", str(ref)])
        .exit_code
        == 0
    )
    monkeypatch.setattr(StackedEvaluator, "__call__", tight_memory(3, StackedEvaluator.__call__))
    warnings = Collect()
    logging.getLogger("landscape.engine").addHandler(warnings)
    try:
        res = CliRunner().invoke(cli, ["-q", *base, "--points-per-pass", "16", "--out", str(out)])
    finally:
        logging.getLogger("landscape.engine").removeHandler(warnings)
    assert res.exit_code == 0, res.output
    assert warnings.messages == [
        "out of memory with 16 points per pass; continuing with 8",
        "out of memory with 8 points per pass; continuing with 4",
        "out of memory with 4 points per pass; continuing with 2",
    ]  # and 2, which fits, is kept for the remaining passes
    with h5py.File(ref) as a, h5py.File(out) as b:
        assert b["surface/done"][()].all()
        for name in ("train_loss", "test_loss", "train_acc", "test_acc"):
            np.testing.assert_allclose(b[name][()], a[name][()], rtol=1e-5, atol=1e-7)


def test_single_point_out_of_memory_is_one_line(
    tmp_path: Path, ckpt: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(PointEvaluator, "__call__", tight_memory(0, PointEvaluator.__call__))
    out = tmp_path / "oom.h5"
    args = ["-q", "surface", *tiny_args(ckpt), *GRID, "--points-per-pass", "1", "--out", str(out)]
    res = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert res.exit_code == 1
    assert (
        res.output.strip() == "Error: out of memory evaluating a single point; lower --batch-size"
    )
    with h5py.File(out) as f:  # the file stays readable, with nothing marked done
        assert not f["surface/done"][()].any()
