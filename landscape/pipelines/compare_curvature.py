"""Curvature of a run's checkpoints for ``landscape compare``.

λ_max, the preconditioned λ_max and the stability threshold at each measured checkpoint;
at the last one the Hutchinson trace, λ_max on disjoint sub-samples (its batch-means
standard error) and the Hessian spectrum (Lanczos top-k, SLQ density).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from landscape.curvature.density import slq_density
from landscape.curvature.hvp import HessianLinearOperator
from landscape.curvature.lanczos import lanczos
from landscape.curvature.preconditioned import OptimizerState, from_state_dict
from landscape.curvature.trace import hutchinson_trace
from landscape.curvature.tracking import SharpnessProbe
from landscape.data import Split
from landscape.dynamics.runs import Run
from landscape.io.compare import CURVATURE_KEYS
from landscape.loading import load_torch_file
from landscape.params import to_device
from landscape.pipelines.compare_config import CompareConfig
from landscape.progress import progress as progress_bar
from landscape.records import CurvatureSeries, RunSpectrum
from landscape.trajectory import RunPath


def measure_curvature(
    run_path: RunPath,
    model: torch.nn.Module,
    indices: Sequence[int],
    config: CompareConfig,
    *,
    split: Split,
    loss: str,
    full: bool = False,
    progress: bool = True,
) -> CurvatureSeries:
    """Measure λ_max, preconditioned λ_max and the threshold at checkpoints; more at the last.

    One :class:`~landscape.curvature.tracking.SharpnessProbe` on ``split`` goes
    through the checkpoints in order, so each Lanczos run starts from the
    previous checkpoint's eigenvector. The optimizer state saved in each
    checkpoint gives the preconditioner and the threshold; a checkpoint
    without one (the initial one) gets the threshold of the run's
    hyperparameters alone and no preconditioned value. At the last checkpoint:
    λ_max on ``config.sharpness_batches`` disjoint sub-samples of ``split`` (its
    batch-means standard error), the Hutchinson trace, and the spectrum
    (:func:`final_spectrum`). ``full`` records whether ``split`` is the whole training split.
    """
    run = run_path.run
    probe = SharpnessProbe(
        model, split, loss=loss, subset=len(split), seed=config.seed, tol=config.tol
    )
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    out = {k: np.full(len(indices), np.nan) for k in CURVATURE_KEYS}
    for j, i in enumerate(
        progress_bar(indices, desc=f"curvature {run.name}", unit="ckpt", enabled=progress)
    ):
        measured = probe(
            run_path.params[i],
            _optimizer_state(run, i, names),
            buffers=run_path.buffers,
            update_curvature=False,
        )
        out["lambda_max"][j] = measured["lambda_max"]
        out["precond_lambda_max"][j] = measured["precond_lambda_max"]
        out["threshold"][j] = measured["stability_threshold"]
        out["epoch"][j] = run_path.epochs[i]
        out["step"][j] = run_path.steps[i]
    trace = float("nan"), float("nan")
    batches = np.zeros(0)
    spectrum = None
    if indices:
        last = to_device(run_path.params[indices[-1]], probe.objective.device)
        op = HessianLinearOperator(probe.objective, last, check=False)
        est = hutchinson_trace(op, config.trace_probes, seed=config.seed)
        trace = est.estimate, est.std_error
        batches = batch_lambda_max(
            model, split, run_path.params[indices[-1]], config, loss=loss, buffers=run_path.buffers
        )
        spectrum = final_spectrum(op, config)
    return CurvatureSeries(
        *(out[k] for k in CURVATURE_KEYS),
        trace=trace[0],
        trace_stderr=trace[1],
        rows=len(split),
        full=full,
        batch_lambda_max=batches,
        spectrum=spectrum,
    )


def batch_lambda_max(
    model: torch.nn.Module,
    split: Split,
    params: dict[str, torch.Tensor],
    config: CompareConfig,
    *,
    loss: str,
    buffers: dict[str, torch.Tensor],
) -> np.ndarray:
    """λ_max at ``params`` on each of ``config.sharpness_batches`` disjoint, equal slices of ``split``.

    Slice ``b`` holds rows ``b·m .. (b+1)·m - 1`` with ``m = len(split) // B`` (the rest
    is left out). Their spread gives the batch-means standard error of λ_max on the whole
    of ``split`` (:attr:`~landscape.records.CurvatureSeries.lambda_max_stderr`).
    """
    b = config.sharpness_batches
    m = len(split) // b if b else 0
    if b < 2 or m < 1:
        return np.zeros(0)
    values = []
    for i in range(b):
        part = Split(split.x[i * m : (i + 1) * m], split.y[i * m : (i + 1) * m])
        probe = SharpnessProbe(model, part, loss=loss, subset=m, seed=config.seed, tol=config.tol)
        values.append(probe(params, None, buffers=buffers, update_curvature=False)["lambda_max"])
    return np.asarray(values, np.float64)


def final_spectrum(op: HessianLinearOperator, config: CompareConfig) -> RunSpectrum | None:
    """Top ``config.spectrum_k`` eigenvalues (Lanczos) and the SLQ density of ``op``.

    ``None`` when neither is asked for; the density is left empty with ``density_runs=0``.
    """
    if not config.spectrum_k and not config.density_runs:
        return None
    spent = op.num_matvecs
    top = (
        lanczos(op, config.spectrum_k, tol=config.tol, seed=config.seed).eigenvalues
        if config.spectrum_k
        else np.zeros(0)
    )
    grid, density = np.zeros(0), np.zeros(0)
    if config.density_runs:
        d = slq_density(
            op, num_runs=config.density_runs, num_steps=config.density_steps, seed=config.seed
        )
        grid, density = d.grid, d.density
    return RunSpectrum(
        np.asarray(top, np.float64),
        np.asarray(grid, np.float64),
        np.asarray(density, np.float64),
        int(op.num_matvecs - spent),
    )


def _optimizer_state(run: Run, index: int, names: Sequence[str]) -> OptimizerState:
    """The optimizer state saved in checkpoint ``index``, else the run's hyperparameters alone."""
    saved = load_torch_file(run.checkpoints[index].path, trust_option=None)
    if not isinstance(saved, dict) or "optimizer" not in saved:
        return OptimizerState(run.optimizer, run.hparams, {}, {})
    return from_state_dict(
        saved["optimizer"],
        str(saved.get("optimizer_name") or run.optimizer),
        dict(enumerate(names)),
    )
