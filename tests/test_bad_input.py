"""The README's "Bad input and what you get" table, row by row, through ``landscape surface``.

Every row: a non-zero exit, one line of output naming the problem, no
traceback, and the existing output file byte-for-byte unchanged.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from landscape import store
from landscape.cli import cli
from tests.conftest import tiny_net

MODEL = ["--model", "tests.helpers_specs:tiny_net"]
DATA = ["--data", "tests.helpers_specs:tiny_data"]
GRID = ["--x=-1:1:3"]

SPECS = """
import torch

def empty():
    return {"train": (torch.zeros(0, 8), torch.zeros(0, dtype=torch.long))}

def bad_labels():
    return {"train": (torch.randn(6, 8), torch.tensor([0, 1, 2, 3, 9, 0]))}

def wrong_width():
    return {"train": (torch.randn(6, 5), torch.zeros(6, dtype=torch.long))}
"""


def run(*args: str):
    return CliRunner().invoke(cli, ["-q", *args], catch_exceptions=False)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Case:
    """One table row: how to break the input, and the words the error must contain."""

    def __init__(self, tmp: Path, ckpt: Path, out: Path, monkeypatch: pytest.MonkeyPatch):
        self.tmp, self.ckpt, self.out, self.monkeypatch = tmp, ckpt, out, monkeypatch
        (tmp / "specs.py").write_text(SPECS)

    def surface(self, *extra: str, ckpt: Path | None = None, data: list[str] = DATA) -> list[str]:
        """The arguments of a valid run with ``extra`` appended."""
        return ["surface", *MODEL, "--checkpoint", str(ckpt or self.ckpt), *data, *GRID, *extra]

    def spec(self, name: str) -> list[str]:
        return ["--data", f"{self.tmp / 'specs.py'}:{name}"]


def missing_checkpoint(c: Case) -> list[str]:
    return c.surface("--out", str(c.out), ckpt=c.tmp / "nope.pt")


def corrupt_checkpoint(c: Case) -> list[str]:
    bad = c.tmp / "bad.pt"
    bad.write_bytes(b"\x00not a checkpoint")
    return c.surface("--out", str(c.out), ckpt=bad)


def wrong_model(c: Case) -> list[str]:
    return [
        "surface",
        "--model",
        "mlp",
        "--checkpoint",
        str(c.ckpt),
        *DATA,
        *GRID,
        "--out",
        str(c.out),
    ]


def non_finite_weights(c: Case) -> list[str]:
    state = tiny_net().state_dict()
    state["fc.weight"][0, 0] = float("nan")
    path = c.tmp / "nan.pt"
    torch.save(state, path)
    return c.surface("--out", str(c.out), ckpt=path)


def empty_data(c: Case) -> list[str]:
    return c.surface("--out", str(c.out), data=c.spec("empty"))


def labels_out_of_range(c: Case) -> list[str]:
    return c.surface("--out", str(c.out), data=c.spec("bad_labels"))


def data_of_wrong_width(c: Case) -> list[str]:
    return c.surface("--out", str(c.out), data=c.spec("wrong_width"))


def wrong_grid_syntax(c: Case) -> list[str]:
    return c.surface("--y=-1:1", "--out", str(c.out))


def reversed_grid(c: Case) -> list[str]:
    return c.surface("--y=1:-1:5", "--out", str(c.out))


def directions_of_another_model(c: Case) -> list[str]:
    other = c.tmp / "other.h5"
    with h5py.File(other, "w") as f:
        store.write_params(f.create_group("directions"), "d0", {"layer.weight": np.zeros((2, 2))})
    return c.surface("--dirs", str(other), "--out", str(c.out))


def truncated_directions_file(c: Case) -> list[str]:
    cut = c.tmp / "cut.h5"
    cut.write_bytes(c.out.read_bytes()[:1000])
    return c.surface("--dirs", str(cut), "--out", str(c.out))


def truncated_output_file(c: Case) -> list[str]:
    c.out.write_bytes(c.out.read_bytes()[:1000])
    return c.surface("--out", str(c.out))


def li2018_file_with_holes_as_output(c: Case) -> list[str]:
    with h5py.File(c.out, "w") as f:
        f["xcoordinates"] = np.linspace(-1, 1, 3)
        f["train_loss"] = np.array([0.5, -1.0, 0.7])
    return c.surface("--out", str(c.out))


def li2018_file_as_directions(c: Case) -> list[str]:
    li = c.tmp / "li.h5"
    with h5py.File(li, "w") as f:
        f["xcoordinates"] = np.linspace(-1, 1, 3)
        f["train_loss"] = np.array([0.5, -1.0, 0.7])
    return c.surface("--dirs", str(li), "--out", str(c.out))


def _no_space(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def disk_full(c: Case) -> list[str]:
    c.monkeypatch.setattr(h5py.Dataset, "__setitem__", _no_space)  # the results' write fails
    return c.surface("--out", str(c.out))


def disk_full_at_fsync(c: Case) -> list[str]:
    c.monkeypatch.setattr(os, "fsync", _no_space)  # delayed allocation fails when flushed
    return c.surface("--out", str(c.out))


def damaged_pickle(c: Case) -> list[str]:
    bad = c.tmp / "bad.pt"
    bad.write_bytes(b"\x80\x02h\x05.")  # a memo read of nothing: KeyError inside the unpickler
    return c.surface("--out", str(c.out), ckpt=bad)


def empty_checkpoint(c: Case) -> list[str]:
    empty = c.tmp / "empty.pt"
    empty.touch()
    return c.surface("--out", str(c.out), ckpt=empty)


def int_weights(c: Case) -> list[str]:
    state = {k: v.to(torch.int64) for k, v in tiny_net().state_dict().items()}
    path = c.tmp / "int.pt"
    torch.save(state, path)
    return c.surface("--out", str(c.out), ckpt=path)


def model_needing_arguments(c: Case) -> list[str]:
    out = ["--out", str(c.out)]
    return [
        "surface",
        "--model",
        "torch.nn:Linear",
        "--checkpoint",
        str(c.ckpt),
        *DATA,
        *GRID,
        *out,
    ]


def model_exiting(c: Case) -> list[str]:
    out = ["--out", str(c.out)]
    return ["surface", "--model", "sys:exit", "--checkpoint", str(c.ckpt), *DATA, *GRID, *out]


def grid_float64_cannot_hold(c: Case) -> list[str]:
    return c.surface("--y=-1e308:1e308:3", "--out", str(c.out))


def grid_too_large(c: Case) -> list[str]:
    return c.surface("--x=-1:1:100000", "--y=-1:1:100000", "--out", str(c.out))


def _edit_out(c: Case, edit: Callable[[h5py.File], None]) -> None:
    with h5py.File(c.out, "r+") as f:
        edit(f)


def out_config_not_a_dict(c: Case) -> list[str]:
    _edit_out(c, lambda f: f["surface"].attrs.__setitem__("config", "[1, 2]"))
    return c.surface("--out", str(c.out))


def _float_done(f: h5py.File) -> None:
    del f["surface/done"]
    f["surface/done"] = np.zeros(3)


def out_done_not_bool(c: Case) -> list[str]:
    _edit_out(c, _float_done)
    return c.surface("--out", str(c.out))


def _string_metric(f: h5py.File) -> None:
    del f["train_loss"], f["surface/train_loss"]
    f["train_loss"] = np.array([b"a", b"b", b"c"])
    f["surface/train_loss"] = f["train_loss"]


def out_metric_of_strings(c: Case) -> list[str]:
    _edit_out(c, _string_metric)
    return c.surface("--out", str(c.out))


def nan_directions(c: Case) -> list[str]:
    dirs = c.tmp / "nan_dirs.h5"
    shutil.copyfile(c.out, dirs)
    with h5py.File(dirs, "r+") as f:
        f["directions/d0/fc.weight"][...] = np.nan
    return c.surface("--dirs", str(dirs), "--out", str(c.out))


def _huge_metric(f: h5py.File) -> None:
    del f["train_loss"], f["surface/train_loss"]
    f.create_dataset("train_loss", shape=(1 << 27,), dtype="f8", chunks=(1024,))


def out_declaring_a_huge_dataset(c: Case) -> list[str]:
    _edit_out(c, _huge_metric)
    return c.surface("--out", str(c.out))


ROWS: list[tuple[Callable[[Case], list[str]], str]] = [
    (missing_checkpoint, "checkpoint not found"),
    (corrupt_checkpoint, "not a readable PyTorch file"),
    (wrong_model, "does not fit the model"),
    (non_finite_weights, "holds NaN or infinity"),
    (empty_data, "is empty"),
    (labels_out_of_range, "labels out of range: found 0..9 but the model has 4 outputs"),
    (data_of_wrong_width, "data split 'train' does not fit the model"),
    (wrong_grid_syntax, "y: expected START:STOP:NUM"),
    (reversed_grid, "y: START must be below STOP"),
    (directions_of_another_model, "directions in"),
    (truncated_directions_file, "not a readable HDF5 file"),
    (truncated_output_file, "not a readable HDF5 file (truncated or corrupt?); pass --overwrite"),
    (li2018_file_with_holes_as_output, "holds no landscape surface"),
    (li2018_file_as_directions, "holds no 'directions' group"),
    (disk_full, "disk full while writing; the previous file is kept"),
    (damaged_pickle, "bad.pt: not a readable PyTorch file (damaged or truncated? KeyError"),
    (empty_checkpoint, "empty.pt: empty file; expected a file written by torch.save"),
    (int_weights, "'conv.weight' is torch.int64; expected a floating dtype"),
    (model_needing_arguments, "'torch.nn:Linear': calling it failed (TypeError"),
    (model_exiting, "'sys:exit': calling it exited the program (SystemExit: None)"),
    (grid_float64_cannot_hold, "y: '-1e308:1e308:3' gives values float64 cannot hold"),
    (grid_too_large, "100000 x 100000 = 10000000000 points is above the limit of 1000000"),
    (out_config_not_a_dict, "the 'surface' config is list, not a dict"),
    (out_done_not_bool, "/surface/done is of dtype float64; expected bool values"),
    (out_metric_of_strings, "/train_loss is of dtype |S1; expected float values"),
    (nan_directions, "'/directions/d0': 'fc.weight' holds NaN or infinity"),
    (out_declaring_a_huge_dataset, "dataset 'train_loss' declares shape (134217728,)"),
]


CASES = [pytest.param(make, message, id=make.__name__) for make, message in ROWS] + [
    pytest.param(
        disk_full_at_fsync,
        "disk full while writing; the previous file is kept",
        id="disk_full_at_fsync",
    )
]


@pytest.mark.parametrize(("make", "message"), CASES)
def test_bad_input_one_line_nonzero_exit_file_unchanged(
    tmp_path: Path,
    ckpt: Path,
    monkeypatch: pytest.MonkeyPatch,
    make: Callable[[Case], list[str]],
    message: str,
) -> None:
    out = tmp_path / "s.h5"
    assert run(*Case(tmp_path, ckpt, out, monkeypatch).surface("--out", str(out))).exit_code == 0
    args = make(Case(tmp_path, ckpt, out, monkeypatch))
    before = digest(out)
    res = run(*args)
    assert res.exit_code != 0
    assert message in res.output, res.output
    assert len(res.output.strip().splitlines()) == 1 and res.output.startswith("Error: ")
    assert "Traceback" not in res.output
    assert digest(out) == before
    assert list(tmp_path.glob("*.tmp-*")) == []


def test_damaged_output_is_replaced_with_overwrite(tmp_path: Path, ckpt: Path) -> None:
    out = tmp_path / "s.h5"
    out.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 100)
    args = ["surface", *MODEL, "--checkpoint", str(ckpt), *DATA, *GRID, "--out", str(out)]
    assert run(*args).exit_code == 1
    assert run(*args, "--overwrite").exit_code == 0
    with h5py.File(out, "r") as f:
        assert f["surface/done"][()].all()


class Payload:
    """Unpickling this runs code: it creates the file named by ``marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self) -> tuple[Callable[[Path], None], tuple[Path]]:
        return (Path.touch, (self.marker,))


