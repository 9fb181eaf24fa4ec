"""SLQ with its runs stepped together equals the runs in turn."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from landscape.curvature.density import slq_density
from landscape.curvature.hvp import HessianLinearOperator
from tests.curvature.cases import make_case


def indefinite(n: int = 30) -> torch.Tensor:
    x = torch.randn(n, n, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return x @ x.T / n - 0.5 * torch.eye(n, dtype=torch.float64)


@pytest.mark.parametrize(
    "matrix",
    [
        indefinite(),
        torch.diag(torch.tensor([0.0, 0.0, 1.0, 1.0, 2.0], dtype=torch.float64)),  # breakdowns
    ],
)
def test_together_equals_in_turn_on_dense(matrix: torch.Tensor) -> None:
    steps = min(12, matrix.shape[0])
    apart = slq_density(matrix, num_runs=4, num_steps=steps, seed=3)
    together = slq_density(matrix, num_runs=4, num_steps=steps, seed=3, together=True)
    np.testing.assert_allclose(together.nodes, apart.nodes, atol=1e-12)
    for r in range(4):  # a node repeated within a run (after a breakdown) splits its weight
        if len(np.unique(apart.nodes[r].round(8))) == steps:  # arbitrarily; the density does not
            np.testing.assert_allclose(together.weights[r], apart.weights[r], atol=1e-12)
    np.testing.assert_allclose(together.density, apart.density, rtol=1e-9, atol=1e-12)
    assert together.num_matvecs == apart.num_matvecs == 4 * steps


def test_together_on_a_hessian_counts_every_product() -> None:
    obj, params = make_case("cnn-ce")  # unequal batches: the block goes through vmap
    apart_op = HessianLinearOperator(obj, params, check=False)
    together_op = HessianLinearOperator(obj, params, check=False)
    apart = slq_density(apart_op, num_runs=3, num_steps=10)
    together = slq_density(together_op, num_runs=3, num_steps=10, together=True)
    np.testing.assert_allclose(together.nodes, apart.nodes, rtol=1e-9, atol=1e-12)
    assert together_op.num_matvecs == apart_op.num_matvecs == together.num_matvecs == 30
