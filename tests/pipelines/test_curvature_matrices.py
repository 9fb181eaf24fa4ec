"""``sharpness_pipeline.sharpness`` with each curvature matrix against dense float64 forms."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from landscape.cli import cli
from landscape.curvature.matrices import MATRICES
from landscape.curvature.preconditioned import OptimizerState, preconditioner, update_direction
from landscape.errors import LandscapeError
from landscape.objective import Objective
from landscape.params import flatten
from landscape.pipelines import curvature as api
from landscape.pipelines import sharpness as sharpness_pipeline
from tests.curvature.cases import dense_matrix, make_case
from tests.helpers_specs import tiny_args

FISHER_SAMPLES = 2
SEED = 3


def adagrad_state(params: dict[str, torch.Tensor]) -> OptimizerState:
    """An Adagrad state with unequal accumulators, so ``P`` is not a multiple of ``I``."""
    gen = torch.Generator().manual_seed(7)
    state = {
        k: {"sum": torch.rand(v.shape, generator=gen, dtype=torch.float64) + 0.1, "step": 5.0}
        for k, v in params.items()
    }
    return OptimizerState("adagrad", {"lr": 0.1}, state, {k: 1.0 for k in params})


@pytest.mark.parametrize("matrix", MATRICES)
@pytest.mark.parametrize("case", ["mlp-ce", "mlp-mse"])
def test_sharpness_measures_of_each_matrix_equal_its_dense_form(matrix: str, case: str) -> None:
    obj, params = make_case(case)  # 11 rows in batches of 3 or 4: unequal batches
    opt = adagrad_state(params)
    report = sharpness_pipeline.sharpness(
        api.Setup(obj, params, {}),
        measures=["lambda_max", "trace"],
        matrix=matrix,  # type: ignore[arg-type]
        fisher_samples=FISHER_SAMPLES,
        tol=1e-10,
        trace_hvps=120,  # Hutch++ sketch of 40 >= n = 39 columns: exact
        optimizer_state=opt,
        seed=SEED,
        progress=False,
    ).measures
    c = dense_matrix(matrix, obj, params, fisher_samples=FISHER_SAMPLES, seed=SEED)
    np.testing.assert_allclose(
        report["lambda_max"].value, np.linalg.eigvalsh(c.numpy())[-1], rtol=1e-8
    )
    assert report["trace"].value == pytest.approx(float(c.trace()), rel=1e-8)
    d = flatten(preconditioner(opt, params), params).rsqrt()
    sandwich = (d[:, None] * c * d[None, :]).numpy()
    np.testing.assert_allclose(
        report["precond_lambda_max"].value, np.linalg.eigvalsh(sandwich)[-1], rtol=1e-8
    )
    gradient = {k: v.detach() for k, v in zip(params, _gradient(obj, params), strict=True)}
    u = flatten(update_direction(opt, gradient), params)
    assert report["update_curvature"].value == pytest.approx(float(u @ c @ u / (u @ u)), rel=1e-8)
    for name in ("lambda_max", "trace", "precond_lambda_max", "update_curvature"):
        settings = report[name].settings
        assert settings.get("matrix", "hessian") == matrix
        assert ("fisher_samples" in settings) == (matrix == "fisher")


def _gradient(obj: Objective, params: dict[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
    p = {k: v.detach().requires_grad_(True) for k, v in params.items()}
    return torch.autograd.grad(obj.loss(p), list(p.values()))


def test_matrices_differ_so_the_choice_is_used() -> None:
    obj, params = make_case("mlp-ce")
    setup = api.Setup(obj, params, {})
    values = {
        m: sharpness_pipeline.sharpness(
            setup, measures=["lambda_max"], matrix=m, tol=1e-8, progress=False
        ).measures["lambda_max"]
        for m in ("hessian", "ggn", "empirical-fisher")
    }
    assert len({round(s.value, 6) for s in values.values()}) == 3
    assert "Hessian" in values["hessian"].citation
    assert "generalized Gauss-Newton" in values["ggn"].citation


def test_sharpness_bad_matrix() -> None:
    obj, params = make_case("mlp-ce")
    setup = api.Setup(obj, params, {})
    with pytest.raises(LandscapeError, match="matrix: expected one of hessian, ggn"):
        sharpness_pipeline.sharpness(setup, measures=["lambda_max"], matrix="kfac")  # type: ignore[arg-type]
    with pytest.raises(LandscapeError, match="fisher-samples: expected at least 1"):
        sharpness_pipeline.sharpness(
            setup, measures=["lambda_max"], matrix="fisher", fisher_samples=0
        )


def test_sharpness_cli_matrix(tmp_path: Path, ckpt: Path) -> None:
    common = tiny_args(ckpt, "--measures", "lambda_max,trace")
    runner = CliRunner()
    out = tmp_path / "s.h5"
    res = runner.invoke(cli, ["sharpness", *common, "--matrix", "ggn", "--out", str(out), "-q"])
    assert res.exit_code == 0, res.output
    plain = tmp_path / "h.h5"
    assert runner.invoke(cli, ["-q", "sharpness", *common, "--out", str(plain)]).exit_code == 0
    with h5py.File(out, "r") as f, h5py.File(plain, "r") as h:
        assert '"matrix": "ggn"' in f["curvature/sharpness"].attrs["config"]
        assert '"matrix"' not in h["curvature/sharpness"].attrs["config"]
        ggn, hess = (g["curvature/sharpness/lambda_max"].attrs["value"] for g in (f, h))
        assert ggn > 0 and ggn != pytest.approx(hess, rel=1e-3)
    res = runner.invoke(cli, ["-q", "sharpness", *common, "--matrix", "ggn", "--out", str(plain)])
    assert res.exit_code == 1 and res.output.count("\n") == 1  # other settings: refused
    bad = tmp_path / "bad.h5"
    res = runner.invoke(
        cli,
        ["-q", "sharpness", *common, "--matrix", "fisher", "--loss", "l1", "--out", str(bad)],
    )
    assert res.exit_code == 1 and "fisher: expected a cross_entropy or mse loss" in res.output
    assert res.output.count("\n") == 1 and not bad.exists()
