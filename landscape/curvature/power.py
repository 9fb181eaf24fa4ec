"""Power iteration with deflation: the baseline that PyHessian (Yao et al. 2020) uses.

Kept as a reference point for :mod:`landscape.curvature.lanczos`, which needs
far fewer Hessian-vector products for the same accuracy (see
``scripts/bench_curvature.py``).
"""

from __future__ import annotations

import numpy as np
import torch

from landscape.curvature.lanczos import random_unit
from landscape.curvature.linop import Operator
from landscape.curvature.results import EigenResult
from landscape.errors import LandscapeError


def power_iteration(
    op: Operator,
    k: int = 1,
    *,
    tol: float = 1e-3,
    max_iter: int = 1000,
    seed: int = 0,
) -> EigenResult:
    """Find the ``k`` eigenpairs of largest magnitude by power iteration with deflation.

    For the ``i``-th pair the iterate is kept orthogonal to the pairs already
    found (projection deflation, Saad 2011, Sec. 4.2), ``v <- H v / ||H v||``,
    with the Rayleigh quotient ``λ = vᵀ H v``; it stops when
    ``||H v - λ v|| <= tol |λ|`` (the same rule as :func:`~landscape.curvature.lanczos.lanczos`).
    Convergence is geometric with ratio ``|λ_{i+1} / λ_i|``.

    Args:
        op: symmetric operator.
        k: number of eigenpairs.
        tol: relative residual tolerance.
        max_iter: most products per eigenpair.
        seed: seed of the start vectors (``seed + i`` for the ``i``-th pair).

    >>> A = torch.diag(torch.tensor([1.0, 4.0], dtype=torch.float64))
    >>> power_iteration(A, 1, tol=1e-10).eigenvalues.round(6).tolist()
    [4.0]

    """
    n = int(op.shape[0])
    if not 1 <= k <= n:
        raise LandscapeError(f"power iteration: k should be between 1 and {n} (got {k})")
    found: list[torch.Tensor] = []
    values, residuals, converged = [], [], []
    hvps = 0
    for i in range(k):
        v = _deflate(random_unit(n, seed=seed + i, device=op.device), found)
        lam, res, ok = 0.0, float("inf"), False
        for _ in range(max_iter):
            v = v / v.norm()
            hv = _deflate((op @ v.to(op.dtype)).to(torch.float64), found)
            hvps += 1
            lam = float(v @ hv)
            res = float((hv - lam * v).norm())
            if res <= tol * abs(lam):
                ok = True
                break
            v = (
                hv
                if float(hv.norm()) > 0
                else _deflate(random_unit(n, seed=seed + 1000 + hvps, device=op.device), found)
            )
        found.append(v / v.norm())
        values.append(lam)
        residuals.append(res)
        converged.append(ok)
    return EigenResult(
        eigenvalues=np.array(values),
        eigenvectors=torch.stack(found).cpu(),
        residuals=np.array(residuals),
        num_matvecs=hvps,
        converged=np.array(converged),
        tol=tol,
    )


def _deflate(v: torch.Tensor, found: list[torch.Tensor]) -> torch.Tensor:
    for u in found:
        v = v - (u @ v) * u
    return v
