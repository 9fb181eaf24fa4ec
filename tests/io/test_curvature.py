import json

import h5py
import numpy as np
import pytest

from landscape.errors import LandscapeError
from landscape.io import curvature as io
from landscape.records import (
    CurvatureMap,
    Eigenpairs,
    Sharpness,
    SpectralDensity,
    TaylorModel,
    TraceEstimate,
)
from landscape.store import atomic_update, write_params

TOP = Eigenpairs(
    eigenvalues=np.array([3.0, 2.0]),
    eigenvectors=({"w": np.array([[1.0, 0.0]])}, {"w": np.array([[0.0, 1.0]])}),
    residuals=np.array([1e-9, 2e-9]),
    converged=np.array([True, False]),
    num_matvecs=17,
    tol=1e-6,
)
TRACE = TraceEstimate(5.0, 0.25, 12, "hutch++")
DENSITY = SpectralDensity(
    np.linspace(0, 1, 4),
    np.array([0.1, 0.4, 0.4, 0.1]),
    np.ones((2, 3)),
    np.full((2, 3), 1 / 3),
    0.01,
    20,
)
SHARP = Sharpness("lambda_max", 3.0, 1e-9, {"tol": 1e-6, "num_matvecs": 17}, "Keskar et al. 2017")


def stage(path, kind, results):
    io.create_stage(path, kind, {"seed": 0}, command="test")
    for name, r in results.items():
        io.write_stage(path, kind, name, r)


def test_hessian_stages_round_trip(tmp_path):
    path = tmp_path / "c.h5"
    stage(path, "hessian", {"top": TOP, "trace": TRACE, "density": DENSITY})
    assert io.stored_stages(path, "hessian") == {"top", "trace", "density"}
    back = io.read_stages(path, "hessian")
    top = back["top"]
    assert top.num_matvecs == 17 and top.tol == 1e-6
    np.testing.assert_array_equal(top.eigenvalues, TOP.eigenvalues)
    np.testing.assert_array_equal(top.converged, TOP.converged)
    assert [v["w"].tolist() for v in top.eigenvectors] == [[[1.0, 0.0]], [[0.0, 1.0]]]
    assert back["trace"] == TRACE
    assert back["density"].num_matvecs == 20 and back["density"].sigma == 0.01
    spectrum = io.read_spectrum(path)
    assert spectrum.bottom is None and spectrum.trace == TRACE
    with h5py.File(path, "r") as f:
        assert f["curvature/hessian"].attrs["config"] == '{"seed": 0}'
        assert f["curvature/hessian/top"].attrs["num_matvecs"] == 17
        assert "num_hvps" not in f["curvature/hessian/trace"].attrs


def test_sharpness_round_trip_and_fresh_stage(tmp_path):
    path = tmp_path / "c.h5"
    stage(path, "sharpness", {"lambda_max": SHARP})
    assert io.read_stages(path, "sharpness") == {"lambda_max": SHARP}
    io.create_stage(path, "sharpness", {"seed": 1})
    assert io.stored_stages(path, "sharpness") == set()


def test_file_written_with_the_old_count_name_reads_the_same(tmp_path):
    """Files written before the rename store ``num_hvps`` (attributes and settings)."""
    path = tmp_path / "old.h5"
    with atomic_update(path, new=True, command="old") as f:
        h = f.require_group("curvature/hessian")
        h.attrs["config"] = "{}"
        top = h.create_group("top")
        top.create_dataset("eigenvalues", data=TOP.eigenvalues)
        top.create_dataset("residuals", data=TOP.residuals)
        top.create_dataset("converged", data=TOP.converged)
        top.attrs["num_hvps"] = 17
        top.attrs["tol"] = 1e-6
        for i, v in enumerate(TOP.eigenvectors):
            write_params(top.require_group("vectors"), f"v{i}", v)
        h.require_group("trace").attrs.update(
            {"estimate": 5.0, "std_error": 0.25, "num_hvps": 12, "method": "hutch++"}
        )
        d = h.create_group("density")
        for key in ("grid", "density", "nodes", "weights"):
            d.create_dataset(key, data=getattr(DENSITY, key))
        d.attrs.update({"sigma": 0.01, "num_hvps": 20})
        s = f.require_group("curvature/sharpness/lambda_max")
        s.attrs.update(
            {
                "value": 3.0,
                "std_error": 1e-9,
                "settings": json.dumps({"tol": 1e-6, "num_hvps": 17}),
                "citation": "Keskar et al. 2017",
            }
        )
    back = io.read_stages(path, "hessian")
    assert back["top"].num_matvecs == 17 and back["trace"] == TRACE
    assert back["density"].num_matvecs == 20
    assert io.read_stages(path, "sharpness") == {"lambda_max": SHARP}


def test_map_and_taylor(tmp_path):
    path = tmp_path / "s.h5"
    m = CurvatureMap(
        np.array([2.0, np.nan]),
        np.array([-1.0, np.nan]),
        np.array([0.5, np.nan]),
        np.array([True, False]),
    )
    io.write_map(path, {"tol": 0.1}, m, new=True)
    io.write_map(
        path,
        {"tol": 0.1},
        CurvatureMap(m.lambda_max, m.lambda_min, m.ratio, np.array([True, True])),
    )
    back = io.read_map(path)
    np.testing.assert_array_equal(back.ratio, m.ratio)
    assert back.done.tolist() == [True, True]
    model = TaylorModel(np.ones(2), np.zeros(2), 1.5, np.array([0.1]), np.eye(1))
    io.write_taylor(path, model, {"a": 1})
    with h5py.File(path, "r") as f:
        g = f["curvature/taylor"]
        assert g.attrs["loss0"] == 1.5 and g["curvatures"][()].tolist() == [[1.0]]
        assert f["curvature/map"].attrs["config"] == '{"tol": 0.1}'


def test_missing_groups_and_unknown_stage(tmp_path):
    path = tmp_path / "e.h5"
    with h5py.File(path, "w") as f:
        f["x"] = 1.0
    with pytest.raises(LandscapeError, match="no Hessian spectrum"):
        io.read_spectrum(path)
    with pytest.raises(LandscapeError, match="no curvature map"):
        io.read_map(path)
    io.create_stage(path, "hessian", {})
    with pytest.raises(TypeError, match="no curvature layout for float"):
        io.write_stage(path, "hessian", "top", 1.0)
