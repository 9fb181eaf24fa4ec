"""Our curvature operators and eigenvalues against curvlinops' on shared models.

curvlinops (Dangel et al., ``curvlinops-for-pytorch``) is an optional test
oracle: it installs beside our torch with ``pip install --no-deps
curvlinops-for-pytorch einops einconv linear_operator``. Without it these
tests are skipped.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from landscape.curvature.lanczos import lanczos
from landscape.curvature.matrices import curvature_operator
from tests.curvature.cases import make_case

curvlinops = pytest.importorskip(
    "curvlinops", reason="curvlinops-for-pytorch is not installed (optional cross-library oracle)"
)

PEERS = {
    "hessian": "HessianLinearOperator",
    "ggn": "GGNLinearOperator",
    "empirical-fisher": "EFLinearOperator",
}


def peer_operator(matrix: str, case: str) -> tuple[object, object]:
    """Our operator and curvlinops' of ``matrix`` on the same model, batches and point."""
    obj, params = make_case(case)  # cross-entropy, 11 rows in unequal batches
    model = copy.deepcopy(obj.model).requires_grad_(True)  # ours keeps a frozen eval copy
    ours = curvature_operator(matrix, obj, params)  # type: ignore[arg-type]
    peer = getattr(curvlinops, PEERS[matrix])(
        model,
        torch.nn.CrossEntropyLoss(reduction="mean"),
        [p for _, p in model.named_parameters()],
        list(obj.batches()),
        check_deterministic=False,  # ours checks (same model, same batches)
    )
    return ours, peer


@pytest.mark.parametrize("matrix", sorted(PEERS))
@pytest.mark.parametrize("case", ["mlp-ce", "cnn-ce"])
def test_matvecs_equal_curvlinops(matrix: str, case: str) -> None:
    ours, peer = peer_operator(matrix, case)
    n = ours.shape[0]
    block = torch.randn(n, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    torch.testing.assert_close(ours @ block, peer @ block, atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(ours @ block[:, 0], peer @ block[:, 0], atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("matrix", ["hessian", "ggn"])
def test_top_eigenvalues_equal_curvlinops(matrix: str) -> None:
    ours, peer = peer_operator(matrix, "cnn-ce")
    dense = peer @ torch.eye(ours.shape[0], dtype=torch.float64)  # one block through curvlinops
    theirs = np.linalg.eigvalsh(dense.numpy())[::-1][:3]
    np.testing.assert_allclose(lanczos(ours, 3, tol=1e-10).eigenvalues, theirs, rtol=1e-8)
