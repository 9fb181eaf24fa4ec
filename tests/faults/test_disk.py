"""A disk that fills up during ``landscape train`` (issue 13, item 5).

HDF5 crashed the process (exit 139, ~165 lines) when its own writes failed at
close, leaving temporaries and the lock behind. The file size limit of
``RLIMIT_FSIZE`` fails writes beyond 500 kB the way a full disk does, without
root or a small file system.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import h5py

LIMIT = 500_000
TRAIN = [
    "train",
    "--optimizer",
    "sgd",
    "--lr",
    "0.05",
    "--epochs",
    "3",
    "--max-samples",
    "32",
    "--batch-size",
    "16",
]


def _file_size_limit() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def _train(out: Path, *, limited: bool) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.run(
        [sys.executable, "-m", "landscape", "-q", *TRAIN, "--out", str(out)],
        preexec_fn=_file_size_limit if limited else None,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_train_on_a_full_disk_fails_with_one_line_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "run"
    res = _train(out, limited=True)
    assert res.returncode == 1, res.stderr[-2000:]
    assert res.stderr.strip() == (
        f"Error: {out / 'run.h5'}: file size limit reached while writing; the previous file is kept"
    )
    assert sorted(p.name for p in out.iterdir()) == ["checkpoints", "run.h5"]
    with h5py.File(out / "run.h5", "r") as f:  # the last complete version
        assert "dynamics" in f
    assert _train(out, limited=False).returncode == 0  # room again: the run resumes
    with h5py.File(out / "run.h5", "r") as f:
        assert f["dynamics/epoch/epoch"][()].tolist() == [0, 1, 2, 3]
