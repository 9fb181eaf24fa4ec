"""Torch-free result records, at the bottom of the stack: what io reads and writes.

Every record is a frozen dataclass of numpy arrays and plain Python values, so
:mod:`landscape.io`, :mod:`landscape.report` and :mod:`landscape.plotting`
use them without importing torch. The maths keeps its own tensor types where
it needs them (e.g. :class:`landscape.curvature.results.EigenResult` with
tensor eigenvectors for warm starts) and converts at the pipeline boundary.

Counts of operator applications are called ``num_matvecs`` everywhere.

One module per kind (:mod:`.surface`, :mod:`.curvature`, :mod:`.dynamics`,
:mod:`.compare`); every record is importable from this package.
"""

from landscape.records.compare import (
    Claim,
    Comparison,
    CurvatureSeries,
    Profile,
    RunResult,
    RunSpectrum,
    RunSummary,
    Series,
    Stability,
    WeightNorms,
)
from landscape.records.curvature import (
    CurvatureMap,
    Eigenpairs,
    Sharpness,
    SpectralDensity,
    Spectrum,
    TaylorModel,
    TraceEstimate,
)
from landscape.records.dynamics import Finding, FindingKind, Phase, PhaseName
from landscape.records.surface import Source, Surface, Trajectory

__all__ = [
    "Claim",
    "Comparison",
    "CurvatureMap",
    "CurvatureSeries",
    "Eigenpairs",
    "Finding",
    "FindingKind",
    "Phase",
    "PhaseName",
    "Profile",
    "RunResult",
    "RunSpectrum",
    "RunSummary",
    "Series",
    "Sharpness",
    "Source",
    "SpectralDensity",
    "Spectrum",
    "Stability",
    "Surface",
    "TaylorModel",
    "TraceEstimate",
    "Trajectory",
    "WeightNorms",
]
