"""``landscape connect RUN...``: the barrier matrix over runs, intervals over seeds, in words."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from landscape.cli import cli
from landscape.dynamics.train import TrainConfig, train
from landscape.errors import LandscapeError
from landscape.io.connect import read_connect, read_matrix
from landscape.pipelines.connect_matrix import connect_runs
from tests import connect_specs as specs

MODEL, DATA = "tests.connect_specs:mlp", "tests.connect_specs:data"


@pytest.fixture
def runs(tmp_path):
    out = {}
    for optimizer, lr in (("sgd", 0.2), ("adam", 0.02)):
        for seed in (0, 1):
            config = TrainConfig(
                data=DATA, model=MODEL, optimizer=optimizer, lr=lr, epochs=3, batch_size=40,
                seed=seed,
            )  # fmt: skip
            out[f"{optimizer}-{seed}"] = tmp_path / "runs" / f"{optimizer}-{seed}"
            train(config, out[f"{optimizer}-{seed}"], progress=False)
    return out


def test_matrix_holds_every_pairs_barrier_and_groups_get_intervals(tmp_path, runs):
    args = [f"{name.split('-')[0]}={path}" for name, path in runs.items()]
    m = connect_runs(specs.mlp(), args, specs.data(), out_dir=tmp_path / "out", points=5)
    assert m.names == list(runs) and m.labels == ["sgd", "sgd", "adam", "adam"]
    lin = m.barriers["linear"]
    assert lin.shape == (4, 4) and np.array_equal(lin, lin.T) and np.all(np.diag(lin) == 0)
    pair = read_connect(tmp_path / "out" / m.files["0,2"])
    assert lin[0, 2] == pair.barriers["linear_barrier"]
    assert pair.checkpoint.endswith("epoch_0003.pt")
    assert read_matrix(tmp_path / "out" / "matrix.h5").names == m.names


def test_cli_prints_the_barriers_between_groups(tmp_path, runs):
    args = [f"{name.split('-')[0]}={path}" for name, path in runs.items()]
    out = tmp_path / "out"
    res = CliRunner().invoke(
        cli,
        ["-q", "connect", *args, "--model", MODEL, "--data", DATA, "--points", "3", "--align",
         "--out", str(out)],
        catch_exceptions=False,
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()
    between = next(line for line in lines if line.startswith("sgd's and adam's solutions"))
    m = read_matrix(out / "matrix.h5")
    values = m.barriers["linear"][:2, 2:].ravel()
    assert f"barrier of {values.mean():.3g} (95% CI" in between
    assert "4 pairs) along the straight line" in between and "after alignment" in between
    assert any(line.startswith("sgd's seeds are separated") for line in lines)


def test_bad_run_lists_refused(tmp_path, runs):
    with pytest.raises(LandscapeError, match="at least two runs"):
        connect_runs(specs.mlp(), [str(runs["sgd-0"])], specs.data(), out_dir=tmp_path / "o")
    res = CliRunner().invoke(
        cli,
        ["connect", str(runs["sgd-0"]), "--model", MODEL, "--checkpoint", "a.pt", "--out", "o"],
    )
    assert res.exit_code == 1 and "either RUN directories or --checkpoint" in res.output