def test_malicious_pickle_does_not_run_without_trust(tmp_path: Path, net: torch.nn.Module) -> None:
    marker, ckpt, out = tmp_path / "pwned", tmp_path / "evil.pt", tmp_path / "s.h5"
    torch.save({"model": net.state_dict(), "payload": Payload(marker)}, ckpt)
    res = run("surface", *MODEL, "--checkpoint", str(ckpt), *DATA, *GRID, "--out", str(out))
    assert res.exit_code == 1 and "--trust-checkpoint" in res.output
    assert not marker.exists() and not out.exists()
    trusted = ["--trust-checkpoint", "--out", str(out)]
    assert run("surface", *MODEL, "--checkpoint", str(ckpt), *DATA, *GRID, *trusted).exit_code == 0
    assert marker.exists()  # what --trust-checkpoint's help warns about


def test_bad_loss_leaves_no_stub_out(tmp_path: Path, ckpt: Path) -> None:
    out = tmp_path / "s.h5"
    args = ["surface", *MODEL, "--checkpoint", str(ckpt), *DATA, *GRID, "--out", str(out)]
    res = run(*args, "--loss", "math:sqrt")
    assert res.exit_code == 1 and "does not fit the model" in res.output
    assert not out.exists() and list(tmp_path.glob("s.h5*")) == []
    assert run(*args).exit_code == 0  # the corrected re-run is not blocked


