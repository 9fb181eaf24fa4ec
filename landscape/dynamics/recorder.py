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
per-parameter step size. Recorded values stay on the device until they are
written, with one host copy for everything pending; the per-epoch means over
steps are taken from the step records then. Everything is written to
``RUN/run.h5`` by :func:`landscape.store.atomic_update` (a crash-safe
transaction), throttled so that writing takes at most ``write_share`` of the
time since the Recorder started and happens at least every ``flush_seconds``;
a killed run keeps everything up to its last write. By default no checkpoints
are saved (per-step scalars only, cheap); ``checkpoint_every=1`` saves one per
epoch, which trajectories and resuming need.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
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
from landscape.training_checkpoint import restore_training_state

Probe = Callable[[ParamDict, torch.optim.Optimizer], Mapping[str, float]]
"""A curvature (or any) probe: ``probe(params, optimizer) -> {name: value}``."""

Metric = tuple[float | Tensor, float | Tensor] | float | Tensor | None

_STEP_Q = (0.1, 0.5, 0.9)
"""The effective step-size quantiles recorded per layer (``eff_step_p10/p50/p90``)."""


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
    params: Sequence[Tensor],
    q: tuple[float, ...],
    *,
    sample: int | None = None,
) -> np.ndarray:
    """Quantiles ``q`` of :func:`effective_step_size` per parameter, without computing it per entry.

    The step size ``s(v) = lr / (sqrt(v / c) + eps)`` decreases in ``v``, so the
    k-th smallest step size is ``s`` of the k-th largest ``v``. One ``np.sort``
    of each parameter's optimizer state gives the needed order statistics;
    only those go through ``s``, in float64, and are interpolated as
    ``np.percentile`` does: the value at fraction ``q`` of ``n`` sorted values
    sits at ``h = (n - 1) q``, ``x[floor(h)] + (h - floor(h)) (x[floor(h) + 1] - x[floor(h)])``
    (Hyndman & Fan 1996, definition 7, numpy's default).

    Args:
        optimizer: the optimizer.
        params: parameters it updates.
        q: fractions in [0, 1].
        sample: the quantiles of a parameter with more entries than this are
            those of ``sample`` entries drawn uniformly at random without
            replacement (the same entries for the same size every time); the
            rank of a fraction ``q`` then has a standard error of
            ``sqrt(q (1 - q) / sample)`` (0.5 percentage points for ``q = 0.1``
            and ``sample = 4096``). ``None``: every entry, exactly.

    Returns:
        Shape ``(len(q), len(params))``, float64; NaN for a parameter without
        adaptive state (a non-adaptive optimizer, no step yet, or no entries).

    >>> p = nn.Parameter(torch.tensor([1.0, 1.0, 1.0]))
    >>> opt = torch.optim.Adam([p], lr=0.1, eps=0.0)
    >>> p.grad = torch.tensor([1.0, 2.0, 4.0]); opt.step()
    >>> step_size_percentiles(opt, [p], (0.0, 0.5, 1.0)).round(6).tolist()  # 0.1 / |g|
    [[0.025], [0.05], [0.1]]
    """
    rows = _step_size_order_statistics(optimizer, params, q, sample)
    return _interpolate_step_sizes(rows, len(q)).T


def _step_size_order_statistics(
    optimizer: torch.optim.Optimizer,
    params: Sequence[Tensor],
    q: tuple[float, ...],
    sample: int | None,
) -> np.ndarray:
    """Per parameter, what :func:`_interpolate_step_sizes` needs for the quantiles ``q``.

    ``sample`` is :func:`step_size_percentiles`'s; the sample is drawn on the
    parameter's device, so only it crosses to the host.

    Returns:
        Shape ``(len(params), 3 + 3 len(q))``: each row holds ``lr, eps, c``,
        the state's order statistics at ``floor(h)`` then ``floor(h) + 1``
        (counted from the largest) and the weights ``h - floor(h)``; NaN rows
        for parameters without adaptive state.
    """
    k = len(q)
    rows = np.full((len(params), 3 + 3 * k), np.nan)
    groups = {id(p): g for g in optimizer.param_groups for p in g["params"]}
    for i, p in enumerate(params):
        terms = _step_size_terms(optimizer, p, groups.get(id(p)))
        if terms is None or p.numel() == 0:
            continue
        v, lr, eps, c = terms
        if v.dtype == torch.bfloat16:  # numpy has no bfloat16
            v = v.float()
        flat = v.detach().reshape(-1)
        if sample is not None and flat.numel() > sample:
            flat = flat[_sample_positions(flat.numel(), sample, flat.device)]
        state = flat.cpu().numpy()
        take, frac = _order_positions(state.size, tuple(q))
        rows[i, :3] = lr, eps, c
        rows[i, 3 : 3 + 2 * k] = np.sort(state)[take]
        rows[i, 3 + 2 * k :] = frac
    return rows


