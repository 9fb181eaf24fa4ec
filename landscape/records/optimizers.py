"""Names of the optimizers the toolkit knows, torch-free, defined once.

The curvature code (:mod:`landscape.curvature.preconditioned`), the run summaries
(:mod:`landscape.dynamics.summary`) and the report (:mod:`landscape.report.findings`) all
read these, so that the report needs no torch and the lists cannot drift apart.
"""

from __future__ import annotations

ADAPTIVE = ("adam", "adamw", "rmsprop", "adagrad")
"""Optimizers with a diagonal preconditioner ``P`` (Cohen et al. 2022)."""

DISPLAY_NAMES = {
    "sgd": "SGD",
    "adam": "Adam",
    "adamw": "AdamW",
    "adagrad": "Adagrad",
    "rmsprop": "RMSprop",
}
"""Display names of the optimizers."""
