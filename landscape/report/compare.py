"""``landscape compare``: measure why several training runs converged differently.

For each run directory (``run.h5`` + ``checkpoints/``, see
:mod:`landscape.dynamics.runs`) this computes what is missing and reuses what
exists:

- convergence speed: the first epoch (and step) at which the training and the
  validation loss reach a common target level (default: the median over the
  runs of each run's lowest loss, so that about half of the runs reach it);
- final training vs validation loss and accuracy and the generalization gap;
- the phases and problems of :func:`landscape.dynamics.diagnose.diagnose`;
- distance travelled ``sum_k ||w_{k+1} - w_k||`` and distance from
  initialization ``||w_T - w_0||``;
- at every (sub-sampled) epoch checkpoint the top Hessian eigenvalue
  ``λ_max(H)`` by Lanczos and, for adaptive optimizers, the preconditioned
  sharpness ``λ_max(P^{-1} H)`` from the checkpoint's optimizer state, with the
  optimizer's stability threshold (Cohen et al. 2021, 2022; see
  :mod:`landscape.curvature.preconditioned`); the Hutchinson trace at the end;
- the 1D filter-normalized loss profile around each final point (Li et al.
  2018) as a surface file, through :func:`landscape.surface`;
- every run's checkpoints on one shared PCA plane
  (:func:`landscape.trajectory.trajectory_plane`), with λ_max at each.

Curvature is cached per run in ``compare.h5`` under a fingerprint of the
checkpoint files, profiles resume through the surface engine, so re-running
the same command recomputes only what changed.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from landscape import store
from landscape.curvature.hvp import HessianLinearOperator
from landscape.curvature.lanczos import lanczos
from landscape.curvature.preconditioned import (
    ADAPTIVE,
    OptimizerState,
    from_state_dict,
    preconditioned_sharpness,
    preconditioner,
    stability_threshold,
)
from landscape.curvature.trace import hutchinson_trace
from landscape.data import Split, load_data
from landscape.dynamics.diagnose import Diagnosis, diagnose
from landscape.dynamics.runs import Run
from landscape.errors import LandscapeError
from landscape.loading import build_model, file_sha256
from landscape.objective import Objective
from landscape.params import ParamDict, norm, subtract
from landscape.progress import progress as progress_bar
from landscape.report.results import (
    CURVATURE,
    CURVATURE_KEYS,
    Comparison,
    PlanePaths,
    Profile,
    RunResult,
    RunSummary,
    Series,
    Stability,
    first_reached,
    read_comparison,
    write_comparison,
)
from landscape.trajectory import RunPath, load_run_path, trajectory_plane

COMPARE_FILE = "compare.h5"
PROFILE_DIR = "profiles"
PLANE_FILE = "plane.h5"
OPTIMIZER_NAMES = {
    "sgd": "SGD",
    "adam": "Adam",
    "adamw": "AdamW",
    "adagrad": "Adagrad",
    "rmsprop": "RMSprop",
}


@dataclass(frozen=True)
class CompareConfig:
    """Settings of a comparison (stored in ``compare.h5``).

    Attributes:
        train_target: training-loss level for convergence speed (``None``: median of
            the runs' best).
        val_target: validation-loss level (``None``: median of the runs' best).
        curvature_samples: training rows the Hessian is measured on (the first rows
            of the run's training data).
        max_checkpoints: at most this many epoch checkpoints per run get curvature
            (evenly spaced, first and last always included).
        trace_probes: Hutchinson probe vectors for the final trace.
        tol: relative residual tolerance of Lanczos.
        profile_grid: grid of the 1D profile (``START:STOP:NUM``).
        profile_radius: ``α`` at which the profile's rise is read.
        profile_samples: rows per split for the profile (``None``: as trained).
        edge_fraction: a stability ratio at least this counts as reaching the edge of stability.
        plane_resolution: grid points per axis of the training-loss surface under the
            paths on the shared plane (0: paths only).
        plane_samples: training rows of that surface (``None``: as trained).
        seed: seed of Lanczos starts, trace probes and profile directions.

    """

    train_target: float | None = None
    val_target: float | None = None
    curvature_samples: int = 1000
    max_checkpoints: int = 20
    trace_probes: int = 50
    tol: float = 1e-2
    profile_grid: str = "-1:1:21"
    profile_radius: float = 0.5
    profile_samples: int | None = None
    edge_fraction: float = 0.9
    plane_resolution: int = 0
    plane_samples: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("curvature_samples", "max_checkpoints"):
            if getattr(self, name) < 2:
                raise LandscapeError(
                    f"{name.replace('_', '-')}: expected an integer >= 2 "
                    f"(got {getattr(self, name)})"
                )
        if self.trace_probes < 2:
            raise LandscapeError(
                f"trace-probes: expected an integer >= 2 (got {self.trace_probes})"
            )
        if self.plane_resolution == 1 or self.plane_resolution < 0:
            raise LandscapeError(
                f"plane-resolution: expected 0 (no surface) or >= 2 (got {self.plane_resolution})"
            )
        if not (self.tol > 0 and self.profile_radius > 0 and 0 < self.edge_fraction <= 1):
            raise LandscapeError(
                "compare: expected tol > 0, profile-radius > 0 and 0 < edge-fraction <= 1 "
                f"(got {self.tol}, {self.profile_radius}, {self.edge_fraction})"
            )

    def curvature_config(self) -> dict[str, Any]:
        """Return the settings that shape the cached curvature."""
        return {
            k: getattr(self, k)
            for k in ("curvature_samples", "max_checkpoints", "trace_probes", "tol", "seed")
        }


@dataclass(frozen=True)
class CurvatureSeries:
    """Curvature measured at a run's checkpoints (the cached ``curvature/<run>`` group)."""

    epoch: np.ndarray
    step: np.ndarray
    lambda_max: np.ndarray
    precond_lambda_max: np.ndarray
    threshold: np.ndarray
    trace: float
    trace_stderr: float


def median_best(curves: Sequence[np.ndarray]) -> float:
    """Return the median over runs of each run's lowest finite loss (the default target).

    >>> median_best([np.array([2.0, 1.0]), np.array([3.0, 0.5]), np.array([2.5, 2.0])])
    1.0
    """
    best = [float(np.nanmin(c)) for c in curves if np.isfinite(c).any()]
    return float(np.median(best)) if best else float("nan")


def run_label(optimizer: str, hparams: dict[str, Any], *, lr: bool = False) -> str:
    """Name a run by its optimizer, momentum when used, and (with ``lr``) learning rate.

    >>> run_label("sgd", {"lr": 0.05, "momentum": 0.9}), run_label("adam", {"lr": 0.01}, lr=True)
    ('SGD+momentum', 'Adam η=0.01')
    """
    name = OPTIMIZER_NAMES.get(optimizer, optimizer or "run")
    if optimizer == "sgd" and float(hparams.get("momentum", 0.0) or 0.0) > 0:
        name += "+momentum"
    rate = hparams.get("lr")
    return f"{name} η={float(rate):g}" if lr and rate is not None else name


def unique_labels(runs: Sequence[Run]) -> list[str]:
    """Short labels (optimizer names) when they tell the runs apart, else with η, else run names."""
    for with_lr in (False, True):
        labels = [run_label(r.optimizer, r.hparams, lr=with_lr) for r in runs]
        if len(set(labels)) == len(labels):
            return labels
    return [r.name for r in runs]


def select_checkpoints(run_path: RunPath, limit: int) -> list[int]:
    """Pick at most ``limit`` init and epoch checkpoints to measure, evenly spaced.

    >>> import types
    >>> kinds = ["init"] + ["epoch"] * 9
    >>> ckpts = [types.SimpleNamespace(kind=k) for k in kinds]
    >>> fake = types.SimpleNamespace(run=types.SimpleNamespace(checkpoints=ckpts))
    >>> select_checkpoints(fake, 4)
    [0, 3, 6, 9]
    """
    usable = [i for i, c in enumerate(run_path.run.checkpoints) if c.kind != "step"]
    if len(usable) <= limit:
        return usable
    picks = np.unique(np.round(np.linspace(0, len(usable) - 1, limit)).astype(int))
    return [usable[i] for i in picks]


def path_length(points: Sequence[ParamDict]) -> float:
    """Length of the polygonal path through ``points``, ``sum_k ||w_{k+1} - w_k||``.

    >>> pts = [[0.0, 0.0], [3.0, 4.0], [3.0, 0.0]]
    >>> path_length([{"w": torch.tensor(p)} for p in pts])
    9.0
    """
    return float(sum(norm(subtract(b, a)) for a, b in itertools.pairwise(points)))


def profile_rise(x: np.ndarray, loss: np.ndarray, radius: float) -> float:
    """Mean rise of a 1D profile at ``α = ±radius`` over its value at ``α = 0`` (interpolated).

    >>> a = np.linspace(-1, 1, 5)
    >>> profile_rise(a, 2 * a**2 + 1, 0.5)   # 1.5 at α = ±0.5, 1 at α = 0
    0.5
    """
    if not np.isfinite(loss).all() or not (
        x.min() <= -radius and radius <= x.max() and x.min() <= 0 <= x.max()
    ):
        return float("nan")
    at = np.interp([-radius, 0.0, radius], x, loss)
    return float((at[0] + at[2]) / 2 - at[1])


def _fingerprint(paths: Sequence[Path], extra: dict[str, Any]) -> str:
    h = hashlib.sha256(store.config_json(extra).encode())
    for p in paths:
        h.update(p.name.encode())
        h.update(file_sha256(p).encode())
    return h.hexdigest()


def _curvature_subset(run: Run, samples: int, device: torch.device) -> Split:
    cfg = run.config
    data = load_data(
        cfg.get("data") or "mnist1d",
        split="train",
        max_samples=cfg.get("max_samples"),
        seed=int(cfg.get("seed", 0)),
        device=device,
    )
    s = data.splits["train"]
    return Split(s.x[:samples], s.y[:samples])


def measure_curvature(
    run_path: RunPath,
    model: torch.nn.Module,
    indices: Sequence[int],
    config: CompareConfig,
    *,
    device: torch.device,
    progress: bool = True,
) -> CurvatureSeries:
    """Measure λ_max, preconditioned λ_max and the threshold at checkpoints, the trace at the last.

    The optimizer state saved in each checkpoint gives the preconditioner and
    the threshold; the initial checkpoint (no state yet) gets the threshold
    of the hyperparameters alone and no preconditioned value.
    """
    run = run_path.run
    split = _curvature_subset(run, config.curvature_samples, device)
    objective = Objective(
        model, split, loss=run.config.get("loss") or "cross_entropy", buffers=run_path.buffers
    )
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    index_names = dict(enumerate(names))
    out = {k: np.full(len(indices), np.nan) for k in CURVATURE_KEYS}
    top: torch.Tensor | None = None
    ptop: torch.Tensor | None = None
    op: HessianLinearOperator | None = None
    for j, i in enumerate(
        progress_bar(indices, desc=f"curvature {run.name}", unit="ckpt", enabled=progress)
    ):
        params = {k: v.to(device) for k, v in run_path.params[i].items()}
        op = HessianLinearOperator(objective, params, check=j == 0)
        res = lanczos(op, 1, tol=config.tol, v0=top, seed=config.seed)
        top = res.eigenvectors[0]
        out["lambda_max"][j] = res.eigenvalues[0]
        out["epoch"][j] = run_path.epochs[i]
        out["step"][j] = run_path.steps[i]
        saved = torch.load(run.checkpoints[i].path, map_location="cpu", weights_only=True)
        if not isinstance(saved, dict) or "optimizer" not in saved:
            out["threshold"][j] = _threshold_from_hparams(run)
            continue
        opt = from_state_dict(
            saved["optimizer"], str(saved.get("optimizer_name") or run.optimizer), index_names
        )
        out["threshold"][j] = stability_threshold(opt)
        if opt.name in ADAPTIVE and all(opt.state.get(n) for n in names):
            p = preconditioner(opt, params)
            if p is not None:
                pres = preconditioned_sharpness(
                    op, p, names, tol=config.tol, v0=ptop, seed=config.seed
                )
                ptop = pres.eigenvectors[0]
                out["precond_lambda_max"][j] = pres.eigenvalues[0]
    trace = float("nan"), float("nan")
    if op is not None:
        est = hutchinson_trace(op, config.trace_probes, seed=config.seed)
        trace = est.estimate, est.std_error
    return CurvatureSeries(*(out[k] for k in CURVATURE_KEYS), trace=trace[0], trace_stderr=trace[1])


def _threshold_from_hparams(run: Run) -> float:
    return stability_threshold(OptimizerState(run.optimizer, run.hparams, {}, {}))


def _cached_curvature(path: Path, name: str, fingerprint: str) -> CurvatureSeries | None:
    if not path.exists():
        return None
    with store.open_read(path) as f:
        g = f.get(f"{CURVATURE}/{name}")
        if g is None or g.attrs.get("fingerprint") != fingerprint:
            return None
        return CurvatureSeries(
            *(g[k][()] for k in CURVATURE_KEYS),
            trace=float(g.attrs["trace"]),
            trace_stderr=float(g.attrs["trace_stderr"]),
        )


def _store_curvature(
    path: Path,
    name: str,
    fingerprint: str,
    c: CurvatureSeries,
    config: dict[str, Any],
    command: str | None,
) -> None:
    with store.atomic_update(path, new=not path.exists(), command=command) as f:
        g = f.require_group(CURVATURE)
        g.attrs["config"] = store.config_json(config)
        if name in g:
            del g[name]
        rg = g.create_group(name)
        rg.attrs["fingerprint"] = fingerprint
        rg.attrs["trace"] = c.trace
        rg.attrs["trace_stderr"] = c.trace_stderr
        for k in CURVATURE_KEYS:
            rg.create_dataset(k, data=getattr(c, k))


def _check_config(path: Path, config: CompareConfig, overwrite: bool) -> None:
    """Refuse (or, with ``overwrite``, forget) a cache made with other curvature settings."""
    if not path.exists():
        return
    if (
        not store.check_resumable(path, CURVATURE, config.curvature_config(), overwrite=overwrite)
        and overwrite
    ):
        with store.atomic_update(path) as f:
            if CURVATURE in f:
                del f[CURVATURE]


def stability_series(run: Run, curv: CurvatureSeries) -> Stability:
    """Sharpness vs threshold over training: the run's probe records if any, else the checkpoints.

    For adaptive optimizers the sharpness compared with the threshold is the
    preconditioned one, ``λ_max(P^{-1} H)`` (Cohen et al. 2022).
    """
    adaptive = run.optimizer in ADAPTIVE
    pr = run.probes
    if "lambda_max" in pr and "stability_threshold" in pr and np.isfinite(pr["lambda_max"]).any():
        steps = pr["step"].astype(np.float64)
        lam = pr["lambda_max"].astype(np.float64)
        thr = pr["stability_threshold"].astype(np.float64)
        sharp = (
            pr.get("precond_lambda_max", np.full_like(lam, np.nan)).astype(np.float64)
            if adaptive
            else lam
        )
        ep = run.epochs
        epoch = (
            np.interp(steps, ep["step"].astype(np.float64), ep["epoch"].astype(np.float64))
            if "step" in ep
            else steps
        )
        return Stability(epoch, steps, sharp, lam, thr, "probe", adaptive)
    sharp = curv.precond_lambda_max if adaptive else curv.lambda_max
    return Stability(
        curv.epoch, curv.step, sharp, curv.lambda_max, curv.threshold, "checkpoints", adaptive
    )


def summarize(
    run: Run,
    rp: RunPath,
    curv: CurvatureSeries,
    stab: Stability,
    profile: Profile | None,
    *,
    train_target: float,
    val_target: float,
    config: CompareConfig,
    diagnosis: Diagnosis,
    label: str,
) -> RunSummary:
    """Reduce a run's curves and curvature to the numbers of the report."""
    ep = run.epochs
    e, s = ep["epoch"].astype(int), ep["step"].astype(int)
    tr, va = ep["train_loss"].astype(np.float64), ep["val_loss"].astype(np.float64)
    it, iv = first_reached(tr, train_target), first_reached(va, val_target)
    last = len(e) - 1
    ratio = stab.sharpness / stab.threshold
    edge = first_reached(-ratio, -config.edge_fraction)  # first ratio >= edge_fraction
    finite_ratio = ratio[np.isfinite(ratio)]
    best = int(np.nanargmin(va)) if np.isfinite(va).any() else last
    end = (
        int(np.flatnonzero(np.isfinite(curv.lambda_max))[-1])
        if np.isfinite(curv.lambda_max).any()
        else -1
    )
    precond = float(curv.precond_lambda_max[end]) if end >= 0 else float("nan")
    sharp_end = (
        precond
        if stab.preconditioned
        else (float(curv.lambda_max[end]) if end >= 0 else float("nan"))
    )
    threshold = float(curv.threshold[end]) if end >= 0 else float("nan")
    return RunSummary(
        name=run.name,
        label=label,
        optimizer=run.optimizer,
        lr=float(run.hparams.get("lr", float("nan"))),
        epochs=run.num_epochs,
        steps=int(s[last]),
        epochs_to_train_target=None if it is None else int(e[it]),
        steps_to_train_target=None if it is None else int(s[it]),
        epochs_to_val_target=None if iv is None else int(e[iv]),
        steps_to_val_target=None if iv is None else int(s[iv]),
        final_train_loss=float(tr[last]),
        final_train_acc=float(ep["train_acc"][last]),
        final_val_loss=float(va[last]),
        final_val_acc=float(ep["val_acc"][last]),
        loss_gap=float(va[last] - tr[last]),
        acc_gap=float(ep["train_acc"][last] - ep["val_acc"][last]),
        best_val_loss=float(va[best]),
        best_val_epoch=int(e[best]),
        distance_travelled=path_length(rp.params),
        distance_from_init=norm(subtract(rp.params[-1], rp.params[0])),
        lambda_max=float(curv.lambda_max[end]) if end >= 0 else float("nan"),
        precond_lambda_max=precond,
        trace=curv.trace,
        trace_stderr=curv.trace_stderr,
        threshold=threshold,
        stability_ratio=sharp_end / threshold if threshold else float("nan"),
        max_stability_ratio=float(finite_ratio.max()) if finite_ratio.size else float("nan"),
        edge_epoch=None if edge is None else math.ceil(stab.epoch[edge]),
        profile_rise=float("nan")
        if profile is None
        else profile_rise(profile.x, profile.train_loss, config.profile_radius),
        phases=diagnosis.phases,
        findings=diagnosis.findings,
    )


def _profile(
    run: Run,
    out_dir: Path,
    config: CompareConfig,
    *,
    model_spec: str,
    device: str,
    overwrite: bool,
    progress: bool,
    command: str | None,
) -> Profile:
    from landscape.api import surface

    last = run.checkpoints[-1].path
    path = out_dir / PROFILE_DIR / f"{run.name}.h5"
    s = surface(
        model_spec,
        last,
        run.config.get("data") or "mnist1d",
        dirs="random",
        x=config.profile_grid,
        norm="filter",
        seed=config.seed,
        loss=run.config.get("loss") or "cross_entropy",
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
    device: str = "cpu",
    profiles: bool = True,
    overwrite: bool = False,
    progress: bool = True,
    command: str | None = None,
) -> Comparison:
    """Compare training runs and write ``OUT/compare.h5`` (and ``OUT/profiles/*.h5``).

    Args:
        run_dirs: run directories (``run.h5`` + ``checkpoints/``); their names label them.
        out_dir: where ``compare.h5`` and the profile surfaces go.
        config: the settings (defaults of :class:`CompareConfig` when ``None``).
        model: model spec for runs whose configuration does not name one.
        device: torch device (``auto``: CUDA when present).
        profiles: compute the 1D profiles (the slowest part on large data).
        overwrite: replace cached results made with other settings.
        progress: show progress bars.
        command: command line for provenance.

    Returns:
        The :class:`~landscape.report.results.Comparison`, as stored.

    Raises:
        LandscapeError: for no or duplicate runs, a run without checkpoints or
            model, or a cache made with other settings (without ``overwrite``).

    """
    from landscape.api import resolve_device
    from landscape.dynamics.runs import read_run

    config = config or CompareConfig()
    if not run_dirs:
        raise LandscapeError("compare: expected at least one run directory")
    runs = [read_run(Path(d).resolve()) for d in run_dirs]  # paths in configs: cwd-independent
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise LandscapeError(
            f"compare: run directories need distinct names (got {', '.join(names)})"
        )
    dev = resolve_device(device)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / COMPARE_FILE
    _check_config(path, config, overwrite)
    curv_cfg = config.curvature_config()
    paths: list[RunPath] = []
    results: list[tuple[Run, RunPath, CurvatureSeries, Profile | None]] = []
    for run in progress_bar(runs, desc=f"compare {out_dir.name}", unit="run", enabled=progress):
        spec = model or run.config.get("model")
        if not spec:
            raise LandscapeError(f"{run.path}: the run does not name its model; pass --model")
        net = build_model(spec)
        rp = load_run_path(run.path, net)
        paths.append(rp)
        idx = select_checkpoints(rp, config.max_checkpoints)
        fp = _fingerprint(
            [run.checkpoints[i].path for i in idx], {**curv_cfg, "model": spec, "run": run.config}
        )
        curv = _cached_curvature(path, run.name, fp)
        if curv is None:
            curv = measure_curvature(rp, net, idx, config, device=dev, progress=progress)
            _store_curvature(path, run.name, fp, curv, curv_cfg, command)
        prof = (
            _profile(
                run,
                out_dir,
                config,
                model_spec=spec,
                device=str(dev),
                overwrite=overwrite,
                progress=progress,
                command=command,
            )
            if profiles
            else None
        )
        results.append((run, rp, curv, prof))
    train_target = (
        config.train_target
        if config.train_target is not None
        else median_best([r.epochs["train_loss"] for r in runs])
    )
    val_target = (
        config.val_target
        if config.val_target is not None
        else median_best([r.epochs["val_loss"] for r in runs])
    )
    run_results = []
    labels = unique_labels(runs)
    for (run, rp, curv, prof), label in zip(results, labels, strict=True):
        stab = stability_series(run, curv)
        summary = summarize(
            run,
            rp,
            curv,
            stab,
            prof,
            train_target=train_target,
            val_target=val_target,
            config=config,
            diagnosis=diagnose(run),
            label=label,
        )
        ep = run.epochs
        series = Series(
            *(
                np.asarray(ep[k])
                for k in ("epoch", "step", "train_loss", "val_loss", "train_acc", "val_acc")
            )
        )
        run_results.append(RunResult(summary, series, stab, prof))
    comparison = Comparison(
        path=path,
        config={
            **asdict(config),
            "runs": [str(Path(d).resolve()) for d in run_dirs],
            "model": model,
        },
        train_target=train_target,
        val_target=val_target,
        runs=tuple(run_results),
        plane=_plane(paths, [r[2] for r in results]),
    )
    if comparison.plane is not None and config.plane_resolution:
        from landscape.trajectory import compute_trajectory

        compute_trajectory(
            [r.path for r in runs],
            out_dir / PLANE_FILE,
            model=model,
            split="train",
            max_samples=config.plane_samples,
            resolution=config.plane_resolution,
            device=str(dev),
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
    return read_comparison(path)


def _plane(paths: Sequence[RunPath], curvs: Sequence[CurvatureSeries]) -> PlanePaths | None:
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
    return PlanePaths(
        coords=traj.coords,
        epoch=traj.epochs,
        step=traj.steps,
        run=traj.run,
        labels=traj.labels,
        residual=traj.residual,
        lambda_max=lam,
        explained_variance_ratio=traj.explained_variance_ratio,
        origin_label=traj.origin_label,
    )
