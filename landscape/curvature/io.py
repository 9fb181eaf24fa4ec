"""Write and read curvature results in the ``curvature/`` group of an HDF5 file.

Layout (each subgroup carries its own JSON ``config`` attribute, so the
``hessian`` and ``sharpness`` commands can share one file)::

    curvature/hessian/            attrs: config
        top/, bottom/             eigenvalues, residuals, converged (datasets);
                                  attrs num_hvps, tol; vectors/v0, v1, ... (name-keyed)
        trace/                    attrs estimate, std_error, num_hvps, method
        density/                  grid, density, nodes, weights; attrs sigma, num_hvps
    curvature/sharpness/          attrs: config
        <measure>/                attrs value, std_error, settings (JSON), citation
"""

from __future__ import annotations

import json
from typing import Any

import h5py
import numpy as np
import torch

from landscape.curvature.results import EigenResult, SpectralDensity, TraceEstimate
from landscape.curvature.sharpness import Sharpness
from landscape.params import ParamDict
from landscape.store import config_json, read_params, write_params

GROUP = "curvature"


def stage_group(f: h5py.File, kind: str, config: dict[str, Any]) -> h5py.Group:
    """``curvature/<kind>`` with its ``config`` attribute, created if absent."""
    g = f.require_group(f"{GROUP}/{kind}")
    g.attrs["config"] = config_json(config)
    return g


def write_eigen(parent: h5py.Group, name: str, result: EigenResult, like: ParamDict) -> None:
    """Store eigenpairs (vectors name-keyed, shaped like ``like``) under ``parent/name``."""
    if name in parent:
        del parent[name]
    g = parent.create_group(name)
    g.create_dataset("eigenvalues", data=np.asarray(result.eigenvalues, dtype=np.float64))
    g.create_dataset("residuals", data=np.asarray(result.residuals, dtype=np.float64))
    g.create_dataset("converged", data=np.asarray(result.converged, dtype=bool))
    g.attrs["num_hvps"] = result.num_hvps
    g.attrs["tol"] = result.tol
    vectors = g.create_group("vectors")
    for i, v in enumerate(result.vectors_as_params(like)):
        write_params(vectors, f"v{i}", {k: t.detach().cpu().numpy() for k, t in v.items()})


def write_trace(parent: h5py.Group, est: TraceEstimate) -> None:
    """Store a trace estimate as attributes of ``parent/trace``."""
    g = parent.require_group("trace")
    g.attrs.update(
        {
            "estimate": est.estimate,
            "std_error": est.std_error,
            "num_hvps": est.num_hvps,
            "method": est.method,
        }
    )


def write_density(parent: h5py.Group, d: SpectralDensity) -> None:
    """Store a spectral density under ``parent/density``."""
    if "density" in parent:
        del parent["density"]
    g = parent.create_group("density")
    for key in ("grid", "density", "nodes", "weights"):
        g.create_dataset(key, data=getattr(d, key))
    g.attrs.update({"sigma": d.sigma, "num_hvps": d.num_hvps})


def write_sharpness(parent: h5py.Group, s: Sharpness) -> None:
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


def read_sharpness(group: h5py.Group) -> dict[str, Sharpness]:
    """All measures stored in a ``curvature/sharpness`` group, by name."""
    return {
        name: Sharpness(
            name,
            float(g.attrs["value"]),
            float(g.attrs["std_error"]),
            json.loads(g.attrs["settings"]),
            str(g.attrs["citation"]),
        )
        for name, g in group.items()
        if "value" in g.attrs
    }


def read_eigen(g: h5py.Group) -> EigenResult:
    """Eigenpairs written by :func:`write_eigen` (vectors flattened in stored name order)."""
    vectors = [read_params(g["vectors"][f"v{i}"]) for i in range(len(g["eigenvalues"]))]
    flat = [np.concatenate([np.ravel(a) for a in v.values()]) for v in vectors]
    return EigenResult(
        eigenvalues=g["eigenvalues"][()],
        eigenvectors=torch.from_numpy(np.stack(flat).astype(np.float64)),
        residuals=g["residuals"][()],
        num_hvps=int(g.attrs["num_hvps"]),
        converged=g["converged"][()],
        tol=float(g.attrs["tol"]),
    )


def read_hessian(group: h5py.Group) -> dict[str, Any]:
    """Read the stages stored in ``curvature/hessian`` (top, bottom, trace, density)."""
    out: dict[str, Any] = {
        name: read_eigen(group[name]) for name in ("top", "bottom") if name in group
    }
    if "trace" in group:
        a = group["trace"].attrs
        out["trace"] = TraceEstimate(
            float(a["estimate"]), float(a["std_error"]), int(a["num_hvps"]), str(a["method"])
        )
    if "density" in group:
        d = group["density"]
        out["density"] = SpectralDensity(
            d["grid"][()],
            d["density"][()],
            d["nodes"][()],
            d["weights"][()],
            float(d.attrs["sigma"]),
            int(d.attrs["num_hvps"]),
        )
    return out
