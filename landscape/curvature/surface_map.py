"""Curvature over a stored surface: the quadratic (Taylor) model and the λ_max/λ_min map.

Both read the grid and directions of a surface file written by ``landscape
surface`` and store their results beside the loss, in the same file:

* ``curvature/taylor``: the second-order model of the loss around the origin
  ``w0`` on the same grid, ``q(x, y) = L(w0) + g·d + ½ dᵀ H d`` with
  ``d = x d0 + y d1``, and its residual ``train_loss - q``, which shows how far
  the quadratic (linearized-gradient) picture of the minimum holds. It needs
  the gradient and two Hessian-vector products only: ``dᵀ H d = x² d0ᵀHd0 +
  2xy d0ᵀHd1 + y² d1ᵀHd1``.
* ``curvature/map``: at every grid point, λ_max and λ_min of the Hessian
  (Lanczos at both ends) and ``|λ_min / λ_max|``, the convexity measure of Li
  et al. 2018 (Sec. 6): near 0 where the surface is locally convex, large
  where negative curvature is as strong as positive. Points are computed in
  row-major order, each warm-started from its neighbour's eigenvectors, and
  committed as they go (``done`` mask, NaN for missing), so a re-run resumes.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor

from landscape import store
from landscape.curvature.hvp import HessianLinearOperator, loss_and_gradient
from landscape.curvature.lanczos import lanczos
from landscape.data import Split
from landscape.distributed import Context
from landscape.errors import LandscapeError
from landscape.io.curvature import read_map, write_map
from landscape.objective import Objective
from landscape.params import ParamDict, combine, dot
from landscape.progress import progress as progress_bar
from landscape.records import CurvatureMap, Surface, TaylorModel

log = logging.getLogger(__name__)


def check_same_inputs(grid: Surface, identity: dict[str, Any], split: Split) -> None:
    """Refuse a checkpoint, data or loss other than those the surface was computed with.

    Anything added to a surface file must describe the same loss surface: the
    checkpoint's hash, the hash of the data split (after ``--max-samples``) and
    the loss are compared with what the surface stored, where it stored them.
    The data may be in float64 here while the surface ran in float32; its
    float32 rounding is then compared (exact for data that was float32).

    Args:
        grid: the surface, with its stored config.
        identity: the curvature setup's identity (``checkpoint_sha256``, ``split``, ``loss``).
        split: the data split the curvature is measured on.

    Raises:
        LandscapeError: naming what differs and what was expected.

    """
    stored = grid.config.get("checkpoint")
    want = stored.get("sha256") if isinstance(stored, dict) else None
    got = identity.get("checkpoint_sha256")
    if want and got and want != got:
        raise LandscapeError(
            "checkpoint differs from the one the surface was computed around "
            f"(sha256 {want[:12]}..., this one {got[:12]}...); expected the same file"
        )
    data = grid.config.get("data")
    hashes = data.get("sha256") if isinstance(data, dict) else None
    name = identity.get("split", "train")
    want = hashes.get(name) if isinstance(hashes, dict) else None
    if want and want not in (split.digest(), _float32(split).digest()):
        raise LandscapeError(
            f"data differs from the surface's {name} split (sha256 {want[:12]}..., this one "
            f"{split.digest()[:12]}...); expected the same --data, --max-samples and --seed "
            f"(the surface used max_samples={grid.config.get('max_samples')})"
        )
    loss = grid.config.get("loss")
    if isinstance(loss, str) and identity.get("loss") not in (None, loss):
        raise LandscapeError(
            f"loss differs from the surface's ({loss!r}, this one {identity['loss']!r}); "
            f"expected --loss {loss}"
        )


def _float32(split: Split) -> Split:
    """The split with its floating tensors rounded to float32 (as a float32 surface held it)."""

    def cast(t: Tensor) -> Tensor:
        return t.float() if t.is_floating_point() else t

    x = {k: cast(v) for k, v in split.x.items()} if isinstance(split.x, dict) else cast(split.x)
    return Split(x, cast(split.y))


def _directions(grid: Surface, origin: ParamDict) -> list[ParamDict]:
    from landscape.directions import directions_from_arrays

    return directions_from_arrays(list(grid.vectors), origin, source="the surface file")


def taylor_model(
    objective: Objective, origin: ParamDict, grid: Surface, *, context: Context | None = None
) -> TaylorModel:
    """Second-order Taylor model of the loss on the grid of a surface.

    ``q(x, y) = L(w0) + x g·d0 + y g·d1 + ½ (x² d0ᵀHd0 + 2xy d0ᵀHd1 + y² d1ᵀHd1)``.
    With a distributed ``context`` the data is shared between ranks.

    >>> import torch
    >>> from landscape.data import Split
    >>> data = Split(torch.ones(1, 1), torch.zeros(1, 1))
    >>> obj = Objective(torch.nn.Linear(1, 1, bias=False), data, loss="mse")
    >>> g = Surface(np.array([-1.0, 0.0, 1.0]), None, {}, np.ones(3, bool),
    ...             vectors=({"weight": np.ones((1, 1))},))
    >>> taylor_model(obj, {"weight": torch.ones(1, 1)}, g).values.tolist()   # (1 + x)^2, exact
    [0.0, 1.0, 4.0]
    """
    dirs = _directions(grid, origin)
    loss0, g = loss_and_gradient(objective, origin, context=context)
    op = HessianLinearOperator(objective, origin, check=False, context=context)
    hd = [op.matvec_params(d) for d in dirs]
    slopes = np.array([dot(g, d) for d in dirs])
    curv = np.array([[dot(di, hj) for hj in hd] for di in dirs])
    curv = 0.5 * (curv + curv.T)
    if grid.y is None:
        coords = [grid.x]
    else:
        xx, yy = np.meshgrid(grid.x, grid.y)  # [iy, ix]
        coords = [xx, yy]
    values = np.full(grid.shape, loss0)
    for i, ci in enumerate(coords):
        values = values + slopes[i] * ci
        for j, cj in enumerate(coords):
            values = values + 0.5 * curv[i, j] * ci * cj
    loss = grid.values.get("train_loss")
    residual = loss - values if loss is not None else np.full(grid.shape, np.nan)
    return TaylorModel(values, residual, loss0, slopes, curv)


def curvature_map(
    objective: Objective,
    origin: ParamDict,
    grid: Surface,
    *,
    tol: float = 1e-2,
    max_iter: int = 100,
    seed: int = 0,
    out: str | Path | None = None,
    config: dict[str, Any] | None = None,
    overwrite: bool = False,
    flush_seconds: float = 30.0,
    progress: bool = True,
    context: Context | None = None,
) -> CurvatureMap:
    """λ_max, λ_min and ``|λ_min/λ_max|`` of the Hessian at every point of a surface grid.

    Lanczos at each end with the tolerance relative to each eigenvalue's own
    magnitude, ``||H v - θ v|| <= tol |θ|``, which certifies ``|θ - λ| <= tol |θ|``
    and so the sign of λ_min (an absolute ``tol |λ_max|`` accepted values of
    the wrong sign). A point where either end misses it within ``max_iter``
    steps keeps its best estimate; their number is logged as a warning. With
    ``out``, results go to ``curvature/map`` of that (surface) file as they
    are computed (every ``flush_seconds`` and at the end); a run with the same
    ``config`` resumes at the first missing point. With a distributed
    ``context`` every rank works on its share of the data and rank 0 alone
    writes.

    Raises:
        LandscapeError: if ``out`` holds a map made with other settings (unless ``overwrite``).

    """
    dirs = _directions(grid, origin)
    shape = grid.shape
    lmax, lmin, done = np.full(shape, np.nan), np.full(shape, np.nan), np.zeros(shape, bool)
    config = {
        **(config or {}),
        "tol": tol,
        "lambda_min_tol": "relative",  # maps made with tol |λ_max| at λ_min do not resume
        "max_iter": max_iter,
        "seed": seed,
    }
    ctx = context or Context()
    write = out is not None and ctx.is_main
    with store.writer_lock(out) if write else contextlib.nullcontext():
        state = _open_map(out, config, shape, overwrite) if write else None
        state = ctx.broadcast(state)
        if isinstance(state, str):  # rank 0's error, raised on every rank
            raise LandscapeError(state)
        if state is not None:
            lmax, lmin, done = state
        todo = [idx for idx in np.ndindex(*shape) if not done[idx]]
        top = bottom = None
        missed = 0
        last = time.monotonic()
        desc = f"curvature map {Path(out).name}" if out is not None else "curvature map"
        for idx in progress_bar(todo, desc=desc, unit="point", enabled=progress and ctx.is_main):
            point = combine(origin, list(zip(grid.coordinates(idx), dirs, strict=True)))
            op = HessianLinearOperator(objective, point, check=False, context=ctx)
            hi = lanczos(op, 1, tol=tol, max_iter=max_iter, v0=top, seed=seed)
            lo = lanczos(
                op, 1, which="smallest", tol=tol, max_iter=max_iter, v0=bottom, seed=seed + 1
            )
            missed += not (hi.converged.all() and lo.converged.all())
            top, bottom = hi.eigenvectors, lo.eigenvectors
            lmax[idx], lmin[idx], done[idx] = hi.eigenvalues[0], lo.eigenvalues[0], True
            if write and time.monotonic() - last > flush_seconds:
                write_map(out, config, _map(lmax, lmin, done))
                last = time.monotonic()
        if write and todo:
            write_map(out, config, _map(lmax, lmin, done))
        ctx.barrier()
    if missed and ctx.is_main:
        log.warning(
            "curvature map: %d of %d points missed tol=%g within %d Lanczos steps "
            "(kept their best estimates); raise --max-iter",
            missed,
            len(todo),
            tol,
            max_iter,
        )
    return _map(lmax, lmin, done)


def _open_map(
    out: str | Path, config: dict[str, Any], shape: tuple[int, ...], overwrite: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | str:
    """Return stored ``(lambda_max, lambda_min, done)`` (or a new map), or an error text."""
    try:
        if store.check_resumable(out, "curvature/map", config, overwrite=overwrite):
            stored = read_map(out)
            return stored.lambda_max, stored.lambda_min, stored.done
        empty = np.full(shape, np.nan), np.full(shape, np.nan), np.zeros(shape, bool)
        write_map(out, config, _map(*empty), new=True)
    except LandscapeError as exc:
        return str(exc)
    return empty


def _map(lmax: np.ndarray, lmin: np.ndarray, done: np.ndarray) -> CurvatureMap:
    """The map with its convexity measure ``|λ_min / λ_max|``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return CurvatureMap(lmax, lmin, np.abs(lmin / lmax), done)
