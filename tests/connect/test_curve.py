"""``connect --curve``: a fitted Bezier curve / polygonal chain, stored state, exact resume."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from landscape.cli import cli
from landscape.connect.curve import CurveFitter, CurveSettings
from landscape.connect.path import path_coefficients, plane_point
from landscape.errors import LandscapeError
from landscape.io.connect import read_connect
from landscape.pipelines import connect as pipeline
from tests import connect_specs as specs


def fit(pair, out, **kw):
    options = {"points": 7, "curve": "bezier", "curve_epochs": 4, "curve_batch_size": 60}
    return pipeline.connect(
        specs.mlp(), *pair, specs.data(), out=out, progress=False, **{**options, **kw}
    )


@pytest.mark.parametrize("kind", ["bezier", "polychain"])
def test_path_coefficients_run_from_a_through_c_to_b(kind):
    a, b, c = ({"w": torch.tensor([v])} for v in (0.0, 1.0, 5.0))
    ends = [float(plane_point(a, b, c, path_coefficients(kind, t))["w"]) for t in (0.0, 1.0)]
    assert ends == [0.0, 1.0]
    middle = float(plane_point(a, b, c, path_coefficients(kind, 0.5))["w"])
    assert middle == (5.0 if kind == "polychain" else 0.25 * 0 + 0.5 * 5 + 0.25 * 1)
    t = torch.linspace(0, 1, 5)
    tensor = path_coefficients(kind, t)
    floats = [path_coefficients(kind, float(v)) for v in t]
    assert torch.allclose(tensor[0], torch.tensor([f[0] for f in floats]))


@pytest.mark.parametrize("kind", ["bezier", "polychain"])
def test_fitted_curve_is_no_higher_than_the_line(tmp_path, pair, kind):
    c = fit(pair, tmp_path / "c.h5", curve=kind, curve_epochs=15, curve_batch_size=30)
    assert c.barriers["linear_barrier"] > 0.05
    assert c.barriers["curve_barrier"] <= c.barriers["linear_barrier"]
    assert c.curve_kind == kind and c.curve is not None and c.curve.epochs_done == 15
    assert len(c.curve.fit_loss) == 15 and np.isfinite(c.curve.fit_loss).all()
    assert set(c.curve.control) == {k for k, _ in specs.mlp().named_parameters()}
    curve = c.paths["curve"].values["train_loss"]
    line = c.paths["linear"].values["train_loss"]
    assert curve[0] == pytest.approx(line[0]) and curve[-1] == pytest.approx(line[-1])


def test_killed_fit_resumes_bit_for_bit(tmp_path, pair, monkeypatch):
    whole = fit(pair, tmp_path / "whole.h5")
    real = CurveFitter.epoch
    calls = {"n": 0}

    def killed_in_epoch_three(self, state):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(self, state)

    out = tmp_path / "part.h5"
    monkeypatch.setattr(CurveFitter, "epoch", killed_in_epoch_three)
    with pytest.raises(KeyboardInterrupt):
        fit(pair, out)
    assert read_connect(out).curve.epochs_done == 2
    monkeypatch.setattr(CurveFitter, "epoch", real)
    resumed = fit(pair, out)
    for k, v in whole.curve.control.items():
        np.testing.assert_array_equal(resumed.curve.control[k], v)
        np.testing.assert_array_equal(resumed.curve.momentum[k], whole.curve.momentum[k])
    np.testing.assert_array_equal(resumed.curve.fit_loss, whole.curve.fit_loss)
    for m, v in whole.paths["curve"].values.items():
        np.testing.assert_array_equal(resumed.paths["curve"].values[m], v)
    assert resumed.barriers == whole.barriers


def test_curve_after_alignment_runs_to_the_aligned_target(tmp_path, pair):
    c = fit(pair, tmp_path / "c.h5", align=True, curve_epochs=2)
    assert list(c.paths) == ["linear", "aligned", "curve"]
    assert c.paths["curve"].values["train_loss"][-1] == pytest.approx(
        c.paths["aligned"].values["train_loss"][-1]
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"kind": "spline"}, "expected bezier or polychain"),
        ({"kind": "bezier", "epochs": 0}, "positive epochs"),
        ({"kind": "bezier", "momentum": 1.0}, "momentum < 1"),
    ],
)
def test_bad_curve_settings_refused(settings, message):
    with pytest.raises(LandscapeError, match=message):
        CurveSettings(**settings)


def test_cli_fits_and_stores_the_control_point(tmp_path, pair):
    out = tmp_path / "c.h5"
    res = CliRunner().invoke(
        cli,
        ["-q", "connect", "--model", "tests.connect_specs:mlp", "--data",
         "tests.connect_specs:data", "--checkpoint", str(pair[0]), "--target", str(pair[1]),
         "--points", "5", "--curve", "polychain", "--curve-epochs", "2", "--out", str(out)],
        catch_exceptions=False,
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "curve barrier:" in res.output
    with h5py.File(out, "r") as f:
        g = f["connect"]
        assert g["curve_fit"].attrs["kind"] == "polychain"
        assert g["curve_fit"].attrs["epochs_done"] == 2
        assert set(g["curve_fit/control"]) == {k for k, _ in specs.mlp().named_parameters()}
        assert g["curve/done"][()].all() and "curve_barrier" in g.attrs


def test_plane_holds_the_loss_around_a_b_and_c_in_orthonormal_coordinates(tmp_path, pair):
    c = fit(pair, tmp_path / "c.h5", curve_epochs=2, plane=4)
    p = c.plane
    assert p is not None and p.loss.shape == (4, 4) and p.done.all()
    a, b = torch.load(pair[0]), torch.load(pair[1])
    control = {k: torch.as_tensor(v) for k, v in c.curve.control.items()}
    v = torch.cat([(b[k] - a[k]).ravel() for k in a])
    u = torch.cat([(control[k] - a[k]).ravel() for k in a])
    assert p.corners[1].tolist() == pytest.approx([float(v.norm()), 0.0], rel=1e-5)
    assert float(np.hypot(*p.corners[2])) == pytest.approx(float(u.norm()), rel=1e-5)
    np.testing.assert_allclose(p.curve[[0, -1]], p.corners[:2], atol=1e-6)
    # the loss at grid point (x, y) is the loss of A + x e1 + y e2, evaluated plainly
    e1 = v / v.norm()
    e2 = u - (u @ e1) * e1
    e2 = e2 / e2.norm()
    iy, ix = 1, 2
    theta = torch.cat([a[k].ravel() for k in a]) + float(p.x[ix]) * e1 + float(p.y[iy]) * e2
    model = specs.mlp()
    torch.nn.utils.vector_to_parameters(theta, model.parameters())
    x, y = specs.data()["train"]
    with torch.no_grad():
        expected = float(torch.nn.functional.cross_entropy(model(x), y))
    assert p.loss[iy, ix] == pytest.approx(expected, rel=1e-4)


def test_plane_of_a_single_point_refused(pair, tmp_path):
    with pytest.raises(LandscapeError, match="at least 2 points a side"):
        fit(pair, tmp_path / "c.h5", plane=1)
