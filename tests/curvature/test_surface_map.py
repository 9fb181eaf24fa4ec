from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from landscape.cli import cli
from landscape.curvature.surface_map import taylor_model
from landscape.data import Split
from landscape.io.surface import read_surface
from landscape.objective import Objective
from landscape.params import combine, flatten, model_params
from landscape.records import Surface
from tests.conftest import tiny_data, tiny_net
from tests.curvature.cases import dense_hessian
from tests.helpers_specs import TINY_SPEC, tiny_args


def run(*args: str) -> object:
    return CliRunner().invoke(cli, ["-q", *args], catch_exceptions=False)


@pytest.fixture
def surface(tmp_path: Path, ckpt: Path) -> Path:
    out = tmp_path / "surf.h5"
    res = run("surface", *tiny_args(ckpt), "--x=-0.4:0.4:3", "--y=-0.2:0.2:2", "--out", str(out))
    assert res.exit_code == 0, res.output
    return out


def test_curvature_map_matches_dense_eigenvalues_on_a_non_square_grid(
    surface: Path, ckpt: Path
) -> None:
    res = run(
        "curvature-map",
        str(surface),
        *tiny_args(ckpt),
        "--tol",
        "1e-7",
        "--max-iter",
        "120",
        "--dtype",
        "float64",
    )
    assert res.exit_code == 0, res.output
    grid = read_surface(surface, with_vectors=True)
    model = tiny_net().double()
    x, y = tiny_data()["train"]
    obj = Objective(model, Split(x.double(), y))
    origin = model_params(model)
    dirs = [{k: torch.from_numpy(v) for k, v in d.items()} for d in grid.vectors]
    with h5py.File(surface, "r") as f:
        g = f["curvature/map"]
        assert g["lambda_max"].shape == (2, 3) and g["done"][()].all()
        for iy, ix in [(0, 2), (1, 0)]:  # [iy, ix]: rows follow ycoordinates
            point = combine(origin, [(grid.x[ix], dirs[0]), (grid.y[iy], dirs[1])])
            ev = torch.linalg.eigvalsh(dense_hessian(obj, point)).numpy()
            assert g["lambda_max"][iy, ix] == pytest.approx(ev[-1], rel=1e-6)
            assert g["lambda_min"][iy, ix] == pytest.approx(ev[0], rel=1e-4, abs=1e-8)
            assert g["ratio"][iy, ix] == pytest.approx(abs(ev[0] / ev[-1]), rel=1e-4)
        taylor = f["curvature/taylor/train_loss"][()]
        residual = f["curvature/taylor/residual"][()]
        np.testing.assert_allclose(residual, f["train_loss"][()] - taylor, rtol=1e-12)
    # the quadratic model from the dense Hessian at the origin
    hess = dense_hessian(obj, origin)
    p = {k: v.clone().requires_grad_(True) for k, v in origin.items()}
    grad = torch.autograd.grad(obj.loss(p), list(p.values()))
    gvec = torch.cat([t.reshape(-1) for t in grad])
    loss0 = float(obj.loss(origin))
    for iy, ix in [(0, 0), (1, 2)]:
        d = grid.x[ix] * flatten(dirs[0]).double() + grid.y[iy] * flatten(dirs[1]).double()
        assert taylor[iy, ix] == pytest.approx(
            loss0 + float(gvec @ d) + 0.5 * float(d @ hess @ d), rel=1e-9
        )


