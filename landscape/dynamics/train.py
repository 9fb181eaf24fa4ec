"""The training loop behind ``landscape train``: optimizers, schedules, seeds, resume.

Training is deterministic on a CPU for a given configuration: the model is
initialized under ``torch.manual_seed(seed)`` and every epoch shuffles the
training set with its own generator seeded by ``(seed, epoch)``, so a run
resumed from a checkpoint replays exactly the batches an uninterrupted run
would have seen. Everything is recorded by :class:`~landscape.dynamics.recorder.Recorder`.
A finished run also holds ``RUN/final.pt`` (:data:`FINAL_CHECKPOINT`), a copy of
its last epoch checkpoint under a name that does not depend on the epoch count.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import torch
from torch import nn

from landscape.data import Split, load_data, take_rows
from landscape.dynamics.recorder import Probe, Recorder
from landscape.dynamics.runs import CHECKPOINT_DIR, checkpoint_filename
from landscape.errors import LandscapeError
from landscape.loading import build_model
from landscape.objective import TOKEN_TASKS, Objective, counted_tokens
from landscape.params import model_params
from landscape.progress import progress as progress_bar
from landscape.store import private_temporary

OptimizerName = Literal["sgd", "adagrad", "rmsprop", "adam", "adamw"]
Schedule = Literal["constant", "step", "cosine"]
OPTIMIZERS: tuple[str, ...] = get_args(OptimizerName)
SCHEDULES: tuple[str, ...] = get_args(Schedule)
FINAL_CHECKPOINT = "final.pt"
"""File name, in the run directory, of the finished run's last checkpoint."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (stored in the run file).

    Attributes:
        data: data spec (``mnist1d`` or ``module:callable``); ``train`` split
            for training, ``test`` split (when present) for validation.
        model: model spec (built-in name or ``module:callable``).
        optimizer: one of ``sgd``, ``adagrad``, ``rmsprop``, ``adam``, ``adamw``.
        lr: base learning rate.
        epochs: number of passes over the training set.
        batch_size: mini-batch size (``None``: the whole training split, i.e.
            full-batch gradient descent, one step per epoch).
        seed: seed of the initialization and of the data order.
        momentum: SGD/RMSprop momentum.
        nesterov: Nesterov momentum (SGD, needs ``momentum > 0``).
        weight_decay: L2 penalty (decoupled for AdamW).
        beta1: first-moment decay (Adam/AdamW).
        beta2: second-moment decay (Adam/AdamW).
        alpha: RMSprop smoothing constant.
        eps: denominator constant of adaptive optimizers (``None``: torch's default).
        schedule: ``constant``, ``step`` (times ``gamma`` every ``step_size``
            epochs) or ``cosine`` (to zero at the last epoch).
        step_size: epochs between decays of the ``step`` schedule.
        gamma: decay factor of the ``step`` schedule.
        loss: loss spec (see :func:`landscape.objective.resolve_loss`).
        max_samples: train and validate on a fixed random subset of at most
            this many rows per split.
        checkpoint_every: save a checkpoint every this many epochs (the last
            epoch is always saved).
        checkpoint_steps: also save one every this many optimizer steps.
        track_sharpness: call the sharpness probe every this many steps (and once at
            the initial point, step 0).
        eval_every: evaluate the train and validation splits every this many epochs
            (and at the last); the epochs in between record NaN metrics.
        sharpness_subset: samples the sharpness probe uses.

    """

    data: str = "mnist1d"
    model: str = "mlp"
    optimizer: OptimizerName = "sgd"
    lr: float = 0.01
    epochs: int = 10
    batch_size: int | None = 128
    seed: int = 0
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.999
    alpha: float = 0.99
    eps: float | None = None
    schedule: Schedule = "constant"
    step_size: int = 10
    gamma: float = 0.1
    loss: str = "cross_entropy"
    max_samples: int | None = None
    checkpoint_every: int = 1
    checkpoint_steps: int | None = None
    track_sharpness: int | None = None
    sharpness_subset: int = 1000
    eval_every: int = 1

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise LandscapeError(
                f"optimizer: expected one of {', '.join(OPTIMIZERS)} (got {self.optimizer!r})"
            )
        if self.schedule not in SCHEDULES:
            raise LandscapeError(
                f"schedule: expected one of {', '.join(SCHEDULES)} (got {self.schedule!r})"
            )
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise LandscapeError(f"lr: expected a positive number (got {self.lr})")
        positive = {
            "epochs": self.epochs,
            "batch-size": self.batch_size,
            "step-size": self.step_size,
            "checkpoint-every": self.checkpoint_every,
            "checkpoint-steps": self.checkpoint_steps,
            "track-sharpness": self.track_sharpness,
            "max-samples": self.max_samples,
            "eval-every": self.eval_every,
        }
        for name, value in positive.items():
            if value is not None and value < 1:
                raise LandscapeError(f"{name}: expected a positive integer (got {value})")
        if self.nesterov and (self.optimizer != "sgd" or self.momentum <= 0):
            raise LandscapeError("nesterov: expected --optimizer sgd with --momentum > 0")
        if self.momentum and self.optimizer not in ("sgd", "rmsprop"):
            raise LandscapeError(f"momentum: applies to sgd and rmsprop, not {self.optimizer}")
        for name, value in (("beta1", self.beta1), ("beta2", self.beta2), ("alpha", self.alpha)):
            if not 0 <= value < 1:
                raise LandscapeError(f"{name}: expected a value in [0, 1) (got {value})")
        if self.weight_decay < 0 or self.momentum < 0:
            raise LandscapeError("weight-decay and momentum: expected values >= 0")

    def to_dict(self) -> dict[str, Any]:
        """Return the configuration as a JSON-friendly dictionary.

        ``eval_every`` is left out at its default, so runs made before it existed resume.
        """
        out = dataclasses.asdict(self)
        if self.eval_every == 1:
            del out["eval_every"]
        return out


def make_optimizer(config: TrainConfig, params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
    """Build the optimizer a config names, with its hyperparameters.

    >>> opt = make_optimizer(TrainConfig(optimizer="adam", lr=0.1), [nn.Parameter(torch.zeros(1))])
    >>> type(opt).__name__, opt.param_groups[0]["betas"]
    ('Adam', (0.9, 0.999))
    """
    eps = {} if config.eps is None else {"eps": config.eps}
    lr, wd = config.lr, config.weight_decay
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=lr, momentum=config.momentum, nesterov=config.nesterov, weight_decay=wd
        )
    if config.optimizer == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, weight_decay=wd, **eps)
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(
            params, lr=lr, alpha=config.alpha, momentum=config.momentum, weight_decay=wd, **eps
        )
    cls = torch.optim.Adam if config.optimizer == "adam" else torch.optim.AdamW
    return cls(params, lr=lr, betas=(config.beta1, config.beta2), weight_decay=wd, **eps)


def lr_factor(
    schedule: Schedule, epoch: int, *, epochs: int, step_size: int = 10, gamma: float = 0.1
) -> float:
    """Learning-rate multiplier during epoch ``epoch`` (0-based) of ``epochs``.

    ``constant``: 1; ``step``: ``gamma ** (epoch // step_size)``; ``cosine``:
    ``(1 + cos(pi * epoch / epochs)) / 2`` (Loshchilov & Hutter 2017, no restarts).

    >>> lr_factor("step", 25, epochs=30, step_size=10, gamma=0.5)
    0.25
    >>> lr_factor("cosine", 5, epochs=10)
    0.5
    """
    if schedule == "constant":
        return 1.0
    if schedule == "step":
        return gamma ** (epoch // step_size)
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))
    raise LandscapeError(f"schedule: expected one of {', '.join(SCHEDULES)} (got {schedule!r})")


def epoch_order(n: int, *, seed: int, epoch: int) -> torch.Tensor:
    """Return the shuffled row order of an epoch, fixed by ``(seed, epoch)`` alone.

    >>> bool((epoch_order(5, seed=0, epoch=1) == epoch_order(5, seed=0, epoch=1)).all())
    True
    """
    state = int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])
    return torch.randperm(n, generator=torch.Generator().manual_seed(state))


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` did.

    Attributes:
        run_dir: the run directory.
        resumed_from: the epoch it resumed from (``None`` for a fresh run).
        epochs: epochs completed in total.
        steps: optimizer steps taken in total.
        train_loss: final training loss (full training split, eval mode).
        val_loss: final validation loss (NaN without a validation split).
        val_acc: final validation accuracy (NaN when undefined).

    """

    run_dir: Path
    resumed_from: int | None
    epochs: int
    steps: int
    train_loss: float
    val_loss: float
    val_acc: float


def train(
    config: TrainConfig,
    out: str | Path,
    *,
    device: str = "cpu",
    progress: bool = True,
    overwrite: bool = False,
    probe: Probe | None = None,
    command: str | None = None,
) -> TrainResult:
    """Train a model as ``config`` says, recording into the run directory ``out``.

    If ``out`` already holds this run, training resumes from its last epoch
    checkpoint and ends with the same result as an uninterrupted run; a
    completed run is left as it is.

    Args:
        config: the run's configuration.
        out: run directory (``run.h5`` and ``checkpoints/``).
        device: torch device.
        progress: show a progress bar.
        overwrite: replace a run made with another configuration.
        probe: a probe called every ``config.track_sharpness`` steps; by default
            (when ``track_sharpness`` is set) the curvature package's
            ``SharpnessProbe`` on the training split.
        command: command line for provenance.

    Raises:
        LandscapeError: for a bad configuration, data or model, or an ``out``
            holding a different run (without ``overwrite``).

    """
    data = load_data(
        config.data, split="both", max_samples=config.max_samples, seed=config.seed, device=device
    )
    train_split = data.splits.get("train")
    if train_split is None:
        raise LandscapeError(f"data {config.data!r} has no 'train' split to train on")
    val_split = data.splits.get("test")
    torch.manual_seed(config.seed)
    model = build_model(config.model).to(device)
    optimizer = make_optimizer(config, [p for p in model.parameters() if p.requires_grad])
    batch_size = config.batch_size or len(train_split)
    eval_bs = max(batch_size, 1024)
    train_obj = Objective(model, train_split, loss=config.loss, batch_size=eval_bs)
    loss_sum = train_obj.loss_sum
    val_obj = (
        Objective(model, val_split, loss=config.loss, batch_size=eval_bs)
        if val_split is not None
        else None
    )
    if config.track_sharpness is not None and probe is None:
        probe = _sharpness_probe(model, train_split, config)

    def evaluate() -> dict[str, tuple[float, float]]:
        params, buffers = model_params(model), dict(model.named_buffers())
        out = {"train": train_obj.evaluate(params, buffers)}
        if val_obj is not None:
            out["val"] = val_obj.evaluate(params, buffers)
        return out

    with Recorder(
        out,
        model,
        optimizer,
        config=config.to_dict(),
        checkpoint_every=config.checkpoint_every,
        checkpoint_steps=config.checkpoint_steps,
        probe=probe,
        probe_every=config.track_sharpness or 0,
        grad_every=1,
        step_size_sample=None,
        write_share=1.0,
        resume=True,
        overwrite=overwrite,
        command=command,
    ) as rec:
        resumed_from = rec.epochs_done if rec.epochs_done >= 0 else None
        if rec.epochs_done < 0:
            rec.epoch(**evaluate())
        final = Path(out) / FINAL_CHECKPOINT
        if rec.epochs_done < config.epochs:
            final.unlink(missing_ok=True)  # a run being (re)trained has no final point yet
        bar = progress_bar(
            total=config.epochs,
            initial=rec.epochs_done,
            desc=f"train {Path(out).name}",
            unit="epoch",
            enabled=progress,
        )
        metrics: dict[str, tuple[float, float]] = {}
        for epoch in range(rec.epochs_done + 1, config.epochs + 1):
            factor = lr_factor(
                config.schedule,
                epoch - 1,
                epochs=config.epochs,
                step_size=config.step_size,
                gamma=config.gamma,
            )
            for group in optimizer.param_groups:
                group["lr"] = config.lr * factor
            model.train()
            order = epoch_order(len(train_split), seed=config.seed, epoch=epoch).to(device)
            for i in range(0, len(order), batch_size):
                idx = order[i : i + batch_size]
                x, y = take_rows(train_split.x, idx), train_split.y[idx]
                optimizer.zero_grad(set_to_none=True)
                loss = loss_sum(train_obj.call(model, x), y) / batch_count(train_obj, y)
                loss.backward()
                optimizer.step()
                rec.step(loss)
            if epoch % config.eval_every == 0 or epoch == config.epochs:
                metrics = evaluate()
                rec.epoch(**metrics)
                bar.set_postfix_str(f"loss={metrics['train'][0]:.4g}")
            else:
                rec.epoch()
            bar.update(1)
        bar.close()
        if rec.checkpoint_every is None or rec.epochs_done % rec.checkpoint_every:
            rec.save_checkpoint()
        _write_final(Path(out), rec.epochs_done)
        if not metrics:
            metrics = evaluate()
    nan = (float("nan"), float("nan"))
    return TrainResult(
        run_dir=Path(out),
        resumed_from=resumed_from,
        epochs=rec.epochs_done,
        steps=rec.step_count,
        train_loss=metrics["train"][0],
        val_loss=metrics.get("val", nan)[0],
        val_acc=metrics.get("val", nan)[1],
    )


def batch_count(objective: Objective, y: torch.Tensor) -> int:
    """What a batch's summed loss is divided by for its mean: rows, or scored tokens.

    Per-token scoring (``lm``/``mlm``, or integer labels of shape ``(B, T)``) counts the
    labels other than ``-100`` (after the next-token shift for ``lm``), as the
    objective's own mean does; otherwise every row counts once. At least 1.

    >>> from landscape.data import Split
    >>> obj = Objective(nn.Linear(2, 3), Split(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long)))
    >>> batch_count(obj, torch.zeros(4, dtype=torch.long))
    4
    """
    if objective.task in TOKEN_TASKS:
        return max(counted_tokens(y, shift=objective.task == "lm"), 1)
    if objective.task == "classification" and y.dim() >= 2 and not y.is_floating_point():
        return max(counted_tokens(y, shift=False), 1)
    return len(y)


def _write_final(run_dir: Path, epoch: int) -> None:
    """Copy the checkpoint of ``epoch`` to ``run_dir/final.pt`` atomically, unless it is there."""
    last = run_dir / CHECKPOINT_DIR / checkpoint_filename(epoch=epoch)
    final = run_dir / FINAL_CHECKPOINT
    if final.is_file() and final.read_bytes() == last.read_bytes():
        return
    with private_temporary(final) as tmp:
        shutil.copyfile(last, tmp)


def _sharpness_probe(model: nn.Module, split: Split, config: TrainConfig) -> Probe:
    try:
        from landscape.curvature.tracking import SharpnessProbe
    except ImportError as exc:
        raise LandscapeError(
            "track-sharpness: needs landscape.curvature.tracking, which this installation lacks"
        ) from exc
    return SharpnessProbe(
        model, split, loss=config.loss, subset=config.sharpness_subset, seed=config.seed
    )
