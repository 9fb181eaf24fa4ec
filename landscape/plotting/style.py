"""The one figure style of the project: sizes, fonts, colours, vector output.

Every figure landscape draws goes through this module, so a paper's figures
match each other. Widths are the two usual column widths of a two-column
paper: ``single`` = 3.3 in and ``double`` = 6.9 in; fonts are 8 pt (7 pt for
ticks and legends), which stays readable when the figure is placed at 100 %.

Colours are the Okabe-Ito palette (Okabe & Ito 2008, "Color Universal Design"),
distinguishable under the common colour-vision deficiencies; the colour map is
``viridis`` (van der Walt & Smith 2015), perceptually uniform and readable in
grey scale. PDF and SVG keep text as text (TrueType fonts embedded in PDF,
``svg.fonttype = none``) and are written without time stamps, so re-running a
script gives byte-identical vector files. PNGs are written at 300 dpi.

:func:`figure` and :func:`save` apply the style themselves; plotting code
that draws on an existing ``Axes`` runs inside :func:`style_context`.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Literal, get_args

import matplotlib as mpl
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from landscape.errors import LandscapeError
from landscape.store import private_temporary

Width = Literal["single", "double"]
WIDTHS: dict[str, float] = {"single": 3.3, "double": 6.9}
"""Figure widths in inches for a single and a double column."""
HEIGHTS: dict[str, float] = {"single": 2.6, "double": 3.0}
"""Default figure heights in inches."""

COLORS: list[str] = [
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#000000",  # black
    "#F0E442",  # yellow (last: weak on white)
]
"""Okabe-Ito colour-blind-safe palette, in the order lines take them."""

CMAP: str = "viridis"
"""Perceptually uniform sequential colour map for surfaces."""

QUANTITY_LABELS: dict[str, str] = {
    "train_loss": "train loss",
    "test_loss": "test loss",
    "val_loss": "validation loss",
    "train_acc": "train accuracy",
    "test_acc": "test accuracy",
    "val_acc": "validation accuracy",
    "lambda_max": "λ_max",
    "lambda_min": "λ_min",
    "epoch": "epoch",
}
"""The one axis, colour-bar and legend name of each quantity, in every figure."""


def metric_label(name: str) -> str:
    """The name figures give a quantity (``train_loss`` -> ``train loss``).

    >>> metric_label("test_acc"), metric_label("train_loss"), metric_label("grad_norm")
    ('test accuracy', 'train loss', 'grad norm')
    """
    return QUANTITY_LABELS.get(name, name.replace("_acc", "_accuracy").replace("_", " "))


def direction_label(index: int, detail: str = "") -> str:
    """The name of the ``index``-th (1-based) plane direction, with an optional explanation.

    >>> direction_label(1), direction_label(2, "PCA, 11.8% of variance")
    ('direction 1', 'direction 2 (PCA, 11.8% of variance)')
    """
    return f"direction {index}" + (f" ({detail})" if detail else "")


PNG_DPI = 300
FORMATS: tuple[str, ...] = (".pdf", ".svg", ".png")

RC: dict[str, Any] = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],
    "mathtext.fontset": "dejavusans",
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.frameon": False,
    "figure.titlesize": 9,
    "axes.prop_cycle": mpl.cycler(color=COLORS),
    "axes.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.2,
    "lines.markersize": 3,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.major.size": 3,
    "ytick.major.size": 3,
    "image.cmap": CMAP,
    "figure.dpi": 100,
    "figure.constrained_layout.use": True,
    "savefig.dpi": PNG_DPI,
    "savefig.bbox": None,
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.fonttype": "none",
    "svg.hashsalt": "landscape",
}
"""The matplotlib rc settings of the style."""


def style_context() -> contextlib.AbstractContextManager[None]:
    """Apply the project style: a matplotlib ``rc_context``.

    >>> import matplotlib as mpl
    >>> with style_context():
    ...     mpl.rcParams["font.size"], mpl.rcParams["image.cmap"]
    (8.0, 'viridis')
    """
    return mpl.rc_context(RC)


def figure(
    width: Width = "single", height: float | None = None, **subplot_kw: Any
) -> tuple[Figure, Axes]:
    """Make a styled figure with one ``Axes``, not registered with pyplot.

    Args:
        width: ``single`` (3.3 in) or ``double`` (6.9 in) column width.
        height: height in inches; the width's default (2.6 in / 3.0 in) if ``None``.
        **subplot_kw: passed to ``Figure.add_subplot`` (e.g. ``projection="3d"``).

    Raises:
        LandscapeError: for an unknown width or a non-positive height.

    >>> fig, ax = figure("double", 2.0)
    >>> fig.get_size_inches().tolist()
    [6.9, 2.0]

    """
    if width not in WIDTHS:
        raise LandscapeError(f"width: expected one of {', '.join(get_args(Width))} (got {width!r})")
    if height is not None and not height > 0:
        raise LandscapeError(f"height: expected a positive number of inches (got {height!r})")
    size = (WIDTHS[width], HEIGHTS[width] if height is None else height)
    with style_context():
        fig = Figure(figsize=size, layout="constrained")
        ax = fig.add_subplot(**subplot_kw)
    return fig, ax


def check_figure_path(path: str | Path) -> Path:
    """Return ``path`` if its suffix is a format :func:`save` writes.

    Raises:
        LandscapeError: for any other suffix.

    """
    return check_suffix(path, tuple(FORMATS), "a figure file")


def check_suffix(path: str | Path, suffixes: tuple[str, ...], what: str = "a file") -> Path:
    """Return ``path`` as a :class:`~pathlib.Path` if it ends in one of ``suffixes``.

    Raises:
        LandscapeError: ``{path}: expected {what} ending in ...`` for any other suffix.

    """
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise LandscapeError(
            f"{path}: expected {what} ending in {', '.join(suffixes)} "
            f"(got {path.suffix or 'no suffix'!r})"
        )
    return path


def save(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as PDF, SVG or PNG (300 dpi), chosen by the file suffix.

    The file is written to a private temporary (:func:`landscape.store.private_temporary`)
    and renamed into place, so a failed save never leaves a half-written figure. The figure keeps its size: a PNG
    is exactly ``width * 300`` by ``height * 300`` pixels.

    Raises:
        LandscapeError: for an unsupported suffix.

    """
    path = check_figure_path(path)
    fmt = path.suffix.lower()[1:]
    metadata: dict[str, Any] = {"pdf": {"CreationDate": None}, "svg": {"Date": None}, "png": {}}[
        fmt
    ]
    with private_temporary(path) as tmp, style_context():
        fig.savefig(tmp, format=fmt, dpi=PNG_DPI if fmt == "png" else "figure", metadata=metadata)
    return path