def test_curvature_map_plot(surface: Path, ckpt: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from landscape.errors import LandscapeError
    from landscape.plotting.spectrum import plot_curvature_map

    fig, ax = plt.subplots()
    with pytest.raises(LandscapeError, match="no curvature map"):
        plot_curvature_map(surface, ax)
    args = ["--checkpoint", str(ckpt), "--no-taylor", "--max-iter", "20"]
    assert run("curvature-map", str(surface), *TINY_SPEC, *args).exit_code == 0
    assert plot_curvature_map(surface, ax, metric="lambda_max") is ax
    assert ax.get_title() == "curvature map: λ_max"
    with pytest.raises(LandscapeError, match="metric: expected one of ratio"):
        plot_curvature_map(surface, ax, metric="vibes")
    plt.close(fig)


def test_curvature_map_resumes_missing_points(surface: Path, ckpt: Path) -> None:
    args = ["curvature-map", str(surface), *tiny_args(ckpt), "--no-taylor", "--dtype", "float64"]
    assert run(*args, "--tol", "1e-5").exit_code == 0
    with h5py.File(surface, "r") as f:
        full = f["curvature/map/lambda_max"][()]
    with h5py.File(surface, "r+") as f:  # as if killed after the first three points
        f["curvature/map/done"][1, :] = False
        f["curvature/map/lambda_max"][1, :] = np.nan
    assert run(*args, "--tol", "1e-5").exit_code == 0
    with h5py.File(surface, "r") as f:
        assert f["curvature/map/done"][()].all()
        np.testing.assert_allclose(f["curvature/map/lambda_max"][()], full, rtol=1e-5)
    res = run(*args, "--tol", "1e-3")
    assert res.exit_code == 1 and "different settings (tol)" in res.output


def test_quadratic_taylor_model_is_exact() -> None:
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]], dtype=torch.float64)
    obj = Objective(
        torch.nn.Linear(2, 1, bias=False).double(),
        Split(x, torch.ones(3, 1, dtype=torch.float64)),
        loss="mse",
    )
    w0 = {"weight": torch.tensor([[0.3, -0.2]], dtype=torch.float64)}
    d0, d1 = np.array([[1.0, 0.5]]), np.array([[-0.5, 1.0]])
    xs, ys = np.array([-1.0, 0.0, 2.0]), np.array([-1.0, 1.0])
    exact = np.array(
        [
            [
                obj.evaluate(
                    combine(
                        w0,
                        [
                            (a, {"weight": torch.from_numpy(d0)}),
                            (b, {"weight": torch.from_numpy(d1)}),
                        ],
                    )
                )[0]
                for a in xs
            ]
            for b in ys
        ]
    )
    grid = Surface(
        xs,
        ys,
        {"train_loss": exact},
        np.ones(exact.shape, bool),
        vectors=({"weight": d0}, {"weight": d1}),
    )
    model = taylor_model(obj, w0, grid)
    np.testing.assert_allclose(model.values, exact, rtol=1e-12)
    np.testing.assert_allclose(model.residual, 0.0, atol=1e-12)


def test_curvature_map_refuses_other_checkpoint_and_non_surface(
    surface: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other.pt"
    net = tiny_net()
    with torch.no_grad():
        net.fc.bias.add_(1.0)
    torch.save(net.state_dict(), other)
    res = run("curvature-map", str(surface), *tiny_args(other))
    assert (
        res.exit_code == 1
        and "checkpoint differs from the one the surface was computed around" in res.output
    )
    with h5py.File(surface, "r") as f:
        assert "curvature" not in f
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f.create_dataset("x", data=[1.0])
    res = run("curvature-map", str(plain), *tiny_args(other))
    assert res.exit_code == 1 and "not a surface file" in res.output


def test_lambda_min_is_certified_relative_to_its_own_magnitude() -> None:
    """A spectrum from 1e-4 to 1e2: tol·|λ_max| = 1 would accept any λ_min below 1."""
    from landscape.curvature.surface_map import curvature_map

    n = 30
    gen = torch.Generator().manual_seed(0)
    rotation, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
    x = torch.diag(torch.logspace(-2, 1, n, dtype=torch.float64)) @ rotation  # H ∝ xᵀx
    model = torch.nn.Linear(n, 1, bias=False).double()
    obj = Objective(model, Split(x, torch.zeros(n, 1, dtype=torch.float64)), loss="mse")
    origin = {"weight": torch.zeros(1, n, dtype=torch.float64)}
    ev = torch.linalg.eigvalsh(dense_hessian(obj, origin)).numpy()
    assert ev[-1] / ev[0] > 1e5
    grid = Surface(
        np.array([0.0]), None, {}, np.ones(1, bool), vectors=({"weight": np.zeros((1, n))},)
    )
    result = curvature_map(obj, origin, grid, tol=1e-2, max_iter=n, progress=False)
    assert result.lambda_min[0] == pytest.approx(ev[0], rel=1e-2)
    assert result.lambda_max[0] == pytest.approx(ev[-1], rel=1e-2)


def test_curvature_map_refuses_other_data_or_loss(tmp_path: Path, ckpt: Path) -> None:
    out = tmp_path / "sub.h5"
    common = tiny_args(ckpt)
    res = run("surface", *common, "--x=-0.2:0.2:3", "--max-samples", "30", "--out", str(out))
    assert res.exit_code == 0, res.output
    for extra, message in [
        ([], "data differs from the surface's train split"),
        (["--max-samples", "30", "--seed", "1"], "data differs from the surface's train split"),
        (["--max-samples", "30", "--loss", "mse"], "loss differs from the surface's"),
    ]:
        res = run("curvature-map", str(out), *common, *extra)
        assert res.exit_code == 1 and message in res.output, res.output
        assert res.output.count("\n") == 1
        with h5py.File(out, "r") as f:
            assert "curvature" not in f
    res = run("curvature-map", str(out), *common, "--max-samples", "30", "--dtype", "float64")
    assert res.exit_code == 0, res.output
    with h5py.File(out, "r") as f:  # the same loss: the quadratic model is exact at the origin
        assert abs(f["curvature/taylor/residual"][1]) < 1e-6
