from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from landscape.cli import cli
from tests.helpers_specs import TINY_SPEC, tiny_args


def run(*args: str):
    return CliRunner().invoke(cli, ["-q", *args], catch_exceptions=False)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_surface_cli_writes_li_et_al_names(tmp_path, ckpt):
    out = tmp_path / "s.h5"
    res = run("surface", *tiny_args(ckpt), "--x=-1:1:5", "--y=-1:1:3", "--out", str(out))
    assert res.exit_code == 0, res.output
    with h5py.File(out, "r") as f:
        assert f["xcoordinates"].shape == (5,) and f["ycoordinates"].shape == (3,)
        for name in ("train_loss", "train_acc", "test_loss", "test_acc"):
            assert f[name].shape == (3, 5) and np.isfinite(f[name][()]).all()
        assert f["surface/done"][()].all()
        assert f.attrs["schema_version"] == 1 and "surface" in f.attrs["command"]
        assert set(f["directions"]) == {"d0", "d1"}
        assert f["directions"].attrs["norm"] == "filter"


def test_rerun_resumes_and_different_settings_refused(tmp_path, ckpt):
    out = tmp_path / "s.h5"
    args = ["surface", *tiny_args(ckpt), "--x=-1:1:4", "--out", str(out)]
    assert run(*args).exit_code == 0
    before = digest(out)
    res = run("surface", *tiny_args(ckpt), "--x=-1:1:5", "--out", str(out))
    assert res.exit_code == 1
    assert "different settings (x)" in res.output and "--overwrite" in res.output
    assert digest(out) == before
    assert run(*args[:-2], "--x=-1:1:5", "--out", str(out), "--overwrite").exit_code == 0


def test_reuse_directions_from_file(tmp_path, ckpt):
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    grid = ["surface", *tiny_args(ckpt), "--x=-1:1:3"]
    assert run(*grid, "--seed", "4", "--out", str(a)).exit_code == 0
    assert run(*grid, "--dirs", str(a), "--out", str(b)).exit_code == 0
    with h5py.File(a) as fa, h5py.File(b) as fb:
        np.testing.assert_array_equal(fa["train_loss"][()], fb["train_loss"][()])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--x=1:0:5"], "x: START must be below STOP"),
        (["--x=-1:1:3", "--y=oops"], "y: expected START:STOP:NUM"),
        (["--x=-1:1:3", "--model", "mlp"], "does not fit the model"),
        (["--x=-1:1:3", "--loss", "NoSuchLoss"], "loss: unknown"),
        (["--x=-1:1:3", "--dirs", "interp"], "needs 1 --target"),
        (["--x=-1:1:3", "--dirs", "nofile.h5"], "dirs: expected random"),
        (["--x=-1:1:3", "--data", "tests.helpers_specs:nothing"], "has no attribute"),
    ],
)
def test_bad_input_one_line_and_file_untouched(tmp_path, ckpt, extra, message):
    out = tmp_path / "s.h5"
    assert run("surface", *tiny_args(ckpt), "--x=-1:1:3", "--out", str(out)).exit_code == 0
    before = digest(out)
    res = run("surface", *tiny_args(ckpt), *extra, "--out", str(out))
    assert res.exit_code != 0
    assert message in res.output, res.output
    assert "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1
    assert digest(out) == before


def test_missing_and_corrupt_checkpoint(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00garbage")
    for ck, msg in (
        (tmp_path / "none.pt", "checkpoint not found"),
        (bad, "not a readable PyTorch file"),
    ):
        res = run("surface", *tiny_args(ck), "--x=-1:1:3", "--out", str(tmp_path / "o.h5"))
        assert res.exit_code == 1 and msg in res.output
    assert not (tmp_path / "o.h5").exists()


KILL_SCRIPT = """
import sys, time
import landscape.evaluators as ev
orig = ev.PointEvaluator.__call__
def slow(self, coords):
    time.sleep(0.05 * len(coords))
    return orig(self, coords)
ev.PointEvaluator.__call__ = slow
from landscape.cli import main
sys.argv = ["landscape"] + sys.argv[1:]
main()
"""


def test_sigkill_then_resume_equals_uninterrupted(tmp_path, ckpt):
    args = [*tiny_args(ckpt), "--x=-1:1:9", "--y=-1:1:7", "--points-per-pass", "1"]
    full = tmp_path / "full.h5"
    assert run("surface", *args, "--out", str(full)).exit_code == 0
    out = tmp_path / "killed.h5"
    script = tmp_path / "slow.py"
    script.write_text(KILL_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(Path.cwd())}
    proc = subprocess.Popen(
        [sys.executable, str(script), "-q", "surface", *args, "--out", str(out)], env=env
    )
    deadline = time.time() + 60
    partial = 0
    while time.time() < deadline:
        time.sleep(0.2)
        if out.exists():
            with h5py.File(out, "r") as f:
                partial = int(f["surface/done"][()].sum())
            if partial > 0:
                break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 0 < partial < 63
    with h5py.File(out, "r") as f:  # readable after the kill
        assert int(f["surface/done"][()].sum()) < 63
    assert run("surface", *args, "--out", str(out)).exit_code == 0
    with h5py.File(full) as a, h5py.File(out) as b:
        for name in ("train_loss", "train_acc", "test_loss", "test_acc"):
            np.testing.assert_array_equal(a[name][()], b[name][()])
        assert b["surface/done"][()].all()


def test_second_writer_gets_clear_error(tmp_path, ckpt):
    from landscape import store

    out = tmp_path / "s.h5"
    with store.writer_lock(out):
        res = run("surface", *tiny_args(ckpt), "--x=-1:1:3", "--out", str(out))
    assert res.exit_code == 1 and "being written by another process" in res.output


class Opaque:
    """A custom class: unpickling it needs code execution."""


def test_unsafe_checkpoint_needs_trust(tmp_path, net):
    path = tmp_path / "full.pt"
    torch.save({"model": net.state_dict(), "note": Opaque()}, path)
    out = tmp_path / "o.h5"
    res = run("surface", *tiny_args(path), "--x=-1:1:3", "--out", str(out))
    assert res.exit_code == 1 and "--trust-checkpoint" in res.output and not out.exists()
    res = run("surface", *tiny_args(path), "--trust-checkpoint", "--x=-1:1:3", "--out", str(out))
    assert res.exit_code == 0 and out.exists()


def test_resume_from_another_directory_names_the_checkpoint_differently(
    tmp_path, ckpt, monkeypatch
):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "m.pt").write_bytes(ckpt.read_bytes())
    monkeypatch.chdir(tmp_path / "a")
    args = [*TINY_SPEC, "--x=-1:1:4", "--seed", "1"]
    assert run("surface", *args, "--checkpoint", "m.pt", "--out", "s.h5").exit_code == 0
    with h5py.File(tmp_path / "a" / "s.h5", "r") as f:
        first = f["train_loss"][()]
    before = digest(tmp_path / "a" / "s.h5")
    monkeypatch.chdir(tmp_path)
    res = run("surface", *args, "--checkpoint", "a/m.pt", "--out", "a/s.h5")
    assert res.exit_code == 0, res.output
    assert digest(tmp_path / "a" / "s.h5") == before  # found complete: the file as it was
    with h5py.File(tmp_path / "a" / "s.h5", "r") as f:
        np.testing.assert_array_equal(f["train_loss"][()], first)
    (tmp_path / "other.pt").write_bytes(ckpt.read_bytes() + b"\0")  # other content: refused
    res = run("surface", *args, "--checkpoint", "other.pt", "--out", "a/s.h5")
    assert res.exit_code != 0 and "different settings (checkpoint)" in res.output


