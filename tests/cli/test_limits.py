"""``--max-grid-points``, ``--max-read-mb``, ``--follow-external-links`` (README's safety rows ‡)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from landscape import limits
from landscape.cli import COMMANDS, cli
from tests.cli_errors import one_line_error, run

SURFACE = ["surface", "--model", "tests.helpers_specs:tiny_net"]
SURFACE += ["--data", "tests.helpers_specs:tiny_data", "--checkpoint"]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_the_three_options(name: str) -> None:
    res = CliRunner().invoke(cli, [name, "--help"])
    assert res.exit_code == 0
    for option in ("--max-grid-points", "--max-read-mb", "--follow-external-links"):
        assert option in res.output


def test_grid_above_max_grid_points_names_the_option_and_the_option_lifts_it(
    tmp_path: Path, ckpt: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(limits.MAX_GRID_ENV, "10")
    out = tmp_path / "s.h5"
    args = [*SURFACE, str(ckpt), "--x=-1:1:11", "--out", str(out)]
    error = one_line_error(run(*args))
    assert "grid: 11 = 11 points is above the limit of 10 (pass --max-grid-points" in error
    assert not out.exists()
    assert run(*args, "--max-grid-points", "11").exit_code == 0
    assert h5py.File(out)["surface/done"][()].all()
    assert limits.current().max_grid_points == 10  # the option held for that command only


def _declaring(path: Path, mib: int) -> Path:
    with h5py.File(path, "w") as f:
        f.create_dataset("train_loss", shape=(mib << 17,), dtype="f8", chunks=(1024,))
    return path


def test_dataset_declaring_more_than_max_read_mb_names_the_option(tmp_path: Path) -> None:
    path = _declaring(tmp_path / "huge.h5", 100)
    error = one_line_error(run("info", str(path)))
    assert "declares shape (13107200,) (104.9 MB) but stores 0 B" in error
    assert "refused above 64 MiB not stored (pass --max-read-mb" in error
    assert run("info", str(path), "--max-read-mb", "100").exit_code == 0
    assert "above 10 MiB" in one_line_error(run("info", str(path), "--max-read-mb", "10"))
    assert "above 64 MiB" in one_line_error(run("info", str(path)))


def test_external_link_in_a_file_only_read_names_the_flag_which_follows_it(
    tmp_path: Path,
) -> None:
    other, path = tmp_path / "other.h5", tmp_path / "ext.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.arange(3.0)
    with h5py.File(path, "w") as f:
        f["v"] = h5py.ExternalLink(str(other), "/x")
    error = one_line_error(run("info", str(path)))
    assert "external link" in error and "(pass --follow-external-links or set" in error
    res = run("info", str(path), "--follow-external-links")
    assert res.exit_code == 0, res.output
    assert "external link" in one_line_error(run("info", str(path)))
