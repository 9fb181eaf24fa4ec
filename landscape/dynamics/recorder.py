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
``RUN/run.h5`` in crash-safe transactions, when
:class:`~landscape.dynamics.write_budget.WriteBudget` says a write is due;
a killed run keeps everything up to its last write. By default no checkpoints
are saved (per-step scalars only, cheap); ``checkpoint_every=1`` saves one per
epoch, which trajectories and resuming need.

The pieces, one job each: :mod:`~landscape.dynamics.step_records` (the records
kept between writes), :mod:`~landscape.dynamics.epoch_stats` (weight norms and
the epoch table), :mod:`~landscape.dynamics.step_sizes` (effective step
sizes), :mod:`~landscape.dynamics.write_budget` (when to write),
:mod:`~landscape.dynamics.checkpoints` (the checkpoint files) and
:mod:`landscape.io.run` (the run file).
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import torch
from torch import Tensor, nn

from landscape.dynamics.checkpoints import resume_checkpoint, save_checkpoint
from landscape.dynamics.epoch_stats import STEP_SIZE_QUANTILES, epoch_columns, weight_norms
from landscape.dynamics.runs import CHECKPOINT_DIR, checkpoint_filename
from landscape.dynamics.step_records import (
    EpochRecord,
    Metric,
    ProbeRecord,
    StepRecord,
    StepSums,
    loss_and_accuracy,
    probe_columns,
    step_columns,
)
from landscape.dynamics.step_sizes import step_size_percentiles
from landscape.dynamics.write_budget import WriteBudget
from landscape.errors import LandscapeError
from landscape.io import run as run_io
from landscape.params import ParamDict, model_params
from landscape.store import check_resumable, config_json, writer_lock
from landscape.training_checkpoint import restore_training_state

Probe = Callable[[ParamDict, torch.optim.Optimizer], Mapping[str, float]]
"""A curvature (or any) probe: ``probe(params, optimizer) -> {name: value}``."""


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


def model_import_path(model: nn.Module) -> str:
    """The model's class as ``module:QualName`` when importable by that path, else its name.

    A class defined in ``__main__`` or inside a function cannot be imported
    again from another process, so only its bare name is recorded.

    >>> from landscape.models import MLP
    >>> model_import_path(MLP(hidden=(4,)))
    'landscape.models:MLP'
    >>> class Local(nn.Module): ...
    >>> model_import_path(Local())
    'Local'
    """
    cls = type(model)
    module, name = cls.__module__, cls.__qualname__
    found: object = sys.modules.get(module)
    for part in name.split("."):
        found = getattr(found, part, None)
    if module == "__main__" or found is not cls:
        return cls.__name__
    return f"{module}:{name}"


