"""``landscape export-dirs``: our directions in the layout of Li et al.'s direction files."""

from __future__ import annotations

import json

import h5py
import numpy as np
from click.testing import CliRunner

from landscape.cli import cli
from tests.li_specs import LI

LI_SPEC = ["--model", "tests.li_specs:TinyLi", "--data", "tests.li_specs:li_data"]


def run(*args: str):
    return CliRunner().invoke(cli, ["-q", *args], catch_exceptions=False)


def their_read_list(f: h5py.File, name: str) -> list[np.ndarray]:
    """``h5_util.read_list`` of their code, as written there."""
    grp = f[name]
    return [grp[str(i)][()] for i in range(len(grp))]


def test_round_trip_through_their_layout(tmp_path):
    """Theirs -> our surface -> export: the same arrays their loader reads, in the same order."""
    surf, exported = tmp_path / "s.h5", tmp_path / "dirs.h5"
    ckpt, dirs = str(LI / "tiny.pt"), str(LI / "li_full2d_dirs.h5")
    res = run("surface", *LI_SPEC, "--checkpoint", ckpt, "--dirs", dirs, "--x=-1:1:3",
              "--y=-1:1:3", "--split", "train", "--out", str(surf))  # fmt: skip
    assert res.exit_code == 0, res.output
    res = run("export-dirs", str(surf), "--out", str(exported))
    assert res.exit_code == 0, res.output
    with h5py.File(exported, "r") as ours, h5py.File(dirs, "r") as theirs:
        assert sorted(ours) == ["xdirection", "ydirection"]
        for axis in ("xdirection", "ydirection"):
            a, b = their_read_list(ours, axis), their_read_list(theirs, axis)
            assert len(a) == len(b) == 6
            for x, y in zip(a, b, strict=True):
                np.testing.assert_array_equal(x, y)


def test_exported_random_directions_make_the_same_surface(tmp_path):
    first, exported, again = tmp_path / "a.h5", tmp_path / "d.h5", tmp_path / "b.h5"
    common = [*LI_SPEC, "--checkpoint", str(LI / "tiny.pt"), "--x=-1:1:3", "--split", "test"]
    assert run("surface", *common, "--seed", "4", "--out", str(first)).exit_code == 0
    assert run("export-dirs", str(first), "--out", str(exported)).exit_code == 0
    res = run("surface", *common, "--dirs", str(exported), "--out", str(again))
    assert res.exit_code == 0, res.output
    with h5py.File(first, "r") as f, h5py.File(again, "r") as g, h5py.File(exported, "r") as e:
        np.testing.assert_array_equal(f["test_loss"][()], g["test_loss"][()])
        names = json.loads(f["directions/d0"].attrs["names"])
        for i, name in enumerate(names):  # positions follow the stored parameter order
            np.testing.assert_array_equal(e[f"xdirection/{i}"][()], f[f"directions/d0/{name}"][()])


def test_refuses_to_overwrite_and_files_without_directions(tmp_path):
    out = tmp_path / "d.h5"
    out.write_bytes(b"keep")
    res = run("export-dirs", str(LI / "li_full2d.h5"), "--out", str(out))
    assert res.exit_code == 1 and "--overwrite" in res.output and out.read_bytes() == b"keep"
    res = run("export-dirs", str(LI / "li_full2d.h5"), "--out", str(tmp_path / "e.h5"))
    assert res.exit_code == 1 and "holds no 'directions' group" in res.output
    assert len(res.output.splitlines()) == 1 and not (tmp_path / "e.h5").exists()
