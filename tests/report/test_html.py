"""The report page at 1024 px: figures at one scale, the wide table split into parts."""

import re
from pathlib import Path

from landscape.report.figures import ReportFigure
from landscape.report.html import column_parts, figure_width, html_table
from landscape.report.table import Table


def test_figures_are_shown_at_one_scale():
    single = ReportFigure("s", "S", "", Path("s.png"), Path("s.pdf"), (3.3, 2.6))
    double = ReportFigure("d", "D", "", Path("d.png"), Path("d.pdf"), (6.9, 3.0))
    widths = [float(figure_width(f).rstrip("%")) for f in (single, double)]
    assert widths[1] == 100.0 and abs(widths[0] / widths[1] - 3.3 / 6.9) < 1e-3


def test_a_wide_table_is_split_with_the_run_column_repeated():
    headers = ("run", *(f"c{j}" for j in range(1, 24)))
    rows = tuple((f"run{i}", *(f"{i}.{j}" for j in range(1, 24))) for i in range(3))
    out = html_table(Table(headers, rows, ()))
    tables = re.findall(r"<table>.*?</table>", out)
    assert len(tables) == 3
    for part, table in zip(column_parts(24), tables, strict=True):
        assert len(part) <= 10
        heads = re.findall(r"<th>(.*?)</th>", table)
        assert heads == ["run", *(f"c{j}" for j in part)]
        assert re.findall(r"<tr><td>(run\d)</td>", table) == ["run0", "run1", "run2"]
    cells = re.findall(r"<td>(\d\.\d+)</td>", out)
    assert sorted(cells) == sorted(f"{i}.{j}" for i in range(3) for j in range(1, 24))
    narrow = html_table(Table(headers[:8], tuple(r[:8] for r in rows), ()))
    assert narrow.count("<table>") == 1
