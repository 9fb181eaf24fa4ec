"""Interactive HTML and ParaView (VTK) exports of a 2D surface.

Both come from well-kept libraries rather than hand-written writers: the HTML
page is a plotly ``Surface`` with plotly.js embedded (it opens offline and
rotates in any browser); the VTK file is a quad mesh written by meshio,
``.vtu`` (XML) or ``.vtk`` (legacy), whose height is the chosen metric and
whose point data holds every metric (NaN where not computed), so ParaView can
recolour it by any of them. Both libraries are the optional extra ``viz``::

    pip install 'landscape[viz]'
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from landscape.errors import LandscapeError
from landscape.io.surface import read_surface
from landscape.plotting.levels import ScaleOptions
from landscape.plotting.style import check_suffix
from landscape.plotting.surface import axis_labels, metric_label, use_log, value_range
from landscape.records import Surface
from landscape.store import private_temporary

if TYPE_CHECKING:
    from typing_extensions import Unpack

VTK_FORMATS: dict[str, str] = {".vtu": "vtu", ".vtk": "vtk"}
"""File suffix -> meshio format name."""


def require(module: str) -> ModuleType:
    """Import an optional dependency of the ``viz`` extra.

    Raises:
        LandscapeError: naming the install command, if it is missing.

    """
    try:
        return importlib.import_module(module)
    except ImportError:
        raise LandscapeError(
            f"this export needs the optional package {module!r}; "
            "install it with: pip install 'landscape[viz]'"
        ) from None


def surface_height(
    surface: Surface,
    metric: str | None,
    *,
    log: bool | None,
    vmin: float | None,
    vmax: float | None,
) -> tuple[str, np.ndarray]:
    """Compute the height of a 2D surface: a metric clipped to ``[vmin, vmax]``, log10 if log.

    Returns:
        ``(label, height)`` with ``height`` of shape ``(ny, nx)``, NaN where not computed.

    Raises:
        LandscapeError: for a 1D surface, an unknown metric or an impossible range.

    >>> z = {"train_loss": np.array([[1.0, 100.0]])}
    >>> s = Surface(np.arange(2.0), np.arange(1.0), z, np.ones((1, 2), bool))
    >>> label, h = surface_height(s, None, log=True, vmin=None, vmax=None)
    >>> label, h.tolist()
    ('log10 train loss', [[0.0, 2.0]])

    """
    if surface.y is None:
        raise LandscapeError(
            f"{surface.path}: HTML and VTK exports need a 2D surface (this one is 1D)"
        )
    name, z = surface.metric(metric)
    log = use_log(z, log)
    low, high = value_range(z, vmin, vmax, log=log)
    height = np.clip(z, low, high)
    label = metric_label(name)
    return (f"log10 {label}", np.log10(height)) if log else (label, height)


def write_html(path: str | Path, out: str | Path, **options: Unpack[ScaleOptions]) -> Path:
    """``landscape plot --kind html``: a rotatable 3D surface in one self-contained HTML file.

    Raises:
        LandscapeError: if plotly is missing, the suffix is not ``.html``, or
            the surface cannot be drawn.

    """
    out = check_suffix(out, (".html",))
    go = require("plotly.graph_objects")
    surface = read_surface(path)
    label, height = _height(surface, options)
    xlabel, ylabel = axis_labels(surface)
    fig = go.Figure(
        go.Surface(
            x=surface.x,
            y=surface.y,
            z=height,
            colorscale="Viridis",
            colorbar={"title": {"text": label}},
        )
    )
    fig.update_layout(
        title={"text": f"{label}: {surface.path.name}"},
        scene={"xaxis_title": xlabel, "yaxis_title": ylabel, "zaxis_title": label},
        margin={"l": 0, "r": 0, "t": 40, "b": 0},
    )
    return _atomic(out, lambda tmp: fig.write_html(tmp, include_plotlyjs=True, full_html=True))


def write_vtk(path: str | Path, out: str | Path, **options: Unpack[ScaleOptions]) -> Path:
    """``landscape plot --kind vtk``: a ParaView-readable quad mesh of a 2D surface.

    Point ``iy * nx + ix`` sits at ``(x[ix], y[iy], height[iy, ix])``; quads
    touching a point that is not computed are left out (such points get the
    lowest height). Every metric is attached as point data.

    Raises:
        LandscapeError: if meshio is missing, the suffix is not ``.vtu``/``.vtk``,
            or the surface cannot be drawn.

    """
    out = check_suffix(out, tuple(VTK_FORMATS))
    meshio = require("meshio")
    surface = read_surface(path)
    _, height = _height(surface, options)
    xx, yy = np.meshgrid(surface.x, surface.y)
    finite = np.isfinite(height)
    points = np.column_stack(
        [xx.ravel(), yy.ravel(), np.where(finite, height, np.nanmin(height)).ravel()]
    )
    ny, nx = height.shape
    index = np.arange(ny * nx).reshape(ny, nx)
    quads = np.stack([index[:-1, :-1], index[:-1, 1:], index[1:, 1:], index[1:, :-1]], axis=-1)
    keep = finite[:-1, :-1] & finite[:-1, 1:] & finite[1:, 1:] & finite[1:, :-1]
    mesh = meshio.Mesh(
        points,
        [("quad", quads[keep].reshape(-1, 4))],
        point_data={name: v.ravel() for name, v in surface.values.items()}
        | {"height": height.ravel()},
    )
    fmt = VTK_FORMATS[out.suffix.lower()]
    return _atomic(out, lambda tmp: meshio.write(tmp, mesh, file_format=fmt))


def _height(surface: Surface, options: ScaleOptions) -> tuple[str, np.ndarray]:
    return surface_height(
        surface,
        options.get("metric"),
        log=options.get("log"),
        vmin=options.get("vmin"),
        vmax=options.get("vmax"),
    )


def _atomic(out: Path, write: Callable[[Path], object]) -> Path:
    with private_temporary(out) as tmp:
        write(tmp)
    return out