def test_seed_out_of_range_is_a_usage_error(tmp_path: Path, ckpt: Path) -> None:
    out = tmp_path / "s.h5"
    args = ["surface", *MODEL, "--checkpoint", str(ckpt), *DATA, *GRID, "--out", str(out)]
    res = run(*args, f"--seed={2**64}")
    assert res.exit_code == 1 and "Invalid value for '--seed'" in res.output
    assert "Traceback" not in res.output and not out.exists()
    assert run(*args, f"--seed={2**64 - 1}").exit_code == 0


def test_non_utf8_out_name(tmp_path: Path, ckpt: Path) -> None:
    out = tmp_path / os.fsdecode(b"s\xff.h5")
    args = ["surface", *MODEL, "--checkpoint", str(ckpt), *DATA, *GRID, "--out", str(out)]
    assert run(*args).exit_code == 0
    with h5py.File(out, "r") as f:
        assert "s\\xff.h5" in f.attrs["command"]


def test_plot_refuses_nan_coordinates(tmp_path: Path, ckpt: Path) -> None:
    out = tmp_path / "s.h5"
    assert (
        run("surface", *MODEL, "--checkpoint", str(ckpt), *DATA, *GRID, "--out", str(out)).exit_code
        == 0
    )
    with h5py.File(out, "r+") as f:
        f["xcoordinates"][1] = np.nan
    res = run("plot", str(out), "--out", str(tmp_path / "s.png"))
    assert res.exit_code == 1 and res.output.count("\n") == 1
    assert "xcoordinates must be finite and strictly increasing" in res.output
    assert not (tmp_path / "s.png").exists()
