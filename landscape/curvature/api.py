"""One-call curvature runs: load, compute stage by stage, write ``curvature/`` as it goes.

:func:`hessian` and :func:`sharpness` are what ``landscape hessian`` and
``landscape sharpness`` call. Each finished stage (top eigenpairs, bottom
eigenpairs, trace, density; or one sharpness measure) is committed to the
file in its own crash-safe transaction, so an interrupted run resumes at the
first missing stage when re-run with the same settings.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import torch
from torch import nn

from landscape import distributed, store
from landscape.curvature import io
from landscape.curvature.density import slq_density
from landscape.curvature.hvp import HessianLinearOperator
from landscape.curvature.lanczos import lanczos
from landscape.curvature.linop import Progress
from landscape.curvature.preconditioned import (
    OptimizerState,
    directional_curvature,
    from_state_dict,
    preconditioned_sharpness,
    preconditioner,
    stability_threshold,
    update_direction,
)
from landscape.curvature.results import EigenResult, SpectralDensity, TraceEstimate
from landscape.curvature.sharpness import (
    Metric,
    Sharpness,
    adaptive_average_case_sharpness,
    adaptive_worst_case_sharpness,
    filter_normalized_width,
    keskar_sharpness,
    pac_bayes_sigma,
)
from landscape.curvature.trace import hutchinson_trace, hutchpp_trace
from landscape.data import Data, Split, as_splits, load_data
from landscape.errors import LandscapeError
from landscape.loading import build_model, file_sha256, load_checkpoint
from landscape.objective import Objective
from landscape.params import ParamDict, flatten, model_buffers, model_params
from landscape.progress import progress as progress_bar

TraceMethod = Literal["hutch++", "hutchinson"]
DType = Literal["float32", "float64"]
MEASURES = (
    "lambda_max",
    "trace",
    "keskar",
    "adaptive_worst",
    "adaptive_average",
    "pac_bayes_sigma",
    "filter_width",
)
"""Sharpness measures of :func:`sharpness` (``preconditioned`` is added with an optimizer state)."""


@dataclass(frozen=True)
class Setup:
    """A loaded objective and point with their identity for provenance."""

    objective: Objective
    params: ParamDict
    identity: dict[str, Any]


@dataclass(frozen=True)
class HessianReport:
    """What ``landscape hessian`` computed (``None`` for stages not asked for)."""

    top: EigenResult
    bottom: EigenResult | None = None
    trace: TraceEstimate | None = None
    density: SpectralDensity | None = None


@dataclass(frozen=True)
class SharpnessReport:
    """What ``landscape sharpness`` computed, by measure name (read back when resumed).

    Under torchrun, ranks other than 0 hold only the measures they computed.
    """

    measures: dict[str, Sharpness]


def prepare(
    model: nn.Module | str,
    checkpoint: str | Path | None,
    data: str | Data | Any = "mnist1d",
    *,
    split: Literal["train", "test", "both"] = "train",
    max_samples: int | None = None,
    seed: int = 0,
    batch_size: int | None = 1000,
    loss: str = "cross_entropy",
    device: str = "auto",
    dtype: DType = "float32",
    trust_checkpoint: bool = False,
) -> Setup:
    """Load model, checkpoint and one data split (``both``: train) into an :class:`Objective`."""
    from landscape.api import resolve_device

    if dtype not in get_args(DType):
        raise LandscapeError(f"dtype: expected float32 or float64 (got {dtype!r})")
    dev = resolve_device(device)
    net = build_model(model) if isinstance(model, str) else model
    if checkpoint is not None:
        params, buffers = load_checkpoint(net, checkpoint, trust=trust_checkpoint)
    else:
        params, buffers = model_params(net), model_buffers(net)
    which = "train" if split == "both" else split
    if isinstance(data, str):
        loaded = load_data(data, split=which, max_samples=max_samples, seed=seed, device=dev)
    else:
        loaded = (
            data
            if isinstance(data, Data)
            else Data(as_splits(data, source="python object"), "python object")
        ).to(dev)
    if which not in loaded.splits:
        raise LandscapeError(
            f"data {loaded.source!r} has no {which!r} split (it has {sorted(loaded.splits)})"
        )
    part = loaded.splits[which]
    torch_dtype = torch.float64 if dtype == "float64" else torch.float32
    if part.x.is_floating_point():
        part = Split(
            part.x.to(torch_dtype), part.y.to(torch_dtype) if part.y.is_floating_point() else part.y
        )
    net = net.to(dtype=torch_dtype)
    params = {k: v.to(device=dev, dtype=torch_dtype) for k, v in params.items()}
    buffers = {
        k: v.to(device=dev, dtype=torch_dtype) if v.is_floating_point() else v.to(dev)
        for k, v in buffers.items()
    }
    objective = Objective(net, part, loss=loss, batch_size=batch_size, buffers=buffers)
    identity = {
        "model": model if isinstance(model, str) else type(model).__name__,
        "checkpoint_sha256": None if checkpoint is None else file_sha256(checkpoint),
        "data": loaded.source,
        "data_sha256": part.digest(),
        "split": which,
        "max_samples": max_samples,
        "loss": loss,
        "dtype": dtype,
    }
    return Setup(objective, params, identity)


def hessian(
    setup: Setup,
    *,
    top_k: int = 5,
    bottom_k: int = 0,
    tol: float = 1e-3,
    max_iter: int | None = None,
    trace: bool = False,
    trace_method: TraceMethod = "hutch++",
    trace_hvps: int = 99,
    density: bool = False,
    density_runs: int = 10,
    density_steps: int = 80,
    sigma: float = 0.01,
    seed: int = 0,
    out: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
    command: str | None = None,
) -> HessianReport:
    """Top (and bottom) eigenpairs, trace and spectral density of the Hessian at a checkpoint.

    Args:
        setup: from :func:`prepare`.
        top_k: largest eigenpairs (Lanczos, tolerance ``tol``).
        bottom_k: smallest eigenpairs (0: skip); converged at a residual of
            ``tol |λ|`` or ``tol |λ_max|``, whichever is larger.
        tol: relative residual tolerance ``||Hv - λv|| <= tol |λ|``.
        max_iter: most Lanczos steps per end.
        trace: estimate ``tr(H)`` with ``trace_method`` and ``trace_hvps`` products.
        trace_method: ``hutch++`` or ``hutchinson``.
        trace_hvps: products for the trace.
        density: estimate the spectral density (SLQ, ``density_runs`` x ``density_steps``).
        density_runs: SLQ runs.
        density_steps: Lanczos steps per run.
        sigma: Gaussian smoothing width relative to the spectrum's range.
        seed: seed of all random vectors.
        out: HDF5 file for ``curvature/hessian`` (``None``: keep in memory only).
        overwrite: replace a ``curvature/hessian`` made with other settings.
        progress: show a bar counting Hessian-vector products.
        command: the command line recorded in a new file.

    Raises:
        LandscapeError: for bad settings, or an existing result with different settings.

    """
    if trace_method not in get_args(TraceMethod):
        raise LandscapeError(f"trace-method: expected hutch++ or hutchinson (got {trace_method!r})")
    config = {
        **setup.identity,
        "top_k": top_k,
        "bottom_k": bottom_k,
        "tol": tol,
        "max_iter": max_iter,
        "trace": trace,
        "trace_method": trace_method,
        "trace_hvps": trace_hvps,
        "density": density,
        "density_runs": density_runs,
        "density_steps": density_steps,
        "sigma": sigma,
        "seed": seed,
    }
    stages: dict[str, Callable[[Any], Any]] = {
        "top": lambda op: lanczos(op, top_k, tol=tol, max_iter=max_iter, seed=seed),
    }
    if bottom_k:
        stages["bottom"] = lambda op: _bottom(op, bottom_k, tol, max_iter, seed + 1)
    if trace:
        estimator = hutchpp_trace if trace_method == "hutch++" else hutchinson_trace
        stages["trace"] = lambda op: estimator(op, trace_hvps, seed=seed)
    if density:
        stages["density"] = lambda op: slq_density(
            op, num_runs=density_runs, num_steps=density_steps, sigma=sigma, seed=seed
        )
    writers: dict[str, Callable[[Any, Any], None]] = {
        "top": lambda g, r: io.write_eigen(g, "top", r, setup.params),
        "bottom": lambda g, r: io.write_eigen(g, "bottom", r, setup.params),
        "trace": io.write_trace,
        "density": io.write_density,
    }
    results = _run_stages(
        setup,
        "hessian",
        config,
        stages,
        writers,
        io.read_hessian,
        out=out,
        overwrite=overwrite,
        progress=progress,
        command=command,
    )
    return HessianReport(**{k: results.get(k) for k in ("top", "bottom", "trace", "density")})


def _bottom(op: Any, k: int, tol: float, max_iter: int | None, seed: int) -> EigenResult:
    """Smallest eigenpairs; residuals are judged against ``tol * |λ_max|`` as well.

    The bottom of a network's spectrum sits near zero, where ``tol |λ|``
    alone is unreachable; a rough λ_max (Lanczos at tolerance 0.1, a few
    products) sets the absolute floor.
    """
    scale = abs(float(lanczos(op, 1, tol=0.1, seed=seed).eigenvalues[0]))
    return lanczos(op, k, which="smallest", tol=tol, atol=tol * scale, max_iter=max_iter, seed=seed)


def sharpness(
    setup: Setup,
    *,
    measures: Sequence[str] = MEASURES,
    tol: float = 1e-3,
    trace_hvps: int = 99,
    epsilon: float = 1e-3,
    keskar_iter: int = 10,
    rho: float = 0.1,
    steps: int = 20,
    samples: int = 20,
    pac_target: float = 0.1,
    pac_metric: Metric = "error",
    width_increase: float = 0.1,
    width_radius: float = 1.0,
    optimizer_state: OptimizerState | None = None,
    seed: int = 0,
    out: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
    command: str | None = None,
) -> SharpnessReport:
    """Sharpness measures at a checkpoint (see :mod:`landscape.curvature.sharpness`).

    With ``optimizer_state``, adds ``precond_lambda_max`` (``λ_max(P^{-1/2} H P^{-1/2})``),
    ``stability_threshold`` and ``update_curvature`` (curvature along the next update).

    Raises:
        LandscapeError: for an unknown measure or an existing result with different settings.

    """
    unknown = [m for m in measures if m not in MEASURES]
    if unknown or not measures:
        raise LandscapeError(
            f"measures: expected a comma list of {', '.join(MEASURES)} "
            f"(got {', '.join(measures) or 'nothing'})"
        )
    obj, params = setup.objective, setup.params
    makers: dict[str, Callable[[Any], Sharpness]] = {
        "lambda_max": lambda op: _lambda_max(op, tol, seed),
        "trace": lambda op: _trace(op, trace_hvps, seed),
        "keskar": lambda op: keskar_sharpness(
            obj, params, epsilon=epsilon, max_iter=keskar_iter, seed=seed
        ),
        "adaptive_worst": lambda op: adaptive_worst_case_sharpness(
            obj, params, rho=rho, steps=steps, seed=seed
        ),
        "adaptive_average": lambda op: adaptive_average_case_sharpness(
            obj, params, rho=rho, num_samples=samples, seed=seed
        ),
        "pac_bayes_sigma": lambda op: pac_bayes_sigma(
            obj,
            params,
            target=pac_target,
            metric=pac_metric if obj.has_accuracy else "loss",
            num_samples=samples,
            seed=seed,
        ),
        "filter_width": lambda op: filter_normalized_width(
            obj, params, increase=width_increase, radius=width_radius, seed=seed
        ),
    }
    stages: dict[str, Callable[[Any], Any]] = {m: makers[m] for m in MEASURES if m in measures}
    config: dict[str, Any] = {
        **setup.identity,
        "measures": list(stages),
        "tol": tol,
        "trace_hvps": trace_hvps,
        "epsilon": epsilon,
        "keskar_iter": keskar_iter,
        "rho": rho,
        "steps": steps,
        "samples": samples,
        "pac_target": pac_target,
        "pac_metric": pac_metric,
        "width_increase": width_increase,
        "width_radius": width_radius,
        "seed": seed,
        "optimizer": None,
    }
    if optimizer_state is not None:
        config["optimizer"] = {
            "name": optimizer_state.name,
            "hparams": {k: v for k, v in optimizer_state.hparams.items() if _plain(v)},
            "step": optimizer_state.step,
        }
        for name, make in _optimizer_stages(optimizer_state, params, tol, seed).items():
            stages[name] = make
    writers = {name: lambda g, s: io.write_sharpness(g, s) for name in stages}
    results = _run_stages(
        setup,
        "sharpness",
        config,
        stages,
        writers,
        io.read_sharpness,
        out=out,
        overwrite=overwrite,
        progress=progress,
        command=command,
    )
    return SharpnessReport({name: results[name] for name in stages if name in results})


def _plain(v: Any) -> bool:
    return isinstance(v, (int, float, str, bool, type(None))) or (
        isinstance(v, (tuple, list)) and all(_plain(x) for x in v)
    )


def _lambda_max(op: Any, tol: float, seed: int) -> Sharpness:
    r = lanczos(op, 1, tol=tol, seed=seed)
    return Sharpness(
        "lambda_max",
        float(r.eigenvalues[0]),
        float(r.residuals[0]),
        {"tol": tol, "seed": seed, "num_hvps": r.num_hvps},
        "Hochreiter & Schmidhuber 1997; Keskar et al. 2017 (λ_max of the Hessian, Lanczos)",
    )


def _trace(op: Any, hvps: int, seed: int) -> Sharpness:
    t = hutchpp_trace(op, hvps, seed=seed)
    return Sharpness(
        "trace",
        t.estimate,
        t.std_error,
        {"method": t.method, "num_hvps": hvps, "seed": seed},
        "Meyer et al. 2021 (Hutch++)",
    )


def _optimizer_stages(
    opt: OptimizerState, params: ParamDict, tol: float, seed: int
) -> dict[str, Callable[[Any], Sharpness]]:
    settings = {"optimizer": opt.name, "step": opt.step}
    p = preconditioner(opt, params)
    stages: dict[str, Callable[[Any], Sharpness]] = {
        "stability_threshold": lambda op: Sharpness(
            "stability_threshold",
            stability_threshold(opt),
            settings=settings,
            citation="Cohen et al. 2021, 2022",
        ),
    }
    if p is not None:

        def precond(op: Any) -> Sharpness:
            r = preconditioned_sharpness(op, p, list(params), tol=tol, seed=seed)
            return Sharpness(
                "precond_lambda_max",
                float(r.eigenvalues[0]),
                float(r.residuals[0]),
                {**settings, "tol": tol, "num_hvps": r.num_hvps},
                "Cohen et al. 2022 (λ_max of P^-1 H)",
            )

        stages["precond_lambda_max"] = precond

    def update(op: Any) -> Sharpness:
        d = update_direction(opt, op.gradient)
        return Sharpness(
            "update_curvature",
            directional_curvature(op, flatten(d, params)),
            settings=settings,
            citation="dᵀHd along the unit direction of the optimizer's next step",
        )

    stages["update_curvature"] = update
    return stages


def load_optimizer_state(
    path: str | Path, model: nn.Module | str, *, name: str | None = None, trust: bool = False
) -> OptimizerState:
    """Read an optimizer state from a checkpoint file.

    Accepts ``landscape train``'s checkpoints (``{"model": ..., "optimizer":
    state_dict, "optimizer_name": "adam", ...}``) or a bare optimizer
    ``state_dict()`` (then ``name`` is required). Indices map to the model's
    trainable parameters in ``named_parameters()`` order.

    Raises:
        LandscapeError: if the file is unreadable, holds no optimizer state, or
            its name is unknown.

    """
    import pickle

    path = Path(path)
    if not path.is_file():
        raise LandscapeError(f"optimizer state not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=not trust)
    except pickle.UnpicklingError as exc:
        raise LandscapeError(
            f"optimizer state {path}: refused to unpickle objects; "
            "pass --trust-checkpoint if you trust it"
        ) from exc
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise LandscapeError(f"optimizer state {path}: not a readable PyTorch file") from exc
    if isinstance(obj, dict) and "optimizer" in obj:
        state, name = obj["optimizer"], name or obj.get("optimizer_name")
    else:
        state = obj
    if not isinstance(state, dict) or "param_groups" not in state:
        raise LandscapeError(
            f"optimizer state {path}: expected a checkpoint with an 'optimizer' state dict "
            "or a bare optimizer state_dict"
        )
    if not name:
        raise LandscapeError(
            f"optimizer state {path}: the optimizer's name is unknown; "
            "pass --optimizer-name (adam, adamw, sgd, rmsprop, adagrad)"
        )
    net = build_model(model) if isinstance(model, str) else model
    names = [n for n, p in net.named_parameters() if p.requires_grad]
    return from_state_dict(state, str(name), dict(enumerate(names)))


def _run_stages(
    setup: Setup,
    kind: str,
    config: dict[str, Any],
    stages: dict[str, Callable[[Any], Any]],
    writers: dict[str, Callable[[Any, Any], None]],
    reader: Callable[[Any], dict[str, Any]],
    *,
    out: str | Path | None,
    overwrite: bool,
    progress: bool,
    command: str | None,
) -> dict[str, Any]:
    """Compute the stages not yet in ``out``, commit each one as it finishes, return them all.

    Under torchrun (an active default process group) every rank computes on
    its share of the data and holds the same results; rank 0 alone touches
    the file, shows progress, and returns the stages read back from ``out``
    (by ``reader``) along with those computed now.
    """
    ctx = distributed.current()
    main = ctx.is_main
    with store.writer_lock(out) if out is not None and main else contextlib.nullcontext():
        done = ctx.broadcast(_open_stages(kind, config, out, overwrite, command) if main else None)
        if isinstance(done, str):  # rank 0's error, raised on every rank
            raise LandscapeError(done)
        todo = [s for s in stages if s not in done]
        results: dict[str, Any] = {}
        if todo:
            bar = progress_bar(
                desc=f"{kind} {Path(out).name}" if out is not None else kind,
                unit="hvp",
                enabled=progress and main,
            )
            op = Progress(HessianLinearOperator(setup.objective, setup.params, context=ctx), bar)
            try:
                for name in todo:
                    bar.set_postfix_str(name)
                    results[name] = stages[name](op)
                    if out is not None and main:
                        with store.atomic_update(out) as f:
                            writers[name](f[f"{io.GROUP}/{kind}"], results[name])
            finally:
                bar.close()
            ctx.barrier()
    if out is not None and main:
        with store.open_read(out) as f:
            results = {**reader(f[f"{io.GROUP}/{kind}"]), **results}
    return results


def _open_stages(
    kind: str, config: dict[str, Any], out: str | Path | None, overwrite: bool, command: str | None
) -> set[str] | str:
    """Stages already in ``out`` (resume) after creating its group if needed; an error as text."""
    if out is None:
        return set()
    try:
        if store.check_resumable(out, f"{io.GROUP}/{kind}", config, overwrite=overwrite):
            with store.open_read(out) as f:
                return set(f[f"{io.GROUP}/{kind}"])
        with store.atomic_update(out, new=not Path(out).exists(), command=command) as f:
            if f"{io.GROUP}/{kind}" in f:
                del f[f"{io.GROUP}/{kind}"]
            io.stage_group(f, kind, config)
    except LandscapeError as exc:
        return str(exc)
    return set()