def _interpolate_step_sizes(rows: np.ndarray, k: int) -> np.ndarray:
    """Step-size quantiles from rows of :func:`_step_size_order_statistics`, any leading shape.

    Returns:
        Shape ``rows.shape[:-1] + (k,)``.
    """
    lr, eps, c = rows[..., 0:1], rows[..., 1:2], rows[..., 2:3]
    with np.errstate(invalid="ignore"):  # a centered RMSprop state can round below zero
        steps = lr / (np.sqrt(rows[..., 3 : 3 + 2 * k] / c) + eps)
    low, high = steps[..., :k], steps[..., k:]
    return low + rows[..., 3 + 2 * k :] * (high - low)


@functools.lru_cache(maxsize=256)
def _sample_positions(n: int, k: int, device: torch.device) -> Tensor:
    """``k`` distinct positions out of ``n``, uniformly at random, fixed by ``n`` (seeded with it).

    The same layer gets the same positions every epoch, so its percentile
    series follows one set of entries.
    """
    positions = np.sort(np.random.default_rng(n).choice(n, k, replace=False))
    return torch.from_numpy(positions).to(device)


@functools.cache
def _order_positions(n: int, q: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Where :func:`_step_size_order_statistics` reads ``n`` sorted values: ``(take, frac)``.

    For each ``h = (n - 1) q``, ``take`` holds the positions of the
    ``floor(h)``-th and then the ``(floor(h) + 1)``-th largest value (capped at
    ``n - 1``), ``frac`` the weights ``h - floor(h)``. Pure in its arguments,
    so cached: a Recorder asks for the same few sizes every epoch.
    """
    h = (n - 1) * np.asarray(q, dtype=np.float64)
    lo = np.floor(h).astype(np.intp)
    return n - 1 - np.concatenate([lo, np.minimum(lo + 1, n - 1)]), h - lo


@dataclass(slots=True)
class _EpochRecord:
    """One epoch's record as :meth:`Recorder.epoch` leaves it: tensors stay on their device.

    :func:`_epoch_columns` turns a batch of them into the ``epoch`` table's
    columns at write time, with one device-to-host copy for the whole batch.

    Attributes:
        epoch: the epoch number.
        step: the optimizer steps taken by its end.
        lr: the first parameter group's learning rate.
        train: training ``(loss, accuracy)``, NaN where not given.
        val: validation ``(loss, accuracy)``, NaN where not given.
        weight_norms: ``||w||``, ``||w - w_prev||``, ``||w_prev||`` and
            ``||w - w_0||`` per layer, concatenated (``4 L`` values).
        step_size: what the effective step-size percentiles 10, 50 and 90
            are computed from (:func:`_step_size_order_statistics`).
    """

    epoch: int
    step: int
    lr: float
    train: tuple[float, float]
    val: tuple[float, float]
    weight_norms: Tensor
    step_size: np.ndarray


@dataclass(frozen=True, slots=True)
class _StepSums:
    """Sums over some steps of one epoch: what its mean loss and RMS gradient norms need.

    An epoch's steps may reach two writes (one before it ends), so its sums
    are carried from one write to the next and added up.

    Attributes:
        loss: the sum of the mini-batch losses.
        steps: how many steps.
        grad_sq: per layer, the sum of the squared gradient norms over the sampled steps.
        sampled: how many of the steps were sampled (``grad_every``).
    """

    loss: float
    steps: int
    grad_sq: np.ndarray
    sampled: int

    def __add__(self, other: _StepSums) -> _StepSums:
        return _StepSums(
            self.loss + other.loss,
            self.steps + other.steps,
            self.grad_sq + other.grad_sq,
            self.sampled + other.sampled,
        )


def _sums_by_epoch(
    epochs: np.ndarray, losses: np.ndarray, grad_sq: np.ndarray, sampled: np.ndarray
) -> dict[int, _StepSums]:
    """Add up step records by epoch (``epochs`` in order, non-decreasing).

    Args:
        epochs: ``(S,)`` the epoch of each step.
        losses: ``(S,)`` mini-batch losses.
        grad_sq: ``(S, L)`` squared per-layer gradient norms, zero at unsampled steps.
        sampled: ``(S,)`` whether each step was sampled.
    """
    starts = np.flatnonzero(np.r_[True, epochs[1:] != epochs[:-1]])
    counts = np.diff(np.r_[starts, len(epochs)])
    loss = np.add.reduceat(losses, starts)
    sq = np.add.reduceat(grad_sq, starts, axis=0)
    hits = np.add.reduceat(sampled.astype(np.int64), starts)
    return {
        int(e): _StepSums(float(total), int(n), layer_sq, int(k))
        for e, total, n, layer_sq, k in zip(epochs[starts], loss, counts, sq, hits, strict=True)
    }


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
            (34-45 us at a sampled step of the MNIST-1D MLP, whose steps take
            650-880 us; in ``scripts/bench_recorder.py`` the recorder cost
            1.06-1.10x a bare loop with ``grad_every=1``, 1.03-1.05x with the
            default 10, writes left out); ``landscape train`` uses 1.
        step_size_sample: the effective step-size percentiles of a layer with
            more entries than this come from this many of its entries, drawn
            at random once (see :func:`step_size_percentiles`): sorting the
            optimizer state is the largest per-epoch cost, and this bounds it
            whatever the layer's size. ``None``: every entry, exactly.
        probe: a callable ``probe(params, optimizer) -> {name: float}``, e.g.
            ``landscape.curvature.tracking.SharpnessProbe``; its values are
            stored under ``dynamics/probe/<name>``.
        probe_every: call ``probe`` every this many steps.
        flush_seconds: write pending records at least this often.
        write_share: write only while the time spent writing, counting the
            next write as long as the last one, stays within this fraction of
            the time since the Recorder started; ``1.0`` writes at every epoch.
        resume: continue a run already in ``run_dir``: load its last epoch
            checkpoint into ``model`` and ``optimizer``, drop records after it
            and continue from there (:attr:`epochs_done` tells where).
        overwrite: replace a run made with a different config (or any run when
            ``resume`` is false).
        command: command line for the file's provenance.

    Raises:
        LandscapeError: if ``run_dir`` holds a run and neither ``resume`` nor
            ``overwrite`` is set, or it holds a run made with another config;
            if the model has no trainable parameters; for a count below 1 or
            a ``write_share`` outside (0, 1].

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
        step_size_sample: int | None = 4096,
        probe: Probe | None = None,
        probe_every: int = 0,
        flush_seconds: float = 30.0,
        write_share: float = 0.005,
        resume: bool = False,
        overwrite: bool = False,
        command: str | None = None,
    ):
        for name, value in (
            ("checkpoint_every", checkpoint_every),
            ("checkpoint_steps", checkpoint_steps),
            ("grad_every", grad_every),
            ("step_size_sample", step_size_sample),
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
        self.step_size_sample = step_size_sample
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
        if not self._named:
            raise LandscapeError("recorder: the model has no trainable parameters")
        self._params = [p for _, p in self._named]
        self.layers = [n for n, _ in self._named]
        self._pending_steps: list[
            tuple[int, int, float | Tensor, float, Sequence[Tensor] | None]
        ] = []
        self._pending_epochs: list[_EpochRecord] = []
        self._pending_probes: list[dict[str, float]] = []
        self._open_epoch: tuple[int, _StepSums] | None = None
        self._started = self._last_flush = time.monotonic()
        self._write_time = self._last_write = 0.0
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
            init = model_params(model)
            self._init = [init[n] for n in self.layers]
            with atomic_update(self.path, new=True, command=command) as f:
                g = f.create_group(GROUP)
                g.attrs["config"] = config_json(self.config)
                g.attrs["optimizer"] = self.optimizer_name
                g.attrs["hparams"] = json.dumps(self.hparams)
                g.attrs["layers"] = json.dumps(self.layers)
                g.attrs["shapes"] = json.dumps([list(p.shape) for _, p in self._named])
                g.attrs["grad_every"] = grad_every
                if step_size_sample is not None:
                    g.attrs["step_size_sample"] = step_size_sample
                write_params(g, "init", {k: v.cpu().numpy() for k, v in init.items()})
            if checkpoint_every is not None:
                self._save(checkpoint_filename(epoch=0), 0)
        self._prev = [p.detach().clone() for p in self._params]

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
        restore_training_state(last.path, self.model, self.optimizer, probe=self.probe)
        self.epochs_done = last.epoch if last.epoch in recorded else -1
        self.step_count = recorded.get(self.epochs_done, 0)
        self._init = [init[n].to(p.device) for n, p in self._named]
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
                device, without synchronizing, until the next write).

        """
        self.step_count += 1
        self._steps_since_epoch += 1
        norms = None
        if self.step_count % self.grad_every == 0:
            grads = [
                p.grad if p.grad is not None else torch.zeros((), device=p.device)
                for p in self._params
            ]
            norms = torch._foreach_norm(grads)
        value = loss.detach() if isinstance(loss, Tensor) else float(loss)
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
        now = time.monotonic()
        if now - self._last_flush >= self.flush_seconds and self._within_write_share(now):
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
        with torch.no_grad():  # device work only; the host copy waits for the write
            cur = [p.detach() for p in self._params]
            diffs = torch._foreach_sub([*cur, *cur], [*self._prev, *self._init])
            delta, moved = diffs[: len(cur)], diffs[len(cur) :]
            norms = torch.stack(torch._foreach_norm([*cur, *delta, *self._prev, *moved]))
            torch._foreach_copy_(self._prev, cur)
        self._pending_epochs.append(
            _EpochRecord(
                epoch=self.epochs_done,
                step=self.step_count,
                lr=float(self.optimizer.param_groups[0]["lr"]),
                train=_split_metric(train),
                val=_split_metric(val),
                weight_norms=norms,
                step_size=_step_size_order_statistics(
                    self.optimizer, self._params, _STEP_Q, self.step_size_sample
                ),
            )
        )
        self._steps_since_epoch = 0
        now = time.monotonic()
        if now - self._last_flush >= self.flush_seconds or self._within_write_share(now):
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
                **_probe_state(self.probe),
            },
            tmp,
        )
        os.replace(tmp, path)
        return path

    def _within_write_share(self, now: float) -> bool:
        """Whether one more write (as long as the last) keeps writing within ``write_share``."""
        budget = self.write_share * (now - self._started)
        return self.write_share >= 1.0 or self._write_time + self._last_write <= budget

    def flush(self) -> None:
        """Write every pending step, epoch and probe record to ``run.h5`` in one transaction."""
        start = time.monotonic()
        if not (self._pending_steps or self._pending_epochs or self._pending_probes):
            self._last_flush = start
            return
        steps, layers = self._pending_steps, len(self.layers)
        sums = dict([self._open_epoch]) if self._open_epoch is not None else {}
        with atomic_update(self.path) as f:
            g = f[GROUP]
            if steps:
                numbers, step_epochs, step_losses, lrs, step_norms = zip(*steps, strict=True)
                epochs = np.array(step_epochs, dtype=np.int64)
                losses = _to_host(step_losses)
                sampled = np.array([n is not None for n in step_norms])
                grad_sq = np.zeros((len(steps), layers))
                if sampled.any():
                    norms = _to_host([x for n in step_norms if n is not None for x in n])
                    grad_sq[sampled] = np.square(norms).reshape(-1, layers)
                _append(
                    g,
                    "step",
                    {
                        "step": np.array(numbers, dtype=np.int64),
                        "epoch": epochs,
                        "loss": losses,
                        "lr": np.array(lrs, dtype=np.float64),
                        "grad_norm": np.where(sampled, np.sqrt(grad_sq.sum(1)), np.nan),
                    },
                )
                for epoch, part in _sums_by_epoch(epochs, losses, grad_sq, sampled).items():
                    sums[epoch] = sums[epoch] + part if epoch in sums else part
            if self._pending_epochs:
                _append(g, "epoch", _epoch_columns(self._pending_epochs, sums, layers))
            if self._pending_probes:
                keys = sorted({k for p in self._pending_probes for k in p})
                _append(
                    g,
                    "probe",
                    {k: np.array([p.get(k, np.nan) for p in self._pending_probes]) for k in keys},
                )
        closed = {r.epoch for r in self._pending_epochs}
        open_epochs = [e for e in sums if e not in closed]  # the epoch under way, if any
        self._open_epoch = (max(open_epochs), sums[max(open_epochs)]) if open_epochs else None
        self._pending_steps, self._pending_epochs, self._pending_probes = [], [], []
        self._last_flush = time.monotonic()
        self._last_write = self._last_flush - start
        self._write_time += self._last_write

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


