"""The dynamics panel of a training run (numpy and matplotlib only).

Six panels over epochs: training vs validation loss, accuracy, per-layer
gradient norms (log scale), per-layer weight norms, per-layer update-to-weight
ratios (log scale), and the effective step size of adaptive optimizers (median
and 10-90th percentile band per layer; the learning rate otherwise). The
diagnosed phases are shaded in every panel and findings are marked. Each panel's
y range leaves out far outliers (Adagrad's first effective step, ``lr/ε``, is
about 10⁸ times the later ones) and marks them on its edge
(:func:`~landscape.plotting.limits.clip_outliers`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from landscape.dynamics.diagnose import Diagnosis, diagnose
from landscape.dynamics.runs import Run, read_run
from landscape.errors import LandscapeError
from landscape.plotting.limits import clip_outliers
from landscape.plotting.style import CMAP, COLORS, WIDTHS, Width, style_context

PHASE_SHADES = {
    "fast initial learning": "0.80",
    "gradual adjustment": "0.89",
    "convergence": "0.96",
}
"""Grey level of each phase's shading."""
MAX_LAYER_LEGEND = 6
LAYER_PANELS: tuple[tuple[str, str, bool], ...] = (
    ("layer_grad_norm", "gradient norm per layer", True),
    ("weight_norm", "weight norm per layer", False),
    ("update_ratio", "update / weight per epoch", True),
)
"""The per-layer panels (third to fifth): epoch column, y label, log scale; the first has the legend."""
PANEL_HEIGHTS: dict[str, float] = {"single": 6.5, "double": 4.6}
"""Default heights (inches) of the panel: 3x2 at single width, 2x3 at double."""


def weight_layers(run: Run) -> list[int]:
    """Columns of the per-layer arrays that are weights or kernels (two or more dimensions).

    Falls back to every column when the shapes are unknown.
    """
    picked = [i for i, s in enumerate(run.shapes) if len(s) >= 2]
    return picked or list(range(len(run.layers)))


def _shade(ax: Axes, diagnosis: Diagnosis | None, *, label: bool) -> None:
    if diagnosis is None:
        return
    for p in diagnosis.phases:
        ax.axvspan(
            p.start_epoch,
            p.end_epoch,
            color=PHASE_SHADES[p.name],
            zorder=0,
            linewidth=0,
            label=p.name if label else None,
        )


def _layers(
    ax: Axes, epochs: np.ndarray, values: np.ndarray, names: Sequence[str], *, legend: bool
) -> list[tuple[np.ndarray, np.ndarray, object]]:
    """One line per layer (dark: input layers); returns ``(x, y, colour)`` of each."""
    colors = mpl.colormaps[CMAP](np.linspace(0.0, 0.9, max(len(names), 1)))
    lines = []
    for j, name in enumerate(names):
        ax.plot(epochs, values[:, j], color=colors[j], label=name if legend else None)
        lines.append((epochs, values[:, j], colors[j]))
    if legend and names:
        if len(names) <= MAX_LAYER_LEGEND:
            ax.legend(fontsize=5.5, handlelength=1.2)
        else:
            ax.legend([], [], title="dark: input layers, light: output", title_fontsize=5.5)
    return lines


def _finite(values: np.ndarray) -> bool:
    return bool(np.isfinite(values).any())


