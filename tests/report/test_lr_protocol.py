import math

from landscape.records.sweep import LrSweep, SweepCurve
from landscape.report.lr_protocol import lr_protocol


def sweep():
    inside = SweepCurve("adam", (1e-3, 1e-2), (1e-4, 1e-3, 1e-2), (0.9, 0.5, 0.7), 1e-3)
    edge = SweepCurve("sgd", (0.1, 0.2), (0.1, 0.2, 0.4), (0.9, 0.8, 0.6), 0.4)
    diverged = SweepCurve("rmsprop", (1e-3, 1e-2), (1e-3, 1e-2), (0.5, math.inf), 1e-3)
    return LrSweep("mean of something", 7, 100, (inside, edge, diverged), "landscape demo")


def test_rows_name_every_rate_its_criterion_the_choice_and_the_edge():
    p = lr_protocol(sweep())
    assert p.table.rows == (
        ("adam", "0.0001⁺ (0.9), 0.001 (0.5), 0.01 (0.7)", "0.001", "0.5", "no"),
        ("sgd", "0.1 (0.9), 0.2 (0.8), 0.4⁺ (0.6)", "0.4", "0.6", "yes"),
        ("rmsprop", "0.001 (0.5), 0.01 (diverged)", "0.001", "0.5", "yes"),
    )


def test_lines_state_criterion_epochs_seed_extensions_and_edges():
    text = " ".join(lr_protocol(sweep()).lines)
    assert "7 epochs, seed 100" in text and "Criterion: the mean of something" in text
    assert "Extended: adam, sgd." in text
    assert "Still at the edge of the rates tried: sgd, rmsprop" in text
    assert text.endswith("Reproduce: landscape demo")
    s = sweep()
    interior = LrSweep(s.criterion, 7, 100, s.curves[:1], "")
    text = " ".join(lr_protocol(interior).lines)
    assert "Every chosen rate lies inside the rates tried." in text and "Reproduce" not in text
