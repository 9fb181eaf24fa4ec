"""Two gloo ranks under ``torchrun --standalone`` give the single-process surface."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from landscape.cli import cli
from tests.conftest import tiny_net
from tests.helpers_specs import tiny_args

GRID = ["--x=-1:1:9", "--y=-1:1:7", "--points-per-pass", "1"]
METRICS = ("train_loss", "train_acc", "test_loss", "test_acc")
ROOT = Path(__file__).resolve().parents[1]


def torchrun(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    return subprocess.run(
        [*cmd, "-m", "landscape", "-q", *args], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def module_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "ckpt.pt"
    torch.save(tiny_net().state_dict(), path)
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, module_ckpt: Path) -> Path:
    """The single-process surface (read-only: tests copy it before changing it)."""
    out = tmp_path_factory.mktemp("single") / "single.h5"
    args = ["-q", "surface", *tiny_args(module_ckpt), *GRID, "--out", str(out)]
    assert CliRunner().invoke(cli, args, catch_exceptions=False).exit_code == 0
    return out


def test_two_ranks_equal_single_process(tmp_path: Path, module_ckpt: Path, reference: Path) -> None:
    out = tmp_path / "dist.h5"
    res = torchrun("surface", *tiny_args(module_ckpt), *GRID, "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert res.stderr.count(f"{out}: 63/63 points") == 1  # rank 0 alone reports
    with h5py.File(reference) as a, h5py.File(out) as b:
        for name in (
            *METRICS,
            "surface/done",
            "directions/d0/fc.weight",
            "directions/d1/conv.weight",
        ):
            np.testing.assert_array_equal(a[name][()], b[name][()])
        assert a["surface"].attrs["config"] == b["surface"].attrs["config"]
    assert not Path(str(out) + ".lock").exists()


def test_distributed_resume_computes_only_missing_points_then_refuses_other_settings(
    tmp_path: Path, module_ckpt: Path, reference: Path
) -> None:
    out = tmp_path / "partial.h5"
    out.write_bytes(reference.read_bytes())
    with h5py.File(out, "r+") as f:  # an interrupted run: odd rows missing, even rows marked
        done = f["surface/done"][()]
        done[1::2] = False
        f["surface/done"][...] = done
        for name in METRICS:  # our copies (surface/, what a resume reads; accuracy as fractions)
            v = f[f"surface/{name}"][()]
            v[~done] = np.nan
            v[done] = 123.0  # computed points must be kept, not recomputed
            f[f"surface/{name}"][...] = v
    res = torchrun("surface", *tiny_args(module_ckpt), *GRID, "--out", str(out))
    assert res.returncode == 0, res.stderr
    with h5py.File(reference) as a, h5py.File(out) as b:
        assert b["surface/done"][()].all()
        for name in METRICS:
            ours, ref = b[f"surface/{name}"][()], a[f"surface/{name}"][()]
            np.testing.assert_array_equal(ours[~done], ref[~done])
            assert (ours[done] == 123.0).all()
    before = hashlib.sha256(out.read_bytes()).hexdigest()
    res = torchrun("surface", *tiny_args(module_ckpt), "--x=-1:1:5", "--out", str(out))
    assert res.returncode != 0
    assert (
        res.stderr.count("already holds a 'surface' made with different settings") == 2
    )  # both ranks
    own_frames = [
        ln
        for ln in res.stderr.splitlines()
        if ln.strip().startswith("File") and "/landscape/" in ln
    ]
    assert own_frames == []  # the only traceback is torchrun's own report of failed workers
    assert hashlib.sha256(out.read_bytes()).hexdigest() == before
