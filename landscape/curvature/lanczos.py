"""Extreme eigenpairs of a symmetric operator by Lanczos with full reorthogonalization.

Hand-written rather than ``scipy.sparse.linalg.eigsh`` (ARPACK) because the
Hessian's top eigenvalues are well-separated outliers that converge in a
handful of Lanczos steps, while ARPACK's Krylov basis always holds
``ncv >= 2k + 1`` (20 by default) vectors before its first convergence test;
here the residual of every Ritz pair is known after each step for free
(``||H y - θ y|| = β_j |s_{j,i}|``, Golub & Van Loan 2013, Sec. 10.1.4), so
the iteration stops at the first step where the wanted pairs satisfy
``||H v - λ v|| <= tol |λ|``. It also warm-starts from several vectors, finds
both ends of the spectrum from one Krylov space and stays on the operator's
device (GPU) instead of round-tripping through numpy.

Every pair also carries an error bound on its eigenvalue, from the residual
``r`` and the gap ``δ`` to the rest of the spectrum: ``|θ - λ| <= r``
(Krylov & Weinstein; some eigenvalue ``λ`` lies within ``r`` of any Rayleigh
quotient ``θ``) and ``|θ - λ| <= r² / δ`` (Kato 1949, Temple 1928; Parlett
1998, *The Symmetric Eigenvalue Problem*, Ch. 11), whichever is smaller.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import torch
from scipy.linalg import eigh_tridiagonal
from torch import Tensor

from landscape.curvature.allocation import allocate_rows, check_basis_fits, grow_rows
from landscape.curvature.linop import Operator
from landscape.curvature.results import EigenResult
from landscape.curvature.sketch import gram, row_dots, vector_norm
from landscape.errors import LandscapeError

Which = Literal["largest", "smallest"]
WHICH: tuple[str, ...] = get_args(Which)


@dataclass(frozen=True)
class BoundedEigenResult(EigenResult):
    """An :class:`EigenResult` with an error bound on every eigenvalue.

    Attributes:
        error_bounds: ``(k,)`` bounds on ``|θ_i - λ|`` for the eigenvalue ``λ``
            nearest to ``θ_i``: ``min(r_i, r_i² / δ_i)`` (see :func:`ritz_error_bounds`).

    """

    error_bounds: np.ndarray


def ritz_error_bounds(theta: np.ndarray, residuals: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Error bounds ``min(r_i, r_i² / δ_i)`` of the Ritz values ``theta[idx]``.

    ``r_i`` is the residual norm ``||H y_i - θ_i y_i||``. The gap ``δ_i`` to the
    rest of the spectrum is estimated from the other Ritz values as
    ``min_{j != i} |θ_j - θ_i| - r_j`` (each ``θ_j`` has an eigenvalue within
    ``r_j``); ``r_i`` alone is used where that estimate is not above ``r_i`` or
    there is no other Ritz value. ``r_i`` is a rigorous bound, ``r_i² / δ_i``
    as good as the gap estimate (Kato-Temple; Parlett 1998, Ch. 11).

    Args:
        theta: all Ritz values of the current tridiagonal matrix.
        residuals: their residual norms (same length).
        idx: the positions of the wanted pairs.

    >>> b = ritz_error_bounds(np.array([1.0, 3.0]), np.array([1e-3, 1e-4]), np.array([0]))
    >>> float(b[0] * 1.9999 / 1e-6)   # r² / (|3 - 1| - 1e-4)
    1.0

    """
    bounds = np.empty(len(idx))
    for out, i in enumerate(idx):
        r = float(residuals[i])
        others = np.delete(np.arange(len(theta)), i)
        gap = (
            float(np.min(np.abs(theta[others] - theta[i]) - residuals[others]))
            if len(others)
            else 0.0
        )
        bounds[out] = min(r, r * r / gap) if gap > r else r
    return bounds