def _epoch_columns(
    records: Sequence[_EpochRecord], sums: Mapping[int, _StepSums], layers: int
) -> dict[str, np.ndarray]:
    """The ``epoch`` table's columns for ``records`` (tensors copied to the host in one batch).

    ``sums`` holds each epoch's step sums. Per epoch: the mean step loss; the
    per-layer gradient norm is the root mean square over the sampled steps,
    ``sqrt(mean_t ||g_t^l||^2)``, the global one ``sqrt(mean_t sum_l ||g_t^l||^2)``;
    the update ratio is ``||w - w_prev|| / ||w_prev||`` per layer (NaN at
    epoch 0); the distance from initialization is ``||w - w_0||`` over all
    layers. NaN where an epoch has no (sampled) steps.
    """
    n = len(records)
    weight, delta, before, moved = (
        torch.stack([r.weight_norms for r in records])
        .double()
        .cpu()
        .numpy()
        .reshape(n, 4, layers)
        .transpose(1, 0, 2)
    )
    none = _StepSums(0.0, 0, np.zeros(layers), 0)
    steps = [sums.get(r.epoch, none) for r in records]
    sampled = np.array([s.sampled for s in steps], dtype=np.float64)
    grad_sq = np.stack([s.grad_sq for s in steps])
    epoch = np.array([r.epoch for r in records], dtype=np.int64)
    # 0 / 0: an epoch without (sampled) steps, or a zero-initialized tensor
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_loss = np.array([s.loss for s in steps]) / np.array([s.steps for s in steps])
        layer_grad = np.sqrt(grad_sq / sampled[:, None])
        grad_norm = np.sqrt(grad_sq.sum(1) / sampled)
        ratio = np.where((epoch > 0)[:, None], delta / before, np.nan)
    step_size = _interpolate_step_sizes(np.stack([r.step_size for r in records]), len(_STEP_Q))
    train = np.array([r.train for r in records], dtype=np.float64).reshape(n, 2)
    val = np.array([r.val for r in records], dtype=np.float64).reshape(n, 2)
    return {
        "epoch": epoch,
        "step": np.array([r.step for r in records], dtype=np.int64),
        "lr": np.array([r.lr for r in records], dtype=np.float64),
        "train_loss": train[:, 0],
        "train_acc": train[:, 1],
        "val_loss": val[:, 0],
        "val_acc": val[:, 1],
        "mean_step_loss": mean_loss,
        "grad_norm": grad_norm,
        "distance_from_init": np.sqrt(np.square(moved).sum(1)),
        "layer_grad_norm": layer_grad,
        "weight_norm": weight,
        "update_ratio": ratio,
        "eff_step_p10": step_size[..., 0],
        "eff_step_p50": step_size[..., 1],
        "eff_step_p90": step_size[..., 2],
    }


