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
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from landscape import store
from landscape.curvature.hvp import HessianLinearOperator, loss_and_gradient
from landscape.curvature.lanczos import lanczos
from landscape.distributed import Context
from landscape.errors import LandscapeError
from landscape.objective import Objective
from landscape.params import ParamDict, combine, dot
from landscape.progress import progress as progress_bar


@dataclass(frozen=True)
class SurfaceGrid:
    """The grid and directions of a surface file (``y`` is ``None`` for 1D)."""

    x: np.ndarray
    y: np.ndarray | None
    directions: list[dict[str, np.ndarray]]
    train_loss: np.ndarray | None
    config: dict[str, Any]

    @property
    def shape(self) -> tuple[int, ...]:
        """``(nx,)`` or ``(ny, nx)``: rows follow ``y``, columns ``x``."""
        return (len(self.x),) if self.y is None else (len(self.y), len(self.x))

    def coordinates(self, index: tuple[int, ...]) -> list[float]:
        """Grid coordinates of an array index (``(ix,)`` or ``(iy, ix)``)."""
        return (
            [float(self.x[index[0]])]
            if self.y is None
            else [float(self.x[index[1]]), float(self.y[index[0]])]
        )


@dataclass(frozen=True)
class TaylorModel:
    """The quadratic model on a surface grid.

    Attributes:
        values: ``L0 + g·d + ½ dᵀHd`` on the grid (surface shape).
        residual: ``train_loss - values`` (NaN where the surface is missing).
        loss0: ``L(w0)``.
        slopes: ``g·d_i`` per direction.
        curvatures: the matrix ``d_iᵀ H d_j``.

    """

    values: np.ndarray
    residual: np.ndarray
    loss0: float
    slopes: np.ndarray
    curvatures: np.ndarray


@dataclass(frozen=True)
class CurvatureMap:
    """λ_max, λ_min and ``|λ_min/λ_max|`` at each grid point (NaN where not done)."""

    lambda_max: np.ndarray
    lambda_min: np.ndarray
    ratio: np.ndarray
    done: np.ndarray


def read_grid(path: str | Path) -> SurfaceGrid:
    """Read grid, directions and train loss of a surface file.

    Raises:
        LandscapeError: if the file holds no surface written by ``landscape surface``.

    """
    import json

    with store.open_read(path) as f:
        if "xcoordinates" not in f or "directions" not in f or "surface" not in f:
            raise LandscapeError(
                f"{path}: not a surface file (expected xcoordinates, directions/ and surface/)"
            )
        x = f["xcoordinates"][()]
        y = f["ycoordinates"][()] if "ycoordinates" in f else None
        names = sorted((k for k in f["directions"] if k.startswith("d")), key=lambda k: int(k[1:]))
        dirs = [store.read_params(f["directions"][k]) for k in names]
        loss = f["train_loss"][()] if "train_loss" in f else None
        config = json.loads(f["surface"].attrs.get("config", "{}"))
    if len(dirs) != (1 if y is None else 2):
        raise LandscapeError(
            f"{path}: {len(dirs)} direction(s) stored for a {1 if y is None else 2}D grid"
        )
    return SurfaceGrid(x, y, dirs, loss, config)


def check_origin(grid: SurfaceGrid, identity: dict[str, Any]) -> None:
    """Refuse a checkpoint other than the one the surface was computed around.

    Raises:
        LandscapeError: if the surface names a checkpoint whose hash differs.

    """
    stored = grid.config.get("checkpoint")
    want = stored.get("sha256") if isinstance(stored, dict) else None
    got = identity.get("checkpoint_sha256")
    if want and got and want != got:
        raise LandscapeError(
            "checkpoint differs from the one the surface was computed around "
            f"(sha256 {want[:12]}..., this one {got[:12]}...); expected the same file"
        )


def _directions(grid: SurfaceGrid, origin: ParamDict) -> list[ParamDict]:
    from landscape.directions import directions_from_arrays

    return directions_from_arrays(grid.directions, origin, source="the surface file")


