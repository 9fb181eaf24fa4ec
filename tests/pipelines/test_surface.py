"""``landscape surface --tolerance``: adaptive points, stored standard errors, resume."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from landscape import adaptive
from landscape.adaptive_units import pilot_rows
from landscape.cli import cli
from landscape.pipelines.surface import surface
from tests.conftest import tiny_data, tiny_net
from tests.helpers_specs import tiny_args

GRID = ["--x=-1:1:5", "--y=-1:1:3", "--batch-size", "2"]
METRICS = ("train_loss", "train_acc", "test_loss", "test_acc")


def run(*args: str):
    return CliRunner().invoke(cli, ["-q", *args], catch_exceptions=False)


def surface_file(tmp_path, ckpt, name: str, *extra: str):
    out = tmp_path / name
    res = run("surface", *tiny_args(ckpt), *GRID, *extra, "--out", str(out))
    assert res.exit_code == 0, res.output
    return out


def test_adaptive_file_stores_errors_rows_and_tolerance(tmp_path, ckpt):
    out = surface_file(tmp_path, ckpt, "a.h5", "--tolerance", "0.3")
    with h5py.File(out, "r") as f:
        assert f["surface"].attrs["adaptive"] and f["surface"].attrs["tolerance"] == 0.3
        for name in METRICS:
            assert np.isfinite(f[f"{name}_se"][()]).all() and f[f"{name}_se"].shape == (3, 5)
        rows = f["train_rows"][()]
        assert rows.min() >= pilot_rows(50, references=5) and rows.max() <= 50
        assert (f["test_rows"][()] <= 23).all()


def test_no_tolerance_leaves_the_file_as_before(tmp_path, ckpt):
    out = surface_file(tmp_path, ckpt, "p.h5")
    with h5py.File(out, "r") as f:
        assert sorted(f) == sorted(
            ["directions", "surface", "xcoordinates", "ycoordinates", *METRICS]
        )
        assert "adaptive" not in f["surface"].attrs and "tolerance" not in f["surface"].attrs
        assert "tolerance" not in f["surface"].attrs["config"]


def test_tiny_tolerance_uses_all_rows_and_equals_the_full_surface(tmp_path, ckpt):
    full = surface_file(tmp_path, ckpt, "full.h5", "--points-per-pass", "1")
    tight = surface_file(tmp_path, ckpt, "tight.h5", "--tolerance", "1e-12")
    with h5py.File(full, "r") as a, h5py.File(tight, "r") as b:
        for name in METRICS:
            np.testing.assert_array_equal(a[name][()], b[name][()])
            assert (b[f"{name}_se"][()] == 0).all()
        assert (b["train_rows"][()] == 50).all() and (b["test_rows"][()] == 23).all()


def test_every_point_within_a_few_standard_errors_of_the_full_value(tmp_path, ckpt):
    full = surface_file(tmp_path, ckpt, "full.h5")
    loose = surface_file(tmp_path, ckpt, "loose.h5", "--tolerance", "0.2")
    with h5py.File(full, "r") as a, h5py.File(loose, "r") as b:
        assert (b["train_rows"][()] < 50).any()  # the tolerance did stop some points early
        for name in ("train_loss", "test_loss"):
            error = np.abs(b[name][()] - a[name][()])
            assert (error <= 4 * b[f"{name}_se"][()] + 1e-12).all()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--tolerance", "0.1", "--points-per-pass", "2"], "one point per pass"),
        (["--tolerance", "0"], "tolerance: expected a positive number"),
        (["--tolerance", "nan"], "tolerance: expected a positive number"),
    ],
)
def test_bad_tolerance_one_line_and_nothing_written(tmp_path, ckpt, extra, message):
    out = tmp_path / "s.h5"
    res = run("surface", *tiny_args(ckpt), *GRID, *extra, "--out", str(out))
    assert res.exit_code == 1 and message in res.output
    assert len(res.output.strip().splitlines()) == 1 and not out.exists()


def test_resume_with_another_tolerance_refused(tmp_path, ckpt):
    out = surface_file(tmp_path, ckpt, "a.h5", "--tolerance", "0.3")
    before = out.read_bytes()
    res = run("surface", *tiny_args(ckpt), *GRID, "--tolerance", "0.1", "--out", str(out))
    assert res.exit_code == 1 and "tolerance" in res.output and "--overwrite" in res.output
    assert out.read_bytes() == before


def test_a_file_made_under_another_stopping_rule_is_not_resumed(tmp_path, ckpt, monkeypatch):
    """Its points would mix two estimators: refused in one line, the file kept, until
    ``--overwrite``; a file of the current rule resumes."""
    out = surface_file(tmp_path, ckpt, "a.h5", "--tolerance", "0.3")
    with h5py.File(out, "r") as f:
        assert f'"tolerance_rule": {adaptive.RULE}' in f["surface"].attrs["config"]
    assert run("surface", *tiny_args(ckpt), *GRID, "--tolerance", "0.3", "--out", str(out)).exit_code == 0  # fmt: skip
    monkeypatch.setattr(adaptive, "RULE", adaptive.RULE + 1)
    before = out.read_bytes()
    again = ["surface", *tiny_args(ckpt), *GRID, "--tolerance", "0.3"]
    res = run(*again, "--out", str(out))
    assert res.exit_code == 1 and "tolerance_rule" in res.output and "--overwrite" in res.output
    assert len(res.output.strip().splitlines()) == 1
    assert out.read_bytes() == before
    assert run(*again, "--out", str(out), "--overwrite").exit_code == 0


def test_interrupted_then_resumed_equals_uninterrupted(tmp_path, monkeypatch):
    kw = {"x": "-1:1:5", "y": "-1:1:3", "batch_size": 2, "tolerance": 0.3, "progress": False}
    full = surface(tiny_net(), None, tiny_data(), out=tmp_path / "full.h5", **kw)
    evaluate = adaptive.AdaptivePointEvaluator.evaluate
    calls = {"n": 0}

    def interrupted(self, coords):
        calls["n"] += 1
        if calls["n"] > 2:  # after the first step: one point, on two splits
            raise KeyboardInterrupt
        return evaluate(self, coords)

    monkeypatch.setattr(adaptive.AdaptivePointEvaluator, "evaluate", interrupted)
    out = tmp_path / "resumed.h5"
    with pytest.raises(KeyboardInterrupt):
        surface(tiny_net(), None, tiny_data(), out=out, points_per_pass=1, **kw)
    with h5py.File(out, "r") as f:
        assert 0 < int(f["surface/done"][()].sum()) < 15
    monkeypatch.setattr(adaptive.AdaptivePointEvaluator, "evaluate", evaluate)
    resumed = surface(tiny_net(), None, tiny_data(), out=out, points_per_pass=1, **kw)
    assert resumed.done.all()
    for name, values in full.values.items():
        np.testing.assert_array_equal(values, resumed.values[name])


def test_plot_draws_a_standard_error_and_info_shows_rows_used(tmp_path, ckpt):
    out = surface_file(tmp_path, ckpt, "a.h5", "--tolerance", "0.3")
    png = tmp_path / "se.png"
    res = run("plot", str(out), "--metric", "train_loss_se", "--out", str(png))
    assert res.exit_code == 0, res.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with h5py.File(out, "r") as f:
        rows = f["train_rows"][()]
    info = run("info", str(out)).output
    assert "adaptive: tolerance 0.3" in info
    expected = f"min {rows.min():.0f}, median {np.median(rows):.0f}, max {rows.max():.0f}"
    assert f"train rows used per point: {expected}" in info
    assert "test rows used per point: min" in info


def test_info_of_a_plain_surface_says_nothing_adaptive(tmp_path, ckpt):
    info = run("info", str(surface_file(tmp_path, ckpt, "p.h5"))).output
    assert "adaptive" not in info and "rows used" not in info
