"""Write the report of a comparison: ``index.html``, ``report.md`` and ``figures/``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from landscape.records import Comparison
from landscape.records.provenance import Environment
from landscape.records.sweep import LrSweep
from landscape.report.explain import explain
from landscape.report.figures import ReportFigure, SurfacePair, write_figures
from landscape.report.findings import findings_text
from landscape.report.html import html_report
from landscape.report.lr_protocol import lr_protocol
from landscape.report.markdown import markdown_report
from landscape.report.provenance import provenance
from landscape.report.sections import (
    Section,
    edge_section,
    protocol_section,
    provenance_section,
)
from landscape.report.table import summary_table
from landscape.store import private_temporary

FIGURE_DIR = "figures"


@dataclass(frozen=True)
class ReportFiles:
    """What :func:`write_report` wrote.

    Attributes:
        html: the self-contained page.
        markdown: the Markdown version.
        figures: every figure (PDF and PNG) with its caption.
        sentences: the explanation.
        sections: the sections beyond the comparison's own (protocol, edge, provenance).

    """

    html: Path
    markdown: Path
    figures: tuple[ReportFigure, ...]
    sentences: tuple[str, ...]
    sections: tuple[Section, ...] = ()


def _write_text(path: Path, text: str) -> None:
    with private_temporary(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_report(
    c: Comparison,
    folder: str | Path,
    *,
    pair: SurfacePair | None = None,
    run_dirs: Sequence[str | Path] = (),
    sweep: LrSweep | None = None,
    gd_run: str | Path | None = None,
    environment: Environment | None = None,
    extra_runs: Sequence[str | Path] = (),
    title: str = "Why the runs converged differently",
) -> ReportFiles:
    """Write ``index.html``, ``report.md`` and ``figures/*.{png,pdf}`` into ``folder``.

    Args:
        c: the comparison (as read back from ``compare.h5``).
        folder: the report folder.
        pair: two 2D surfaces to show side by side.
        run_dirs: run directories whose dynamics panels to add.
        sweep: the learning-rate sweep that chose the compared rates (its protocol
            section and sensitivity figure).
        gd_run: a gradient-descent run with a sharpness probe (its edge-of-stability
            section and sharpness figure).
        environment: device, threads and rows per split, for the provenance section.
        extra_runs: runs besides the comparison's to list in the provenance section.
        title: the report's title.

    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    figures = write_figures(
        c,
        folder / FIGURE_DIR,
        pair=pair,
        run_dirs=run_dirs,
        sweep=sweep,
        sharpness_runs=[gd_run] if gd_run is not None else [],
    )
    sentences = explain(c)
    table = summary_table(c)
    found = findings_text(c)
    sections = []
    if gd_run is not None:
        sections.append(edge_section(str(gd_run)))
    if sweep is not None:
        sections.append(protocol_section(lr_protocol(sweep)))
    sections.append(provenance_section(provenance(c, env=environment, extra=extra_runs)))
    html, md = folder / "index.html", folder / "report.md"
    _write_text(
        html,
        html_report(c, sentences, table, figures, findings=found, sections=sections, title=title),
    )
    _write_text(
        md,
        markdown_report(
            c,
            sentences,
            table,
            figures,
            folder=folder,
            findings=found,
            sections=sections,
            title=title,
        ),
    )
    return ReportFiles(html, md, tuple(figures), tuple(sentences), tuple(sections))
