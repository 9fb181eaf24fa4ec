import math

import numpy as np
import pytest

from landscape.dynamics.lr_sweep import choose, lr_dir, read_curve, sweep_criterion
from landscape.errors import LandscapeError
from tests.report.synthetic_runs import write_run


def test_criterion_is_the_mean_of_the_last_quarter_after_epoch_zero():
    v = np.array([9.0, 1, 2, 3, 4, 5, 6, 7, 8])  # 8 epochs after epoch 0: last 2
    assert sweep_criterion(v) == 7.5
    assert sweep_criterion(np.array([9.0, 3.0])) == 3.0  # at least one epoch
    assert sweep_criterion(np.array([9.0, 1, 2, 3, 4, 5, np.inf])) == math.inf
    with pytest.raises(LandscapeError, match="at least one epoch"):
        sweep_criterion(np.array([1.0]))


def test_choose_takes_the_lowest_and_refuses_all_diverged():
    assert choose([1e-3, 1e-2, 1e-1], [0.5, 0.4, 0.45]) == 1e-2
    assert choose([1e-3, 1e-2], [0.4, 0.4]) == 1e-3
    with pytest.raises(LandscapeError, match="every rate diverged"):
        choose([0.1, 1.0], [math.inf, math.inf])


def test_read_curve_scores_each_run_from_its_file(tmp_path):
    losses = {
        0.1: [2.0, 1.0, 0.9, 0.8, 0.7],
        0.2: [2.0, 0.9, 0.6, 0.5, 0.4],
        0.5: [2.0, 1.5, 9.0, 40.0, np.nan],
    }
    for lr, v in losses.items():
        write_run(tmp_path / "sgd" / lr_dir(lr), {"lr": lr}, epochs={"val_loss": np.array(v)})
    curve = read_curve(tmp_path, "sgd", [0.1, 0.2], [0.1, 0.2, 0.5])
    assert curve.lrs == (0.1, 0.2, 0.5)
    assert curve.criterion == (0.7, 0.4, math.inf)
    assert curve.chosen == 0.2 and not curve.at_edge
    assert curve.extended == (0.5,) and curve.diverged == (0.5,)


def test_read_curve_refuses_a_run_whose_rate_disagrees(tmp_path):
    write_run(tmp_path / "adam" / lr_dir(0.01), {"lr": 0.02}, epochs={"val_loss": np.ones(3)})
    with pytest.raises(LandscapeError, match=r"stores lr 0\.02, expected 0\.01"):
        read_curve(tmp_path, "adam", [0.01], [0.01])
