"""The Recorder: training dynamics streamed to a run directory from any training loop.

Use it inside your own loop (``landscape train`` uses the same code)::

    rec = Recorder("runs/mine", model, optimizer, checkpoint_every=1)  # checkpoints: optional
    rec.epoch(train=(loss0, acc0), val=(vloss0, vacc0))   # optional: epoch 0 = the initial point
    for epoch in range(epochs):
        for x, y in loader:
            ...; loss.backward(); optimizer.step()
            rec.step(loss)  # after optimizer.step(), before zero_grad()
            optimizer.zero_grad()
        rec.epoch(train=(train_loss, train_acc), val=(val_loss, val_acc))
    rec.close()

Per step it keeps the loss and the learning rate, and every ``grad_every``-th
step the global and per-layer gradient norms (on the device, no ``.item()``
sync); per epoch it adds the per-layer gradient norms (RMS over the sampled
steps), weight norms, update-to-weight ratios, the distance from
initialization and, for adaptive optimizers, percentiles of the effective
per-parameter step size. Everything is written to ``RUN/run.h5`` by
:func:`landscape.store.atomic_update` (a crash-safe transaction), throttled so
that writing takes at most ``write_share`` of the run's time and happens at
least every ``flush_seconds``; a killed run keeps everything up to its last
write. By default no checkpoints are saved (per-step scalars only, cheap);
``checkpoint_every=1`` saves one per epoch, which trajectories and resuming need.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import h5py
import numpy as np
import torch
from torch import Tensor, nn

from landscape.dynamics.runs import (
    CHECKPOINT_DIR,
    GROUP,
    checkpoint_filename,
    list_checkpoints,
    run_file,
)
from landscape.errors import LandscapeError
from landscape.params import ParamDict, model_params
from landscape.store import (
    atomic_update,
    check_resumable,
    config_json,
    open_read,
    read_params,
    write_params,
    writer_lock,
)

Probe = Callable[[ParamDict, torch.optim.Optimizer], Mapping[str, float]]
"""A curvature (or any) probe: ``probe(params, optimizer) -> {name: value}``."""

Metric = tuple[float | Tensor, float | Tensor] | float | Tensor | None


def optimizer_hparams(optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Return the JSON-friendly hyperparameters of an optimizer's first parameter group.

    >>> opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
    >>> optimizer_hparams(opt)["lr"], optimizer_hparams(opt)["momentum"]
    (0.1, 0.9)
    """
    out: dict[str, Any] = {}
    for k, v in optimizer.param_groups[0].items():
        if k == "params":
            continue
        if isinstance(v, Tensor):
            v = v.tolist()
        if isinstance(v, tuple):
            v = list(v)
        if v is None or isinstance(v, (bool, int, float, str, list)):
            out[k] = v
    return out


def _step_size_terms(
    optimizer: torch.optim.Optimizer, param: Tensor, group: dict[str, Any] | None = None
) -> tuple[Tensor, float, float, float] | None:
    """``(v, lr, eps, c)`` with the effective step size ``lr / (sqrt(v / c) + eps)``, or ``None``.

    ``group`` is ``param``'s parameter group (looked up when not given).
    """
    state = optimizer.state.get(param)
    if not state:
        return None
    if group is None:
        group = next(g for g in optimizer.param_groups if any(q is param for q in g["params"]))
    lr, eps = float(group["lr"]), float(group.get("eps", 0.0))
    if isinstance(optimizer, (torch.optim.Adam, torch.optim.AdamW)):
        v = state["max_exp_avg_sq"] if group.get("amsgrad") else state["exp_avg_sq"]
        return v, lr, eps, 1.0 - group["betas"][1] ** float(state["step"])
    if isinstance(optimizer, torch.optim.RMSprop):
        v = state["square_avg"]
        if group.get("centered"):
            v = v - state["grad_avg"] ** 2
        return v, lr, eps, 1.0
    if isinstance(optimizer, torch.optim.Adagrad):
        t = float(state["step"])
        return state["sum"], lr / (1.0 + (t - 1.0) * float(group["lr_decay"])), eps, 1.0
    return None


