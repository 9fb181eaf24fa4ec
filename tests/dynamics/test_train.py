import os
import signal
import subprocess
import sys
import time
import types

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from landscape.cli import cli
from landscape.dynamics.runs import read_run
from landscape.dynamics.train import TrainConfig, epoch_order, lr_factor, make_optimizer, train
from landscape.errors import LandscapeError

TINY = dict(max_samples=64, batch_size=16, epochs=2)


def final_state(run_dir):
    ck = read_run(run_dir).checkpoints[-1]
    return torch.load(ck.path, weights_only=True)


def assert_same_state(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_training_is_bitwise_reproducible(tmp_path):
    cfg = TrainConfig(optimizer="adam", lr=1e-2, seed=3, **TINY)
    r1 = train(cfg, tmp_path / "a", progress=False)
    r2 = train(cfg, tmp_path / "b", progress=False)
    assert r1.train_loss == r2.train_loss and r1.steps == r2.steps == 8
    assert_same_state(final_state(tmp_path / "a")["model"], final_state(tmp_path / "b")["model"])
    ea, eb = read_run(tmp_path / "a").epochs, read_run(tmp_path / "b").epochs
    np.testing.assert_array_equal(ea["train_loss"], eb["train_loss"])
    np.testing.assert_array_equal(ea["layer_grad_norm"], eb["layer_grad_norm"])
    other = train(
        TrainConfig(optimizer="adam", lr=1e-2, seed=4, **TINY), tmp_path / "c", progress=False
    )
    assert other.train_loss != r1.train_loss


@pytest.mark.parametrize("name", ["sgd", "adagrad", "rmsprop", "adam", "adamw"])
def test_every_optimizer_trains_and_records(tmp_path, name):
    cfg = TrainConfig(optimizer=name, lr=1e-2, epochs=1, max_samples=32, batch_size=16)
    result = train(cfg, tmp_path / name, progress=False)
    run = read_run(tmp_path / name)
    assert run.optimizer == ("sgd" if name == "sgd" else name)
    assert run.epochs["epoch"].tolist() == [0, 1] and result.steps == 2
    assert run.adaptive == (name != "sgd")
    assert [c.kind for c in run.checkpoints] == ["init", "epoch"]
    assert run.config["optimizer"] == name


def test_final_checkpoint_is_the_last_epoch_and_survives_reruns(tmp_path):
    cfg = TrainConfig(optimizer="sgd", lr=1e-2, seed=0, **TINY)
    run_dir = tmp_path / "run"
    train(cfg, run_dir, progress=False)
    final, last = run_dir / "final.pt", run_dir / "checkpoints" / "epoch_0002.pt"
    assert final.read_bytes() == last.read_bytes()
    assert [c.path.name for c in read_run(run_dir).checkpoints] == [
        "init.pt",
        "epoch_0001.pt",
        "epoch_0002.pt",
    ]
    final.unlink()
    train(cfg, run_dir, progress=False)  # a completed run: only final.pt is written again
    assert final.read_bytes() == last.read_bytes()
    longer = TrainConfig(optimizer="sgd", lr=1e-2, seed=0, max_samples=64, batch_size=16, epochs=3)
    train(longer, run_dir, progress=False, overwrite=True)
    assert final.read_bytes() == (run_dir / "checkpoints" / "epoch_0003.pt").read_bytes()
    assert torch.load(final, weights_only=True)["epoch"] == 3


def test_make_optimizer_hyperparameters():
    p = [torch.nn.Parameter(torch.zeros(1))]
    sgd = make_optimizer(
        TrainConfig(optimizer="sgd", lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4), p
    )
    g = sgd.param_groups[0]
    assert (g["momentum"], g["nesterov"], g["weight_decay"]) == (0.9, True, 1e-4)
    rms = make_optimizer(
        TrainConfig(optimizer="rmsprop", lr=0.1, alpha=0.9, eps=1e-6, momentum=0.5), p
    )
    assert (
        rms.param_groups[0]["alpha"],
        rms.param_groups[0]["eps"],
        rms.param_groups[0]["momentum"],
    ) == (0.9, 1e-6, 0.5)
    adamw = make_optimizer(
        TrainConfig(optimizer="adamw", lr=0.1, beta1=0.8, beta2=0.9, weight_decay=0.1), p
    )
    assert isinstance(adamw, torch.optim.AdamW) and adamw.param_groups[0]["betas"] == (0.8, 0.9)


def test_schedules_closed_form_and_recorded(tmp_path):
    assert [lr_factor("constant", e, epochs=4) for e in range(4)] == [1.0] * 4
    assert [lr_factor("step", e, epochs=6, step_size=2, gamma=0.5) for e in range(6)] == [
        1,
        1,
        0.5,
        0.5,
        0.25,
        0.25,
    ]
    np.testing.assert_allclose(
        [lr_factor("cosine", e, epochs=4) for e in range(4)],
        [1, (1 + 2**-0.5) / 2, 0.5, (1 - 2**-0.5) / 2],
    )
    cfg = TrainConfig(
        optimizer="sgd", lr=0.2, schedule="cosine", epochs=4, max_samples=32, batch_size=16
    )
    train(cfg, tmp_path / "cos", progress=False)
    run = read_run(tmp_path / "cos")
    np.testing.assert_allclose(
        run.epochs["lr"][1:], [0.2 * lr_factor("cosine", e, epochs=4) for e in range(4)]
    )
    np.testing.assert_allclose(run.steps["lr"][::2], run.epochs["lr"][1:])


def test_epoch_order_depends_on_seed_and_epoch_only():
    a = epoch_order(50, seed=1, epoch=2)
    assert torch.equal(a, epoch_order(50, seed=1, epoch=2))
    assert sorted(a.tolist()) == list(range(50))
    assert not torch.equal(a, epoch_order(50, seed=1, epoch=3))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(optimizer="lbfgs"), "optimizer: expected one of sgd"),
        (dict(schedule="linear"), "schedule: expected one of"),
        (dict(lr=-1.0), "lr: expected a positive number"),
        (dict(epochs=0), "epochs: expected a positive integer"),
        (dict(nesterov=True), "nesterov"),
        (dict(optimizer="adam", momentum=0.9), "momentum: applies to sgd and rmsprop"),
        (dict(beta2=1.0), r"beta2: expected a value in \[0, 1\)"),
    ],
)
def test_config_rejects_bad_values(kwargs, match):
    with pytest.raises(LandscapeError, match=match):
        TrainConfig(**kwargs)


