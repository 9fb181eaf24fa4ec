"""The one flush rule (WriteBudget), alone and as Recorder.step() and Recorder.epoch() use it."""

import pytest
import torch

from landscape.dynamics.recorder import Recorder
from landscape.dynamics.write_budget import WriteBudget
from landscape.io import run as run_io
from landscape.models import MLP
from tests.dynamics.steps import one_step


class FakeClock:
    """Seconds that pass only when a test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def spent(budget: WriteBudget, clock: FakeClock, seconds: float) -> None:
    """Account for a write of ``seconds`` that ends now."""
    start = clock.now
    clock.now += seconds
    budget.wrote(start=start)


@pytest.mark.parametrize(
    "since_write, written, due_at_step, due_at_epoch",
    [
        (1.0, 0.0, False, True),  # within the budget, not overdue: epochs only
        (1.0, 6.0, False, False),  # over the budget (6 + 6 > 10.7), not overdue: nothing
        (10.0, 6.0, True, True),  # overdue: both, whatever the budget
        (10.0, 0.0, True, True),  # overdue and within the budget: both
    ],
)
def test_one_rule_for_steps_and_epochs(since_write, written, due_at_step, due_at_epoch):
    clock = FakeClock()
    budget = WriteBudget(write_share=0.1, flush_seconds=10.0, clock=clock)
    clock.now = 100.0
    spent(budget, clock, written)  # written s so far; the next write counted as long
    clock.now += since_write
    assert budget.due(epoch_end=False) is due_at_step
    assert budget.due(epoch_end=True) is due_at_epoch


def test_budget_counts_the_next_write_as_long_as_the_last():
    clock = FakeClock()
    budget = WriteBudget(write_share=0.25, flush_seconds=1e9, clock=clock)
    assert budget.due(epoch_end=True)  # nothing written: the first write fits
    spent(budget, clock, 1.0)  # t = 1, 1 s written
    clock.now = 7.9
    assert not budget.due(epoch_end=True)  # 1 + 1 > 0.25 * 7.9
    clock.now = 8.0
    assert budget.due(epoch_end=True)  # 1 + 1 <= 0.25 * 8
    assert budget.total_write_seconds == 1.0 and budget.last_write_seconds == 1.0


def test_write_share_one_always_fits_at_an_epoch_end_only():
    clock = FakeClock()
    budget = WriteBudget(write_share=1.0, flush_seconds=30.0, clock=clock)
    spent(budget, clock, 50.0)  # more time writing than elapsed
    assert budget.due(epoch_end=True) and not budget.due(epoch_end=False)


def tiny():
    torch.manual_seed(0)
    model = MLP(4, 3, hidden=(5,))
    return model, torch.randn(16, 4), torch.randint(0, 3, (16,))


def test_recorder_step_and_epoch_follow_the_rule(tmp_path, monkeypatch):
    clock = FakeClock()
    writes: list[tuple[int, int]] = []  # (steps, epochs) written, per write
    write_seconds = [0.0]  # how long each write lasts on the fake clock
    real = run_io.append_records

    def timed(path, *, steps=None, epochs=None, probes=None):
        writes.append((len(steps["step"]) if steps else 0, len(epochs["epoch"]) if epochs else 0))
        clock.now += write_seconds[0]
        real(path, steps=steps, epochs=epochs, probes=probes)

    monkeypatch.setattr(run_io, "append_records", timed)
    model, x, y = tiny()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with Recorder(
        tmp_path / "run", model, opt, write_share=0.1, flush_seconds=10.0, clock=clock
    ) as rec:
        rec.epoch()  # t = 0: nothing written yet, so within the budget
        assert writes == [(0, 1)]
        write_seconds[0] = 2.0
        clock.now = 5.0
        rec.step(one_step(model, opt, x, y))  # within the budget, not overdue: waits
        assert writes == [(0, 1)]
        rec.epoch()  # an epoch's end within the budget (0 + 0 <= 0.5): written, t = 7
        assert writes[1:] == [(1, 1)]
        clock.now = 9.0
        rec.step(one_step(model, opt, x, y))
        rec.epoch()  # 2 + 2 > 0.9 and 2 s since the last write: waits
        assert writes[2:] == []
        clock.now = 17.0
        rec.step(one_step(model, opt, x, y))  # overdue, over the budget: written, t = 19
        assert writes[2:] == [(2, 1)]
        clock.now = 29.0
        rec.step(one_step(model, opt, x, y))  # overdue again: written, t = 31
        assert writes[3:] == [(1, 0)]
        clock.now = 41.0
        rec.epoch()  # overdue at an epoch's end, 6 + 2 > 4.1: written
        assert writes[4:] == [(0, 1)]
    assert writes[5:] == []  # close(): nothing left to write
    run = run_io.read_run_file(tmp_path / "run" / "run.h5")
    assert run.epochs["epoch"].tolist() == [0, 1, 2, 3]
    assert run.steps["step"].tolist() == [1, 2, 3, 4]