def effective_step_size(optimizer: torch.optim.Optimizer, param: Tensor) -> Tensor | None:
    """Per-entry effective step size ``lr / (sqrt(v) + eps)`` of an adaptive optimizer.

    ``v`` is the optimizer's second-moment state for ``param``: Adam/AdamW use
    the bias-corrected ``v_hat = v / (1 - beta2^t)`` (Kingma & Ba 2015; the
    AMSGrad maximum when enabled), RMSprop its running average of squared
    gradients (minus the squared mean when centered; Tieleman & Hinton 2012),
    Adagrad the sum of squared gradients with the decayed rate
    ``lr / (1 + (t - 1) * lr_decay)`` (Duchi et al. 2011). It is the factor that
    multiplies the (momentum of the) gradient in the update, so its spread
    shows how the optimizer adapts the learning rate per parameter.

    Returns:
        A tensor shaped like ``param``, or ``None`` for a non-adaptive optimizer
        or a parameter without state yet.

    >>> p = nn.Parameter(torch.tensor([2.0]))
    >>> opt = torch.optim.Adam([p], lr=0.1, eps=0.0)
    >>> p.grad = torch.tensor([4.0]); opt.step()
    >>> effective_step_size(opt, p)  # lr / |g| after one step: v_hat = g^2
    tensor([0.0250])

    """
    terms = _step_size_terms(optimizer, param)
    if terms is None:
        return None
    v, lr, eps, c = terms
    return lr / ((v / c).sqrt() + eps)


def step_size_percentiles(
    optimizer: torch.optim.Optimizer,
    param: Tensor,
    q: tuple[float, ...],
    group: dict[str, Any] | None = None,
) -> np.ndarray | None:
    """Quantiles ``q`` of :func:`effective_step_size` without computing it for every entry.

    The step size ``s(v) = lr / (sqrt(v / c) + eps)`` decreases in ``v``, so the
    k-th smallest step size is ``s`` of the k-th largest ``v``: the order
    statistics of the optimizer's state are found by one sort and only the
    needed ones are mapped through ``s`` (in float64).

    >>> p = nn.Parameter(torch.tensor([1.0, 1.0, 1.0]))
    >>> opt = torch.optim.Adam([p], lr=0.1, eps=0.0)
    >>> p.grad = torch.tensor([1.0, 2.0, 4.0]); opt.step()
    >>> step_size_percentiles(opt, p, (0.0, 0.5, 1.0)).round(6).tolist()  # 0.1 / |g|
    [0.025, 0.05, 0.1]
    """
    terms = _step_size_terms(optimizer, param, group)
    if terms is None:
        return None
    v, lr, eps, c = terms

    def step_size(x: np.ndarray) -> np.ndarray:
        return lr / (np.sqrt(x / c) + eps)

    return percentiles(v.detach().cpu().numpy(), q, decreasing=step_size)