def random_unit(n: int, *, seed: int, device: torch.device | str = "cpu") -> Tensor:
    """Draw a float64 unit vector from a seeded Gaussian on the CPU (same on every device)."""
    v = torch.randn(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return (v / v.norm()).to(device)


@dataclass
class LanczosState:
    """The Krylov basis and tridiagonal coefficients built so far (mutable work record).

    The basis lives in one preallocated ``(capacity, n)`` tensor filled row by
    row, so a step copies nothing; only continuing past ``capacity`` reallocates
    (doubling). With ``directory`` the tensor is a memory-mapped file there, on
    the CPU (see :mod:`landscape.curvature.allocation`).

    Attributes:
        store: ``(capacity, n)`` storage whose first rows are the basis.
        size: number of Lanczos vectors ``q_0..q_{size-1}`` in ``store``.
        alpha: diagonal of ``T``.
        beta: off-diagonal of ``T`` plus the last ``β_j`` (``len(alpha)`` entries).
        num_matvecs: operator applications spent.
        directory: the folder of a disk-backed ``store`` (``None``: in memory).

    """

    store: Tensor
    size: int
    alpha: list[float]
    beta: list[float]
    num_matvecs: int = 0
    directory: str | Path | None = None

    @property
    def basis(self) -> Tensor:
        """The ``(size, n)`` orthonormal Lanczos vectors (a view of ``store``)."""
        return self.store[: self.size]

    def append(self, q: Tensor) -> None:
        """Add the unit vector ``q`` as the next basis row."""
        if self.size == self.store.shape[0]:
            self.store = grow_rows(self.store, 2 * self.size, self.directory)
        self.store[self.size] = q.to(self.store.device)
        self.size += 1

    def ritz(self) -> tuple[np.ndarray, np.ndarray]:
        """Eigenvalues and eigenvectors of the current tridiagonal ``T_j``."""
        return eigh_tridiagonal(np.array(self.alpha), np.array(self.beta[:-1]))


def basis_dtype(op: Operator, dtype: torch.dtype | None = None) -> torch.dtype:
    """The Krylov basis' dtype: ``dtype`` when given, else the operator's (float64 if not float)."""
    if dtype is not None:
        return dtype
    return op.dtype if op.dtype in (torch.float16, torch.bfloat16, torch.float32) else torch.float64


def lanczos_steps(
    op: Operator,
    num_steps: int,
    *,
    v0: Tensor,
    seed: int = 0,
    state: LanczosState | None = None,
    dtype: torch.dtype | None = None,
    capacity: int | None = None,
    basis_dir: str | Path | None = None,
) -> LanczosState:
    """Run (or continue) the Lanczos recurrence with full reorthogonalization.

    ``β_j q_{j+1} = H q_j - α_j q_j - β_{j-1} q_{j-1}`` with ``α_j = q_jᵀ H q_j``
    (Lanczos 1950), followed by two classical Gram-Schmidt passes against all
    previous ``q`` (Paige 1976 showed that without them Ritz values repeat).
    On breakdown (``β_j ≈ 0``: an invariant subspace was found) a new random
    vector orthogonal to the basis continues the recurrence with ``β_j = 0``.
    The vectors (the basis, the product ``w`` and its Gram-Schmidt passes) are
    in the basis dtype, every inner product accumulated in float64, and ``T``
    is float64; they run on the operator's device or, for a disk-backed basis'
    passes, on the CPU (the same operations, so the same numbers as in memory there).

    Args:
        op: symmetric ``n x n`` operator.
        num_steps: total number of basis vectors wanted (at most ``n``); a new
            state preallocates that many.
        v0: start vector ``(n,)`` (any norm, nonzero); ignored when continuing.
        seed: seed for the vectors drawn after a breakdown.
        state: a state to continue.
        dtype: the basis dtype of a new state (default :func:`basis_dtype`).
        capacity: steps a new state preallocates for (default ``num_steps``):
            ``capacity + 1`` basis rows, checked against the memory free before
            the first product.
        basis_dir: hold a new state's basis in a memory-mapped file in this
            folder (checked against its free space) instead of in memory.

    Returns:
        The state after ``num_steps`` steps.

    Raises:
        LandscapeError: for a bad start vector, or a basis that cannot fit in memory.

    >>> A = torch.diag(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    >>> s = lanczos_steps(A, 3, v0=torch.ones(3, dtype=torch.float64))
    >>> np.round(s.ritz()[0], 10).tolist()
    [1.0, 2.0, 3.0]

    """
    n = int(op.shape[0])
    num_steps = min(num_steps, n)
    device = op.device
    if state is None:
        q = v0.to(device=device, dtype=torch.float64).reshape(-1)
        if q.numel() != n or not torch.isfinite(q).all() or float(q.norm()) == 0.0:
            raise LandscapeError(f"lanczos: expected a finite nonzero start vector of length {n}")
        kind = basis_dtype(op, dtype)
        rows = min(n, (capacity or num_steps) + 1)  # q_0..q_steps
        check_basis_fits(n, rows, kind, device, basis_dir)
        store = allocate_rows(rows, n, kind, device, basis_dir)
        state = LanczosState(store=store, size=0, alpha=[], beta=[], directory=basis_dir)
        state.append(q / q.norm())
    scale = 0.0
    kind = state.store.dtype
    while len(state.alpha) < num_steps:
        j = len(state.alpha)
        q = state.basis[j].to(device)
        w = (op @ q.to(op.dtype)).to(kind)
        if w.untyped_storage().data_ptr() == state.store.untyped_storage().data_ptr():
            w = w.clone()  # an operator that returned (a view of) its input: w is updated in place
        state.num_matvecs += 1
        a = float(row_dots(q[None], w[None])[0])
        w.add_(q, alpha=-a)
        if j > 0:
            w.add_(state.basis[j - 1].to(device), alpha=-state.beta[j - 1])
        w = _orthogonalize(state.basis, w)
        b = vector_norm(w)
        state.alpha.append(a)
        scale = max(scale, abs(a) + b + (state.beta[j - 1] if j else 0.0))
        if len(state.alpha) == n:
            state.beta.append(0.0)
            break
        if b <= 1e-10 * max(scale, 1e-300):
            b = 0.0
            fresh = random_unit(n, seed=seed + 7919 * (j + 1), device=device).to(kind)
            w = _orthogonalize(state.basis, fresh)
            w.div_(vector_norm(w))
        else:
            w.div_(b)
        state.beta.append(b)
        state.append(w)
    return state


def _orthogonalize(basis: Tensor, w: Tensor) -> Tensor:
    """Two classical Gram-Schmidt passes of ``w`` against ``basis``, in place, in the basis dtype.

    The coefficients are accumulated in float64 (:func:`~landscape.curvature.sketch.gram`);
    the passes run where the basis is (the CPU for a disk-backed one) and ``w``
    comes back to its device.
    """
    device = w.device
    w = w.to(basis.device)
    for _ in range(2):
        w.addmv_(basis.T, gram(basis, w[None])[:, 0].to(basis.dtype), alpha=-1)
    return w.to(device)


def lanczos(
    op: Operator,
    k: int = 1,
    *,
    which: Which = "largest",
    tol: float = 1e-3,
    atol: float = 0.0,
    max_iter: int | None = None,
    v0: Tensor | None = None,
    seed: int = 0,
    dtype: torch.dtype | None = None,
    basis_dir: str | Path | None = None,
) -> BoundedEigenResult:
    """Find the ``k`` largest or smallest (algebraic) eigenpairs of a symmetric operator.

    Lanczos with full reorthogonalization (see :func:`lanczos_steps`); after
    every step the Ritz pairs ``(θ_i, y_i)`` of ``T_j`` are checked, and the
    iteration stops when the ``k`` wanted ones satisfy ``||H y_i - θ_i y_i||
    = β_j |s_{j,i}| <= max(tol |θ_i|, atol)``. Since some eigenvalue lies
    within the residual of ``θ_i``, a pair flagged converged is certified to
    that accuracy (and, for ``atol = 0``, to have the right sign).

    The rule is relative to each eigenvalue's own magnitude at both ends; the
    smallest eigenvalues of a network's Hessian, clustered near zero, need
    more steps than the top ones (their gaps are small against the spread,
    which shifting the operator does not change: Krylov spaces are
    shift-invariant), so give them a larger ``max_iter`` rather than a loose
    ``atol``.

    Args:
        op: symmetric operator (``shape``, ``dtype``, ``device``, ``@``).
        k: number of eigenpairs.
        which: ``largest`` or ``smallest``.
        tol: relative residual tolerance.
        atol: absolute residual floor, ``||H y - θ y|| <= max(tol |θ|, atol)``,
            for eigenvalues near zero, which a purely relative rule accepts
            only after many steps; it is also the accuracy certified.
        max_iter: most Lanczos steps (default ``min(n, max(100, 20 k))``).
        v0: warm start: one ``(n,)`` vector or several ``(m, n)`` (e.g. the
            previous eigenvectors); the sum of their unit vectors plus a 10%
            random part starts the Krylov space, so an eigenvalue that is
            new at the top is still found.
        seed: seed of the random start vector (when ``v0`` is ``None``).
        dtype: the dtype of the Krylov basis, the work vectors and the returned
            eigenvectors (default the operator's, see :func:`basis_dtype`);
            ``torch.float64`` for float64 ones whatever the operator (the
            tridiagonal matrix is float64 always). ``max_iter`` rows are preallocated, and a basis
            that cannot fit in the memory free is refused before the first product.
        basis_dir: hold the basis in a memory-mapped file in this folder
            (unlinked at once, so nothing stays behind) when it would not fit in
            memory; checked against the folder's free space instead. The
            results equal the in-memory ones on the CPU exactly.

    Returns:
        :class:`BoundedEigenResult` with unit eigenvectors and an error bound
        per eigenvalue (:func:`ritz_error_bounds`); ``converged`` is False for
        pairs that missed the tolerance within ``max_iter`` steps.

    >>> A = torch.diag(torch.arange(1.0, 11.0, dtype=torch.float64))
    >>> lanczos(A, 2, tol=1e-8).eigenvalues.round(8).tolist()
    [10.0, 9.0]

    """
    n = int(op.shape[0])
    if which not in WHICH:
        raise LandscapeError(f"lanczos: which should be one of {', '.join(WHICH)} (got {which!r})")
    if not 1 <= k <= n:
        raise LandscapeError(f"lanczos: k should be between 1 and {n} (got {k})")
    if not tol > 0 or not atol >= 0:
        raise LandscapeError(f"lanczos: expected tol > 0 and atol >= 0 (got {tol}, {atol})")
    max_iter = max_lanczos_steps(n, k, max_iter)
    if max_iter < k:
        raise LandscapeError(f"lanczos: max_iter should be at least k={k} (got {max_iter})")
    start = random_unit(n, seed=seed, device=op.device)
    if v0 is not None:
        start = _start_vector(v0, n).to(op.device) + 0.1 * start
    state = lanczos_steps(
        op, 1, v0=start, seed=seed, dtype=dtype, capacity=max_iter, basis_dir=basis_dir
    )
    while True:
        theta, s = state.ritz()
        idx = np.argsort(-theta if which == "largest" else theta)[: min(k, len(theta))]
        res_all = np.abs(state.beta[-1] * s[-1])
        res = res_all[idx]
        ok = res <= np.maximum(tol * np.abs(theta[idx]), atol)
        steps = len(state.alpha)
        settled = state.beta[-1] > 0.0 or steps == n  # after a breakdown, look further
        if (len(idx) == k and ok.all() and settled) or steps >= max_iter:
            break
        state = lanczos_steps(op, steps + 1, v0=start, seed=seed, state=state)
    vecs = ritz_vectors(state.basis[:steps], s[:, idx])
    return BoundedEigenResult(
        eigenvalues=theta[idx].copy(),
        eigenvectors=vecs.cpu(),
        residuals=res,
        num_matvecs=state.num_matvecs,
        converged=ok,
        tol=tol,
        error_bounds=ritz_error_bounds(theta, res_all, idx),
    )


RITZ_COLUMNS = 2**20
"""Parameters per slice of the basis when the Ritz vectors are formed."""


def ritz_vectors(basis: Tensor, coefficients: np.ndarray) -> Tensor:
    """The unit Ritz vectors ``y_i = Q s_i / ||Q s_i||`` of ``basis`` ``Q`` (rows ``q_j``), in its dtype.

    ``(Sᵀ Q)`` is formed in the basis dtype a slice of :data:`RITZ_COLUMNS`
    parameters at a time, straight into the preallocated ``(k, n)`` result,
    which is then normalized in place (norms accumulated in float64): beside
    the basis the peak is the result and one slice, not three ``(k, n)`` copies.

    Args:
        basis: ``(j, n)`` orthonormal rows.
        coefficients: ``(j, k)`` eigenvectors ``s_i`` of the tridiagonal matrix.

    """
    coeffs = torch.from_numpy(np.ascontiguousarray(coefficients.T)).to(
        device=basis.device, dtype=basis.dtype
    )
    n = basis.shape[1]
    vecs = torch.empty((coeffs.shape[0], n), dtype=basis.dtype, device=basis.device)
    for start in range(0, n, RITZ_COLUMNS):
        part = slice(start, min(n, start + RITZ_COLUMNS))
        vecs[:, part] = coeffs @ basis[:, part]
    return vecs.div_(row_dots(vecs, vecs).sqrt().to(vecs.dtype)[:, None])


def max_lanczos_steps(n: int, k: int, max_iter: int | None = None) -> int:
    """The most steps (operator products) :func:`lanczos` takes: ``min(n, max_iter)``.

    ``max_iter`` defaults to ``max(100, 20 k)``.

    >>> max_lanczos_steps(50, 1), max_lanczos_steps(10_000, 10), max_lanczos_steps(10_000, 1, 30)
    (50, 200, 30)
    """
    return min(n, max(100, 20 * k) if max_iter is None else max_iter)


def _start_vector(v0: Tensor, n: int) -> Tensor:
    v = v0.detach().to(torch.float64)
    if v.dim() == 2:
        v = (v / v.norm(dim=1, keepdim=True).clamp_min(1e-300)).sum(0)
    if v.shape != (n,) or not torch.isfinite(v).all() or float(v.norm()) == 0.0:
        raise LandscapeError(
            f"lanczos: warm start should be finite, nonzero, of shape ({n},) or (m, {n}) "
            f"(got {tuple(v0.shape)})"
        )
    return v / v.norm()
