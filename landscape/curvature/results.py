"""The tensor result of the eigensolvers, and its conversion to the stored record.

:class:`EigenResult` keeps the eigenvectors as one tensor (the solver's dtype), which the
solvers need for warm starts; :meth:`EigenResult.to_record` turns it into the
torch-free :class:`~landscape.records.Eigenpairs` (name-keyed numpy vectors)
that io writes. The trace and density estimators return the torch-free
records :class:`~landscape.records.TraceEstimate` and
:class:`~landscape.records.SpectralDensity` directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import Tensor

from landscape.params import ParamDict, unflatten
from landscape.records import Eigenpairs, SpectralDensity, TraceEstimate

__all__ = ["EigenResult", "SpectralDensity", "TraceEstimate"]


@dataclass(frozen=True)
class EigenResult:
    """Eigenpairs of a symmetric operator found by an iterative method.

    Attributes:
        eigenvalues: ``(k,)`` float64, ordered as asked (largest first for the
            top end, smallest first for the bottom end).
        eigenvectors: ``(k, n)`` unit vectors, row ``i`` for eigenvalue ``i`` (Lanczos: in its
            basis dtype, the operator's unless float64 was asked for).
        residuals: ``(k,)`` residual norms ``||H v_i - λ_i v_i||``.
        num_matvecs: operator applications (Hessian-vector products) spent.
        converged: ``(k,)`` whether ``residuals[i] <= tol * |λ_i|``.
        tol: the relative residual tolerance used.

    """

    eigenvalues: np.ndarray
    eigenvectors: Tensor
    residuals: np.ndarray
    num_matvecs: int
    converged: np.ndarray
    tol: float

    def vectors_as_params(self, like: ParamDict) -> list[ParamDict]:
        """Return the eigenvectors as ParamDicts shaped (and typed) like ``like``."""
        ref = next(iter(like.values()))
        return [unflatten(v.to(device=ref.device), like) for v in self.eigenvectors]

    def to_record(self, like: ParamDict) -> Eigenpairs:
        """The torch-free record: eigenvectors name-keyed and shaped like ``like``, as numpy."""
        return Eigenpairs(
            eigenvalues=np.asarray(self.eigenvalues, dtype=np.float64),
            eigenvectors=tuple(
                {k: t.detach().cpu().numpy() for k, t in v.items()}
                for v in self.vectors_as_params(like)
            ),
            residuals=np.asarray(self.residuals, dtype=np.float64),
            converged=np.asarray(self.converged, dtype=bool),
            num_matvecs=int(self.num_matvecs),
            tol=float(self.tol),
            error_bounds=(
                None
                if getattr(self, "error_bounds", None) is None
                else np.asarray(self.error_bounds, dtype=np.float64)
            ),
        )
