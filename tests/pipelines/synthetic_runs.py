"""Synthetic runs with known curves, written by the Recorder, for ``compare`` tests.

Each run is ``tests.conftest:tiny_net`` (optionally with its layers scaled), moved a little
along a fixed direction at every step, with training and validation losses given per epoch
and a fake sharpness probe whose ratio to the stability threshold is given per record (one
record at step 0 and one at the end of every epoch), so that every number ``compare`` reads
from the run file is known exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch

from landscape.dynamics.recorder import Recorder
from tests.conftest import tiny_net

STEPS_PER_EPOCH = 5
SPECS = dict(model="tests.conftest:tiny_net", data="tests.conftest:tiny_data")


class RatioProbe:
    """A probe that reports ``ratio[i] x threshold`` as the sharpness of its ``i``-th call."""

    def __init__(self, ratios: Sequence[float], threshold: float, *, adaptive: bool) -> None:
        self.ratios = list(ratios)
        self.threshold = threshold
        self.adaptive = adaptive
        self.calls = 0

    def __call__(self, params: object, optimizer: object) -> dict[str, float]:
        value = self.ratios[self.calls] * self.threshold
        self.calls += 1
        return {
            "lambda_max": value,
            "stability_threshold": self.threshold,
            "precond_lambda_max": value if self.adaptive else math.nan,
        }


def write_run(
    run_dir: Path,
    *,
    train_loss: Sequence[float],
    val_loss: Sequence[float],
    ratios: Sequence[float] | None = None,
    optimizer: str = "sgd",
    lr: float = 0.1,
    seed: int = 0,
    scale: float = 1.0,
    jitter: float = 0.01,
    drift: float = 0.002,
) -> Path:
    """Write a run whose epoch ``e`` has ``train_loss[e]`` and ``val_loss[e]`` (``e = 0`` first).

    Args:
        run_dir: The run directory.
        train_loss: Training loss per epoch, initial point first.
        val_loss: Validation loss per epoch.
        ratios: Sharpness over threshold per probe record (``len(train_loss)`` records:
            step 0, then each epoch's last step); ``None``: no probe.
        optimizer: ``sgd`` or ``adagrad``.
        lr: Learning rate (the threshold is ``2 / lr`` for both).
        seed: Seed of the jitter added to the weights (another seed: another run).
        scale: Factor on the weights of the last layer (``fc``).
        jitter: Standard deviation of that jitter.
        drift: Standard deviation of the fixed random move made at every step.
    """
    model = tiny_net()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(jitter * torch.randn(p.shape, generator=g))
        model.fc.weight.mul_(scale)
        model.fc.bias.mul_(scale)
    kind = {"sgd": torch.optim.SGD, "adagrad": torch.optim.Adagrad}[optimizer]
    opt = kind(model.parameters(), lr=lr)
    probe = (
        None if ratios is None else RatioProbe(ratios, 2.0 / lr, adaptive=optimizer == "adagrad")
    )
    direction = [drift * torch.randn(p.shape, generator=g) for p in model.parameters()]
    rec = Recorder(
        run_dir,
        model,
        opt,
        config={"optimizer": optimizer, "lr": lr, "seed": seed, "scale": scale, **SPECS},
        checkpoint_every=1,
        grad_every=1,
        probe=probe,
        probe_every=STEPS_PER_EPOCH if probe is not None else 0,
    )
    with rec:
        rec.epoch(train=(train_loss[0], 0.25), val=(val_loss[0], 0.25))
        for tl, vl in zip(train_loss[1:], val_loss[1:], strict=True):
            for _ in range(STEPS_PER_EPOCH):
                with torch.no_grad():
                    for p, d in zip(model.parameters(), direction, strict=True):
                        p.add_(d)
                rec.step(tl)
            rec.epoch(train=(tl, 0.5), val=(vl, 0.4))
    return run_dir
