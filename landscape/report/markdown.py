"""``report.md``: the report as Markdown, figures linked as relative PNG paths."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from landscape.records import Comparison
from landscape.report.figures import ReportFigure
from landscape.report.findings import FindingsText
from landscape.report.sections import Section
from landscape.report.table import Table, findings_lines


def markdown_table(table: Table) -> str:
    """Render a table as GitHub-flavoured Markdown.

    >>> print(markdown_table(Table(("run", "loss"), (("A", "0.5"),), ())))
    | run | loss |
    | --- | ---: |
    | A | 0.5 |
    """
    align = ["---"] + ["---:"] * (len(table.headers) - 1)
    lines = ["| " + " | ".join(table.headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in table.rows]
    return "\n".join(lines)


def markdown_section(sec: Section) -> list[str]:
    """The lines of one extra section (heading, paragraphs, table, bullets)."""
    parts = [f"## {sec.title}", ""]
    for p in sec.paragraphs:
        parts += [p, ""]
    if sec.table is not None:
        parts += [markdown_table(sec.table), ""]
    if sec.bullets:
        parts += [*(f"- {b}" for b in sec.bullets), ""]
    return parts


def markdown_report(
    c: Comparison,
    sentences: Sequence[str],
    table: Table,
    figures: Sequence[ReportFigure],
    *,
    folder: Path,
    findings: FindingsText | None = None,
    sections: Sequence[Section] = (),
    title: str = "Why the runs converged differently",
) -> str:
    """Render the whole report as Markdown; figure paths are relative to ``folder``."""
    parts = [f"# {title}", "", "## In short", ""]
    parts += [f"- {s}" for s in sentences] or ["- (nothing to report)"]
    if findings is not None:
        parts += ["", "## Findings", "", findings.method, ""]
        parts += [f"- {s}" for s in findings.differences] or ["- (a single contender)"]
        if findings.mechanisms:
            parts += ["", "Mechanisms:", ""]
            parts += [f"- {s}" for s in findings.mechanisms]
    parts += ["", "## The numbers", "", markdown_table(table), ""]
    parts += [f"- {n}" for n in table.notes]
    parts += [
        "",
        f"Targets: training loss {c.train_target:.4g}, validation loss {c.val_target:.4g}.",
        "",
        "## Phases and problems",
        "",
    ]
    for r in c.runs:
        parts.append(f"**{r.summary.label}** ({r.summary.name})")
        parts.append("")
        parts += [f"- {line}" for line in findings_lines(r.summary)]
        parts.append("")
    for sec in sections:
        parts += markdown_section(sec)
    parts += ["## Figures", ""]
    for i, f in enumerate(figures, 1):
        rel = Path(os.path.relpath(f.png, folder)).as_posix()
        pdf = Path(os.path.relpath(f.pdf, folder)).as_posix()
        parts += [
            f"### Figure {i}. {f.title}",
            "",
            f"![{f.title}]({rel})",
            "",
            f"{f.caption} ([PDF]({pdf}))",
            "",
        ]
    parts += [
        "---",
        f"Numbers from `{c.path.name}`; every figure was drawn from the HDF5 files alone.",
        "",
    ]
    return "\n".join(parts)