def taylor_model(
    objective: Objective, origin: ParamDict, grid: SurfaceGrid, *, context: Context | None = None
) -> TaylorModel:
    """Second-order Taylor model of the loss on the grid of a surface.

    ``q(x, y) = L(w0) + x g·d0 + y g·d1 + ½ (x² d0ᵀHd0 + 2xy d0ᵀHd1 + y² d1ᵀHd1)``.
    With a distributed ``context`` the data is shared between ranks.

    >>> import torch
    >>> from landscape.data import Split
    >>> data = Split(torch.ones(1, 1), torch.zeros(1, 1))
    >>> obj = Objective(torch.nn.Linear(1, 1, bias=False), data, loss="mse")
    >>> g = SurfaceGrid(np.array([-1.0, 0.0, 1.0]), None, [{"weight": np.ones((1, 1))}], None, {})
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
    residual = (
        grid.train_loss - values if grid.train_loss is not None else np.full(grid.shape, np.nan)
    )
    return TaylorModel(values, residual, loss0, slopes, curv)


def curvature_map(
    objective: Objective,
    origin: ParamDict,
    grid: SurfaceGrid,
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

    Lanczos at each end with relative tolerance ``tol``; λ_min is accepted at
    an absolute residual of ``tol |λ_max|`` (it is often near zero). With
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
    config = {**(config or {}), "tol": tol, "max_iter": max_iter, "seed": seed}
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
        last = time.monotonic()
        desc = f"curvature map {Path(out).name}" if out is not None else "curvature map"
        for idx in progress_bar(todo, desc=desc, unit="point", enabled=progress and ctx.is_main):
            point = combine(origin, list(zip(grid.coordinates(idx), dirs, strict=True)))
            op = HessianLinearOperator(objective, point, check=False, context=ctx)
            hi = lanczos(op, 1, tol=tol, max_iter=max_iter, v0=top, seed=seed)
            lo = lanczos(
                op,
                1,
                which="smallest",
                tol=tol,
                atol=tol * abs(float(hi.eigenvalues[0])),
                max_iter=max_iter,
                v0=bottom,
                seed=seed + 1,
            )
            top, bottom = hi.eigenvectors, lo.eigenvectors
            lmax[idx], lmin[idx], done[idx] = hi.eigenvalues[0], lo.eigenvalues[0], True
            if write and time.monotonic() - last > flush_seconds:
                _write_map(out, config, lmax, lmin, done)
                last = time.monotonic()
        if write and todo:
            _write_map(out, config, lmax, lmin, done)
        ctx.barrier()
    return CurvatureMap(lmax, lmin, _ratio(lmax, lmin), done)


def _open_map(
    out: str | Path, config: dict[str, Any], shape: tuple[int, ...], overwrite: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | str:
    """Return stored ``(lambda_max, lambda_min, done)`` (or a new map), or an error text."""
    try:
        if store.check_resumable(out, "curvature/map", config, overwrite=overwrite):
            with store.open_read(out) as f:
                g = f["curvature/map"]
                return g["lambda_max"][()], g["lambda_min"][()], g["done"][()]
        empty = np.full(shape, np.nan), np.full(shape, np.nan), np.zeros(shape, bool)
        _write_map(out, config, *empty, new=True)
    except LandscapeError as exc:
        return str(exc)
    return empty


def _ratio(lmax: np.ndarray, lmin: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.abs(lmin / lmax)


def _write_map(
    path: str | Path,
    config: dict[str, Any],
    lmax: np.ndarray,
    lmin: np.ndarray,
    done: np.ndarray,
    *,
    new: bool = False,
) -> None:
    with store.atomic_update(path) as f:
        if new and "curvature/map" in f:
            del f["curvature/map"]
        g = f.require_group("curvature/map")
        g.attrs["config"] = store.config_json(config)
        for name, arr in (
            ("lambda_max", lmax),
            ("lambda_min", lmin),
            ("ratio", _ratio(lmax, lmin)),
            ("done", done),
        ):
            if name in g:
                del g[name]
            g.create_dataset(name, data=arr)


def write_taylor(path: str | Path, model: TaylorModel, config: dict[str, Any]) -> None:
    """Store a Taylor model in ``curvature/taylor`` of a surface file (replacing an older one)."""
    with store.atomic_update(path) as f:
        if "curvature/taylor" in f:
            del f["curvature/taylor"]
        g = f.require_group("curvature/taylor")
        g.attrs["config"] = store.config_json(config)
        g.attrs["loss0"] = model.loss0
        g.create_dataset("train_loss", data=model.values)
        g.create_dataset("residual", data=model.residual)
        g.create_dataset("slopes", data=model.slopes)
        g.create_dataset("curvatures", data=model.curvatures)
