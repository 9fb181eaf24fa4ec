"""Faults during ``landscape surface``: SIGKILL (CI variant of fault_injection.py), Ctrl-C."""

from __future__ import annotations

import importlib.util
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from landscape.cli import cli

ROOT = Path(__file__).resolve().parents[2]

SLOW_LAUNCHER = """
import sys, time
import landscape.evaluators as ev
for cls in (ev.PointEvaluator, ev.StackedEvaluator):
    def slow(self, coords, _orig=cls.__call__):
        time.sleep(0.05 * len(coords))
        return _orig(self, coords)
    cls.__call__ = slow
from landscape.cli import main
sys.argv = ["landscape"] + sys.argv[1:]
main()
"""


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "fault_injection", ROOT / "scripts" / "fault_injection.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def fi() -> ModuleType:
    return _load_script()


@pytest.fixture
def slow(tmp_path: Path) -> tuple[str, ...]:
    script = tmp_path / "slow_landscape.py"
    script.write_text(SLOW_LAUNCHER)
    return (sys.executable, str(script))


def test_three_sigkills_then_resume_equal_uninterrupted(
    fi: ModuleType, tmp_path: Path, slow: tuple[str, ...]
) -> None:
    target = fi.targets.surface_target(tmp_path, 9, 1)
    summary = fi.run_target(target, tmp_path, 3, random.Random(0), launcher=slow, max_delay=1.0)
    assert summary.kills == 3
    assert summary.mid_run >= 1, summary.line()  # at least one kill hit a half-written surface
    assert summary.ok, (summary.line(), summary.problems)


def test_ctrl_c_exits_130_and_keeps_done_points(
    fi: ModuleType, tmp_path: Path, slow: tuple[str, ...]
) -> None:
    target = fi.targets.surface_target(tmp_path, 9, 1)
    ref, out = tmp_path / "ref.h5", tmp_path / "int.h5"
    assert CliRunner().invoke(cli, ["-q", *target.args(ref)]).exit_code == 0
    proc = subprocess.Popen(
        [*slow, "-q", *target.args(out)], env=fi.env(), cwd=ROOT, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (target.progress(out) or (0, 0))[0] == 0:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted: completed work is saved" in err and "Traceback" not in err
    with h5py.File(out, "r") as f:
        done = f["surface/done"][()]
    assert 0 < done.sum() < done.size
    assert target.compare(ref, out, True) == []  # what was saved is right
    assert CliRunner().invoke(cli, ["-q", *target.args(out)]).exit_code == 0  # resume
    assert target.compare(ref, out, False) == []
    with h5py.File(ref, "r") as a, h5py.File(out, "r") as b:
        np.testing.assert_array_equal(a["train_loss"][()], b["train_loss"][()])


def test_second_writer_process_is_refused_first_finishes_intact(
    fi: ModuleType, tmp_path: Path, slow: tuple[str, ...]
) -> None:
    target = fi.targets.surface_target(tmp_path, 5, 1)
    ref, out = tmp_path / "ref.h5", tmp_path / "shared.h5"
    assert CliRunner().invoke(cli, ["-q", *target.args(ref)]).exit_code == 0
    first = subprocess.Popen([*slow, "-q", *target.args(out)], env=fi.env(), cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not Path(f"{out}.lock").exists():
        time.sleep(0.05)
    second = CliRunner().invoke(cli, ["-q", *target.args(out)])
    assert second.exit_code == 1
    assert "is being written by another process" in second.output
    assert first.wait(timeout=120) == 0
    assert target.compare(ref, out, False) == []


def test_checkpoint_saved_after_a_resume_has_the_uninterrupted_bytes(tmp_path: Path) -> None:
    import torch

    from landscape.dynamics.checkpoints import save_checkpoint
    from tests.conftest import tiny_net

    def save(folder: Path, model, optimizer, hparams) -> bytes:
        torch.manual_seed(0)
        kw = {"model": model, "optimizer": optimizer, "hparams": hparams, "epoch": 1, "step": 2}
        return save_checkpoint(folder, "e.pt", **kw).read_bytes()

    model = tiny_net()
    optimizer = torch.optim.Adagrad(model.parameters(), lr=0.03)
    first = save(tmp_path / "a", model, optimizer, {"lr": 0.03, "eps": 1e-10})
    saved = torch.load(tmp_path / "a" / "checkpoints" / "e.pt", weights_only=True)
    resumed = tiny_net()
    resumed.load_state_dict(saved["model"])
    again = torch.optim.Adagrad(resumed.parameters(), lr=0.03)
    again.load_state_dict(saved["optimizer"])
    # the SHA-256 of a checkpoint identifies it downstream (compare.h5, profiles)
    assert save(tmp_path / "b", resumed, again, saved["optimizer_hparams"]) == first
