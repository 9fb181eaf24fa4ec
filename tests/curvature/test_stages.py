"""Curvature stages as a person waiting sees them: progress with totals and ETA (issue 18 item 8)."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from landscape import progress
from landscape.cli import cli
from tests.helpers_specs import tiny_args


def test_sharpness_progress_lines_without_a_terminal(tmp_path: Path, ckpt: Path, monkeypatch):
    """Stderr is not a terminal under CliRunner: interim lines name the stage, count and ETA."""
    monkeypatch.setattr(progress, "REPORT_EVERY_S", 0.0)
    out = tmp_path / "c.h5"
    args = ["sharpness", *tiny_args(ckpt), "--measures", "lambda_max,trace"]
    res = CliRunner().invoke(cli, [*args, "--trace-hvps", "8", "--out", str(out)])
    assert res.exit_code == 0, res.output
    pattern = re.compile(
        r"^sharpness c\.h5: (\d+)/(\d+) hessian-vector product, \d\d:\d\d elapsed"
        r"(, ETA \d\d:\d\d)? \((lambda_max|trace)\)$"
    )
    interim = [m for line in res.stderr.splitlines() if (m := pattern.match(line))]
    assert {m.group(4) for m in interim} == {"lambda_max", "trace"}
    assert any(m.group(3) for m in interim)  # an estimate of the time left
    counts = [int(m.group(1)) for m in interim]
    assert counts == sorted(counts) and counts[-1] <= int(interim[-1].group(2))
    final = res.stderr.splitlines()
    assert any(re.match(r"^sharpness c\.h5: \d+/\d+ hessian-vector product in ", s) for s in final)