class Recorder:
    """Record a training run into ``run_dir`` (``run.h5`` and ``checkpoints/``).

    Args:
        run_dir: the run directory (created if needed).
        model: the model being trained; read, never modified (except when
            ``resume`` loads its last checkpoint into it).
        optimizer: its optimizer.
        config: what defines the run (stored; a re-run with another config
            refuses to write into the same directory). Defaults to the
            optimizer's name and hyperparameters and the model's class as
            ``module:QualName`` when it can be imported by that path (else its
            bare name). A file never chooses code: ``trajectory`` and ``compare``
            rebuild such a model only when the user passes ``--model`` (the
            refusal names the recorded path) or ``--trust-run-config``.
        data: the data spec the run trained on (e.g. ``mnist1d`` or
            ``module:callable``), stored in the default config so that
            ``trajectory`` and ``compare`` can rebuild the data (``None``: not
            stored; they then ask for ``--data``).
        checkpoint_every: save ``checkpoints/epoch_NNNN.pt`` every this many
            epochs, and ``init.pt`` (the model as the Recorder finds it) at
            once (``None``, the default: no checkpoints).
        checkpoint_steps: also save ``checkpoints/step_NNNNNNNN.pt`` every this
            many optimizer steps (``None``: never).
        grad_every: compute the gradient norms at every this many steps (the
            steps whose number is a multiple of it; the others' ``grad_norm`` is
            NaN). They touch every gradient tensor, the largest per-step cost
            (BENCHMARKS.md, "Recorder overhead"); ``landscape train`` uses 1.
        step_size_sample: the effective step-size percentiles of a layer with
            more entries than this come from this many of its entries, drawn
            at random once (see :func:`step_size_percentiles`): sorting the
            optimizer state is the largest per-epoch cost, and this bounds it
            whatever the layer's size. ``None``: every entry, exactly.
        probe: a callable ``probe(params, optimizer) -> {name: float}``, e.g.
            ``landscape.curvature.tracking.SharpnessProbe``; its values are
            stored under ``dynamics/probe/<name>``.
        probe_every: call ``probe`` every this many steps.
        flush_seconds: write pending records at least this often (checked at
            every step and epoch).
        write_share: at the end of an epoch, write if the time spent writing,
            counting this write as long as the last one, stays within this
            fraction of the time since the Recorder started; ``1.0`` writes
            at every epoch. The rule in full: :mod:`~landscape.dynamics.write_budget`.
        resume: continue a run already in ``run_dir``: load its last epoch
            checkpoint into ``model`` and ``optimizer``, drop records after it
            and continue from there (:attr:`epochs_done` tells where).
        overwrite: replace a run made with a different config (or any run when
            ``resume`` is false).
        command: command line for the file's provenance.
        clock: the clock the write budget reads (seconds, non-decreasing);
            tests and benchmarks pass their own.

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
        data: str | None = None,
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
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
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
        self.path = run_io.run_file(self.run_dir)
        self.model = model
        self.optimizer = optimizer
        self.checkpoint_every = checkpoint_every
        self.checkpoint_steps = checkpoint_steps
        self.grad_every = grad_every
        self.step_size_sample = step_size_sample
        self.probe = probe
        self.probe_every = probe_every
        self.optimizer_name = type(optimizer).__name__.lower()
        self.hparams = optimizer_hparams(optimizer)
        self.config = (
            dict(config)
            if config is not None
            else {
                "optimizer": self.optimizer_name,
                "hparams": self.hparams,
                "model": model_import_path(model),
                **({"data": data} if data is not None else {}),
            }
        )
        self._named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        if not self._named:
            raise LandscapeError("recorder: the model has no trainable parameters")
        self._params = [p for _, p in self._named]
        self.layers = [n for n, _ in self._named]
        self._pending_steps: list[StepRecord] = []
        self._pending_epochs: list[EpochRecord] = []
        self._pending_probes: list[ProbeRecord] = []
        self._open_epoch: tuple[int, StepSums] | None = None
        self._budget = WriteBudget(
            write_share=write_share, flush_seconds=flush_seconds, clock=clock
        )
        self.step_count = 0
        self.epochs_done = -1
        self._steps_since_epoch = 0
        self._lock = contextlib.ExitStack()
        self._lock.enter_context(writer_lock(self.path))
        try:
            resuming = self._prepare(resume=resume, overwrite=overwrite)
        except BaseException:
            self._lock.close()
            raise
        if not resuming:
            init = model_params(model)
            self._init = [init[n] for n in self.layers]
            header = run_io.RunHeader(
                config=config_json(self.config),
                optimizer=self.optimizer_name,
                hparams=self.hparams,
                layers=tuple(self.layers),
                shapes=tuple(tuple(p.shape) for _, p in self._named),
                grad_every=grad_every,
                step_size_sample=step_size_sample,
            )
            init_arrays = {k: v.cpu().numpy() for k, v in init.items()}
            run_io.create_run_file(self.path, header, init_arrays, command=command)
            if checkpoint_every is not None:
                self._save(checkpoint_filename(epoch=0), 0)
        self._prev = [p.detach().clone() for p in self._params]

    # ------------------------------------------------------------------ setup
    def _prepare(self, *, resume: bool, overwrite: bool) -> bool:
        """Check what ``run_dir`` holds and, to resume, load its last checkpoint (True if so)."""
        if not self.path.exists():
            return False
        exists = check_resumable(self.path, run_io.GROUP, self.config, overwrite=overwrite)
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
        recorded, init_arrays = run_io.read_resume_point(self.path)
        init = {k: torch.from_numpy(v) for k, v in init_arrays.items()}
        last = resume_checkpoint(self.run_dir, recorded)
        if last is None:
            if recorded:
                raise LandscapeError(
                    f"{self.run_dir}: no epoch checkpoint to resume from; "
                    "pass overwrite=True to start again"
                )
            shutil.rmtree(self.run_dir / CHECKPOINT_DIR, ignore_errors=True)
            return False
        restore_training_state(last.path, self.model, self.optimizer, probe=self.probe)
        self.epochs_done = last.epoch if last.epoch in recorded else -1
        if self.probe is not None and self.epochs_done == 0:
            # The initial checkpoint is saved before the step-0 probe runs, so it holds no
            # warm start; calling the probe again at the same point rebuilds the one the
            # interrupted run had (its record, already on disk, is not written twice).
            self.probe(model_params(self.model), self.optimizer)
        self.step_count = recorded.get(self.epochs_done, 0)
        self._init = [init[n].to(p.device) for n, p in self._named]
        run_io.truncate_records(self.path, last_epoch=last.epoch, last_step=self.step_count)
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
            norms = [
                torch.linalg.vector_norm(p.grad)
                if p.grad is not None
                else torch.zeros((), device=p.device)
                for p in self._params
            ]
        value = loss.detach() if isinstance(loss, Tensor) else float(loss)
        lr = float(self.optimizer.param_groups[0]["lr"])
        # built positionally: cheaper than by keyword, and this runs at every step
        self._pending_steps.append(
            StepRecord(self.step_count, max(self.epochs_done, 0) + 1, value, lr, norms)
        )
        if self.probe is not None and self.step_count % self.probe_every == 0:
            self._call_probe()
        if self.checkpoint_steps is not None and self.step_count % self.checkpoint_steps == 0:
            self._save(checkpoint_filename(step=self.step_count), max(self.epochs_done, 0) + 1)
        if self._budget.due(epoch_end=False):
            self.flush()

    def _call_probe(self) -> None:
        """Record the probe's values at the current step."""
        assert self.probe is not None
        values = self.probe(model_params(self.model), self.optimizer)
        self._pending_probes.append(
            ProbeRecord(self.step_count, {k: float(v) for k, v in values.items()})
        )

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
        current = [p.detach() for p in self._params]
        norms = weight_norms(current, self._prev, self._init)  # device work; no host copy yet
        with torch.no_grad():
            for previous, latest in zip(self._prev, current, strict=True):
                previous.copy_(latest)
        self._pending_epochs.append(
            EpochRecord(
                epoch=self.epochs_done,
                step=self.step_count,
                lr=float(self.optimizer.param_groups[0]["lr"]),
                train=loss_and_accuracy(train),
                val=loss_and_accuracy(val),
                weight_norms=norms,
                step_size=step_size_percentiles(
                    self.optimizer,
                    self._params,
                    STEP_SIZE_QUANTILES,
                    sample=self.step_size_sample,
                ),
            )
        )
        self._steps_since_epoch = 0
        if self.epochs_done == 0 and self.probe is not None:
            self._call_probe()  # the initial point, step 0: sharpness from the very start
        if self._budget.due(epoch_end=True):
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
        return save_checkpoint(
            self.run_dir,
            name,
            model=self.model,
            optimizer=self.optimizer,
            hparams=self.hparams,
            epoch=epoch,
            step=self.step_count,
            extra=_probe_state(self.probe),
        )

    def flush(self) -> None:
        """Write every pending step, epoch and probe record to ``run.h5`` in one transaction."""
        if not (self._pending_steps or self._pending_epochs or self._pending_probes):
            return
        start = self._budget.clock()
        sums = dict([self._open_epoch]) if self._open_epoch is not None else {}
        steps = None
        if self._pending_steps:
            steps, step_sums = step_columns(self._pending_steps, len(self.layers))
            for epoch, part in step_sums.items():
                sums[epoch] = sums[epoch] + part if epoch in sums else part
        epochs = (
            epoch_columns(self._pending_epochs, sums, len(self.layers))
            if self._pending_epochs
            else None
        )
        probes = probe_columns(self._pending_probes) if self._pending_probes else None
        run_io.append_records(self.path, steps=steps, epochs=epochs, probes=probes)
        closed = {r.epoch for r in self._pending_epochs}
        open_epochs = [e for e in sums if e not in closed]  # the epoch under way, if any
        self._open_epoch = (max(open_epochs), sums[max(open_epochs)]) if open_epochs else None
        self._pending_steps, self._pending_epochs, self._pending_probes = [], [], []
        self._budget.wrote(start=start)

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


def _probe_state(probe: Probe | None) -> dict[str, object]:
    """``{"probe": probe.state_dict()}`` for a probe with state (its warm start), else ``{}``."""
    state_dict = getattr(probe, "state_dict", None)
    return {"probe": state_dict()} if callable(state_dict) else {}
