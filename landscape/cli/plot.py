"""``landscape plot``: draw a figure (or an HTML/VTK export) from an HDF5 file or a run.

Kinds are dispatched through :data:`KINDS`; each :class:`Kind` names its
function, how it draws (:data:`Draws`) and the options it takes:

* ``axes``: ``fn(path, ax, **options) -> Axes``; the command makes the
  styled figure (``--width``, ``--height``) and saves it;
* ``file``: ``fn(path, out, **options)`` writes ``out`` itself (interactive
  and mesh exports);
* ``figure``: ``fn(path, **options) -> Figure`` makes its own figure (and
  takes ``width``/``height`` if it says so); the command saves it.

Only the options a user gives are passed; one the kind does not take is
refused with one line. The default output lies beside the input file, or
inside a run directory (``RUN/run.dynamics.pdf``). This module imports
neither torch nor the model code.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import click

from landscape.cli.limits import limit_options
from landscape.cli.options import (
    choice_option,
    overwrite_option,
    positive_option,
    verbosity_options,
)
from landscape.cli.threads import threads_option
from landscape.errors import LandscapeError

Draws = Literal["axes", "file", "figure"]
SURFACE_OPTIONS = frozenset({"metric", "log", "vmin", "vmax", "levels"})
EXPORT_OPTIONS = frozenset({"metric", "log", "vmin", "vmax"})


@dataclass(frozen=True)
class Kind:
    """One kind of figure: its function, how it draws, the options it takes, its help.

    Attributes:
        target: ``module:function``, imported only when the kind is drawn.
        help: one line for ``landscape plot --help``.
        draws: ``axes``, ``file`` or ``figure`` (see the module docstring).
        options: the options the function takes, of ``metric``, ``log``,
            ``vmin``, ``vmax``, ``levels``, ``width`` and ``height``.

    """

    target: str
    help: str
    draws: Draws = "axes"
    options: frozenset[str] = SURFACE_OPTIONS


KINDS: dict[str, Kind] = {
    "1d": Kind(
        "landscape.plotting.surface:draw_1d",
        "1D profile: loss and accuracy, train and test, twin axes",
        options=frozenset({"metric", "log"}),
    ),
    "contour": Kind("landscape.plotting.surface:draw_contour", "2D contour lines, labelled levels"),
    "filled": Kind("landscape.plotting.surface:draw_filled", "2D filled contours, colour bar"),
    "3d": Kind(
        "landscape.plotting.surface:draw_3d",
        "3D surface",
        draws="figure",
        options=EXPORT_OPTIONS | {"width"},
    ),
    "html": Kind(
        "landscape.plotting.export:write_html",
        "interactive rotatable 3D surface, .html (needs [viz])",
        draws="file",
        options=EXPORT_OPTIONS,
    ),
    "vtk": Kind(
        "landscape.plotting.export:write_vtk",
        "ParaView mesh, .vtu or .vtk (needs [viz])",
        draws="file",
        options=EXPORT_OPTIONS,
    ),
    "curvature-map": Kind(
        "landscape.plotting.spectrum:plot_curvature_map",
        "|λ_min/λ_max| over a surface (curvature-map output), with loss contours",
        options=frozenset({"metric"}),
    ),
    "spectrum": Kind(
        "landscape.plotting.spectrum:plot_spectrum",
        "Hessian eigenvalues and spectral density",
        options=frozenset(),
    ),
    "contour+path": Kind(
        "landscape.plotting.trajectory:plot_trajectory", "optimizer path over a 2D contour"
    ),
    "connect": Kind(
        "landscape.plotting.connect:plot_connect",
        "loss along paths between solutions",
        draws="figure",
        options=frozenset({"log", "width", "height"}),
    ),
    "sharpness": Kind(
        "landscape.plotting.stability:plot_sharpness",
        "λ_max (and preconditioned λ_max) over steps against the stability threshold",
        draws="figure",
        options=frozenset({"width", "height"}),
    ),
    "dynamics": Kind(
        "landscape.plotting.dynamics:plot_dynamics",
        "training dynamics of a run directory",
        draws="figure",
        options=frozenset({"width", "height"}),
    ),
}
"""Kind name -> :class:`Kind`. Other subcommands' plots register here."""

DEFAULT_SUFFIX: dict[str, str] = {"html": ".html", "vtk": ".vtu"}
"""Suffix of the default output of kinds that write their own format (others: ``.KIND.pdf``)."""


def default_kind(path: Path) -> str:
    """Choose the kind that fits what ``path`` holds.

    A directory is a run (``dynamics``); in an HDF5 file a ``trajectory/``
    group means ``contour+path``, a ``connect/`` group ``connect``, a 2D
    surface ``contour``, a 1D one ``1d``, a ``curvature/`` group ``spectrum``
    and a ``dynamics/`` group ``dynamics``.

    Raises:
        LandscapeError: if the file is unreadable or holds none of these.

    """
    if path.is_dir():
        return "dynamics"
    from landscape.io.describe import contents

    held = contents(path)
    if "trajectory" in held.groups:
        return "contour+path"
    if "connect" in held.groups:
        return "connect"
    if held.surface_ndim is not None:
        return "contour" if held.surface_ndim == 2 else "1d"
    if "curvature" in held.groups:
        return "spectrum"
    if "dynamics" in held.groups:
        return "dynamics"
    names = ", ".join(held.groups) or "nothing"
    raise LandscapeError(
        f"{path}: cannot tell what to draw (it holds {names}); pass --kind ({', '.join(KINDS)})"
    )


