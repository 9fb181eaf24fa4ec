"""The trajectory pipeline: run directories -> PCA plane, projected paths, surface, one file.

``landscape trajectory`` calls :func:`compute_trajectory`: it reads the runs, rebuilds
the model through :func:`landscape.setup.run_spec` and :func:`landscape.setup.load_objective`,
finds the plane and the path with the maths of :mod:`landscape.trajectory`, evaluates
the surface on the plane with :func:`landscape.engine.compute_surface`, and writes
``directions/`` and ``trajectory/`` through :mod:`landscape.io`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from landscape import store
from landscape.data import SplitChoice
from landscape.directions import Directions
from landscape.distributed import Context
from landscape.dynamics.runs import read_run
from landscape.engine import compute_surface
from landscape.errors import LandscapeError
from landscape.io.directions import write_directions
from landscape.io.trajectory import write_trajectory
from landscape.loading import build_model
from landscape.params import to_device
from landscape.records import Surface, Trajectory
from landscape.setup import load_objective, run_spec
from landscape.trajectory import PCAPlane, load_run_path, surface_grid, trajectory_plane


@dataclass(frozen=True)
class TrajectoryResult:
    """What :func:`compute_trajectory` wrote.

    Attributes:
        path: the HDF5 file.
        trajectory: the projected checkpoints.
        surface: the surface on the plane (``None`` when skipped).

    """

    path: Path
    trajectory: Trajectory
    surface: Surface | None


def compute_trajectory(
    run_dirs: Sequence[str | Path],
    out: str | Path,
    *,
    origin: str | Path | None = None,
    model: str | None = None,
    data: str | None = None,
    split: SplitChoice = "train",
    max_samples: int | None = None,
    loss: str | None = None,
    batch_size: int | None = 1000,
    resolution: int = 21,
    margin: float = 0.25,
    surface: bool = True,
    device: str = "auto",
    trust: bool = False,
    trust_run_config: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    command: str | None = None,
    context: Context | None = None,
) -> TrajectoryResult:
    """PCA plane of one or more runs, the projected paths and the surface on the plane, in one file.

    Args:
        run_dirs: run directories (from ``landscape train`` or a Recorder).
        out: the HDF5 file to write (resumed if made with the same settings).
        origin: the run whose final checkpoint is the origin (default: the last).
        model: model spec (default: the one in the run's config, when it names
            no code; see :func:`landscape.setup.run_spec`).
        data: data spec for the surface (default: the run's config, likewise).
        split: splits the surface evaluates.
        max_samples: rows per split for the surface (default: as trained).
        loss: loss spec (default: as trained, likewise, else cross entropy).
        batch_size: rows per forward pass.
        resolution: grid points per axis.
        margin: grid margin around the path, as a fraction of its extent.
        surface: compute the surface (otherwise only plane and path).
        device: ``auto`` (CUDA when present), ``cpu``, ``cuda``, ...
        trust: fully unpickle checkpoints (unsafe).
        trust_run_config: use code the run's config names (unsafe: imports and runs it).
        overwrite: replace a file made with other settings.
        progress: show progress bars.
        command: command line for provenance.
        context: the distributed context (``None``: a single process); under torchrun
            the ranks share the surface's grid points and rank 0 alone writes the file.

    Raises:
        LandscapeError: for missing runs or checkpoints, mismatched models, a run
            that does not say how to rebuild its model (or names code, without
            ``model`` or ``trust_run_config``), or an output made with other
            settings (without ``overwrite``).

    """
    dirs = [Path(d) for d in run_dirs]
    if not dirs:
        raise LandscapeError("trajectory: expected at least one run directory")
    runs = [read_run(d) for d in dirs]
    origin_index = len(dirs) - 1
    if origin is not None:
        matches = [i for i, d in enumerate(dirs) if d.resolve() == Path(origin).resolve()]
        if not matches:
            raise LandscapeError(
                f"origin: expected one of the runs given ({', '.join(map(str, dirs))}); "
                f"got {origin}"
            )
        origin_index = matches[0]
    cfg = runs[origin_index].config
    source = dirs[origin_index]
    model_spec = run_spec(
        cfg.get("model"), model, what="model", source=source, trust_run_config=trust_run_config
    )
    torch_model = build_model(model_spec)
    paths = [load_run_path(d, torch_model, trust=trust) for d in dirs]
    plane, traj = trajectory_plane(paths, origin=origin_index)
    data_spec = (
        run_spec(
            cfg.get("data"), data, what="data", source=source, trust_run_config=trust_run_config
        )
        if surface
        else data or cfg.get("data") or "mnist1d"  # recorded only, never loaded
    )
    loss_spec = run_spec(
        cfg.get("loss") or "cross_entropy",
        loss,
        what="loss",
        source=source,
        trust_run_config=trust_run_config,
    )
    samples = max_samples if max_samples is not None else cfg.get("max_samples")
    config = {
        "runs": [str(d.resolve()) for d in dirs],
        "checkpoints": [[c.path.name for c in p.run.checkpoints] for p in paths],
        "origin": str(dirs[origin_index].resolve()),
        "model": model_spec,
        "data": data_spec,
        "split": split,
        "max_samples": samples,
        "loss": loss_spec,
        "resolution": resolution,
        "margin": margin,
        "surface": surface,
    }
    ctx = context or Context()
    ctx.on_main(lambda: _check_output(Path(out), config, overwrite=overwrite))
    directions = Directions(
        list(plane.directions),
        "pca",
        {
            "norm": "none",
            "keep_1d": True,
            "seed": -1,
            "explained_variance_ratio": plane.explained_variance_ratio.tolist(),
            "origin_run": str(dirs[origin_index]),
        },
    )
    result_surface = None
    if surface:
        x, y = surface_grid(traj.coords, margin=margin, resolution=resolution)
        loaded = load_objective(
            torch_model,
            paths[origin_index].run.checkpoints[-1].path,
            data_spec,
            split=split,
            max_samples=samples,
            seed=int(cfg.get("seed", 0)),
            loss=loss_spec,
            batch_size=batch_size,
            device=device,
            trust_checkpoint=trust,
            context=ctx,
        )
        center = to_device(plane.origin, loaded.device)
        result_surface = compute_surface(
            loaded.objectives,
            center,
            directions,
            x,
            y,
            out=out,
            config=config,
            overwrite=overwrite,
            progress=progress,
            command=command,
            context=loaded.context,
        )
        if ctx.is_main:
            with store.writer_lock(out), store.atomic_update(out) as f:
                _write(f, traj, plane, config)
    elif ctx.is_main:
        with store.writer_lock(out), store.atomic_update(out, new=True, command=command) as f:
            write_directions(f, directions.kind, directions.attrs, directions.numpy())
            _write(f, traj, plane, config)
    ctx.barrier()
    return TrajectoryResult(Path(out), traj, result_surface)


def _check_output(out: Path, config: dict[str, Any], *, overwrite: bool) -> None:
    """Refuse to replace a file that is neither this trajectory nor its unfinished surface."""
    if overwrite or not out.exists():
        return
    if store.check_resumable(out, "trajectory", config, overwrite=False):
        return
    stored = store.group_config(out, "surface")
    partial = stored is not None and all(json.loads(stored).get(k) == v for k, v in config.items())
    if not partial:
        raise LandscapeError(
            f"{out} exists and holds something else; "
            "pass --overwrite to replace it or choose another --out"
        )


def _write(f: Any, traj: Trajectory, plane: PCAPlane, config: dict[str, Any]) -> None:
    origin = {k: v.detach().cpu().numpy() for k, v in plane.origin.items()}
    write_trajectory(f, traj, config=config, singular_values=plane.singular_values, origin=origin)