def test_track_sharpness_wires_the_curvature_probe(tmp_path, monkeypatch):
    made = []

    class FakeProbe:
        def __init__(self, model, split, *, loss, subset, seed):
            made.append((len(split), loss, subset, seed))
            self.calls = 0

        def __call__(self, params, optimizer):
            self.calls += 1
            return {"lambda_max": float(self.calls)}

    fake = types.ModuleType("landscape.curvature.tracking")
    fake.SharpnessProbe = FakeProbe
    monkeypatch.setitem(sys.modules, "landscape.curvature.tracking", fake)
    res = CliRunner().invoke(
        cli,
        [
            "-q",
            "train",
            "--epochs",
            "2",
            "--max-samples",
            "32",
            "--batch-size",
            "8",
            "--seed",
            "5",
            "--track-sharpness",
            "every=3,subset=20",
            "--out",
            str(tmp_path / "run"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert made == [(32, "cross_entropy", 20, 5)]
    run = read_run(tmp_path / "run")
    assert run.probes["step"].tolist() == [0.0, 3.0, 6.0]  # the initial point, then every 3 steps
    assert run.probes["lambda_max"].tolist() == [1.0, 2.0, 3.0]
    assert run.config["track_sharpness"] == 3


def test_cli_train_writes_run_and_reruns_as_complete(tmp_path):
    out = tmp_path / "run"
    args = [
        "train",
        "--optimizer",
        "sgd",
        "--momentum",
        "0.9",
        "--nesterov",
        "--lr",
        "0.05",
        "--epochs",
        "2",
        "--max-samples",
        "32",
        "--batch-size",
        "16",
        "--out",
        str(out),
    ]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert "2 epochs, 4 steps" in res.output
    with h5py.File(out / "run.h5", "r") as f:
        words = f.attrs["command"].split()
        assert words[:2] == ["landscape", "train"] and f"--out={out}" in words
        assert {"--lr=0.05", "--momentum=0.9", "--nesterov", "--epochs=2"} <= set(words)
        assert f["dynamics/epoch/epoch"][()].tolist() == [0, 1, 2]
    assert CliRunner().invoke(cli, ["diagnose", str(out)]).exit_code == 0
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0 and "already complete" in again.output
    assert read_run(out).diagnosis is not None  # nothing re-run, nothing invalidated


@pytest.mark.parametrize(
    "args, match",
    [
        (["--optimizer", "adam", "--momentum", "0.9"], "momentum: applies to sgd and rmsprop"),
        (["--nesterov"], "nesterov"),
        (["--track-sharpness", "every=0"], "track-sharpness: expected every=N"),
        (["--track-sharpness", "often"], "track-sharpness: expected every=N"),
        (["--model", "nonexistent"], "model: unknown built-in"),
        (["--lr", "0"], "lr: expected a positive number"),
    ],
)
def test_cli_train_bad_input_one_line_and_nothing_written(tmp_path, args, match):
    out = tmp_path / "run"
    res = CliRunner().invoke(
        cli, ["train", "--epochs", "1", "--max-samples", "16", "--out", str(out), *args]
    )
    assert res.exit_code == 1
    assert match in res.output and "Traceback" not in res.output
    assert not (out / "run.h5").exists()


def test_cli_train_refuses_other_settings_without_overwrite(tmp_path):
    out = tmp_path / "run"
    base = ["train", "--epochs", "1", "--max-samples", "16", "--out", str(out)]
    assert CliRunner().invoke(cli, base).exit_code == 0
    before = (out / "run.h5").read_bytes()
    res = CliRunner().invoke(cli, [*base, "--lr", "0.5"])
    assert res.exit_code == 1 and "different settings (lr)" in res.output
    assert (out / "run.h5").read_bytes() == before
    res = CliRunner().invoke(cli, [*base, "--lr", "0.5", "--overwrite"])
    assert res.exit_code == 0 and read_run(out).config["lr"] == 0.5


SLOW_MODEL = """
import time
from landscape.models import MLP

class Slow(MLP):
    def forward(self, x):
        time.sleep(0.01)
        return super().forward(x)

def make():
    return Slow(40, 10, hidden=(16,))
"""


def test_sigkill_keeps_completed_epochs_and_resume_matches_uninterrupted(tmp_path):
    spec = tmp_path / "slow.py"
    spec.write_text(SLOW_MODEL)
    common = [
        "train",
        "--model",
        f"{spec}:make",
        "--optimizer",
        "adam",
        "--lr",
        "0.01",
        "--epochs",
        "8",
        "--max-samples",
        "64",
        "--batch-size",
        "16",
        "--seed",
        "1",
    ]
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "landscape", "-q", *common, "--out", str(killed)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if (killed / "run.h5").exists() and len(read_run(killed).epochs.get("epoch", [])) >= 3:
                break
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert not (killed / "final.pt").exists()  # only a finished run has its final point
    run = read_run(killed)
    done = run.epochs["epoch"].tolist()
    assert done == list(range(len(done))) and 3 <= len(done) < 9
    assert run.steps["step"].tolist() == list(range(1, len(run.steps["step"]) + 1))
    assert [c.epoch for c in run.checkpoints][: len(done) - 1] == list(range(len(done) - 1))
    resumed = CliRunner().invoke(cli, ["-q", *common, "--out", str(killed)])
    assert resumed.exit_code == 0, resumed.output
    clean = CliRunner().invoke(cli, ["-q", *common, "--out", str(tmp_path / "clean")])
    assert clean.exit_code == 0, clean.output
    a, b = read_run(killed), read_run(tmp_path / "clean")
    assert a.epochs["epoch"].tolist() == list(range(9))
    np.testing.assert_array_equal(a.epochs["train_loss"], b.epochs["train_loss"])
    np.testing.assert_array_equal(a.steps["loss"], b.steps["loss"])
    np.testing.assert_array_equal(a.epochs["distance_from_init"], b.epochs["distance_from_init"])
    resumed_final = torch.load(killed / "final.pt", weights_only=True)
    assert_same_state(resumed_final["model"], final_state(tmp_path / "clean")["model"])
    assert_same_state(final_state(killed)["model"], final_state(tmp_path / "clean")["model"])


DICT_SPECS = '''
import torch
from torch import nn


class Plain(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(x)


class Keywords(Plain):
    """Takes keyword tensors and returns a dict, as Hugging Face models do."""

    def forward(self, features, scale):
        return {"logits": self.fc(features * scale), "hidden": features}


def rows(n, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 8, generator=g), torch.randint(0, 4, (n,), generator=g)


def tensors():
    return {"train": rows(40, 1), "test": rows(20, 2)}


def dicts():
    out = {}
    for name, (x, y) in tensors().items():
        out[name] = {"features": x, "scale": torch.ones(len(x), 1), "labels": y}
    return out
'''


def test_train_with_dict_inputs_equals_the_tensor_form(tmp_path):
    """A data callable returning dicts of tensors trains through ``model(**batch)``; the run
    (same weights, same rows in the same order) equals the one on plain tensors, bit for bit."""
    (tmp_path / "dictspecs.py").write_text(DICT_SPECS)
    spec = str(tmp_path / "dictspecs.py")
    common = ["--optimizer", "adam", "--lr", "0.01", "--epochs", "2", "--batch-size", "16"]
    res = CliRunner().invoke(
        cli,
        ["-q", "train", *common, "--model", f"{spec}:Keywords", "--data", f"{spec}:dicts",
         "--out", str(tmp_path / "dict")],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    plain = TrainConfig(model=f"{spec}:Plain", data=f"{spec}:tensors", optimizer="adam",
                        lr=0.01, epochs=2, batch_size=16)  # fmt: skip
    train(plain, tmp_path / "plain", progress=False)
    a, b = read_run(tmp_path / "dict"), read_run(tmp_path / "plain")
    np.testing.assert_array_equal(a.epochs["train_loss"], b.epochs["train_loss"])
    np.testing.assert_array_equal(a.epochs["val_acc"], b.epochs["val_acc"])
    assert (
        np.isfinite(a.epochs["val_acc"]).all()
        and a.epochs["train_loss"][-1] < a.epochs["train_loss"][0]
    )
    assert_same_state(
        final_state(tmp_path / "dict")["model"], final_state(tmp_path / "plain")["model"]
    )


def test_batch_count_is_rows_or_scored_tokens():
    from landscape.data import Split
    from landscape.dynamics.train import batch_count
    from landscape.objective import Objective

    class Tokens(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(5, 5)

        def forward(self, x):
            return self.emb(x)

    ids = torch.tensor([[1, 2, 3, 4], [2, 3, -100, -100]])
    x = ids.clamp(min=0)
    assert batch_count(Objective(Tokens(), Split(x, ids), task="lm"), ids) == 4  # 3 + 1 after shift
    assert batch_count(Objective(Tokens(), Split(x, ids), task="mlm"), ids) == 6
    assert batch_count(Objective(Tokens(), Split(x, ids)), ids) == 6  # per-token classification
