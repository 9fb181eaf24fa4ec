"""``landscape compare``: measure why several training runs converged differently.

For each run directory (``run.h5`` + ``checkpoints/``, see
:mod:`landscape.dynamics.runs`) this computes what is missing and reuses what
exists:

- convergence speed: the first epoch (and step) at which the training and the
  validation loss reach a common target level (default: a fraction, 0.5, of the median
  initial loss, or set by the user; never a level taken from where the runs end);
- final training vs validation loss and accuracy and the generalization gap;
- the phases and problems of :func:`landscape.dynamics.diagnose.diagnose`: the
  diagnosis stored in the run (``landscape diagnose``, with its thresholds) when
  there is one, as ``landscape plot`` shows it, else one with the default thresholds;
- distance travelled ``sum_k ||w_{k+1} - w_k||`` and distance from
  initialization ``||w_T - w_0||``;
- at every (sub-sampled) epoch checkpoint the top Hessian eigenvalue
  ``λ_max(H)`` by Lanczos and, for adaptive optimizers, the preconditioned
  sharpness ``λ_max(P^{-1} H)`` from the checkpoint's optimizer state, with the
  optimizer's stability threshold (Cohen et al. 2021, 2022; see
  :mod:`landscape.curvature.preconditioned`), measured by
  :class:`~landscape.curvature.tracking.SharpnessProbe` warm-started from one
  checkpoint to the next, on the first ``curvature_samples`` training rows (stated);
  at the end, λ_max on ``sharpness_batches`` disjoint sub-samples of those rows for a
  batch-means standard error, the Hutchinson trace, and the Hessian spectrum (Lanczos
  top-k and an SLQ density);
- how long each run sat at the edge of stability (sustained stretches of its sharpness
  at the threshold, :func:`landscape.dynamics.summary.edge_time`), in steps, epochs and
  share of training;
- λ_max at a matched training loss: at each run's first measured checkpoint whose
  training loss reaches a common level (default: the largest of the runs' lowest losses
  at the measured checkpoints, so every run reaches it);
- the weight norm ``||w_k||`` at every checkpoint;
- the 1D filter-normalized loss profile around each final point (Li et al.
  2018) as a surface file, through :func:`landscape.surface`;
- every run's checkpoints on one shared PCA plane
  (:func:`landscape.trajectory.trajectory_plane`), with λ_max at each;
- the findings (:mod:`landscape.report.findings`): each quantity per contender (a run, or
  a group of seeds) as a mean with a Student-t interval over seeds, and every pairwise
  difference under Welch's t-test, Holm-controlled over the family, in ``findings/``.

Model, data and loss come through :func:`landscape.setup.load_objective`;
a spec a run stores is used only when it names no code, unless the caller
passes it (``model``, ``data``, ``loss``) or ``trust_run_config``
(:func:`landscape.setup.run_spec`). The numbers are reduced by
:mod:`landscape.dynamics.summary`.

Curvature is cached per run in ``compare.h5`` under a fingerprint of the
checkpoint files, profiles resume through the surface engine, so re-running
the same command recomputes only what changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from landscape import store
from landscape.data import Split
from landscape.devices import resolve_device
from landscape.dynamics.contenders import read_contenders
from landscape.dynamics.runs import Run
from landscape.dynamics.summary import (
    checkpoint_losses,
    common_level,
    run_diagnosis,
    select_checkpoints,
    stability_series,
    summarize,
    weight_norms,
)
from landscape.errors import LandscapeError
from landscape.io.compare import (
    StoredFindings,
    check_curvature_config,
    read_comparison,
    read_curvature_series,
    write_comparison,
    write_curvature_series,
    write_stored_findings,
)
from landscape.io.groups import find_contenders
from landscape.loading import file_sha256
from landscape.pipelines.compare_config import CompareConfig
from landscape.pipelines.compare_curvature import measure_curvature
from landscape.progress import progress as progress_bar
from landscape.records import (
    Comparison,
    CurvatureSeries,
    Profile,
    RunResult,
    Series,
    Trajectory,
)
from landscape.report.findings import ALPHA, comparison_claims
from landscape.setup import RunSpecs, load_objective
from landscape.stats import LEVEL
from landscape.trajectory import RunPath, load_run_path, trajectory_plane

__all__ = ["COMPARE_FILE", "CompareConfig", "compare", "measure_curvature"]

COMPARE_FILE = "compare.h5"
PROFILE_DIR = "profiles"
PLANE_FILE = "plane.h5"


def _fingerprint(paths: Sequence[Path], extra: dict[str, Any]) -> str:
    h = hashlib.sha256(store.config_json(extra).encode())
    for p in paths:
        h.update(p.name.encode())
        h.update(file_sha256(p).encode())
    return h.hexdigest()


def _profile(
    run: Run,
    out_dir: Path,
    config: CompareConfig,
    *,
    specs: RunSpecs,
    device: str,
    overwrite: bool,
    progress: bool,
    command: str | None,
) -> Profile:
    from landscape.pipelines.surface import surface

    last = run.checkpoints[-1].path
    path = out_dir / PROFILE_DIR / f"{run.name}.h5"
    s = surface(
        specs.model,
        last,
        specs.data,
        dirs="random",
        x=config.profile_grid,
        norm="filter",
        seed=config.seed,
        loss=specs.loss,
        max_samples=config.profile_samples
        if config.profile_samples is not None
        else run.config.get("max_samples"),
        device=device,
        out=path,
        overwrite=overwrite,
        progress=progress,
        command=command,
    )
    nan = np.full(len(s.x), np.nan)
    return Profile(
        path=str(path.relative_to(out_dir)),
        x=s.x,
        train_loss=s.values.get("train_loss", nan),
        test_loss=s.values.get("test_loss", nan),
    )


def compare(
    run_dirs: Sequence[str | Path],
    out_dir: str | Path,
    config: CompareConfig | None = None,
    *,
    model: str | None = None,
    data: str | None = None,
    loss: str | None = None,
    trust_run_config: bool = False,
    device: str = "auto",
    profiles: bool = True,
    overwrite: bool = False,
    progress: bool = True,
    command: str | None = None,
) -> Comparison:
    """Compare training runs and write ``OUT/compare.h5`` (and ``OUT/profiles/*.h5``).

    Args:
        run_dirs: the contenders: run directories (``run.h5`` + ``checkpoints/``) or group
            directories of runs that differ by seed (``DIR/seed-N/``, see
            :mod:`landscape.io.groups`); a group is labelled by its directory's name.
        out_dir: where ``compare.h5`` and the profile surfaces go.
        config: the settings (defaults of :class:`CompareConfig` when ``None``).
        model: model spec for every run, overriding what the runs store.
        data: data spec for every run, overriding what the runs store.
        loss: loss spec for every run, overriding what the runs store.
        trust_run_config: use model, data or loss code that a run's stored
            configuration names (unsafe: imports and runs it).
        device: ``auto`` (CUDA when present), ``cpu``, ``cuda``, ...
        profiles: compute the 1D profiles (the slowest part on large data).
        overwrite: replace cached results made with other settings.
        progress: show progress bars.
        command: command line for provenance.

    Returns:
        The :class:`~landscape.records.Comparison`, as stored.

    Raises:
        LandscapeError: for no or duplicate runs or contender labels, a path that is
            neither a run nor a group, a run without checkpoints, a
            run that does not say how to rebuild its model or data (or names
            code to import, without ``model``/``data`` or ``trust_run_config``),
            or a cache made with other settings (without ``overwrite``).

    """
    config = config or CompareConfig()
    found = read_contenders(find_contenders(run_dirs))
    runs = list(found.runs)
    specs = [
        RunSpecs.of(
            r.config, r.path, model=model, data=data, loss=loss, trust_run_config=trust_run_config
        )
        for r in runs
    ]
    dev = resolve_device(device)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / COMPARE_FILE
    curv_cfg = config.curvature_config()
    check_curvature_config(path, curv_cfg, overwrite=overwrite)
    overrides = {k: v for k, v in (("data", data), ("loss", loss)) if v is not None}
    paths: list[RunPath] = []
    results: list[tuple[Run, RunPath, CurvatureSeries, Profile | None]] = []
    for run, spec in progress_bar(
        list(zip(runs, specs, strict=True)),
        desc=f"compare {Path(out_dir).name}",
        unit="run",
        enabled=progress,
    ):
        loaded = load_objective(
            spec.model,
            None,
            spec.data,
            split="train",
            max_samples=run.config.get("max_samples"),
            seed=int(run.config.get("seed", 0)),
            loss=spec.loss,
            batch_size=None,
            device=dev,
        )
        rp = load_run_path(run.path, loaded.model)
        paths.append(rp)
        idx = select_checkpoints(rp, config.max_checkpoints)
        changed = {  # data or loss other than the run's own: another cache entry
            k: v
            for k, v in (("data", spec.data), ("loss", spec.loss))
            if v != (run.config.get(k) or ("cross_entropy" if k == "loss" else None))
        }
        fp = _fingerprint(
            [run.checkpoints[i].path for i in idx],
            {**curv_cfg, "model": spec.model, "run": run.config, **changed},
        )
        curv = read_curvature_series(path, run.name, fp)
        if curv is None:
            train = loaded.objective.split
            subset = Split(train.x[: config.curvature_samples], train.y[: config.curvature_samples])
            curv = measure_curvature(
                rp,
                loaded.model,
                idx,
                config,
                split=subset,
                loss=spec.loss,
                full=len(subset) == len(train),
                progress=progress,
            )
            write_curvature_series(path, run.name, fp, curv, curv_cfg, command=command)
        prof = (
            _profile(
                run,
                out_dir,
                config,
                specs=spec,
                device=str(dev),
                overwrite=overwrite,
                progress=progress,
                command=command,
            )
            if profiles
            else None
        )
        results.append((run, rp, curv, prof))
    train_target, val_target, targets = config.targets(runs)
    matched_loss = (
        config.matched_loss
        if config.matched_loss is not None
        else common_level([checkpoint_losses(r[0], r[2].epoch) for r in results])
    )
    run_results = []
    for (run, rp, curv, prof), label in zip(results, found.labels, strict=True):
        stab = stability_series(run, curv)
        summary = summarize(
            run,
            rp,
            curv,
            stab,
            prof,
            train_target=train_target,
            val_target=val_target,
            edge_fraction=config.edge_fraction,
            profile_radius=config.profile_radius,
            diagnosis=run_diagnosis(run),
            label=label,
            matched_loss=matched_loss,
            edge_records=config.edge_records,
        )
        ep = run.epochs
        series = Series(
            *(
                np.asarray(ep[k])
                for k in ("epoch", "step", "train_loss", "val_loss", "train_acc", "val_acc")
            )
        )
        run_results.append(RunResult(summary, series, stab, prof, weight_norms(rp), curv.spectrum))
    comparison = Comparison(
        path=path,
        config={
            **asdict(config),
            "runs": [str(r.path) for r in runs],
            "model": model,
            **overrides,
        },
        train_target=train_target,
        val_target=val_target,
        runs=tuple(run_results),
        plane=_plane(paths, [r[2] for r in results]),
        matched_loss=matched_loss,
        targets=targets,
    )
    if comparison.plane is not None and config.plane_resolution:
        from landscape.pipelines.trajectory import compute_trajectory

        compute_trajectory(
            [r.path for r in runs],
            out_dir / PLANE_FILE,
            model=model,
            data=data,
            loss=loss,
            split="train",
            max_samples=config.plane_samples,
            resolution=config.plane_resolution,
            device=str(dev),
            trust_run_config=trust_run_config,
            overwrite=overwrite,
            progress=progress,
            command=command,
        )
        comparison = replace(comparison, plane=replace(comparison.plane, surface=PLANE_FILE))
    with (
        store.writer_lock(path),
        store.atomic_update(path, new=not path.exists(), command=command) as f,
    ):
        write_comparison(f, comparison)
        summaries = {r.summary.name: r.summary for r in run_results}
        claims = comparison_claims(summaries, found.contenders, alpha=ALPHA)
        write_stored_findings(f, StoredFindings(tuple(claims), found.contenders, ALPHA, LEVEL))
    return read_comparison(path)


def _plane(paths: Sequence[RunPath], curvs: Sequence[CurvatureSeries]) -> Trajectory | None:
    """Project every checkpoint on one PCA plane (origin: the last run's end), with λ_max."""
    try:
        _, traj = trajectory_plane(paths)
    except LandscapeError:
        return None
    lam = np.full(len(traj.run), np.nan)
    for i, (r, s) in enumerate(zip(traj.run, traj.steps, strict=True)):
        c = curvs[int(r)]
        hit = np.flatnonzero(c.step == s)
        if hit.size:
            lam[i] = c.lambda_max[hit[0]]
    return replace(traj, lambda_max=lam)
