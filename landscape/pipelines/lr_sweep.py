"""Choose each optimizer's learning rate by a short sweep of ordinary training runs.

For every optimizer the runs of its grid are trained (or reused when finished) into
``FOLDER/<name>/lr-<lr>/`` and scored by
:func:`landscape.dynamics.lr_sweep.sweep_criterion`. When the best rate is the grid's
smallest or largest, the grid is extended one step beyond it (by the ratio of the two
outermost rates on that side) and the sweep goes on, at most ``max_extensions`` times
per optimizer, so that a chosen rate at the edge of what was tried is the exception and
is flagged (:attr:`landscape.records.sweep.SweepCurve.at_edge`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from landscape.dynamics.lr_sweep import CRITERION, lr_dir, read_curve
from landscape.dynamics.train import OptimizerName, TrainConfig, train
from landscape.errors import LandscapeError
from landscape.records.sweep import LrSweep, SweepCurve


@dataclass(frozen=True)
class SweepSpec:
    """One optimizer of a sweep.

    Attributes:
        name: Its run name (the sweep's subfolder).
        optimizer: The optimizer.
        grid: The learning rates to try first, ascending, at least two.
        momentum: SGD/RMSprop momentum.
    """

    name: str
    optimizer: OptimizerName
    grid: tuple[float, ...]
    momentum: float = 0.0

    def __post_init__(self) -> None:
        if len(self.grid) < 2 or list(self.grid) != sorted(set(self.grid)):
            raise LandscapeError(
                f"sweep {self.name}: expected at least two distinct ascending rates (got {self.grid})"
            )


def extend(lrs: Sequence[float], chosen: float) -> float | None:
    """The next rate beyond the edge that ``chosen`` sits on, or ``None`` when it is inside.

    The step is the ratio of the two outermost rates on that side, rounded to three
    significant digits.

    >>> extend([0.1, 0.2, 0.5], 0.5), extend([0.1, 0.2, 0.5], 0.1), extend([0.1, 0.2, 0.5], 0.2)
    (1.25, 0.05, None)
    """
    if chosen == lrs[-1]:
        return float(f"{lrs[-1] * lrs[-1] / lrs[-2]:.3g}")
    if chosen == lrs[0]:
        return float(f"{lrs[0] * lrs[0] / lrs[1]:.3g}")
    return None


def run_sweep(
    specs: Sequence[SweepSpec],
    base: TrainConfig,
    folder: str | Path,
    *,
    max_extensions: int = 2,
    device: str = "cpu",
    progress: bool = True,
    overwrite: bool = False,
    command: str | None = None,
) -> LrSweep:
    """Train every optimizer's grid (extended at an edge), score the runs, choose the rates.

    Args:
        specs: The optimizers and their grids.
        base: The training configuration every sweep run starts from (its optimizer,
            learning rate and momentum are replaced; no sharpness probe; checkpoints only at
            the start and the end).
        folder: Where the runs go, ``folder/<name>/lr-<lr>/``.
        max_extensions: Most steps beyond the initial grid per optimizer.
        device: Torch device.
        progress: Show progress bars.
        overwrite: Replace runs made with other settings.
        command: Command line for provenance, and the sweep's ``command``.

    Returns:
        The sweep, as read back from the runs.

    """
    folder = Path(folder)
    curves: list[SweepCurve] = []
    for spec in specs:
        tried: list[float] = []
        todo = list(spec.grid)
        while True:
            for lr in todo:
                _train_one(
                    spec,
                    lr,
                    base,
                    folder,
                    device=device,
                    progress=progress,
                    overwrite=overwrite,
                    command=command,
                )
            tried += todo
            curve = read_curve(folder, spec.name, spec.grid, tried)
            nxt = extend(curve.lrs, curve.chosen)
            if nxt is None or len(tried) - len(spec.grid) >= max_extensions:
                break
            todo = [nxt]
        curves.append(curve)
    return LrSweep(CRITERION, base.epochs, base.seed, tuple(curves), command or "")


def _train_one(
    spec: SweepSpec,
    lr: float,
    base: TrainConfig,
    folder: Path,
    *,
    device: str,
    progress: bool,
    overwrite: bool,
    command: str | None,
) -> None:
    config = replace(
        base,
        optimizer=spec.optimizer,
        lr=lr,
        momentum=spec.momentum,
        track_sharpness=None,
        checkpoint_every=base.epochs,
    )
    try:
        train(
            config,
            folder / spec.name / lr_dir(lr),
            device=device,
            progress=progress,
            overwrite=overwrite,
            command=command,
        )
    except LandscapeError as exc:
        raise LandscapeError(f"learning-rate sweep {spec.name} lr {lr:g}: {exc}") from None
