import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from landscape.cli import cli
from landscape.dynamics.diagnose import (
    Diagnosis,
    Thresholds,
    detect_divergence,
    detect_exploding_gradients,
    detect_overfitting,
    detect_phases,
    detect_plateaus,
    detect_vanishing_gradients,
    diagnose,
    store_diagnosis,
)
from landscape.dynamics.runs import Run, read_run
from landscape.dynamics.train import TrainConfig, train

E = np.arange(41)


def exp_phase_starts(tau, fast_rate, tol, n):
    """Closed-form phase starts of L = exp(-e/tau) on 0..n-1 (running min = L)."""
    loss = np.exp(-np.arange(n) / tau)
    total = loss[0] - loss[-1]
    gain = (loss[:-1] - loss[1:]) / total
    slow = int(np.argmax(gain < fast_rate))
    conv = int(np.argmax((loss - loss[-1]) / total <= tol))
    return slow, conv


@pytest.mark.parametrize("tau", [2.0, 3.0, 5.0])
def test_phases_of_exponential_decay(tau):
    slow, conv = exp_phase_starts(tau, 0.05, 0.01, 41)
    # gain_e = exp(-e/tau)(1 - exp(-1/tau)) / D < 0.05; exp(-e/tau) - exp(-40/tau) <= 0.01 D
    d = 1 - np.exp(-40 / tau)
    assert slow == int(np.ceil(-tau * np.log(0.05 * d / (1 - np.exp(-1 / tau)))))
    assert conv == int(np.ceil(-tau * np.log(0.01 * d + np.exp(-40 / tau))))
    phases = detect_phases(E, np.exp(-E / tau))
    assert [(p.name, p.start_epoch, p.end_epoch) for p in phases] == [
        ("fast initial learning", 0, slow),
        ("gradual adjustment", slow, conv),
        ("convergence", conv, 40),
    ]


@pytest.mark.parametrize(("fast_rate", "tol"), [(0.2, 0.05), (0.01, 0.001)])
def test_phases_follow_the_thresholds_given(fast_rate, tol):
    slow, conv = exp_phase_starts(3.0, fast_rate, tol, 41)
    phases = detect_phases(E, np.exp(-E / 3.0), Thresholds(fast_rate=fast_rate, converged_tol=tol))
    assert [p.start_epoch for p in phases] == [0, slow, conv]


def test_phases_ignore_noise_above_running_minimum_and_flat_curves():
    loss = np.exp(-E / 3.0)
    noisy = loss.copy()
    noisy[20] += 0.3
    assert detect_phases(E, noisy) == detect_phases(E, loss)
    assert detect_phases(E, np.ones(41)) == ()
    assert detect_phases(E, np.linspace(1, 2, 41)) == ()


def test_linear_decay_has_no_convergence_phase():
    phases = detect_phases(np.arange(11), np.linspace(1.0, 0.0, 11))
    assert [(p.name, p.start_epoch, p.end_epoch) for p in phases] == [
        ("fast initial learning", 0, 10)
    ]


def test_overfitting_known_answer_and_negatives():
    e = np.arange(31)
    train_loss = np.exp(-e / 5)
    found = detect_overfitting(e, train_loss, 1 + (e - 10.0) ** 2 / 100)
    assert found is not None and found.kind == "overfitting" and found.start_epoch == 10
    assert detect_overfitting(e, train_loss, 1 + np.exp(-e / 5)) is None  # val keeps falling
    assert (
        detect_overfitting(e, train_loss, 1 + (e - 28.0) ** 2 / 100) is None
    )  # too late (patience)
    rising_train = np.linspace(1, 2, 31)
    assert (
        detect_overfitting(e, rising_train, 1 + (e - 10.0) ** 2 / 100) is None
    )  # train not falling
    assert detect_overfitting(e, train_loss, np.full(31, np.nan)) is None


def test_exploding_gradients_spike_nan_and_smooth_growth():
    steps = np.arange(1, 101)
    epochs = (steps - 1) // 10 + 1
    g = np.ones(100)
    g[47] = 20.0
    found = detect_exploding_gradients(epochs, steps, g)
    assert found.start_epoch == 5 and "step 48" in found.detail
    g = np.ones(100)
    g[73:] = np.nan
    found = detect_exploding_gradients(epochs, steps, g)
    assert found.start_epoch == 8 and "non-finite" in found.detail
    assert detect_exploding_gradients(epochs, steps, np.exp(steps / 100)) is None


def test_vanishing_gradients_known_epoch():
    norms = np.ones((6, 3))
    norms[:, 0] = [np.nan, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5]
    found = detect_vanishing_gradients(np.arange(6), norms, ["a.weight", "b.weight", "c.weight"])
    assert found.start_epoch == 4 and "a.weight" in found.detail
    assert detect_vanishing_gradients(np.arange(6), np.ones((6, 3)), ["a", "b", "c"]) is None
    assert detect_vanishing_gradients(np.arange(6), np.ones((6, 1)), ["a"]) is None


def test_divergence_known_epoch_and_recovery_is_not_divergence():
    e = np.arange(8)
    found = detect_divergence(e, np.array([2.0, 1.0, 0.5, 0.4, 3.0, 5.0, np.inf, np.nan]))
    assert found.start_epoch == 4 and "non-finite" in found.detail
    assert detect_divergence(e, np.array([2.0, 1.0, 3.0, 4.0, 1.0, 0.5, 0.4, 0.3])) is None
    assert detect_divergence(e, np.linspace(2, 1, 8)) is None