def percentiles(
    values: np.ndarray,
    q: tuple[float, ...],
    *,
    decreasing: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Quantiles ``q`` (fractions) of ``values`` with linear interpolation, as ``np.percentile``.

    The value at fraction ``q`` of ``n`` sorted values sits at position
    ``h = (n - 1) q``: ``x[floor(h)] + (h - floor(h)) (x[floor(h) + 1] - x[floor(h)])``
    (Hyndman & Fan 1996, definition 7, numpy's default). One ``np.sort`` (SIMD;
    7.6x faster than ``np.partition`` with six order statistics on 10,000 float32
    values here) gives every order statistic, without ``np.percentile``'s
    per-call overhead, which was most of the per-epoch cost on small models;
    the interpolation is done in float64.

    Args:
        values: the sample (any shape; flattened).
        q: fractions in [0, 1].
        decreasing: a decreasing function ``f``; if given, the quantiles of
            ``f(values)`` are returned, with ``f`` applied to the needed order
            statistics only (the k-th smallest ``f(x)`` is ``f`` of the k-th
            largest ``x``).

    Returns:
        One value per fraction in ``q``, float64.

    >>> percentiles(np.array([4.0, 1.0, 3.0, 2.0]), (0.0, 0.5, 0.9)).tolist()
    [1.0, 2.5, 3.7]
    >>> percentiles(np.array([4.0, 1.0, 2.0]), (0.0, 0.5), decreasing=lambda x: 1 / x).tolist()
    [0.25, 0.5]

    """
    x = np.asarray(values).ravel()
    n = x.size
    h = (n - 1) * np.asarray(q, dtype=np.float64)
    lo = np.floor(h).astype(np.intp)
    hi = np.minimum(lo + 1, n - 1)
    at_lo, at_hi = (lo, hi) if decreasing is None else (n - 1 - lo, n - 1 - hi)
    ordered = np.sort(x)
    ends = ordered[np.concatenate([at_lo, at_hi])].astype(np.float64)
    if decreasing is not None:
        ends = decreasing(ends)
    low, high = ends[: len(h)], ends[len(h) :]
    return low + (h - lo) * (high - low)


class Recorder:
    """Record a training run into ``run_dir`` (``run.h5`` and ``checkpoints/``).

    Args:
        run_dir: the run directory (created if needed).
        model: the model being trained; read, never modified (except when
            ``resume`` loads its last checkpoint into it).
        optimizer: its optimizer.
        config: what defines the run (stored; a re-run with another config
            refuses to write into the same directory). Defaults to the
            optimizer's name and hyperparameters and the model's class.
        checkpoint_every: save ``checkpoints/epoch_NNNN.pt`` every this many
            epochs, and ``init.pt`` (the model as the Recorder finds it) at
            once (``None``, the default: no checkpoints).
        checkpoint_steps: also save ``checkpoints/step_NNNNNNNN.pt`` every this
            many optimizer steps (``None``: never).
        grad_every: compute the gradient norms at every this many steps (the
            steps whose number is a multiple of it; the others' ``grad_norm`` is
            NaN). They touch every gradient tensor, the largest per-step cost
            (45 us of a 703 us MNIST-1D MLP step; ``grad_every=1`` made the
            recorder 1.12x a bare loop, the default 10 1.05-1.06x, in
            ``scripts/bench_recorder.py``); ``landscape train`` uses 1.
        probe: a callable ``probe(params, optimizer) -> {name: float}``, e.g.
            ``landscape.curvature.tracking.SharpnessProbe``; its values are
            stored under ``dynamics/probe/<name>``.
        probe_every: call ``probe`` every this many steps.
        flush_seconds: write pending records at least this often.
        write_share: write less often than this fraction of the elapsed time
            would allow (the interval is the last write's duration times
            ``1 / write_share - 1``); ``1.0`` writes at every epoch.
        resume: continue a run already in ``run_dir``: load its last epoch
            checkpoint into ``model`` and ``optimizer``, drop records after it
            and continue from there (:attr:`epochs_done` tells where).
        overwrite: replace a run made with a different config (or any run when
            ``resume`` is false).
        command: command line for the file's provenance.

    Raises:
        LandscapeError: if ``run_dir`` holds a run and neither ``resume`` nor
            ``overwrite`` is set, or it holds a run made with another config.

    """

    def __init__(
        self,
        run_dir: str | Path,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        *,
        config: Mapping[str, Any] | None = None,
        checkpoint_every: int | None = None,
        checkpoint_steps: int | None = None,
        grad_every: int = 10,
        probe: Probe | None = None,
        probe_every: int = 0,
        flush_seconds: float = 30.0,
        write_share: float = 0.01,
        resume: bool = False,
        overwrite: bool = False,
        command: str | None = None,
    ):
        for name, value in (
            ("checkpoint_every", checkpoint_every),
            ("checkpoint_steps", checkpoint_steps),
            ("grad_every", grad_every),
        ):
            if value is not None and value < 1:
                raise LandscapeError(
                    f"recorder: {name} must be a positive integer or None (got {value})"
                )
        if not 0 < write_share <= 1:
            raise LandscapeError(f"recorder: write_share must be in (0, 1] (got {write_share})")
        if probe is not None and probe_every < 1:
            raise LandscapeError(
                f"recorder: probe_every must be a positive integer with a probe (got {probe_every})"
            )
        self.run_dir = Path(run_dir)
        self.path = run_file(self.run_dir)
        self.model = model
        self.optimizer = optimizer
        self.checkpoint_every = checkpoint_every
        self.checkpoint_steps = checkpoint_steps
        self.grad_every = grad_every
        self.probe = probe
        self.probe_every = probe_every
        self.flush_seconds = flush_seconds
        self.write_share = write_share
        self.optimizer_name = type(optimizer).__name__.lower()
        self.hparams = optimizer_hparams(optimizer)
        self.config = (
            dict(config)
            if config is not None
            else {
                "optimizer": self.optimizer_name,
                "hparams": self.hparams,
                "model": type(model).__name__,
            }
        )
        self._named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        self.layers = [n for n, _ in self._named]
        self._pending_steps: list[tuple[int, int, Tensor, float, Tensor | None]] = []
        self._pending_epochs: list[dict[str, np.ndarray]] = []
        self._pending_probes: list[dict[str, float]] = []
        self._epoch_norms: list[Tensor] = []
        self._epoch_losses: list[Tensor] = []
        self._last_flush = time.monotonic()
        self._interval = 0.0
        self.step_count = 0
        self.epochs_done = -1
        self._steps_since_epoch = 0
        self._lock = contextlib.ExitStack()
        self._lock.enter_context(writer_lock(self.path))
        try:
            resuming = self._prepare(resume=resume, overwrite=overwrite, command=command)
        except BaseException:
            self._lock.close()
            raise
        if not resuming:
            self._init = model_params(model)
            with atomic_update(self.path, new=True, command=command) as f:
                g = f.create_group(GROUP)
                g.attrs["config"] = config_json(self.config)
                g.attrs["optimizer"] = self.optimizer_name
                g.attrs["hparams"] = json.dumps(self.hparams)
                g.attrs["layers"] = json.dumps(self.layers)
                g.attrs["shapes"] = json.dumps([list(p.shape) for _, p in self._named])
                g.attrs["grad_every"] = grad_every
                write_params(g, "init", {k: v.cpu().numpy() for k, v in self._init.items()})
            if checkpoint_every is not None:
                self._save(checkpoint_filename(epoch=0), 0)
        self._prev = model_params(model)

    # ------------------------------------------------------------------ setup
    def _prepare(self, *, resume: bool, overwrite: bool, command: str | None) -> bool:
        """Check what ``run_dir`` holds and, to resume, load its last checkpoint (True if so)."""
        if not self.path.exists():
            return False
        exists = check_resumable(self.path, GROUP, self.config, overwrite=overwrite)
        if not exists and not overwrite:
            raise LandscapeError(
                f"{self.path} exists but holds no run; choose another directory or pass overwrite"
            )
        if overwrite:
            shutil.rmtree(self.run_dir / CHECKPOINT_DIR, ignore_errors=True)
            return False
        if not resume:
            raise LandscapeError(
                f"{self.run_dir} already holds this run; pass resume=True to continue it "
                "or overwrite=True to replace it"
            )
        with open_read(self.path) as f:
            g = f[GROUP]
            epochs = g["epoch/epoch"][()] if "epoch" in g else np.zeros(0, dtype=np.int64)
            ends = g["epoch/step"][()] if "epoch" in g else np.zeros(0, dtype=np.int64)
            init = {k: torch.from_numpy(v) for k, v in read_params(g["init"]).items()}
        recorded = {int(e): int(s) for e, s in zip(epochs, ends, strict=True)}
        usable = [
            c
            for c in list_checkpoints(self.run_dir, epoch_steps=recorded)
            if c.kind == "init" or (c.kind == "epoch" and c.epoch in recorded)
        ]
        if not usable:
            if recorded:
                raise LandscapeError(
                    f"{self.run_dir}: no epoch checkpoint to resume from; "
                    "pass overwrite=True to start again"
                )
            shutil.rmtree(self.run_dir / CHECKPOINT_DIR, ignore_errors=True)
            return False
        last = usable[-1]
        state = torch.load(last.path, map_location="cpu", weights_only=True)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if "rng_state" in state:
            torch.set_rng_state(state["rng_state"])
        self.epochs_done = last.epoch if last.epoch in recorded else -1
        self.step_count = recorded.get(self.epochs_done, 0)
        device = self._named[0][1].device if self._named else torch.device("cpu")
        self._init = {k: v.to(device) for k, v in init.items()}
        with atomic_update(self.path, command=command) as f:
            g = f[GROUP]
            dropped = [
                _truncate(g, "epoch", "epoch", last.epoch),
                _truncate(g, "step", "step", self.step_count),
                _truncate(g, "probe", "step", self.step_count),
            ]
            if any(dropped) and "diagnosis" in g:
                del g["diagnosis"]
        return True

    # ------------------------------------------------------------- recording
    def step(self, loss: Tensor | float) -> None:
        """Record one optimizer step: call after ``optimizer.step()``, before ``zero_grad()``.

        Args:
            loss: the mini-batch loss of this step (a tensor is kept on its
                device without synchronizing).

        """
        self.step_count += 1
        self._steps_since_epoch += 1
        norms = None
        if self.step_count % self.grad_every == 0:
            grads = [
                p.grad if p.grad is not None else torch.zeros((), device=p.device)
                for _, p in self._named
            ]
            norms = torch.stack(torch._foreach_norm(grads))
            self._epoch_norms.append(norms)
        value = loss.detach() if isinstance(loss, Tensor) else torch.tensor(float(loss))
        self._epoch_losses.append(value)
        lr = float(self.optimizer.param_groups[0]["lr"])
        self._pending_steps.append(
            (self.step_count, max(self.epochs_done, 0) + 1, value, lr, norms)
        )
        if self.probe is not None and self.step_count % self.probe_every == 0:
            values = self.probe(model_params(self.model), self.optimizer)
            self._pending_probes.append(
                {"step": float(self.step_count), **{k: float(v) for k, v in values.items()}}
            )
        if self.checkpoint_steps is not None and self.step_count % self.checkpoint_steps == 0:
            self._save(checkpoint_filename(step=self.step_count), max(self.epochs_done, 0) + 1)
        if time.monotonic() - self._last_flush > max(self.flush_seconds, self._interval):
            self.flush()

    def epoch(self, *, train: Metric = None, val: Metric = None) -> None:
        """Close an epoch: record its metrics, write the run file, maybe checkpoint.

        A call before any :meth:`step` records the initial point as epoch 0;
        every later call closes the steps taken since the previous one.

        Args:
            train: training-set ``(loss, accuracy)`` or just the loss.
            val: validation-set ``(loss, accuracy)`` or just the loss.

        Raises:
            LandscapeError: if no step was recorded since the previous epoch.

        """
        if self._steps_since_epoch:
            self.epochs_done = max(self.epochs_done, 0) + 1
        elif self.epochs_done < 0:
            self.epochs_done = 0
        else:
            raise LandscapeError("recorder: epoch() called twice without a step() in between")
        with torch.no_grad():
            cur = [p.detach() for _, p in self._named]
            prev = [self._prev[n] for n in self.layers]
            init = [self._init[n] for n in self.layers]
            norms = torch.stack(
                [
                    *torch._foreach_norm(cur),
                    *torch._foreach_norm(torch._foreach_sub(cur, prev)),
                    *torch._foreach_norm(prev),
                    *torch._foreach_norm(torch._foreach_sub(cur, init)),
                ]
            )
            weight, delta, before, from_init = norms.double().view(4, -1).cpu().numpy()
        nan = np.full(len(self.layers), np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):  # zero-initialized tensors
            ratio = delta / before if self.epochs_done > 0 else nan
        dist = float(np.sqrt(np.square(from_init).sum()))
        layer_grad, grad, mean_loss = nan, float("nan"), float("nan")
        if self._epoch_norms:  # small arrays: numpy, not a torch op (and dispatch) each
            sq = np.square(torch.stack(self._epoch_norms).double().cpu().numpy())
            layer_grad = np.sqrt(sq.mean(0))
            grad = float(np.sqrt(sq.sum(1).mean()))
        if self._epoch_losses:
            mean_loss = float(torch.stack(self._epoch_losses).double().cpu().numpy().mean())
        pct = np.full((3, len(self.layers)), np.nan)
        groups = {id(q): g for g in self.optimizer.param_groups for q in g["params"]}
        for i, (_, p) in enumerate(self._named):
            quantiles = step_size_percentiles(self.optimizer, p, (0.1, 0.5, 0.9), groups.get(id(p)))
            if quantiles is not None:
                pct[:, i] = quantiles
        train_loss, train_acc = _split_metric(train)
        val_loss, val_acc = _split_metric(val)
        self._pending_epochs.append(
            {
                "epoch": np.int64(self.epochs_done),
                "step": np.int64(self.step_count),
                "lr": np.float64(self.optimizer.param_groups[0]["lr"]),
                "train_loss": np.float64(train_loss),
                "train_acc": np.float64(train_acc),
                "val_loss": np.float64(val_loss),
                "val_acc": np.float64(val_acc),
                "mean_step_loss": np.float64(mean_loss),
                "grad_norm": np.float64(grad),
                "distance_from_init": np.float64(dist),
                "layer_grad_norm": layer_grad,
                "weight_norm": weight,
                "update_ratio": ratio,
                "eff_step_p10": pct[0],
                "eff_step_p50": pct[1],
                "eff_step_p90": pct[2],
            }
        )
        self._epoch_norms, self._epoch_losses = [], []
        self._steps_since_epoch = 0
        self._prev = {n: t.clone() for n, t in zip(self.layers, cur, strict=True)}
        if time.monotonic() - self._last_flush >= min(self._interval, self.flush_seconds):
            self.flush()
        if (
            self.checkpoint_every is not None
            and self.epochs_done > 0
            and self.epochs_done % self.checkpoint_every == 0
        ):
            self.save_checkpoint()

    def save_checkpoint(self) -> Path:
        """Save the current model and optimizer as the checkpoint of the last recorded epoch."""
        return self._save(
            checkpoint_filename(epoch=max(self.epochs_done, 0)), max(self.epochs_done, 0)
        )

    def _save(self, name: str, epoch: int) -> Path:
        folder = self.run_dir / CHECKPOINT_DIR
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        tmp = path.with_name(f"{name}.tmp-{os.getpid()}")
        torch.save(
            {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "optimizer_name": self.optimizer_name,
                "optimizer_hparams": self.hparams,
                "epoch": epoch,
                "step": self.step_count,
                "rng_state": torch.get_rng_state(),
            },
            tmp,
        )
        os.replace(tmp, path)
        return path

    def flush(self) -> None:
        """Write every pending step, epoch and probe record to ``run.h5`` in one transaction."""
        start = time.monotonic()
        if not (self._pending_steps or self._pending_epochs or self._pending_probes):
            self._last_flush = start
            return
        steps = self._pending_steps
        with atomic_update(self.path) as f:
            g = f[GROUP]
            if steps:
                grad_norm = np.full(len(steps), np.nan)
                sampled = [i for i, s in enumerate(steps) if s[4] is not None]
                if sampled:
                    norms = torch.stack([steps[i][4] for i in sampled]).double()
                    grad_norm[sampled] = norms.square().sum(1).sqrt().cpu().numpy()
                _append(
                    g,
                    "step",
                    {
                        "step": np.array([s[0] for s in steps], dtype=np.int64),
                        "epoch": np.array([s[1] for s in steps], dtype=np.int64),
                        "loss": torch.stack([s[2].double() for s in steps]).cpu().numpy(),
                        "lr": np.array([s[3] for s in steps]),
                        "grad_norm": grad_norm,
                    },
                )
            if self._pending_epochs:
                _append(
                    g,
                    "epoch",
                    {
                        k: np.stack([e[k] for e in self._pending_epochs])
                        for k in self._pending_epochs[0]
                    },
                )
            if self._pending_probes:
                keys = sorted({k for p in self._pending_probes for k in p})
                _append(
                    g,
                    "probe",
                    {k: np.array([p.get(k, np.nan) for p in self._pending_probes]) for k in keys},
                )
        self._pending_steps, self._pending_epochs, self._pending_probes = [], [], []
        self._last_flush = time.monotonic()
        self._interval = (self._last_flush - start) * (1.0 / self.write_share - 1.0)

    def close(self) -> None:
        """Write whatever is pending and release the run directory."""
        try:
            self.flush()
        finally:
            self._lock.close()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _split_metric(value: Metric) -> tuple[float, float]:
    if value is None:
        return float("nan"), float("nan")
    if isinstance(value, tuple):
        return _scalar(value[0]), _scalar(value[1])
    return _scalar(value), float("nan")


def _scalar(value: float | Tensor) -> float:
    return float(value.detach()) if isinstance(value, Tensor) else float(value)


def _append(g: h5py.Group, table: str, columns: Mapping[str, np.ndarray]) -> None:
    """Append rows to the resizable datasets ``g/table/<column>``.

    A column first seen now is back-filled with NaN; a known column missing
    from ``columns`` is extended with NaN, so every column keeps one row per record.
    """
    t = g.require_group(table)
    before = next((t[k].shape[0] for k in t), 0)
    added = len(next(iter(columns.values())))
    for name in [k for k in t if k not in columns]:
        t[name].resize(before + added, axis=0)
        t[name][before:] = np.nan
    for name, values in columns.items():
        values = np.asarray(values)
        if name not in t:
            if before:
                values = np.concatenate([np.full((before, *values.shape[1:]), np.nan), values])
            t.create_dataset(name, data=values, maxshape=(None, *values.shape[1:]), chunks=True)
            continue
        ds = t[name]
        ds.resize(before + added, axis=0)
        ds[before:] = values


def _truncate(g: h5py.Group, table: str, key: str, last: int) -> bool:
    """Drop the rows of ``g/table`` whose ``key`` exceeds ``last``; return whether any were."""
    if table not in g or key not in g[table]:
        return False
    keys = g[table][key][()]
    keep = int(np.searchsorted(keys, last, side="right"))
    if keep == len(keys):
        return False
    for ds in g[table].values():
        ds.resize(keep, axis=0)
    return True
