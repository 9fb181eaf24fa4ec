"""The report's figures, drawn from ``compare.h5`` and surface files alone, with captions.

Each ``*_figure`` function returns a matplotlib ``Figure`` (not registered
with pyplot) or ``None`` when the comparison holds nothing to draw;
:func:`write_figures` saves every one as PDF (vector) and PNG (300 dpi) in
one folder and returns what it wrote with a caption for each.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from landscape.errors import LandscapeError
from landscape.io.compare import read_stored_findings
from landscape.io.groups import SEED_DIR
from landscape.io.surface import read_surface
from landscape.plotting.compare import (
    plot_loss_curves,
    plot_profiles,
    plot_stability,
    plot_surface_pair,
    run_colors,
)
from landscape.plotting.spectrum import draw_spectrum
from landscape.plotting.style import HEIGHTS, WIDTHS, save, style_context
from landscape.records import Comparison
from landscape.records.sweep import LrSweep
from landscape.report.paths import panels_note
from landscape.report.paths import paths_figure as draw_paths_figure


@dataclass(frozen=True)
class ReportFigure:
    """A saved figure of the report.

    Attributes:
        name: file stem (``convergence``, ``stability``, ...).
        title: short title.
        caption: what it shows, in words a reader who did not run it follows.
        png: the PNG file (300 dpi).
        pdf: the PDF file (vector).
        size: ``(width, height)`` in inches; the PNG is ``300 *`` that in pixels.

    """

    name: str
    title: str
    caption: str
    png: Path
    pdf: Path
    size: tuple[float, float]


@dataclass(frozen=True)
class SurfacePair:
    """Two surface files to show side by side (e.g. a ResNet with and without skip connections)."""

    paths: tuple[Path, Path]
    titles: tuple[str, str]
    caption: str


def _figure(width: str, height: float, ncols: int = 1) -> tuple[Figure, list]:
    with style_context():
        fig = Figure(figsize=(WIDTHS[width], height), layout="constrained")
        axes = fig.subplots(1, ncols, squeeze=False).ravel().tolist()
    return fig, axes


def _labels(c: Comparison) -> list[str]:
    labels = [r.summary.label for r in c.runs]
    return labels if len(set(labels)) == len(labels) else [r.summary.name for r in c.runs]


def contender_labels(c: Comparison) -> dict[str, str]:
    """The contender each run belongs to, by run name.

    The contenders stored with the findings of ``compare.h5`` (a group of seeds is one
    contender, its runs labelled ``DIR seed N``); without them, each run's label.
    """
    stored = read_stored_findings(c.path)
    of = {n: label for label, names in (stored.contenders if stored else {}).items() for n in names}
    return {r.summary.name: of.get(r.summary.name, r.summary.label) for r in c.runs}


def _groups(c: Comparison, labels: list[str]) -> dict[str, str]:
    """The contender of each run, by its label in ``labels`` (:func:`contender_labels`)."""
    contender = contender_labels(c)
    return {k: contender[r.summary.name] for k, r in zip(labels, c.runs, strict=True)}


def _group_colors(groups: dict[str, str]) -> dict[str, str]:
    """One colour per contender: the seeds of a group share it."""
    by_label = run_colors(list(dict.fromkeys(groups.values())))
    return {k: by_label[g] for k, g in groups.items()}


def _group_legend(fig: Figure, ax: Axes, groups: dict[str, str]) -> None:
    """A legend above ``fig`` with one entry per contender (the first line of each group)."""
    handles, names = ax.get_legend_handles_labels()
    kept: dict[str, Any] = {}
    for handle, name in zip(handles, names, strict=True):
        kept.setdefault(groups.get(name, name), handle)
    wide = fig.get_size_inches()[0] > WIDTHS["single"]
    with style_context():
        fig.legend(
            list(kept.values()),
            list(kept),
            loc="outside upper center",
            ncols=min(len(kept), 6 if wide else 3),
        )


def _overlay_figure(
    c: Comparison,
    labels: list[str],
    plot: Callable[..., Axes],
    xs: dict[str, np.ndarray],
    ys: dict[str, np.ndarray],
) -> Figure:
    """One single-column panel ``plot(ax, xs, ys)``: a colour and a legend entry per contender."""
    groups = _groups(c, labels)
    fig, (ax,) = _figure("single", HEIGHTS["single"])
    plot(ax, xs, ys, colors=_group_colors(groups), legend=False)
    _group_legend(fig, ax, groups)
    return fig


def convergence_figure(c: Comparison) -> Figure:
    """Training and validation loss per epoch of every run, side by side, with the target levels.

    The seeds of one contender share its colour and one legend entry.
    """
    labels = _labels(c)
    groups = _groups(c, labels)
    colors = _group_colors(groups)
    fig, axes = _figure("double", HEIGHTS["double"], 2)
    epochs = {k: r.series.epoch for k, r in zip(labels, c.runs, strict=True)}
    panels = (
        ("train_loss", c.train_target, "train loss (surrogate J)"),
        ("val_loss", c.val_target, "validation loss (held-out)"),
    )
    for ax, (split, target, ylabel) in zip(axes, panels, strict=True):
        losses = {k: getattr(r.series, split) for k, r in zip(labels, c.runs, strict=True)}
        plot_loss_curves(
            ax, epochs, losses, target=target, ylabel=ylabel, colors=colors, legend=False
        )
    _group_legend(fig, axes[1], groups)
    return fig


def stability_figure(c: Comparison) -> Figure | None:
    """Each run's sharpness over its optimizer's stability threshold along training."""
    labels = _labels(c)
    ratios = {
        k: r.stability.sharpness / r.stability.threshold
        for k, r in zip(labels, c.runs, strict=True)
    }
    if not any(np.isfinite(v).any() for v in ratios.values()):
        return None
    epochs = {k: r.stability.epoch for k, r in zip(labels, c.runs, strict=True)}
    return _overlay_figure(c, labels, plot_stability, epochs, ratios)


def profiles_figure(c: Comparison) -> Figure | None:
    """Overlay the 1D filter-normalized training-loss profiles around every final point."""
    labels = _labels(c)
    have = [(k, r.profile) for k, r in zip(labels, c.runs, strict=True) if r.profile is not None]
    if not have:
        return None
    x, losses = {k: p.x for k, p in have}, {k: p.train_loss for k, p in have}
    return _overlay_figure(c, labels, plot_profiles, x, losses)


def paths_figure(c: Comparison) -> Figure | None:
    """Every run's path on the shared PCA plane (:func:`landscape.report.paths.paths_figure`)."""
    labels = _labels(c)
    return draw_paths_figure(c, labels, _groups(c, labels))


