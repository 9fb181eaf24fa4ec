"""Two gloo ranks under ``torchrun --standalone`` give the single-process curvature."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
from click.testing import CliRunner

from landscape.cli import cli
from tests.helpers_specs import tiny_args

ROOT = Path(__file__).resolve().parents[2]


def test_two_ranks_equal_single_process_hessian(tmp_path: Path, ckpt: Path) -> None:
    args = ["hessian", *tiny_args(ckpt, "--top-k", "2", "--trace", "--trace-hvps", "6")]
    args += ["--dtype", "float64", "--tol", "1e-8"]
    single = tmp_path / "single.h5"
    assert CliRunner().invoke(cli, ["-q", *args, "--out", str(single)]).exit_code == 0
    dist = tmp_path / "dist.h5"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "landscape",
    ]
    res = subprocess.run(
        [*cmd, "-q", *args, "--out", str(dist)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert res.returncode == 0, res.stderr
    assert res.stderr.count(f"{dist}: curvature/hessian") == 1  # rank 0 alone reports
    with h5py.File(single) as a, h5py.File(dist) as b:
        ga, gb = a["curvature/hessian"], b["curvature/hessian"]
        np.testing.assert_allclose(gb["top/eigenvalues"][()], ga["top/eigenvalues"][()], rtol=1e-9)
        assert np.isclose(gb["trace"].attrs["estimate"], ga["trace"].attrs["estimate"], rtol=1e-9)
        vec_a, vec_b = ga["top/vectors/v0/fc.weight"][()], gb["top/vectors/v0/fc.weight"][()]
        np.testing.assert_allclose(np.abs(vec_b), np.abs(vec_a), atol=1e-7)
