import pytest

from landscape.dynamics.lr_sweep import lr_dir, sweep_criterion
from landscape.dynamics.runs import read_run
from landscape.dynamics.train import TrainConfig
from landscape.errors import LandscapeError
from landscape.pipelines.lr_sweep import SweepSpec, extend, run_sweep


def test_extend_steps_beyond_the_edge_by_the_outer_ratio():
    assert extend([0.1, 0.2, 0.5], 0.5) == 1.25
    assert extend([0.1, 0.2, 0.5], 0.1) == 0.05
    assert extend([1e-3, 3e-3, 1e-2], 1e-2) == 0.0333
    assert extend([0.1, 0.2, 0.5], 0.2) is None


def test_spec_needs_two_ascending_rates():
    with pytest.raises(LandscapeError, match="at least two distinct ascending"):
        SweepSpec("sgd", "sgd", (0.1,))
    with pytest.raises(LandscapeError, match="at least two distinct ascending"):
        SweepSpec("sgd", "sgd", (0.2, 0.1))


def test_sweep_extends_an_edge_and_scores_every_run(tmp_path):
    # tiny learning rates: the largest always wins, so the sweep must extend upwards
    base = TrainConfig(epochs=2, batch_size=50, max_samples=100, seed=3)
    specs = [SweepSpec("sgd", "sgd", (1e-4, 2e-4))]
    sweep = run_sweep(specs, base, tmp_path, max_extensions=1, device="cpu", progress=False)
    (curve,) = sweep.curves
    assert curve.grid == (1e-4, 2e-4) and curve.lrs == (1e-4, 2e-4, 4e-4)
    assert curve.extended == (4e-4,) and curve.chosen == 4e-4 and curve.at_edge
    for lr, value in zip(curve.lrs, curve.criterion, strict=True):
        run = read_run(tmp_path / "sgd" / lr_dir(lr))
        assert run.config["seed"] == 3 and run.config["lr"] == lr
        assert run.config["track_sharpness"] is None and run.config["checkpoint_every"] == 2
        assert value == sweep_criterion(run.epochs["val_loss"])
    assert sweep.epochs == 2 and sweep.seed == 3
    again = run_sweep(specs, base, tmp_path, max_extensions=1, device="cpu", progress=False)
    assert again == sweep  # finished runs are reused
