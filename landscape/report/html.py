"""``index.html``: the report as one self-contained page, figures embedded as base64 PNG.

The page needs no network and no other file: styles are inline and every
figure is a ``data:image/png;base64`` URI, so it opens offline and can be
mailed as one file.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from html import escape

from landscape.plotting.style import WIDTHS
from landscape.records import Comparison
from landscape.report.figures import ReportFigure
from landscape.report.findings import FindingsText
from landscape.report.sections import Section
from landscape.report.table import Table, findings_lines

CSS = """
body { font-family: -apple-system, "DejaVu Sans", Arial, sans-serif; max-width: 70rem;
       margin: 2rem auto; padding: 0 1rem; color: #222; line-height: 1.45; }
.scroll { overflow-x: auto; max-width: 100%; margin: 1rem 0; }
table { border-collapse: collapse; font-size: 0.85rem; }
th, td { border-bottom: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: right;
         white-space: nowrap; }
th { white-space: normal; vertical-align: bottom; }
th:first-child, td:first-child { text-align: left; position: sticky; left: 0;
                                 background: #fff; }
figure { margin: 2rem 0; max-width: 56rem; } figure img { height: auto; }
figcaption { font-size: 0.9rem; color: #444; }
.notes { font-size: 0.8rem; color: #555; }
"""


def png_data_uri(png: bytes) -> str:
    """Encode PNG bytes as a ``data:`` URI.

    >>> png_data_uri(b"abc")
    'data:image/png;base64,YWJj'
    """
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def figure_width(f: ReportFigure) -> str:
    """The CSS width of a figure: its width over the double-column width, as a percentage.

    Every figure is then shown at one scale (a single-column figure at 48 % of a double
    one), so text and lines have one size on the page whatever the figure.

    >>> from pathlib import Path
    >>> figure_width(ReportFigure("a", "A", "", Path("a.png"), Path("a.pdf"), (3.3, 2.6)))
    '47.83%'
    """
    return f"{100 * min(f.size[0] / WIDTHS['double'], 1.0):.2f}%"


MAX_COLUMNS = 10
"""A table with more columns after its first is split into parts of at most this many."""


def column_parts(columns: int, most: int = MAX_COLUMNS) -> list[range]:
    """Balanced runs of the columns after the first, each at most ``most`` long.

    >>> column_parts(24)
    [range(1, 9), range(9, 17), range(17, 24)]
    >>> column_parts(10), column_parts(1)
    ([range(1, 10)], [range(1, 1)])
    """
    data = columns - 1
    if data <= 0:
        return [range(1, 1)]
    parts = -(-data // most)
    size = -(-data // parts)
    return [range(a, min(a + size, columns)) for a in range(1, columns, size)]


def html_table(table: Table) -> str:
    """Render a table as HTML (every cell escaped), split so each part fits a 1024 px page.

    More than :data:`MAX_COLUMNS` columns after the first are split into balanced parts,
    each a table of its own that repeats the first (run) column; headers wrap, cells do
    not. Each part still scrolls sideways inside its own box, with the run column kept in
    view, should it be wider than the page.

    >>> out = html_table(Table(("run", "loss"), (("A<1>", "0.5"),), ()))
    >>> out.startswith('<div class="scroll"><table>'), "<td>A&lt;1&gt;</td>" in out
    (True, True)
    """
    out = []
    for part in column_parts(len(table.headers)):
        keep = [0, *part]
        head = "".join(f"<th>{escape(table.headers[j])}</th>" for j in keep)
        body = "".join(
            "<tr>" + "".join(f"<td>{escape(row[j])}</td>" for j in keep) + "</tr>"
            for row in table.rows
        )
        out.append(
            f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>"
        )
    return "\n".join(out)


def html_section(sec: Section) -> list[str]:
    """The HTML of one extra section (heading, paragraphs, table, bullets)."""
    parts = [f"<h2>{escape(sec.title)}</h2>", *(f"<p>{escape(p)}</p>" for p in sec.paragraphs)]
    if sec.table is not None:
        parts.append(html_table(sec.table))
    if sec.bullets:
        parts += ["<ul>", *(f"<li>{escape(b)}</li>" for b in sec.bullets), "</ul>"]
    return parts


def html_report(
    c: Comparison,
    sentences: Sequence[str],
    table: Table,
    figures: Sequence[ReportFigure],
    *,
    findings: FindingsText | None = None,
    sections: Sequence[Section] = (),
    title: str = "Why the runs converged differently",
) -> str:
    """Render the whole report as one HTML page with the figures embedded."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        "<h2>In short</h2><ul>",
        *(f"<li>{escape(s)}</li>" for s in sentences),
        "</ul>",
        *_findings_html(findings),
        "<h2>The numbers</h2>",
        html_table(table),
        '<ul class="notes">',
        *(f"<li>{escape(n)}</li>" for n in table.notes),
        "</ul>",
        f"<p>Targets: training loss {c.train_target:.4g}, validation loss {c.val_target:.4g}.</p>",
        "<h2>Phases and problems</h2>",
    ]
    for r in c.runs:
        parts.append(f"<h3>{escape(r.summary.label)} ({escape(r.summary.name)})</h3><ul>")
        parts += [f"<li>{escape(line)}</li>" for line in findings_lines(r.summary)]
        parts.append("</ul>")
    for sec in sections:
        parts += html_section(sec)
    parts.append("<h2>Figures</h2>")
    for i, f in enumerate(figures, 1):
        uri = png_data_uri(f.png.read_bytes())
        parts.append(
            f'<figure id="{escape(f.name)}"><img src="{uri}" alt="{escape(f.title)}" '
            f'style="width: {figure_width(f)}">'
            f"<figcaption><b>Figure {i}. {escape(f.title)}.</b> {escape(f.caption)} "
            f"(vector version: figures/{escape(f.pdf.name)})</figcaption></figure>"
        )
    parts.append(
        f'<hr><p class="notes">Numbers from {escape(c.path.name)}; every figure was drawn from the '
        "HDF5 files alone.</p></body></html>"
    )
    return "\n".join(parts)


def _findings_html(findings: FindingsText | None) -> list[str]:
    """The "Findings" section: the test, every difference, the mechanisms."""
    if findings is None:
        return []
    parts = ["<h2>Findings</h2>", f"<p>{escape(findings.method)}</p><ul>"]
    parts += [f"<li>{escape(s)}</li>" for s in findings.differences] or [
        "<li>(a single contender)</li>"
    ]
    parts.append("</ul>")
    if findings.mechanisms:
        parts.append("<p>Mechanisms:</p><ul>")
        parts += [f"<li>{escape(s)}</li>" for s in findings.mechanisms]
        parts.append("</ul>")
    return parts