def default_out(path: Path, kind: str) -> Path:
    """Name the output beside the input (``surf.h5`` -> ``surf.contour.pdf``) or inside a run.

    A run directory is named as its ``run.h5`` would be, inside it.

    >>> default_out(Path("runs/surf.h5"), "contour+path").as_posix()
    'runs/surf.contour-path.pdf'
    >>> default_out(Path("surf.h5"), "vtk").as_posix()
    'surf.vtu'
    """
    folder, stem = (path, "run") if path.is_dir() else (path.parent, path.stem)
    if kind in DEFAULT_SUFFIX:
        return folder / f"{stem}{DEFAULT_SUFFIX[kind]}"
    return folder / f"{stem}.{kind.replace('+', '-')}.pdf"


def resolve_kind(kind: str) -> Callable[..., Any]:
    """Import the function registered for ``kind``.

    Raises:
        LandscapeError: for an unknown kind, or one whose module is not installed.

    """
    if kind not in KINDS:
        raise LandscapeError(f"--kind: expected one of {', '.join(KINDS)} (got {kind!r})")
    module_name, _, attr = KINDS[kind].target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not module_name.startswith(exc.name):
            raise
        raise LandscapeError(
            f"--kind {kind} is not available: module {module_name} is missing"
        ) from None
    return getattr(module, attr)


def parse_levels(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> int | list[float] | None:
    """``--levels``: a count (``20``) or explicit values (``0.1,0.5,1``)."""
    if value is None:
        return None
    text = value.strip()
    try:
        if "," not in text:
            count = int(text)
            if count < 1:
                raise ValueError
            return count
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise click.BadParameter(
            f"expected a positive count (20) or comma-separated values (0.1,0.5,1); got {value!r}"
        ) from None


def draw(
    path: Path,
    kind: str,
    out: Path,
    options: dict[str, Any],
    *,
    width: str | None,
    height: float | None,
) -> Path:
    """Draw ``kind`` of ``path`` the way the kind draws, and write ``out``.

    Raises:
        LandscapeError: for an option the kind does not take, a bad output
            suffix, or any error of the kind's function.

    """
    fn = resolve_kind(kind)
    spec = KINDS[kind]
    given = {k: v for k, v in options.items() if v is not None}
    layout = {k: v for k, v in (("width", width), ("height", height)) if v is not None}
    if spec.draws == "file":
        _check_accepted(kind, spec, given | layout)
        fn(path, out, **given)
        return out
    from landscape.plotting.style import check_figure_path, figure, save

    check_figure_path(out)
    if spec.draws == "axes":
        _check_accepted(kind, spec, given)
        fig, ax = figure(layout.get("width", "single"), layout.get("height"))
        fn(path, ax, **given)
        return save(fig, out)
    _check_accepted(kind, spec, given | layout)
    return save(fn(path, **given, **layout), out)


def _check_accepted(kind: str, spec: Kind, given: dict[str, Any]) -> None:
    refused = [k for k in given if k not in spec.options]
    if refused:
        flags = ", ".join("--" + k for k in refused)
        raise LandscapeError(f"{flags}: does not apply to --kind {kind}; leave it out")


@click.command(
    help="Draw a figure from an HDF5 file (surface, trajectory, curvature) or a run directory.\n\n"
    "\b\nKinds:\n" + "\n".join(f"  {k:<14}{spec.help}" for k, spec in KINDS.items())
)
@threads_option
@click.argument("source", metavar="FILE_OR_RUN", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--kind",
    default=None,
    help="What to draw (one of the kinds above); default: chosen from what the file holds.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Output .pdf/.svg/.png (.html for html, .vtu/.vtk for vtk); default: beside the "
    "input file, or inside the run directory.",
)
@click.option(
    "--metric",
    default=None,
    help="Dataset to draw (train_loss, test_loss, train_acc, ...); default train_loss.",
)
@click.option(
    "--log/--no-log",
    default=None,
    help="Log colour scale and levels; default: when values span two decades.",
)
@click.option("--vmin", type=float, default=None, help="Lower end of the colour/height range.")
@click.option("--vmax", type=float, default=None, help="Upper end of the colour/height range.")
@click.option(
    "--levels",
    callback=parse_levels,
    default=None,
    help="Contour levels: a count (20) or values (0.1,0.5,1).",
)
@choice_option(
    "--width",
    ("single", "double"),
    None,
    "Column width: single (3.3 in, default) or double (6.9 in).",
)
@positive_option("--height", None, "Figure height in inches.")
@overwrite_option("Replace an existing output file.")
@click.pass_context
@verbosity_options
@limit_options
def command(
    ctx: click.Context,
    *,
    source: Path,
    kind: str | None,
    out: Path | None,
    metric: str | None,
    log: bool | None,
    vmin: float | None,
    vmax: float | None,
    levels: int | list[float] | None,
    width: str | None,
    height: float | None,
    overwrite: bool,
) -> None:
    """Draw ``source`` as ``kind`` into ``out``."""
    from landscape.cli.options import quiet

    kind = kind or default_kind(source)
    out = out or default_out(source, kind)
    if out.exists() and not overwrite:
        raise LandscapeError(
            f"{out} exists; pass --overwrite to replace it or choose another --out"
        )
    options = {"metric": metric, "log": log, "vmin": vmin, "vmax": vmax, "levels": levels}
    written = draw(source, kind, out, options, width=width, height=height)
    if not quiet(ctx):
        click.echo(f"wrote {written}")