def _to_host(values: Sequence[float | Tensor]) -> np.ndarray:
    """Scalars as one float64 array: floats as they are, 0-d tensors stacked (one host copy).

    Reading the tensors here, at write time, and not at each step saves an
    ``.item()`` per step: a device sync on an accelerator, and about 3 us in
    the MNIST-1D training loop on the CPU here.
    """
    tensors = [v for v in values if isinstance(v, Tensor)]
    if len(tensors) == len(values) and tensors:  # the usual case: all tensors
        return torch.stack(tensors).double().cpu().numpy()
    out = np.array([v if isinstance(v, float) else np.nan for v in values], dtype=np.float64)
    if tensors:
        on_device = [i for i, v in enumerate(values) if isinstance(v, Tensor)]
        out[on_device] = torch.stack(tensors).double().cpu().numpy()
    return out


def _split_metric(value: Metric) -> tuple[float, float]:
    if value is None:
        return float("nan"), float("nan")
    if isinstance(value, tuple):
        return _scalar(value[0]), _scalar(value[1])
    return _scalar(value), float("nan")


def _scalar(value: float | Tensor) -> float:
    return float(value.detach()) if isinstance(value, Tensor) else float(value)


_CHUNK_BYTES = 1 << 16
"""HDF5 chunk size of the record tables: 64 KiB of rows (h5py's ``chunks=True``
sizes chunks to the first write, one row for one epoch, and appends wrote many)."""


def _append(g: h5py.Group, table: str, columns: Mapping[str, np.ndarray]) -> None:
    """Append rows to the resizable datasets ``g/table/<column>`` (chunks of 64 KiB of rows).

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
            row_bytes = max(values[0].nbytes if len(values) else values.itemsize, 1)
            chunk = (max(_CHUNK_BYTES // row_bytes, 1), *values.shape[1:])
            t.create_dataset(name, data=values, maxshape=(None, *values.shape[1:]), chunks=chunk)
            continue
        ds = t[name]
        ds.resize(before + added, axis=0)
        ds[before:] = values


def _probe_state(probe: Probe | None) -> dict[str, object]:
    """``{"probe": probe.state_dict()}`` for a probe with state (its warm start), else ``{}``."""
    state_dict = getattr(probe, "state_dict", None)
    return {"probe": state_dict()} if callable(state_dict) else {}


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