def test_plateaus_between_drops_not_at_the_end():
    loss = np.concatenate([[3.0, 2.0], np.full(6, 1.5), [1.0, 0.5], np.full(5, 0.2)])
    found = detect_plateaus(np.arange(len(loss)), loss)
    assert [(f.start_epoch, f.end_epoch) for f in found] == [(2, 7)]
    assert detect_plateaus(np.arange(5), np.array([3.0, 2.0, 2.0, 1.0, 0.0])) == ()  # too short
    assert detect_plateaus(np.arange(len(loss)), loss, Thresholds(plateau_length=6)) == ()
    long_enough = detect_plateaus(np.arange(len(loss)), loss, Thresholds(plateau_length=5))
    assert [(f.start_epoch, f.end_epoch) for f in long_enough] == [(2, 7)]


def synthetic_run(**epochs):
    n = len(epochs["train_loss"])
    base = {
        "epoch": np.arange(n),
        "val_loss": np.full(n, np.nan),
        "mean_step_loss": np.full(n, np.nan),
        "layer_grad_norm": np.ones((n, 3)),
    }
    base.update(epochs)
    steps = np.arange(1, 10 * n + 1)
    return Run(
        path=Path("synthetic"),
        name="synthetic",
        config={},
        optimizer="sgd",
        hparams={"lr": 0.1},
        layers=("l0.weight", "l0.bias", "l1.weight"),
        shapes=((4, 4), (4,), (4, 4)),
        epochs=base,
        steps={"step": steps, "epoch": (steps - 1) // 10 + 1, "grad_norm": np.ones(10 * n)},
        probes={},
        checkpoints=(),
        diagnosis=None,
    )


def test_diagnose_combines_detectors_on_a_synthetic_run():
    e = np.arange(31)
    norms = np.ones((31, 3))
    norms[20:, 0] = 1e-6  # first weight collapses from epoch 20; the bias column is ignored
    norms[:, 1] = 1e-9
    run = synthetic_run(
        train_loss=np.exp(-e / 3), val_loss=1 + (e - 12.0) ** 2 / 100, layer_grad_norm=norms
    )
    d = diagnose(run)
    assert [p.name for p in d.phases] == [
        "fast initial learning",
        "gradual adjustment",
        "convergence",
    ]
    assert [(f.kind, f.start_epoch) for f in d.findings] == [
        ("overfitting", 12),
        ("vanishing gradients", 20),
    ]
    assert Diagnosis.from_dict(json.loads(json.dumps(d.to_dict()))) == d
    text = "\n".join(d.lines())
    assert "overfitting from epoch 12" in text and "convergence" in text


def test_thresholds_change_the_answer():
    e = np.arange(41)
    run = synthetic_run(train_loss=np.exp(-e / 3))
    default = diagnose(run).phases[1].start_epoch
    looser = diagnose(run, Thresholds(fast_rate=0.2)).phases[1].start_epoch
    assert looser < default


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("diag") / "run"
    train(
        TrainConfig(optimizer="adam", lr=1e-2, epochs=3, max_samples=64, batch_size=16),
        out,
        progress=False,
    )
    return out


def test_cli_diagnose_prints_and_stores(small_run):
    res = CliRunner().invoke(cli, ["diagnose", str(small_run)])
    assert res.exit_code == 0, res.output
    assert "phases:" in res.output and "findings:" in res.output
    stored = read_run(small_run).diagnosis
    assert stored is not None
    assert Diagnosis.from_dict(stored) == diagnose(read_run(small_run))
    res = CliRunner().invoke(cli, ["diagnose", str(small_run), "--json", "--no-store"])
    assert res.exit_code == 0 and json.loads(res.output)["thresholds"]["fast_rate"] == 0.05


def test_store_diagnosis_replaces_previous(small_run):
    store_diagnosis(small_run, Diagnosis((), ()))
    assert read_run(small_run).diagnosis == {
        "phases": [],
        "findings": [],
        "thresholds": Thresholds().__dict__,
    }


def test_cli_diagnose_bad_input(tmp_path):
    res = CliRunner().invoke(cli, ["diagnose", str(tmp_path / "missing")])
    assert res.exit_code == 1 and "run directory not found" in res.output
    (tmp_path / "empty").mkdir()
    res = CliRunner().invoke(cli, ["diagnose", str(tmp_path / "empty")])
    assert res.exit_code == 1 and "no run.h5" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(cli, ["diagnose", str(tmp_path / "empty"), "--fast-rate", "2"])
    assert (
        res.exit_code == 1
        and res.output.startswith("Error: ")
        and len(res.output.splitlines()) == 1
    )


def test_cli_diagnose_while_training_prints_without_storing(small_run):
    import torch

    from landscape.dynamics.recorder import Recorder
    from landscape.models import MLP

    model = MLP()
    with Recorder(
        small_run.parent / "busy", model, torch.optim.SGD(model.parameters(), lr=0.1)
    ) as rec:
        rec.epoch(train=1.0)
        res = CliRunner().invoke(cli, ["diagnose", str(small_run.parent / "busy")])
    assert res.exit_code == 0 and "phases:" in res.output
    assert "not stored" in res.output and "being written by another process" in res.output
