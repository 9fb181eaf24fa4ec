"""GGN, Monte Carlo Fisher and empirical Fisher against their dense float64 forms."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from landscape.cli import cli
from landscape.curvature.fisher import (
    EmpiricalFisherLinearOperator,
    MonteCarloFisherLinearOperator,
)
from landscape.curvature.ggn import GGNLinearOperator
from landscape.curvature.hvp import HessianLinearOperator
from landscape.curvature.lanczos import lanczos
from landscape.curvature.matrices import curvature_operator
from landscape.data import Split
from landscape.distributed import Context
from landscape.errors import LandscapeError
from landscape.models import MLP
from landscape.objective import Objective
from landscape.pipelines import curvature as api
from tests.curvature.cases import CASES, dense_ggn, dense_outer, make_case
from tests.helpers_specs import tiny_args


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> tuple[Objective, dict[str, torch.Tensor]]:
    return make_case(request.param)  # 11 rows: unequal batches


def test_ggn_equals_its_dense_form(case: tuple) -> None:
    obj, params = case
    op = GGNLinearOperator(obj, params)
    expected = dense_ggn(obj, params)
    torch.testing.assert_close(op.dense(), expected, atol=1e-12, rtol=1e-10)
    assert op.num_matvecs == expected.shape[0]
    v = torch.randn(
        expected.shape[0], generator=torch.Generator().manual_seed(2), dtype=torch.float64
    )
    torch.testing.assert_close(op @ v, expected @ v, atol=1e-12, rtol=1e-10)


def test_ggn_is_psd_and_equals_the_hessian_of_a_linear_model() -> None:
    obj, params = make_case("mlp-ce")
    assert np.linalg.eigvalsh(GGNLinearOperator(obj, params).dense().numpy()).min() > -1e-12
    gen = torch.Generator().manual_seed(3)
    linear = torch.nn.Linear(4, 3).double()
    data = Split(
        torch.randn(9, 4, generator=gen, dtype=torch.float64),
        torch.randint(0, 3, (9,), generator=gen),
    )
    lin = Objective(linear, data, batch_size=4)
    p = {k: v.detach() for k, v in linear.named_parameters()}
    torch.testing.assert_close(
        GGNLinearOperator(lin, p).dense(),
        HessianLinearOperator(lin, p).dense(),
        atol=1e-12,
        rtol=1e-10,
    )


def test_empirical_fisher_equals_its_dense_form(case: tuple) -> None:
    obj, params = case
    op = EmpiricalFisherLinearOperator(obj, params)
    torch.testing.assert_close(
        op.dense(), dense_outer(obj, params, obj.split.y[None]), atol=1e-12, rtol=1e-10
    )


@pytest.mark.parametrize("name", ["mlp-ce", "mlp-mse"])
def test_monte_carlo_fisher_equals_its_dense_form_for_its_draws(name: str) -> None:
    obj, params = make_case(name)
    op = MonteCarloFisherLinearOperator(obj, params, num_samples=3, seed=4)
    targets = torch.cat([op.targets(b) for b in range(len(list(obj.batches())))], dim=1)
    assert targets.shape[:2] == (3, 11)
    torch.testing.assert_close(
        op.dense(), dense_outer(obj, params, targets), atol=1e-12, rtol=1e-10
    )
    again = MonteCarloFisherLinearOperator(obj, params, num_samples=3, seed=4)
    assert torch.equal(again.dense(), op.dense())
    other = MonteCarloFisherLinearOperator(obj, params, num_samples=3, seed=5)
    assert not torch.equal(other.dense(), op.dense())


@pytest.mark.parametrize("name", ["mlp-ce", "mlp-mse"])
def test_monte_carlo_fisher_averages_to_the_ggn(name: str) -> None:
    obj, params = make_case(name)
    ggn = dense_ggn(obj, params)
    gen = torch.Generator().manual_seed(6)
    vs = torch.randn(ggn.shape[0], 3, generator=gen, dtype=torch.float64)
    quads = np.array(
        [
            ((MonteCarloFisherLinearOperator(obj, params, num_samples=20, seed=s) @ vs) * vs)
            .sum(0)
            .numpy()
            for s in range(12)
        ]
    )
    mean, se = quads.mean(0), quads.std(0, ddof=1) / np.sqrt(len(quads))
    exact = ((ggn @ vs) * vs).sum(0).numpy()
    assert (np.abs(mean - exact) <= 3 * se).all()
    assert (se < 0.2 * np.abs(exact)).all()  # the check has teeth


def test_lanczos_on_ggn_matches_eigvalsh() -> None:
    obj, params = make_case("cnn-ce")
    op = GGNLinearOperator(obj, params)
    exact = np.linalg.eigvalsh(dense_ggn(obj, params).numpy())[::-1][:3]
    res = lanczos(op, 3, tol=1e-8)
    np.testing.assert_allclose(res.eigenvalues, exact, rtol=1e-6)
    assert res.num_matvecs == op.num_matvecs


def test_operator_bad_inputs() -> None:
    obj, params = make_case("mlp-ce")
    with pytest.raises(LandscapeError, match="matrix: expected one of hessian, ggn, fisher"):
        curvature_operator("kfac", obj, params)  # type: ignore[arg-type]
    with pytest.raises(LandscapeError, match="fisher: num_samples should be at least 1"):
        MonteCarloFisherLinearOperator(obj, params, num_samples=0)
    l1 = Objective(
        MLP(5, 3, hidden=(4,)).double(),
        obj.split.__class__(obj.split.x, torch.zeros(11, 3, dtype=torch.float64)),
        loss="l1",
    )
    with pytest.raises(LandscapeError, match="fisher: expected a cross_entropy or mse loss"):
        curvature_operator("fisher", l1, {k: v.detach() for k, v in l1.model.named_parameters()})
    with pytest.raises(LandscapeError, match="ggn: expected a vector of shape"):
        GGNLinearOperator(obj, params) @ torch.ones(3, dtype=torch.float64)


def test_api_hessian_takes_any_matrix() -> None:
    obj, params = make_case("mlp-mse")
    setup = api.Setup(obj, params, {})
    report = api.hessian(
        setup, matrix="ggn", top_k=2, tol=1e-8, trace=True, trace_hvps=120, progress=False
    )
    ggn = dense_ggn(obj, params).numpy()
    np.testing.assert_allclose(report.top.eigenvalues, np.linalg.eigvalsh(ggn)[::-1][:2], rtol=1e-6)
    assert report.trace is not None and report.trace.estimate == pytest.approx(
        np.trace(ggn), rel=1e-8
    )
    with pytest.raises(LandscapeError, match="matrix: expected one of"):
        api.hessian(setup, matrix="kfac")  # type: ignore[arg-type]
    with pytest.raises(LandscapeError, match="fisher-samples: expected at least 1"):
        api.hessian(setup, matrix="fisher", fisher_samples=0)


def test_cli_matrix_option(tmp_path: Path, ckpt: Path) -> None:
    out = tmp_path / "f.h5"
    args = tiny_args(ckpt, "--top-k", "1", "--matrix", "fisher", "--fisher-samples", "2")
    res = CliRunner().invoke(cli, ["-q", "hessian", *args, "--out", str(out)])
    assert res.exit_code == 0, res.output
    with h5py.File(out, "r") as f:
        config = f["curvature/hessian"].attrs["config"]
        assert '"matrix": "fisher"' in config and '"fisher_samples": 2' in config
        assert f["curvature/hessian/top/eigenvalues"][0] > 0
    res = CliRunner().invoke(
        cli, ["-q", "hessian", *args, "--loss", "l1", "--out", str(tmp_path / "g.h5")]
    )
    assert res.exit_code == 1 and "fisher: expected a cross_entropy or mse loss" in res.output
    assert not (tmp_path / "g.h5").exists()


@pytest.mark.parametrize("matrix", ["ggn", "fisher", "empirical-fisher"])
def test_rank_shards_add_up_to_the_single_process_matrix(matrix: str) -> None:
    obj, params = make_case("mlp-ce")
    single = curvature_operator(matrix, obj, params, fisher_samples=2, seed=1).dense()  # type: ignore[arg-type]
    shards = [
        curvature_operator(
            matrix,  # type: ignore[arg-type]
            obj,
            params,
            fisher_samples=2,
            seed=1,
            context=Context(rank=r, world_size=2),
        ).dense()
        for r in range(2)
    ]  # without a process group each rank keeps its own rows' sum: the all-reduce adds them
    torch.testing.assert_close(shards[0] + shards[1], single, atol=1e-12, rtol=1e-10)
