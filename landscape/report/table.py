"""The table of numbers of the report: one row per run, one formatting rule for every cell."""

from __future__ import annotations

import math
from dataclasses import dataclass

from landscape.records import Comparison, RunSummary


@dataclass(frozen=True)
class Column:
    """A column: header, the :class:`RunSummary` field it shows, and a note on its meaning."""

    header: str
    field: str
    note: str


COLUMNS: tuple[Column, ...] = (
    Column("η", "lr", "base learning rate"),
    Column(
        "epochs to val target",
        "epochs_to_val_target",
        "first epoch with validation loss <= the target (— never)",
    ),
    Column("steps to val target", "steps_to_val_target", "optimizer steps at that epoch"),
    Column(
        "epochs to train target",
        "epochs_to_train_target",
        "first epoch with training loss <= the target",
    ),
    Column("train loss", "final_train_loss", "final training loss (full split, eval mode)"),
    Column("val loss", "final_val_loss", "final validation loss"),
    Column("gap", "loss_gap", "generalization gap: val loss − train loss"),
    Column("train acc", "final_train_acc", "final training accuracy"),
    Column("val acc", "final_val_acc", "final validation accuracy"),
    Column(
        "λ_max", "lambda_max", "top Hessian eigenvalue of the training loss at the end (Lanczos)"
    ),
    Column(
        "λ_max SE",
        "lambda_max_stderr",
        "batch-means standard error of λ_max over disjoint sub-samples of its rows",
    ),
    Column("λ_max rows", "curvature_rows", "training rows λ_max was measured on (the first rows)"),
    Column(
        "λ_max at matched loss",
        "lambda_max_matched",
        "λ_max at the run's first measured checkpoint at or below the matched training loss",
    ),
    Column("matched epoch", "matched_epoch", "the epoch of that checkpoint (— never reached)"),
    Column(
        "λ_max(P⁻¹H)",
        "precond_lambda_max",
        "preconditioned sharpness at the end (adaptive optimizers)",
    ),
    Column("threshold", "threshold", "the optimizer's stability threshold (2/η for SGD)"),
    Column("sharpness / threshold", "stability_ratio", "1 = edge of stability"),
    Column(
        "edge share",
        "edge_share",
        "share of training steps in sustained stretches at the edge of stability",
    ),
    Column("tr(H)", "trace", "Hutchinson estimate of the Hessian trace at the end"),
    Column(
        "profile rise",
        "profile_rise",
        "mean rise of the 1D filter-normalized profile at α = ±radius",
    ),
    Column("‖w_T‖", "weight_norm", "weight norm at the end (every trainable parameter)"),
    Column("‖w_T − w_0‖", "distance_from_init", "distance from initialization"),
    Column("path length", "distance_travelled", "distance travelled through the checkpoints"),
)
"""The numeric columns, in display order (the run label comes first)."""


def format_number(value: float | int | None) -> str:
    """Format a number the one way the report does: 4 significant digits, ``—`` for none/NaN.

    >>> format_number(0.123456), format_number(12), format_number(None), format_number(float("nan"))
    ('0.1235', '12', '—', '—')
    """
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, int):
        return str(value)
    return f"{value:.4g}"


@dataclass(frozen=True)
class Table:
    """Headers, rows of formatted cells and the notes that explain the columns."""

    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    notes: tuple[str, ...]


def summary_row(s: RunSummary) -> tuple[str, ...]:
    """Return the table row of one run: its label, then every column of :data:`COLUMNS`."""
    return (s.label, *(format_number(getattr(s, col.field)) for col in COLUMNS))


def summary_table(c: Comparison) -> Table:
    """Build the report's table of a comparison."""
    return Table(
        headers=("run", *(col.header for col in COLUMNS)),
        rows=tuple(summary_row(r.summary) for r in c.runs),
        notes=tuple(f"{col.header}: {col.note}" for col in COLUMNS),
    )


def findings_lines(s: RunSummary) -> list[str]:
    """Phases and problems of a run, one line each."""
    lines = []
    for i, p in enumerate(s.phases):
        end = p.end_epoch if i == len(s.phases) - 1 else p.end_epoch - 1
        lines.append(f"{p.name}: epochs {p.start_epoch}–{end}")
    lines += [f"{f.kind} from epoch {f.start_epoch}: {f.detail}" for f in s.findings]
    return lines or ["no phases detected (the training loss did not improve)"]