def draw_dynamics(
    axes: Sequence[Axes], run: Run, diagnosis: Diagnosis | None = None, *, legend: bool = True
) -> None:
    """Draw the six dynamics panels of ``run`` on ``axes`` (six Axes, in reading order).

    With ``legend``, the loss panel carries the legend of the splits and the
    phases; without, the caller makes one (e.g. below the figure) from the
    loss panel's handles.

    Raises:
        LandscapeError: if fewer than six axes are given.

    """
    if len(axes) < 6:
        raise LandscapeError(f"dynamics: expected 6 axes (got {len(axes)})")
    ep = run.epochs
    e = ep["epoch"]
    cols = weight_layers(run)
    names = [run.layers[i] for i in cols] if run.layers else []
    with style_context():
        ax = axes[0]
        _shade(ax, diagnosis, label=True)
        ax.plot(e, ep["train_loss"], color=COLORS[0], label="train")
        if _finite(ep["val_loss"]):
            ax.plot(e, ep["val_loss"], color=COLORS[1], linestyle="--", label="validation")
        if diagnosis is not None:
            for f in diagnosis.findings:
                ax.axvline(f.start_epoch, color="black", linestyle=":", linewidth=0.8)
                ax.annotate(
                    f.kind,
                    (f.start_epoch, 0.02),
                    xycoords=("data", "axes fraction"),
                    rotation=90,
                    fontsize=5.5,
                    va="bottom",
                    ha="right",
                )
        loss = np.concatenate([ep["train_loss"], ep["val_loss"]])
        loss = loss[np.isfinite(loss) & (loss > 0)]
        if loss.size and loss.max() / loss.min() > 10:
            ax.set_yscale("log")
        clip_outliers(ax, [(e, ep["train_loss"], COLORS[0]), (e, ep["val_loss"], COLORS[1])])
        ax.set_ylabel("loss")
        if legend:
            ax.legend(fontsize=5.5)

        ax = axes[1]
        _shade(ax, diagnosis, label=False)
        if _finite(ep["train_acc"]) or _finite(ep["val_acc"]):
            ax.plot(e, ep["train_acc"], color=COLORS[0], label="train")
            ax.plot(e, ep["val_acc"], color=COLORS[1], linestyle="--", label="validation")
        else:
            ax.text(0.5, 0.5, "no accuracy (regression)", transform=ax.transAxes, ha="center")
        ax.set_ylabel("accuracy")

        for ax, (column, ylabel, log) in zip(axes[2:5], LAYER_PANELS, strict=True):
            _shade(ax, diagnosis, label=False)
            lines = _layers(ax, e, ep[column][:, cols], names, legend=column == LAYER_PANELS[0][0])
            if log:
                ax.set_yscale("log")
            clip_outliers(ax, lines)
            ax.set_ylabel(ylabel)

        ax = axes[5]
        _shade(ax, diagnosis, label=False)
        if run.adaptive:
            colors = mpl.colormaps[CMAP](np.linspace(0.0, 0.9, max(len(cols), 1)))
            medians = [(e, ep["eff_step_p50"][:, i], colors[j]) for j, i in enumerate(cols)]
            for j, i in enumerate(cols):
                ax.fill_between(
                    e,
                    ep["eff_step_p10"][:, i],
                    ep["eff_step_p90"][:, i],
                    color=colors[j],
                    alpha=0.2,
                    linewidth=0,
                )
                ax.plot(e, ep["eff_step_p50"][:, i], color=colors[j])
            ax.set_yscale("log")
            clip_outliers(ax, medians)
            ax.set_ylabel("effective step lr/(√v+ε)\nmedian, 10–90%")
        else:
            ax.plot(e, ep["lr"], color=COLORS[0])
            ax.set_ylabel("learning rate")
        for ax in axes[:6]:
            ax.set_xlabel("epoch")


def plot_dynamics(
    run_dir: str | Path, *, width: Width = "double", height: float | None = None
) -> Figure:
    """``landscape plot RUN --kind dynamics``: the dynamics panel of a run directory.

    The stored diagnosis is shaded if there is one; otherwise the run is
    diagnosed with the default thresholds.

    Raises:
        LandscapeError: if the directory holds no run or no epoch was recorded.

    """
    run = read_run(run_dir)
    if "epoch" not in run.epochs or not run.epochs["epoch"].size:
        raise LandscapeError(f"{run_dir}: no epoch recorded yet; nothing to plot")
    diagnosis = Diagnosis.from_dict(run.diagnosis) if run.diagnosis is not None else diagnose(run)
    if width not in WIDTHS:
        raise LandscapeError(f"width: expected single or double (got {width!r})")
    size = (WIDTHS[width], height if height is not None else PANEL_HEIGHTS[width])
    with style_context():
        fig = Figure(figsize=size, layout="constrained")
        axes = fig.subplots(3 if width == "single" else 2, 2 if width == "single" else 3).ravel()
        draw_dynamics(list(axes), run, diagnosis, legend=False)
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(
            handles,
            labels,
            loc="outside lower center",
            ncol=len(labels) if width == "double" else 2,
            fontsize=6,
        )
        fig.suptitle(f"{run.name}: {run.optimizer}, lr {run.hparams.get('lr', float('nan')):g}")
    return fig
