"""A run with ``--track-sharpness`` resumed from an epoch checkpoint equals the uninterrupted run.

Before the probe's warm start (its last Lanczos eigenvectors) was saved in the
checkpoints, the resumed run started Lanczos afresh and ``dynamics/probe``
differed in ``lambda_max``, ``num_hvps`` and ``precond_lambda_max`` (issue 13, item 6).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
from click.testing import CliRunner

from landscape.cli import cli

TRAIN = ["train", "--epochs", "2", "--max-samples", "48", "--batch-size", "16"]
TRACK = ["--track-sharpness", "every=2,subset=32"]


def _train(out: Path, optimizer: list[str]) -> None:
    res = CliRunner().invoke(cli, ["-q", *TRAIN, *optimizer, *TRACK, "--out", str(out)])
    assert res.exit_code == 0, res.output


def _probe(out: Path) -> dict[str, np.ndarray]:
    with h5py.File(out / "run.h5", "r") as f:
        g = f["dynamics/probe"]
        return {k: g[k][()] for k in g if isinstance(g[k], h5py.Dataset)}


def test_resumed_probe_equals_uninterrupted(tmp_path: Path) -> None:
    optimizer = ["--optimizer", "adam", "--lr", "0.01"]  # adaptive: precond_lambda_max too
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    _train(whole, optimizer)
    _train(resumed, optimizer)
    (resumed / "checkpoints" / "epoch_0002.pt").unlink()  # as if killed during epoch 2
    _train(resumed, optimizer)  # resumes from epoch 1 with a fresh probe object
    expected, got = _probe(whole), _probe(resumed)
    assert sorted(got) == sorted(expected) and expected["step"].tolist() == [0, 2, 4, 6]
    for key, values in expected.items():
        np.testing.assert_array_equal(got[key], values, err_msg=key)


def test_resumed_from_the_initial_checkpoint_probe_equals_uninterrupted(tmp_path: Path) -> None:
    """The initial checkpoint is saved before the step-0 probe: its warm start is rebuilt.

    Seen with ``demo``'s full-batch run (checkpoints only at the end): killed after the
    first probes, it resumed from ``init.pt`` and the step-2 probe started cold.
    """
    optimizer = ["--optimizer", "sgd", "--lr", "0.05"]
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    _train(whole, optimizer)
    _train(resumed, optimizer)
    later = list((resumed / "checkpoints").glob("epoch_*.pt"))
    assert later and (resumed / "checkpoints" / "init.pt").exists()
    for p in later:  # as if killed during epoch 1, after the step-0 probe was written
        p.unlink()
    _train(resumed, optimizer)
    expected, got = _probe(whole), _probe(resumed)
    for key, values in expected.items():
        np.testing.assert_array_equal(got[key], values, err_msg=key)
