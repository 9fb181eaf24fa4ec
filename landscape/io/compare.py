"""``compare.h5``: what ``landscape compare`` measured, and its cache of curvature per run.

Layout (besides the root provenance attributes of every file)::

    compare/                attrs: config (JSON), runs (JSON list), train_target, val_target,
                            matched_loss, targets (how the targets were set, in words)
    compare/<run>/          attrs: summary (JSON of RunSummary)
                            datasets: epoch, step, train_loss, val_loss, train_acc, val_acc
    compare/<run>/stability attrs: source, preconditioned; datasets: epoch, step,
                            sharpness, lambda_max, threshold
    compare/<run>/profile   attrs: path (surface file, relative to compare.h5);
                            datasets: x, train_loss, test_loss
    compare/<run>/weights   datasets: epoch, step, norm (||w_k|| at each checkpoint)
    compare/<run>/spectrum  attrs: num_matvecs; datasets: top (largest eigenvalues at the
                            last checkpoint), grid, density (SLQ; empty when not asked for)
    curvature/              attrs: config (JSON)
    curvature/<run>/        attrs: fingerprint, trace, trace_stderr, rows, full;
                            datasets: epoch, step, lambda_max, precond_lambda_max, threshold,
                            batch_lambda_max (λ_max on disjoint sub-samples at the end);
                            group spectrum (as under compare/<run>)
    findings/               one row per claim (:mod:`landscape.io.findings`);
                            attrs: test, alpha, level, contenders (JSON: label -> runs)
    trajectory/             attrs: config (JSON), labels (JSON), origin_label, surface
                            (optional: ``plane.h5``, the training loss on the plane);
                            datasets: coords, epoch, step, run, residual, lambda_max,
                            explained_variance_ratio
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from landscape import records
from landscape.errors import LandscapeError
from landscape.io.findings import GROUP as FINDINGS
from landscape.io.findings import read_findings, write_findings
from landscape.io.trajectory import read_group
from landscape.store import atomic_update, check_resumable, config_json, open_read

COMPARE = "compare"
CURVATURE = "curvature"
TRAJECTORY = "trajectory"
SERIES_KEYS = ("epoch", "step", "train_loss", "val_loss", "train_acc", "val_acc")
STABILITY_KEYS = ("epoch", "step", "sharpness", "lambda_max", "threshold")
WEIGHT_KEYS = ("epoch", "step", "norm")
SPECTRUM_KEYS = ("top", "grid", "density")
CURVATURE_KEYS = ("epoch", "step", "lambda_max", "precond_lambda_max", "threshold")
PLANE_KEYS = (
    "coords",
    "epoch",
    "step",
    "run",
    "residual",
    "lambda_max",
    "explained_variance_ratio",
)
_PLANE_FIELDS = dict(
    zip(
        PLANE_KEYS,
        ("coords", "epochs", "steps", "run", "residual", "lambda_max", "explained_variance_ratio"),
        strict=True,
    )
)


def write_comparison(f: h5py.File, comparison: records.Comparison) -> None:
    """Write the ``compare/`` and ``trajectory/`` groups of ``comparison`` into an open file."""
    for name in (COMPARE, TRAJECTORY):
        if name in f:
            del f[name]
    g = f.create_group(COMPARE)
    g.attrs["config"] = config_json(comparison.config)
    g.attrs["runs"] = json.dumps([r.summary.name for r in comparison.runs])
    g.attrs["train_target"] = comparison.train_target
    g.attrs["val_target"] = comparison.val_target
    g.attrs["matched_loss"] = comparison.matched_loss
    g.attrs["targets"] = comparison.targets
    for r in comparison.runs:
        rg = g.create_group(r.summary.name)
        rg.attrs["summary"] = r.summary.to_json()
        for k in SERIES_KEYS:
            rg.create_dataset(k, data=getattr(r.series, k))
        sg = rg.create_group("stability")
        sg.attrs["source"] = r.stability.source
        sg.attrs["preconditioned"] = r.stability.preconditioned
        for k in STABILITY_KEYS:
            sg.create_dataset(k, data=getattr(r.stability, k))
        if r.profile is not None:
            pg = rg.create_group("profile")
            pg.attrs["path"] = r.profile.path
            for k in ("x", "train_loss", "test_loss"):
                pg.create_dataset(k, data=getattr(r.profile, k))
        if r.weights is not None:
            wg = rg.create_group("weights")
            for k in WEIGHT_KEYS:
                wg.create_dataset(k, data=getattr(r.weights, k))
        if r.spectrum is not None:
            _write_spectrum(rg, r.spectrum)
    if comparison.plane is not None:
        _write_plane(f, comparison.plane)


def _write_spectrum(parent: h5py.Group, spectrum: records.RunSpectrum) -> None:
    g = parent.create_group("spectrum")
    g.attrs["num_matvecs"] = spectrum.num_matvecs
    for k in SPECTRUM_KEYS:
        g.create_dataset(k, data=np.asarray(getattr(spectrum, k), np.float64))


def _read_spectrum(parent: h5py.Group) -> records.RunSpectrum | None:
    if "spectrum" not in parent:
        return None
    g = parent["spectrum"]
    return records.RunSpectrum(*(g[k][()] for k in SPECTRUM_KEYS), int(g.attrs["num_matvecs"]))


def _write_plane(f: h5py.File, p: records.Trajectory) -> None:
    if p.lambda_max is None:
        raise LandscapeError("comparison: the shared plane needs λ_max at every checkpoint")
    tg = f.create_group(TRAJECTORY)
    tg.attrs["config"] = config_json({"kind": "shared pca plane", "origin": p.origin_label})
    tg.attrs["labels"] = json.dumps(list(p.labels))
    tg.attrs["origin_label"] = p.origin_label
    if p.surface is not None:
        tg.attrs["surface"] = p.surface
    for k in PLANE_KEYS:
        tg.create_dataset(k, data=getattr(p, _PLANE_FIELDS[k]))


def read_comparison(path: str | Path) -> records.Comparison:
    """Read a ``compare.h5`` written by ``landscape compare``.

    Raises:
        LandscapeError: if the file is missing or holds no comparison.

    """
    path = Path(path)
    with open_read(path) as f:
        if COMPARE not in f:
            raise LandscapeError(
                f"{path}: no '{COMPARE}' group; expected a file written by 'landscape compare'"
            )
        g = f[COMPARE]
        runs = tuple(_read_run(g[name]) for name in json.loads(g.attrs["runs"]))
        return records.Comparison(
            path=path,
            config=json.loads(g.attrs["config"]),
            train_target=float(g.attrs["train_target"]),
            val_target=float(g.attrs["val_target"]),
            runs=runs,
            plane=read_group(f[TRAJECTORY]) if TRAJECTORY in f else None,
            matched_loss=float(g.attrs.get("matched_loss", np.nan)),
            targets=str(g.attrs.get("targets", "")),
        )


def _read_run(rg: h5py.Group) -> records.RunResult:
    sg = rg["stability"]
    profile = None
    if "profile" in rg:
        pg = rg["profile"]
        profile = records.Profile(
            str(pg.attrs["path"]), *(pg[k][()] for k in ("x", "train_loss", "test_loss"))
        )
    return records.RunResult(
        summary=records.RunSummary.from_json(rg.attrs["summary"]),
        series=records.Series(*(rg[k][()] for k in SERIES_KEYS)),
        stability=records.Stability(
            *(sg[k][()] for k in STABILITY_KEYS),
            source=str(sg.attrs["source"]),  # type: ignore[arg-type]
            preconditioned=bool(sg.attrs["preconditioned"]),
        ),
        profile=profile,
        weights=records.WeightNorms(*(rg["weights"][k][()] for k in WEIGHT_KEYS))
        if "weights" in rg
        else None,
        spectrum=_read_spectrum(rg),
    )


def read_curvature_series(
    path: Path, name: str, fingerprint: str
) -> records.CurvatureSeries | None:
    """The cached curvature of run ``name``, if stored with this ``fingerprint`` (else ``None``)."""
    if not path.exists():
        return None
    with open_read(path) as f:
        g = f.get(f"{CURVATURE}/{name}")
        if g is None or g.attrs.get("fingerprint") != fingerprint:
            return None
        return records.CurvatureSeries(
            *(g[k][()] for k in CURVATURE_KEYS),
            trace=float(g.attrs["trace"]),
            trace_stderr=float(g.attrs["trace_stderr"]),
            rows=int(g.attrs.get("rows", 0)),
            full=bool(g.attrs.get("full", False)),
            batch_lambda_max=g["batch_lambda_max"][()] if "batch_lambda_max" in g else np.zeros(0),
            spectrum=_read_spectrum(g),
        )


def write_curvature_series(
    path: Path,
    name: str,
    fingerprint: str,
    series: records.CurvatureSeries,
    config: dict[str, Any],
    *,
    command: str | None = None,
) -> None:
    """Cache the curvature of run ``name`` in ``curvature/<name>`` (one transaction)."""
    with atomic_update(path, new=not path.exists(), command=command) as f:
        g = f.require_group(CURVATURE)
        g.attrs["config"] = config_json(config)
        if name in g:
            del g[name]
        rg = g.create_group(name)
        rg.attrs["fingerprint"] = fingerprint
        rg.attrs["trace"] = series.trace
        rg.attrs["trace_stderr"] = series.trace_stderr
        rg.attrs["rows"] = series.rows
        rg.attrs["full"] = series.full
        for k in CURVATURE_KEYS:
            rg.create_dataset(k, data=getattr(series, k))
        rg.create_dataset("batch_lambda_max", data=np.asarray(series.batch_lambda_max, np.float64))
        if series.spectrum is not None:
            _write_spectrum(rg, series.spectrum)


def check_curvature_config(path: Path, config: dict[str, Any], *, overwrite: bool) -> None:
    """Refuse (or, with ``overwrite``, forget) a cache made with other curvature settings."""
    if not path.exists():
        return
    if not check_resumable(path, CURVATURE, config, overwrite=overwrite) and overwrite:
        forget_curvature(path)


def forget_curvature(path: Path) -> None:
    """Delete the curvature cache of ``compare.h5`` (made with other settings)."""
    with atomic_update(path) as f:
        if CURVATURE in f:
            del f[CURVATURE]


@dataclass(frozen=True)
class StoredFindings:
    """The ``findings`` group of ``compare.h5`` with the contenders it is about.

    Attributes:
        claims: One claim per row, in report order.
        contenders: The run names behind each contender label (``compare/<run>``).
        alpha: The family-wise error rate of the test.
        level: The confidence level of the intervals.
    """

    claims: tuple[records.Claim, ...]
    contenders: dict[str, tuple[str, ...]]
    alpha: float
    level: float


def write_stored_findings(f: h5py.File, findings: StoredFindings) -> None:
    """Write the ``findings`` group (:mod:`landscape.io.findings`), contenders as an attribute."""
    write_findings(f, findings.claims, alpha=findings.alpha, level=findings.level)
    f[FINDINGS].attrs["contenders"] = json.dumps(
        {k: list(v) for k, v in findings.contenders.items()}
    )


def read_stored_findings(path: str | Path) -> StoredFindings | None:
    """The findings of a ``compare.h5`` (``None`` without the file, or one written before)."""
    path = Path(path)
    if not path.exists():
        return None
    with open_read(path) as f:
        if FINDINGS not in f:
            return None
        g = f[FINDINGS]
        contenders = json.loads(g.attrs.get("contenders", "{}"))
        return StoredFindings(
            claims=tuple(read_findings(f)),
            contenders={k: tuple(v) for k, v in contenders.items()},
            alpha=float(g.attrs["alpha"]),
            level=float(g.attrs["level"]),
        )