SPECTRA_COLUMNS = 3
"""Panels per row of the spectra figure."""


def spectra_figure(c: Comparison) -> Figure | None:
    """Each contender's Hessian spectra at the last checkpoints (SLQ density, top-k marked).

    One panel per contender, its seeds overlaid, :data:`SPECTRA_COLUMNS` panels a row on
    one shared y scale, one legend for the figure.
    """
    contender = contender_labels(c)
    panels: dict[str, list[Any]] = {}
    for r in c.runs:
        if r.spectrum:
            panels.setdefault(contender[r.summary.name], []).append(r.spectrum)
    if not panels:
        return None
    cols = min(len(panels), SPECTRA_COLUMNS)
    rows = -(-len(panels) // cols)
    with style_context():
        fig = Figure(figsize=(WIDTHS["double"], 0.5 + 2.1 * rows), layout="constrained")
        axes = fig.subplots(rows, cols, squeeze=False, sharey=True).ravel().tolist()
    for ax, (label, spectra) in zip(axes, panels.items(), strict=False):
        for sp in spectra:
            dense = sp.density.size > 0
            draw_spectrum(
                ax,
                top=sp.top,
                grid=sp.grid if dense else None,
                density=sp.density if dense else None,
            )
        handles, names = ax.get_legend_handles_labels()
        ax.get_legend().remove()
        with style_context():
            ax.set_title(f"{label} ({len(spectra)} run{'s' if len(spectra) != 1 else ''})")
    for ax in axes[len(panels) :]:
        ax.set_axis_off()
    kept = dict(zip(names, handles, strict=True))
    with style_context():
        fig.legend(list(kept.values()), list(kept), loc="outside upper center", ncols=len(kept))
    return fig


def surface_pair_figure(pair: SurfacePair) -> Figure:
    """Two surfaces side by side on one colour scale (training loss).

    Raises:
        LandscapeError: if a file holds a 1D surface or no training loss.

    """
    data = []
    for path in pair.paths:
        s = read_surface(path)
        if s.y is None:
            raise LandscapeError(
                f"{path}: expected a 2D surface for the side-by-side figure (got 1D)"
            )
        _, z = s.metric("train_loss")
        data.append((s.x, s.y, z))
    fig, axes = _figure("double", 3.0, 2)
    plot_surface_pair(axes, data, pair.titles)
    return fig


def lr_sweep_figure(sweep: LrSweep) -> Figure:
    """The sweep's sensitivity curves: the criterion against the learning rate, per optimizer.

    Diverged rates (criterion not finite) are left out of the line; the chosen rate is a
    filled marker.
    """
    fig, (ax,) = _figure("single", HEIGHTS["single"])
    colors = run_colors([c.name for c in sweep.curves])
    with style_context():
        for c in sweep.curves:
            lrs, crit = np.asarray(c.lrs), np.asarray(c.criterion)
            ok = np.isfinite(crit)
            ax.plot(lrs[ok], crit[ok], marker="o", markersize=3, color=colors[c.name], label=c.name)
            ax.plot(
                [c.chosen],
                [crit[c.lrs.index(c.chosen)]],
                marker="o",
                markersize=7,
                color=colors[c.name],
                markerfacecolor="none",
            )
        ax.set_xscale("log")
        ax.set_xlabel("learning rate η")
        ax.set_ylabel("validation loss, last quarter")
        ax.legend(fontsize=6, loc="best")
    return fig


def _sweep_caption(sweep: LrSweep) -> str:
    return (
        f"Learning-rate sensitivity: the sweep's criterion (the {sweep.criterion}; lower is "
        f"better) against η on a log scale, one line per optimizer, each point a run of "
        f"{sweep.epochs} epochs with seed {sweep.seed}; circled: the chosen rate. Rates "
        "whose run diverged are left out."
    )


def _captions(c: Comparison) -> dict[str, tuple[str, str]]:
    stab = {r.stability.source for r in c.runs}
    when = (
        "measured during training by the sharpness probe"
        if stab == {"probe"}
        else "measured at the epoch checkpoints"
    )
    plane = c.plane
    rows = sorted({r.summary.curvature_rows for r in c.runs})
    caps = {
        "spectra": (
            "Hessian spectra at the end",
            "Eigenvalue density of each run's training-loss Hessian at its last checkpoint by "
            "stochastic Lanczos quadrature (log scale; Ghorbani et al. 2019), with the top "
            "eigenvalues from Lanczos as ticks along the top edge (bars against their rank when "
            f"no density was computed); measured on {' or '.join(map(str, rows))} training rows. "
            "One panel per contender, its seeds' spectra overlaid, on one y scale.",
        ),
        "convergence": (
            "Convergence",
            "Training (left) and validation (right) loss per epoch of every run: full-split means "
            "in evaluation mode, epoch 0 is the initialization. Dotted lines: the target levels "
            f"({c.train_target:.3g} training, {c.val_target:.3g} validation) whose first crossing "
            "measures convergence speed in the table.",
        ),
        "stability": (
            "Sharpness against the stability threshold",
            f"Sharpness divided by the optimizer's stability threshold over training ({when}; log "
            "scale; far outliers, such as an adaptive method's first effective step, are left "
            "off the axis and marked as triangles on its edge). For SGD the sharpness is λ_max "
            "of the training-loss Hessian and the threshold "
            "2/η (2(1+β)/η with momentum β); for Adam, RMSprop and Adagrad it is λ_max of the "
            "preconditioned Hessian P⁻¹H against (2+2β₁)/((1−β₁)η) for Adam and 2/η otherwise "
            "(Cohen et al. 2021, 2022). A ratio near 1 (dashed) is the edge of stability; above 1 "
            "the optimizer is unstable on the local quadratic.",
        ),
        "profiles": (
            "1D loss profiles around the minima",
            "Training loss along one random filter-normalized direction d through each run's final "
            "point w_T, L(w_T + α d) (Li et al. 2018; biases and normalization parameters not "
            "moved). α = 0 is the final point, α = ±1 a step as large as each filter's weights. "
            "Steeper walls mean a sharper minimum.",
        ),
    }
    if plane is not None:
        ev = 100 * plane.explained_variance_ratio
        off = 100 * float(np.max(plane.residual))
        caps["paths"] = (
            "Optimizer paths on a shared plane",
            "Every run's checkpoints projected onto one plane spanned by the two principal "
            f"directions of all checkpoints (PC 1 and PC 2 explain {ev[0]:.1f} % and "
            f"{ev[1]:.1f} % of their spread; origin at the end of {plane.origin_label}). "
            "Segment colour: λ_max of the training-loss Hessian at the checkpoints (grey where "
            "not measured); markers: end points (one shape per contender, shared by its "
            "seeds), cross: start; checkpoints far outside the others' spread are left off "
            "the axes and marked as triangles on the edge, with their count in the panel. "
            + (
                "Grey contours: training loss on the plane; it is the loss at the projected "
                "points, not at the checkpoints, which lie off the plane. "
                if plane.surface is not None
                else ""
            )
            + panels_note(plane, _labels(c))
            + "Projections are approximate: "
            f"checkpoints lie off the plane by up to {off:.0f} % of their distance from the "
            "origin.",
        )
    return caps


def _save(fig: Figure, folder: Path, name: str, title: str, caption: str) -> ReportFigure:
    png, pdf = save(fig, folder / f"{name}.png"), save(fig, folder / f"{name}.pdf")
    w, h = fig.get_size_inches()
    return ReportFigure(name, title, caption, png, pdf, (float(w), float(h)))


def write_figures(
    c: Comparison,
    folder: str | Path,
    *,
    pair: SurfacePair | None = None,
    run_dirs: Sequence[str | Path] = (),
    sweep: LrSweep | None = None,
    sharpness_runs: Sequence[str | Path] = (),
) -> list[ReportFigure]:
    """Draw and save every figure of the report (PDF and PNG) in ``folder``.

    Args:
        c: the comparison.
        folder: where the files go (created if needed).
        pair: two 2D surfaces to show side by side.
        run_dirs: run directories whose dynamics panels to add (``dynamics_<name>``; a group
            member ``DIR/seed-N`` is named ``DIR-seed-N``).
        sweep: a learning-rate sweep whose sensitivity curves to add (``lr_sweep``).
        sharpness_runs: run directories with a sharpness probe whose λ_max over steps
            against the stability threshold to add (``sharpness_<name>``, as
            ``landscape plot RUN --kind sharpness`` draws it).

    Returns:
        The figures written, in report order.

    """
    from landscape.plotting.dynamics import plot_dynamics
    from landscape.plotting.stability import plot_sharpness

    folder = Path(folder)
    caps = _captions(c)
    out = []
    for name, make in (
        ("convergence", convergence_figure),
        ("stability", stability_figure),
        ("profiles", profiles_figure),
        ("paths", paths_figure),
        ("spectra", spectra_figure),
    ):
        fig = make(c)
        if fig is not None:
            out.append(_save(fig, folder, name, *caps[name]))
    if pair is not None:
        out.append(
            _save(
                surface_pair_figure(pair), folder, "surface_pair", "Skip connections", pair.caption
            )
        )
    if sweep is not None:
        out.append(
            _save(
                lr_sweep_figure(sweep),
                folder,
                "lr_sweep",
                "Learning-rate sensitivity",
                _sweep_caption(sweep),
            )
        )
    for d in sharpness_runs:
        name = Path(d).resolve().name
        out.append(
            _save(
                plot_sharpness(d, width="double"),
                folder,
                f"sharpness_{name}",
                f"Edge of stability ({name})",
                f"Sharpness of run {name} over optimizer steps: λ_max of the training-loss "
                "Hessian (Lanczos, measured by the probe during training; for an adaptive "
                "optimizer also λ_max of the preconditioned Hessian) against the stability "
                "threshold (dashed: 2/η for gradient descent, Cohen et al. 2021); shaded: the "
                "stretches the diagnosis names the edge of stability.",
            )
        )
    for d in run_dirs:
        run = Path(d).resolve()
        name = f"{run.parent.name}-{run.name}" if run.name.startswith(SEED_DIR) else run.name
        out.append(
            _save(
                plot_dynamics(d),
                folder,
                f"dynamics_{name}",
                f"Training dynamics of {name}",
                f"Training dynamics of {name}: training and validation loss, accuracy, per-layer "
                "gradient norms, weight norms, update-to-weight ratios and effective step sizes "
                "per epoch; shaded: the detected phases of training, marks: detected problems.",
            )
        )
    return out