LI_SPEC = ["--model", "tests.li_specs:TinyLi", "--data", "tests.li_specs:li_data"]


@pytest.mark.parametrize(
    ("name", "grid"),
    [("li_full2d", ["--x=-1:1:11", "--y=-0.5:0.5:7"]), ("li_full1d", ["--x=-1:1:21"])],
)
def test_their_direction_file_reproduces_their_surface(tmp_path, name, grid):
    """Their directions (datasets 0, 1, ... in parameters() order) as --dirs: every point
    equals the value their code stored at the same coordinates, accuracy in their percent at
    the root and as a fraction in our group and API."""
    from landscape.io.surface import read_surface
    from tests.li_specs import LI

    out = tmp_path / "ours.h5"
    ckpt = str(LI / "tiny.pt")
    dirs = str(LI / f"{name}_dirs.h5")
    args = [*LI_SPEC, "--checkpoint", ckpt, "--dirs", dirs, *grid, "--batch-size", "64"]
    res = run("surface", *args, "--out", str(out))
    assert res.exit_code == 0, res.output
    ours, theirs = read_surface(out), read_surface(LI / f"{name}.h5")
    np.testing.assert_allclose(ours.x, theirs.x)
    if theirs.y is not None:
        np.testing.assert_allclose(ours.y, theirs.y)
    assert ours.complete and theirs.complete
    for metric in ("train_loss", "test_loss"):
        np.testing.assert_allclose(ours.values[metric], theirs.values[metric], rtol=1e-5)
    for metric in ("train_acc", "test_acc"):
        np.testing.assert_array_equal(ours.values[metric], theirs.values[metric])
        assert (ours.values[metric] <= 1).all()
    with h5py.File(out, "r") as f, h5py.File(LI / f"{name}.h5", "r") as g:
        np.testing.assert_allclose(f["test_acc"][()].reshape(-1), g["test_acc"][()].reshape(-1))
        assert f["directions"].attrs["layout"] == "li2018"


def test_their_direction_file_of_another_model_is_one_line(tmp_path, ckpt):
    from tests.li_specs import LI

    out = tmp_path / "s.h5"
    res = run("surface", *tiny_args(ckpt), "--dirs", str(LI / "li_full1d_dirs.h5"), "--x=-1:1:3", "--out", str(out))  # fmt: skip
    assert res.exit_code == 1 and len(res.output.splitlines()) == 1
    assert "xdirection holds 6 arrays, the model has 4 parameters" in res.output
    assert not out.exists()


def test_one_d_weights_sets_their_treatment_of_1d_parameters(tmp_path, ckpt, net):
    out = tmp_path / "s.h5"
    res = run("surface", *tiny_args(ckpt), "--one-d", "weights", "--x=-1:1:3", "--out", str(out))  # fmt: skip
    assert res.exit_code == 0, res.output
    with h5py.File(out, "r") as f:
        d0 = f["directions/d0"]
        np.testing.assert_array_equal(d0["fc.bias"][()], net.fc.bias.detach().numpy())
        np.testing.assert_array_equal(d0["conv.bias"][()], net.conv.bias.detach().numpy())
        assert f["directions"].attrs["one_d"] == "weights" and f["directions"].attrs["keep_1d"]
    res = run("surface", *tiny_args(ckpt), "--one-d", "zero", "--keep-1d", "--x=-1:1:3", "--out", str(tmp_path / "t.h5"))  # fmt: skip
    assert res.exit_code == 1 and "contradicts" in res.output and len(res.output.splitlines()) == 1
