"""Extra sections of the report: a title, paragraphs, an optional table and bullet lines.

The learning-rate protocol, the edge-of-stability run and the provenance are rendered
through one shape (:class:`Section`) by both the Markdown and the HTML writer.
"""

from __future__ import annotations

from dataclasses import dataclass

from landscape.report.gd_edge import edge_sentences
from landscape.report.lr_protocol import ProtocolText
from landscape.report.provenance import ProvenanceText
from landscape.report.table import Table


@dataclass(frozen=True)
class Section:
    """One section of the report beyond the comparison's own.

    Attributes:
        title: Its heading.
        paragraphs: Text before the table.
        table: A table, if any.
        bullets: Lines after the table, one bullet each.
    """

    title: str
    paragraphs: tuple[str, ...] = ()
    table: Table | None = None
    bullets: tuple[str, ...] = ()


def protocol_section(p: ProtocolText) -> Section:
    """The learning-rate protocol as a section."""
    return Section("Learning-rate protocol", p.lines, p.table)


def edge_section(run_dir: str) -> Section:
    """The full-batch gradient-descent run's edge of stability as a section."""
    return Section("Edge of stability (full-batch gradient descent)", edge_sentences(run_dir))


def provenance_section(p: ProvenanceText) -> Section:
    """The provenance as a section."""
    return Section("Provenance", (), p.table, p.lines)
