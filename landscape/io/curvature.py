"""The ``curvature/`` group: Hessian spectra, sharpness, and curvature over a surface.

Layout (each subgroup carries its own JSON ``config`` attribute, so the
``hessian``, ``sharpness`` and ``curvature-map`` commands can share one file)::

    curvature/hessian/            attrs: config
        top/, bottom/             eigenvalues, residuals, converged (datasets);
                                  attrs num_matvecs, tol; vectors/v0, v1, ... (name-keyed)
        trace/                    attrs estimate, std_error, num_matvecs, method
        density/                  grid, density, nodes, weights; attrs sigma, num_matvecs
    curvature/sharpness/          attrs: config
        <measure>/                attrs value, std_error, settings (JSON), citation
    curvature/map/                attrs: config; lambda_max, lambda_min, ratio, done
    curvature/taylor/             attrs: config, loss0; train_loss, residual, slopes, curvatures

Files written before the count was renamed store ``num_hvps`` instead of
``num_matvecs`` (attributes and sharpness settings); they read the same.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from landscape import records
from landscape.errors import LandscapeError
from landscape.store import atomic_update, config_json, open_read, read_params, write_params

GROUP = "curvature"
COUNT = "num_matvecs"
OLD_COUNT = "num_hvps"
"""The name of the operator-application count in files written before it was renamed."""
MAP = f"{GROUP}/map"
TAYLOR = f"{GROUP}/taylor"


def _count(attrs: Any) -> int:
    return int(attrs[COUNT] if COUNT in attrs else attrs[OLD_COUNT])


def create_stage(
    path: str | Path, kind: str, config: dict[str, Any], *, command: str | None = None
) -> None:
    """Start ``curvature/<kind>`` afresh with its ``config`` (a new file if there is none)."""
    with atomic_update(path, new=not Path(path).exists(), command=command) as f:
        if f"{GROUP}/{kind}" in f:
            del f[f"{GROUP}/{kind}"]
        f.require_group(f"{GROUP}/{kind}").attrs["config"] = config_json(config)


def stored_stages(path: str | Path, kind: str) -> set[str]:
    """Names of the stages already stored in ``curvature/<kind>`` of ``path``."""
    with open_read(path) as f:
        return set(f[f"{GROUP}/{kind}"])


def write_eigen(parent: h5py.Group, name: str, result: records.Eigenpairs) -> None:
    """Store eigenpairs (vectors name-keyed) under ``parent/name``."""
    if name in parent:
        del parent[name]
    g = parent.create_group(name)
    g.create_dataset("eigenvalues", data=np.asarray(result.eigenvalues, dtype=np.float64))
    g.create_dataset("residuals", data=np.asarray(result.residuals, dtype=np.float64))
    g.create_dataset("converged", data=np.asarray(result.converged, dtype=bool))
    if result.error_bounds is not None:
        g.create_dataset("error_bounds", data=np.asarray(result.error_bounds, dtype=np.float64))
    g.attrs[COUNT] = result.num_matvecs
    g.attrs["tol"] = result.tol
    vectors = g.create_group("vectors")
    for i, v in enumerate(result.eigenvectors):
        write_params(vectors, f"v{i}", v)


def write_trace(parent: h5py.Group, est: records.TraceEstimate) -> None:
    """Store a trace estimate as attributes of ``parent/trace``."""
    g = parent.require_group("trace")
    g.attrs.update(
        {
            "estimate": est.estimate,
            "std_error": est.std_error,
            COUNT: est.num_matvecs,
            "method": est.method,
        }
    )


def write_density(parent: h5py.Group, d: records.SpectralDensity) -> None:
    """Store a spectral density under ``parent/density``."""
    if "density" in parent:
        del parent["density"]
    g = parent.create_group("density")
    for key in ("grid", "density", "nodes", "weights"):
        g.create_dataset(key, data=getattr(d, key))
    g.attrs.update({"sigma": d.sigma, COUNT: d.num_matvecs})


def write_sharpness(parent: h5py.Group, s: records.Sharpness) -> None:
    """Store one sharpness measure as attributes of ``parent/<measure>``."""
    g = parent.require_group(s.measure)
    g.attrs.update(
        {
            "value": s.value,
            "std_error": s.std_error,
            "settings": json.dumps(s.settings, sort_keys=True),
            "citation": s.citation,
        }
    )


def read_sharpness(group: h5py.Group) -> dict[str, records.Sharpness]:
    """All measures stored in a ``curvature/sharpness`` group, by name."""
    out = {}
    for name, g in group.items():
        if "value" not in g.attrs:
            continue
        settings = json.loads(g.attrs["settings"])
        if OLD_COUNT in settings:
            settings[COUNT] = settings.pop(OLD_COUNT)
        out[name] = records.Sharpness(
            name,
            float(g.attrs["value"]),
            float(g.attrs["std_error"]),
            settings,
            str(g.attrs["citation"]),
        )
    return out


def read_eigen(g: h5py.Group) -> records.Eigenpairs:
    """Eigenpairs written by :func:`write_eigen`."""
    return records.Eigenpairs(
        eigenvalues=g["eigenvalues"][()],
        eigenvectors=tuple(
            read_params(g["vectors"][f"v{i}"]) for i in range(len(g["eigenvalues"]))
        ),
        residuals=g["residuals"][()],
        converged=g["converged"][()],
        num_matvecs=_count(g.attrs),
        tol=float(g.attrs["tol"]),
        error_bounds=g["error_bounds"][()] if "error_bounds" in g else None,
    )


def read_hessian(group: h5py.Group) -> dict[str, Any]:
    """Read the stages stored in ``curvature/hessian`` (top, bottom, trace, density)."""
    out: dict[str, Any] = {
        name: read_eigen(group[name]) for name in ("top", "bottom") if name in group
    }
    if "trace" in group:
        a = group["trace"].attrs
        out["trace"] = records.TraceEstimate(
            float(a["estimate"]), float(a["std_error"]), _count(a), str(a["method"])
        )
    if "density" in group:
        d = group["density"]
        out["density"] = records.SpectralDensity(
            d["grid"][()],
            d["density"][()],
            d["nodes"][()],
            d["weights"][()],
            float(d.attrs["sigma"]),
            _count(d.attrs),
        )
    return out


def read_stages(path: str | Path, kind: str) -> dict[str, Any]:
    """Every stage stored in ``curvature/<kind>`` (``hessian`` or ``sharpness``) of ``path``."""
    reader = read_hessian if kind == "hessian" else read_sharpness
    with open_read(path) as f:
        return reader(f[f"{GROUP}/{kind}"])


def write_stage(path: str | Path, kind: str, name: str, result: Any) -> None:
    """Commit one finished stage to ``curvature/<kind>`` of ``path`` (one transaction)."""
    with atomic_update(path) as f:
        g = f[f"{GROUP}/{kind}"]
        if isinstance(result, records.Eigenpairs):
            write_eigen(g, name, result)
        elif isinstance(result, records.TraceEstimate):
            write_trace(g, result)
        elif isinstance(result, records.SpectralDensity):
            write_density(g, result)
        elif isinstance(result, records.Sharpness):
            write_sharpness(g, result)
        else:
            raise TypeError(f"write_stage: no curvature layout for {type(result).__name__}")


def read_spectrum(path: str | Path) -> records.Spectrum:
    """The Hessian spectrum stored by ``landscape hessian``.

    Raises:
        LandscapeError: if the file holds no ``curvature/hessian/top``.

    """
    with open_read(path) as f:
        if f"{GROUP}/hessian/top" not in f:
            raise LandscapeError(
                f"{path}: no Hessian spectrum (curvature/hessian); run 'landscape hessian' first"
            )
        return records.Spectrum(**read_hessian(f[f"{GROUP}/hessian"]))


def read_map(path: str | Path) -> records.CurvatureMap:
    """The λ_max/λ_min map stored by ``landscape curvature-map``.

    Raises:
        LandscapeError: if the file holds no ``curvature/map``.

    """
    with open_read(path) as f:
        if MAP not in f:
            raise LandscapeError(
                f"{path}: no curvature map (curvature/map); run 'landscape curvature-map' first"
            )
        g = f[MAP]
        return records.CurvatureMap(
            *(g[k][()] for k in ("lambda_max", "lambda_min", "ratio", "done"))
        )


def write_map(
    path: str | Path, config: dict[str, Any], m: records.CurvatureMap, *, new: bool = False
) -> None:
    """Store (or, with ``new``, replace) ``curvature/map`` of a surface file."""
    with atomic_update(path) as f:
        if new and MAP in f:
            del f[MAP]
        g = f.require_group(MAP)
        g.attrs["config"] = config_json(config)
        for name in ("lambda_max", "lambda_min", "ratio", "done"):
            if name in g:
                del g[name]
            g.create_dataset(name, data=getattr(m, name))


def write_taylor(path: str | Path, model: records.TaylorModel, config: dict[str, Any]) -> None:
    """Store a Taylor model in ``curvature/taylor`` of a surface file (replacing an older one)."""
    with atomic_update(path) as f:
        if TAYLOR in f:
            del f[TAYLOR]
        g = f.require_group(TAYLOR)
        g.attrs["config"] = config_json(config)
        g.attrs["loss0"] = model.loss0
        g.create_dataset("train_loss", data=model.values)
        g.create_dataset("residual", data=model.residual)
        g.create_dataset("slopes", data=model.slopes)
        g.create_dataset("curvatures", data=model.curvatures)
