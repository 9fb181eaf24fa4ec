"""The progress factory: bars on a terminal, one line per finished stage elsewhere."""

from __future__ import annotations

import io

import pytest

from landscape import progress as P  # noqa: N812


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_terminal_one_line_per_finished_stage(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    outer = P.progress(range(2), desc="compare report", unit="run")
    for _ in outer:
        bar = P.progress(total=3, desc="surface s.h5", unit="pt")
        with bar:
            bar.update(2)
            bar.set_postfix_str("top")
            bar.update(1)
    lines = err.getvalue().splitlines()
    assert len(lines) == 3
    assert [line.split(" in ")[0] for line in lines] == [
        "surface s.h5: 3/3 pt",
        "surface s.h5: 3/3 pt",
        "compare report: 2/2 run",
    ]
    assert lines[0].endswith(" s (top)")
    assert "\r" not in err.getvalue() and "\x1b[" not in err.getvalue()


def test_resumed_stage_counts_from_initial(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    bar = P.progress(total=20, initial=5, desc="train sgd", unit="epoch")
    bar.update(15)
    bar.close()
    bar.close()  # closing twice prints once
    assert err.getvalue().startswith("train sgd: 20/20 epoch in ")
    assert err.getvalue().count("\n") == 1


@pytest.mark.parametrize("tty", [False, True])
def test_disabled_prints_nothing(monkeypatch, tty):
    err = Terminal() if tty else io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    assert list(P.progress(range(4), desc="x", enabled=False)) == [0, 1, 2, 3]
    assert err.getvalue() == ""


def test_terminal_bars_name_their_stage_and_nested_ones_leave_no_line(monkeypatch):
    err = Terminal()
    monkeypatch.setattr("sys.stderr", err)
    outer = P.progress(total=2, desc="compare report", unit="run")
    inner = P.progress(range(3), desc="curvature sgd", unit="ckpt")
    assert outer.leave and not inner.leave  # the nested bar is removed when it ends
    assert list(inner) == [0, 1, 2]
    outer.update(2)
    outer.close()
    text = err.getvalue()
    assert "compare report" in text and "curvature sgd" in text
    final = text.split("\r")[-1]
    assert final.startswith("compare report: 100%") and final.endswith("\n")


def test_stage_line_without_iterable_cannot_be_iterated():
    with pytest.raises(TypeError, match="nothing to iterate"):
        list(P.StageLine(desc="x"))


def test_no_terminal_long_stage_reports_count_total_eta_and_sub_stage(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    monkeypatch.setattr(P, "REPORT_EVERY_S", 0.0)  # every update is "long enough"
    bar = P.progress(total=10, initial=2, desc="curvature c.h5", unit="hvp")
    bar.set_postfix_str("trace")
    bar.update(3)
    bar.close()
    lines = err.getvalue().splitlines()
    assert lines[0].startswith("curvature c.h5: 2/10 hvp, 00:00 elapsed")
    assert "ETA" not in lines[0] and lines[0].endswith("(trace)")  # nothing counted yet
    assert lines[1].startswith("curvature c.h5: 5/10 hvp, 00:00 elapsed, ETA 00:0")
    assert lines[1].endswith("(trace)")
    assert lines[2].startswith("curvature c.h5: 5/10 hvp in ") and len(lines) == 3


def test_interim_lines_wait_for_the_interval(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    monkeypatch.setattr(P, "REPORT_EVERY_S", 3600.0)
    for _ in P.progress(range(50), desc="surface s.h5", unit="pt"):
        pass
    assert err.getvalue().count("\n") == 1


def test_eta_is_the_rate_so_far_times_what_is_left(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(P.time, "monotonic", lambda: now[0])
    line = P.StageLine(total=12, initial=2, desc="x", enabled=False)
    now[0] = 110.0
    line.update(4)  # 4 counted in 10 s, 6 left
    assert line.eta() == pytest.approx(15.0)
    assert P.StageLine(desc="y", enabled=False).eta() is None  # no total
