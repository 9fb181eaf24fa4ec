"""The surface pipeline: ``landscape.surface(...)``, the path ``landscape surface`` takes.

Loads through :func:`landscape.setup.load_objective`, builds the directions
(:mod:`landscape.directions`), and hands them to :func:`landscape.engine.compute_surface`,
which evaluates the grid and writes the file through :mod:`landscape.io.surface`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from torch import nn

from landscape.data import Data, SplitChoice
from landscape.directions import (
    Directions,
    Norm,
    OneD,
    directions_from_arrays,
    directions_from_positional,
    interpolation_direction,
    plane_through,
    random_directions,
)
from landscape.distributed import Context
from landscape.engine import compute_surface
from landscape.errors import LandscapeError
from landscape.evaluators import BNMode
from landscape.grid import parse_grid
from landscape.io import li2018
from landscape.io.directions import read_direction_file
from landscape.loading import file_sha256, load_checkpoint
from landscape.objective import Objective
from landscape.params import ParamDict
from landscape.records import Surface
from landscape.setup import load_objective

DirKind = Literal["random", "interp", "plane", "hessian"]


def surface(
    model: nn.Module | str,
    checkpoint: str | Path | None = None,
    data: str | Data | Any = "mnist1d",
    *,
    dirs: DirKind | str = "random",
    x: str | Sequence[float] = "-1:1:51",
    y: str | Sequence[float] | None = None,
    norm: Norm = "filter",
    keep_1d: bool = False,
    one_d: OneD | None = None,
    orthogonal: bool = False,
    seed: int = 0,
    targets: Sequence[str | Path] = (),
    loss: str = "cross_entropy",
    split: SplitChoice = "both",
    max_samples: int | None = None,
    batch_size: int = 1000,
    bn: BNMode = "eval",
    device: str = "auto",
    points_per_pass: int | None = None,
    tolerance: float | None = None,
    out: str | Path | None = None,
    overwrite: bool = False,
    trust_checkpoint: bool = False,
    progress: bool = True,
    command: str | None = None,
    context: Context | None = None,
    task: str | None = None,
    output: str | None = None,
    accuracy: bool = True,
) -> Surface:
    """Compute a 1D or 2D loss surface around a checkpoint.

    Args:
        model: an ``nn.Module`` (its current weights are the reference unless
            ``checkpoint`` is given) or a model spec (built-in name,
            ``module:callable``, ``file.py:callable``).
        checkpoint: checkpoint file with the reference weights.
        data: ``mnist1d``, a ``module:callable`` spec, a :class:`~landscape.data.Data`,
            or anything :func:`~landscape.data.as_splits` accepts.
        dirs: ``random``; ``interp`` (1D, toward ``targets[0]``); ``plane``
            (2D, through the checkpoint and ``targets[0:2]``); ``hessian``
            (top eigenvectors); or a path to an HDF5 file whose directions to reuse
            (ours, or a Li et al. direction file, checked by shape in parameter order).
        x: grid along the first direction (``START:STOP:NUM`` or a list).
        y: grid along the second direction; ``None`` for a 1D surface.
        norm: direction normalization for random directions (Li et al. 2018).
        keep_1d: keep biases and normalization parameters in random directions
            (``one_d="normalize"``).
        one_d: 1-D parameters of random directions: ``zero`` (default), ``normalize``
            or ``weights`` (Li et al.'s code without ``ignore='biasbn'``); see
            :mod:`landscape.directions`.
        orthogonal: orthogonalize the second random direction against the first.
        seed: seed of the random directions.
        targets: other checkpoints for ``interp`` and ``plane``.
        loss: loss spec (see :func:`~landscape.objective.resolve_loss`).
        split: ``train``, ``test`` or ``both``.
        max_samples: evaluate on a fixed random subset of each split.
        batch_size: samples per forward pass.
        bn: ``eval`` or ``recompute`` BatchNorm statistics at each point.
        device: ``auto``, ``cpu``, ``cuda``, ...
        points_per_pass: grid points per forward pass (``None``: measured).
        tolerance: evaluate each point on growing prefixes of one random batch order
            until the 95% half-width of its mean loss is at most this, storing standard
            errors and rows used (see :mod:`landscape.adaptive`); ``None``: all the data.
        out: HDF5 file to write and resume.
        overwrite: replace an ``out`` made with different settings.
        trust_checkpoint: fully unpickle checkpoints (unsafe: runs code).
        progress: show progress bars.
        command: command line for provenance.
        context: the distributed context (``None``: a single process); under
            torchrun, open :func:`landscape.distributed.session` and pass its context
            so that the ranks share the grid points.
        task: ``classification``, ``regression``, ``lm`` or ``mlm`` (``None``:
            inferred; see :class:`~landscape.objective.Objective`).
        output: the field of the model's output to score (``None``: the tensor,
            a tuple's first element, or ``logits``).
        accuracy: compute accuracy where it is defined.

    Returns:
        The :class:`~landscape.records.Surface`.

    """
    if data is None:
        raise LandscapeError("surface: expected data to evaluate on (got None)")
    scoring = {"task": task, "output": output, "accuracy": accuracy}
    loaded = load_objective(
        model,
        checkpoint,
        data,
        split=split,
        max_samples=max_samples,
        seed=seed,
        loss=loss,
        batch_size=batch_size,
        device=device,
        trust_checkpoint=trust_checkpoint,
        context=context,
        **scoring,
    )
    config: dict[str, Any] = {
        "model": loaded.model_name,
        "loss": loss,
        "batch_size": batch_size,
        "max_samples": max_samples,
        "split": split,
        **Objective.changed_scoring(scoring),
    }
    if loaded.checkpoint_sha256 is not None:
        # by content, not path: a resume from another directory names it differently
        config["checkpoint"] = {"sha256": loaded.checkpoint_sha256}
    config["data"] = {"source": loaded.data.source, "sha256": loaded.data.digests()}
    xs = parse_grid(x, name="x") if isinstance(x, str) else np.asarray(x, dtype=np.float64)
    ys = (
        None
        if y is None
        else (parse_grid(y, name="y") if isinstance(y, str) else np.asarray(y, np.float64))
    )
    directions, origin = _directions(
        dirs,
        loaded.model,
        loaded.params,
        loaded.objectives,
        buffers=loaded.buffers,
        ndim=1 if ys is None else 2,
        norm=norm,
        keep_1d=keep_1d,
        one_d=one_d,
        orthogonal=orthogonal,
        seed=seed,
        targets=targets,
        trust=trust_checkpoint,
    )
    config["directions"] = {
        "kind": directions.kind,
        **{k: str(v) for k, v in directions.attrs.items() if k != "targets"},  # paths
    }
    return compute_surface(
        loaded.objectives,
        origin,
        directions,
        xs,
        ys,
        out=out,
        config=config,
        overwrite=overwrite,
        points_per_pass=points_per_pass,
        bn=bn,
        tolerance=tolerance,
        progress=progress,
        command=command,
        context=loaded.context,
    )


def _directions(
    dirs: str,
    model: nn.Module,
    origin: ParamDict,
    objectives: dict[str, Objective],
    *,
    ndim: int,
    norm: Norm,
    keep_1d: bool,
    one_d: OneD | None,
    orthogonal: bool,
    seed: int,
    targets: Sequence[str | Path],
    trust: bool,
    buffers: ParamDict,
) -> tuple[Directions, ParamDict]:
    """Build the directions (and, for a plane, the origin) named by ``dirs``.

    Along ``interp`` and ``plane`` the floating-point buffers (BatchNorm statistics)
    move with the weights, so every named checkpoint scores with its own statistics;
    the directions' attributes then say ``buffers = "interpolated"``.
    """
    if dirs == "random":
        return random_directions(
            origin,
            ndim=ndim,
            seed=seed,
            norm=norm,
            keep_1d=keep_1d,
            one_d=one_d,
            orthogonal=orthogonal,
        ), origin
    if dirs in ("interp", "plane"):
        need = 1 if dirs == "interp" else 2
        if len(targets) != need or ndim != need:
            raise LandscapeError(
                f"dirs {dirs}: needs {need} --target checkpoint(s) and a {need}D grid "
                f"(got {len(targets)} target(s), {ndim}D grid)"
            )
        states = [load_checkpoint(model, t, trust=trust) for t in targets]
        loaded = [{k: v.to(origin[k].device) for k, v in p.items()} for p, _ in states]
        own = {k: v for k, v in buffers.items() if v.is_floating_point()}
        target_buffers = [
            {k: b[k].to(v.device, v.dtype) for k, v in own.items()} for _, b in states
        ]
        sources: dict[str, Any] = {
            "targets": [str(t) for t in targets],
            "sha256": [file_sha256(t) for t in targets],
        }
        if own:
            sources["buffers"] = "interpolated"
        if dirs == "interp":
            return Directions(
                [interpolation_direction(origin, loaded[0])],
                "interp",
                sources,
                [interpolation_direction(own, target_buffers[0])] if own else None,
            ), origin
        plane_origin, vectors = plane_through(origin, loaded[0], loaded[1])
        _, buffer_vectors = plane_through(own, *target_buffers)
        return Directions(vectors, "plane", sources, buffer_vectors if own else None), plane_origin
    if dirs == "hessian":
        from landscape.curvature import hessian_directions

        first = next(iter(objectives.values()))
        vectors = hessian_directions(first, origin, k=ndim, seed=seed)
        return Directions(
            vectors, "hessian", {"seed": seed, "split": next(iter(objectives))}
        ), origin
    path = Path(dirs)
    if not path.is_file():
        raise LandscapeError(
            f"dirs: expected random, interp, plane, hessian or an HDF5 file (got {dirs!r})"
        )
    theirs = li2018.read_direction_file(path) if li2018.is_direction_path(path) else None
    stored = theirs if theirs is not None else read_direction_file(path)
    if len(stored) < ndim:
        raise LandscapeError(
            f"dirs: {path} holds {len(stored)} direction(s), a {ndim}D grid needs {ndim}"
        )
    if theirs is not None:
        vectors = directions_from_positional(theirs[:ndim], origin, source=str(path))
    else:
        vectors = directions_from_arrays(stored[:ndim], origin, source=str(path))
    attrs = {"source": str(path), "sha256": file_sha256(path)}
    if theirs is not None:
        attrs["layout"] = "li2018"
    return Directions(vectors, "file", attrs), origin
