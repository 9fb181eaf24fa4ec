"""``landscape train``: train a model with one optimizer and record its dynamics."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from landscape.cli.limits import limit_options
from landscape.cli.options import (
    choice_option,
    command_line,
    count_option,
    device_option,
    loss_option,
    number_option,
    overwrite_option,
    path_option,
    positive_option,
    quiet,
    seed_option,
    verbosity_options,
)
from landscape.cli.threads import threads_option
from landscape.devices import resolve_device
from landscape.errors import LandscapeError
from landscape.io.groups import SEED_DIR


def parse_batch_size(spec: str) -> int | None:
    """Parse ``--batch-size``: a positive integer, or ``full`` (``None``: the whole split).

    >>> parse_batch_size("64"), parse_batch_size("full")
    (64, None)
    """
    if spec == "full":
        return None
    try:
        value = int(spec)
    except ValueError:
        value = 0
    if value < 1:
        raise LandscapeError(f"batch-size: expected a positive integer or 'full' (got {spec!r})")
    return value


def parse_seeds(spec: str) -> list[int]:
    """Parse ``0,1,2`` into distinct non-negative seeds.

    >>> parse_seeds("0, 1,2")
    [0, 1, 2]
    """
    expected = f"--seeds: expected distinct non-negative integers such as 0,1,2 (got {spec!r})"
    try:
        seeds = [int(part) for part in spec.split(",")]
    except ValueError:
        raise LandscapeError(expected) from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0 or max(seeds) >= 2**63:
        raise LandscapeError(expected)
    return seeds


def parse_track_sharpness(spec: str) -> tuple[int, int]:
    """Parse ``every=N[,subset=M]`` into ``(every, subset)`` (subset defaults to 1000).

    >>> parse_track_sharpness("every=50"), parse_track_sharpness("every=10,subset=200")
    ((50, 1000), (10, 200))
    """
    expected = (
        "track-sharpness: expected every=N or every=N,subset=M with positive integers "
        f"(got {spec!r})"
    )
    values: dict[str, int] = {}
    for part in spec.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep or key not in ("every", "subset") or key in values:
            raise LandscapeError(expected)
        try:
            values[key] = int(value)
        except ValueError:
            raise LandscapeError(expected) from None
        if values[key] < 1:
            raise LandscapeError(expected)
    if "every" not in values:
        raise LandscapeError(expected)
    return values["every"], values.get("subset", 1000)


@click.command(name="train")
@threads_option
@click.option(
    "--data",
    "data_spec",
    default="mnist1d",
    show_default=True,
    help="'mnist1d' or 'module:callable' / 'file.py:callable' "
    "(train split trains, test split validates).",
)
@click.option(
    "--model",
    "model_spec",
    default="mlp",
    show_default=True,
    help="Built-in model (mlp, cnn, resnet, resnet-noskip, resnet-bn, resnet-noskip-bn) "
    "or 'module:callable'.",
)
@choice_option("--optimizer", ("sgd", "adagrad", "rmsprop", "adam", "adamw"), "sgd", "Optimizer.")
@number_option("--lr", 0.01, "Base learning rate.")
@count_option("--epochs", 10, "Passes over the training set.")
@click.option(
    "--batch-size",
    default="128",
    show_default=True,
    metavar="N|full",
    help="Mini-batch size, or 'full' for full-batch gradient descent (one step per epoch).",
)
@count_option(
    "--eval-every", 1, "Evaluate train and validation splits every N epochs (and at the last)."
)
@seed_option("Seed of initialization and data order.")
@click.option(
    "--seeds",
    default=None,
    metavar="S1,S2,...",
    help="Train one run per seed into OUT/seed-S1, OUT/seed-S2, ...: a group that "
    "'landscape compare' summarises over seeds (replaces --seed).",
)
@positive_option("--momentum", 0.0, "Momentum (sgd, rmsprop).", or_zero=True)
@click.option("--nesterov", is_flag=True, help="Nesterov momentum (sgd with --momentum > 0).")
@positive_option("--weight-decay", 0.0, "L2 penalty (decoupled for adamw).", or_zero=True)
@number_option("--beta1", 0.9, "Adam/AdamW first-moment decay.")
@number_option("--beta2", 0.999, "Adam/AdamW second-moment decay.")
@number_option("--alpha", 0.99, "RMSprop smoothing constant.")
@positive_option("--eps", None, "Adaptive optimizers' eps [torch default].", or_zero=True)
@choice_option("--schedule", ("constant", "step", "cosine"), "constant", "Learning-rate schedule.")
@count_option("--step-size", 10, "Epochs between decays of the step schedule.")
@positive_option("--gamma", 0.1, "Decay factor of the step schedule.")
@loss_option("Loss name (see 'landscape surface --help').")
@count_option(
    "--max-samples",
    None,
    "Train and validate on a fixed random subset of at most N rows per split.",
)
@count_option(
    "--checkpoint-every", 1, "Save a checkpoint every N epochs (the last epoch is always saved)."
)
@count_option("--checkpoint-steps", None, "Also save a checkpoint every N optimizer steps.")
@click.option(
    "--track-sharpness",
    default=None,
    metavar="every=N[,subset=M]",
    help="Record the top Hessian eigenvalue every N steps on M training samples (default 1000).",
)
@device_option
@path_option(
    "--out",
    "Run directory (run.h5 and checkpoints/); an unfinished run there is resumed.",
    folder=True,
    required=True,
)
@overwrite_option("Replace a run made with different settings.")
@click.pass_context
@verbosity_options
@limit_options
def command(
    ctx: click.Context,
    *,
    data_spec: str,
    model_spec: str,
    optimizer: str,
    lr: float,
    epochs: int,
    batch_size: str,
    eval_every: int,
    seed: int,
    seeds: str | None,
    momentum: float,
    nesterov: bool,
    weight_decay: float,
    beta1: float,
    beta2: float,
    alpha: float,
    eps: float | None,
    schedule: str,
    step_size: int,
    gamma: float,
    loss: str,
    max_samples: int | None,
    checkpoint_every: int,
    checkpoint_steps: int | None,
    track_sharpness: str | None,
    device: str,
    out: str,
    overwrite: bool,
) -> None:
    """Train a model and record its dynamics and checkpoints into the run directory OUT.

    Re-running the same command resumes an interrupted run from its last
    checkpoint and reaches the same result as an uninterrupted run.
    """
    from landscape.dynamics.train import TrainConfig, train

    every, subset = parse_track_sharpness(track_sharpness) if track_sharpness else (None, 1000)
    seed_list = parse_seeds(seeds) if seeds is not None else None
    config = TrainConfig(
        data=data_spec,
        model=model_spec,
        optimizer=optimizer,
        lr=lr,
        epochs=epochs,
        batch_size=parse_batch_size(batch_size),
        eval_every=eval_every,
        seed=seed,
        momentum=momentum,
        nesterov=nesterov,
        weight_decay=weight_decay,
        beta1=beta1,
        beta2=beta2,
        alpha=alpha,
        eps=eps,
        schedule=schedule,
        step_size=step_size,
        gamma=gamma,
        loss=loss,
        max_samples=max_samples,
        checkpoint_every=checkpoint_every,
        checkpoint_steps=checkpoint_steps,
        track_sharpness=every,
        sharpness_subset=subset,
    )
    targets = (
        [(replace(config, seed=s), str(Path(out) / f"{SEED_DIR}{s}")) for s in seed_list]
        if seed_list is not None
        else [(config, out)]
    )
    for run_config, run_out in targets:
        result = train(
            run_config,
            run_out,
            device=str(resolve_device(device)),
            progress=not quiet(ctx),
            overwrite=overwrite,
            command=command_line(),
        )
        if not quiet(ctx):
            if result.resumed_from is None:
                start = ""
            elif result.resumed_from == result.epochs:
                start = " (already complete)"
            else:
                start = f" (resumed from epoch {result.resumed_from})"
            click.echo(
                f"{run_out}: {result.epochs} epochs, {result.steps} steps{start}; "
                f"train loss {result.train_loss:.4g}, val loss {result.val_loss:.4g}, "
                f"val acc {result.val_acc:.3g}"
            )
