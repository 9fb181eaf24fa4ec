"""Property-based fuzzing: damaged HDF5 files, crafted run files and arbitrary grid text.

Every reader either returns data or raises a one-line LandscapeError; nothing
else escapes. Crafted ``run.h5`` files (links, huge declared shapes, strings,
wrong shapes, a missing ``dynamics`` group, NaN row numbers, non-UTF-8 or
non-JSON attributes) given to ``info``, ``plot``, ``diagnose``, ``trajectory``
and ``compare``: one line, exit 1, nothing written.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from landscape import store
from landscape.cli import cli
from landscape.directions import Directions
from landscape.engine import _start
from landscape.errors import LandscapeError
from landscape.grid import parse_grid
from landscape.io.surface import create_surface_file, read_surface
from landscape.records import Surface
from tests.conftest import tiny_net
from tests.helpers_specs import TINY_SPEC, tiny_args

pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")

METRICS = ["train_loss", "train_acc"]
X, Y = np.linspace(-1, 1, 4), np.linspace(-1, 1, 3)
CONFIG = {"x": X.tolist()}
DIRECTIONS = Directions([{"w": torch.ones(2, 3), "b": torch.zeros(3)}] * 2, "random", {"seed": 0})


def _surface_bytes() -> bytes:
    """A small complete surface file, as the engine writes it."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.h5"
        values = {m: np.arange(12, dtype=np.float64).reshape(3, 4) for m in METRICS}
        create_surface_file(
            path,
            (DIRECTIONS.kind, DIRECTIONS.attrs, DIRECTIONS.numpy()),
            Surface(X, Y, values, np.ones((3, 4), bool), config=CONFIG),
            command="test",
        )
        return path.read_bytes()


GOOD = _surface_bytes()


def _resume(path: Path) -> None:
    """What the engine reads before resuming into a file."""
    values = {m: np.full((3, 4), np.nan) for m in METRICS}
    empty = Surface(X, Y, values, np.zeros((3, 4), bool), config=CONFIG)
    _start(path, DIRECTIONS, empty, overwrite=False, command="test", share=False)


def _damage(draw: st.DrawFn, good: bytes, *, runs: int, chunk: int) -> bytes:
    """``good`` truncated, or with 1 to ``runs`` runs of up to ``chunk`` drawn bytes over it."""
    if draw(st.booleans()):
        return good[: draw(st.integers(0, len(good) - 1))]
    data = bytearray(good)
    for _ in range(draw(st.integers(1, runs))):
        at = draw(st.integers(0, len(data) - 1))
        piece = draw(st.binary(min_size=1, max_size=chunk))
        data[at : at + len(piece)] = piece
    return bytes(data[: len(good)])


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    """The good file truncated, or with up to 8 runs of garbage written over it."""
    return _damage(draw, GOOD, runs=8, chunk=16)


def _check(reader: Callable[[Path], object], blob: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.h5"
        path.write_bytes(blob)
        try:
            reader(path)
        except LandscapeError as exc:
            assert "\n" not in str(exc) and str(path) in str(exc)


def test_intact_file_reads(tmp_path: Path) -> None:
    path = tmp_path / "s.h5"
    path.write_bytes(GOOD)
    _resume(path)
    assert read_surface(path).values["train_loss"][2, 3] == 11.0


FUZZ = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.generate],  # a failure's blob is 60 kB: report it, don't shrink it
    suppress_health_check=[HealthCheck.too_slow],
)


@FUZZ
@given(damaged())
def test_resume_reader_on_damaged_file(blob: bytes) -> None:
    _check(_resume, blob)


@FUZZ
@given(damaged())
def test_plot_reader_on_damaged_file(blob: bytes) -> None:
    _check(read_surface, blob)


@pytest.mark.parametrize("size", [0, 8, 512, len(GOOD) // 2])
def test_truncated_file_named_in_error(tmp_path: Path, size: int) -> None:
    path = tmp_path / "cut.h5"
    path.write_bytes(GOOD[:size])
    for reader in (read_surface, _resume):
        with pytest.raises(LandscapeError, match=r"cut\.h5"):
            reader(path)


GRID_TEXT = st.one_of(
    st.text(max_size=30),
    st.from_regex(r"-?[0-9.e]{0,5}:-?[0-9.e]{0,5}:-?[0-9]{0,4}", fullmatch=True),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=6).map(
        lambda v: ",".join(map(str, v))
    ),
)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(GRID_TEXT)
def test_grid_text_gives_sorted_grid_or_landscape_error(text: str) -> None:
    try:
        grid = parse_grid(text, name="x")
    except LandscapeError as exc:
        assert str(exc).startswith("x: ") and "\n" not in str(exc)
    else:
        assert grid.ndim == 1 and len(grid) >= 1 and np.isfinite(grid).all()
        assert np.all(np.diff(grid) > 0)


# ---------------------------------------------------------------- through the command line
CLI_FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _checkpoint_bytes(legacy: bool) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.pt"
        torch.save(tiny_net().state_dict(), path, _use_new_zipfile_serialization=not legacy)
        return path.read_bytes()


CHECKPOINTS = (_checkpoint_bytes(False), _checkpoint_bytes(True))


@st.composite
def damaged_checkpoint(draw: st.DrawFn) -> bytes:
    """A torch.save file (zip or legacy pickle) truncated, or with bytes written over it."""
    return _damage(draw, CHECKPOINTS[draw(st.integers(0, 1))], runs=6, chunk=8)


def _one_line_or_success(res, *outputs: Path) -> None:
    """Exit 0, or exit 1 with one ``Error:`` line, no traceback and no output written."""
    assert res.exit_code in (0, 1), res.output[-500:]
    if res.exit_code == 1:
        assert res.output.startswith("Error: ") and res.output.count("\n") == 1, res.output[-500:]
        assert all(not p.exists() for p in outputs)


@CLI_FUZZ
@given(damaged_checkpoint(), st.sampled_from(["surface", "hessian"]))
def test_commands_on_damaged_checkpoints(blob: bytes, command: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ckpt, out = Path(tmp) / "c.pt", Path(tmp) / "out.h5"
        ckpt.write_bytes(blob)
        extra = ["--x=-1:1:2"] if command == "surface" else ["--top-k", "1", "--max-iter", "5"]
        args = [command, *tiny_args(ckpt, *extra), "--out", str(out)]
        _one_line_or_success(CliRunner().invoke(cli, ["-q", *args]), out)
        assert sorted(p.name for p in Path(tmp).iterdir()) in (["c.pt"], ["c.pt", "out.h5"])


def _external(f: h5py.File, name: str, victim: Path) -> None:
    del f[name]
    f[name] = h5py.ExternalLink(str(victim), "/x")


def _soft(f: h5py.File, name: str, victim: Path) -> None:
    del f[name]
    f[name] = h5py.SoftLink("/xcoordinates")


def _virtual(f: h5py.File, name: str, victim: Path) -> None:
    del f[name]
    layout = h5py.VirtualLayout(shape=(3,), dtype="f8")
    layout[:] = h5py.VirtualSource(str(victim), "x", shape=(3,))
    f.create_virtual_dataset(name, layout)


def _huge(f: h5py.File, name: str, victim: Path) -> None:
    del f[name]
    f.create_dataset(name, shape=(1 << 27,), dtype="f8", chunks=(4096,))


def _strings(f: h5py.File, name: str, victim: Path) -> None:
    del f[name]
    f[name] = np.array([b"a", b"b", b"c"])


def _floats(f: h5py.File, name: str, victim: Path) -> None:
    del f[name]
    f[name] = np.array([0.5, np.nan, np.inf])


def _config(f: h5py.File, name: str, victim: Path) -> None:
    f["surface"].attrs["config"] = "[1, 2]"


CRAFTS = [_external, _soft, _virtual, _huge, _strings, _floats, _config]
TARGETS = ["train_loss", "surface/train_loss", "surface/done", "xcoordinates", "directions/d0/w"]


def _crafted_surface(tmp: Path) -> tuple[Path, Path]:
    victim = tmp / "victim.h5"
    with h5py.File(victim, "w") as f:
        f["x"] = np.arange(3.0)
    path = tmp / "s.h5"
    values = {"train_loss": np.arange(3.0)}
    directions = Directions([{"w": torch.ones(2, 3)}], "random", {"seed": 0})
    x = np.linspace(-1, 1, 3)
    create_surface_file(
        path,
        (directions.kind, directions.attrs, directions.numpy()),
        Surface(x, None, values, np.zeros(3, bool), config=CONFIG),
        command="test",
    )
    return path, victim


@CLI_FUZZ
@given(st.sampled_from(CRAFTS), st.sampled_from(TARGETS), st.sampled_from(["info", "plot"]))
def test_readers_on_crafted_hdf5(craft, target: str, command: str) -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        path, victim = _crafted_surface(tmp)
        with h5py.File(path, "r+") as f:
            craft(f, target, victim)
        before, victim_before = path.read_bytes(), victim.read_bytes()
        figure = tmp / "s.png"
        args = [command, str(path)] + (["--out", str(figure)] if command == "plot" else [])
        _one_line_or_success(CliRunner().invoke(cli, ["-q", *args]), figure)
        assert path.read_bytes() == before and victim.read_bytes() == victim_before


@pytest.mark.parametrize("craft", [c for c in CRAFTS if c is not _floats], ids=lambda c: c.__name__)
def test_resume_and_write_refuse_crafted_files(tmp_path: Path, craft) -> None:
    path, victim = _crafted_surface(tmp_path)
    with h5py.File(path, "r+") as f:
        craft(f, "train_loss", victim)
    before, victim_before = path.read_bytes(), victim.read_bytes()
    with pytest.raises(LandscapeError) as err:
        _resume_1d(path)
        with store.atomic_update(path) as f:
            f["train_loss"][...] = 1.0
    assert "\n" not in str(err.value) and "s.h5" in str(err.value)
    assert path.read_bytes() == before and victim.read_bytes() == victim_before


def _resume_1d(path: Path) -> None:
    directions = Directions([{"w": torch.ones(2, 3)}], "random", {"seed": 0})
    values = {"train_loss": np.full(3, np.nan)}
    empty = Surface(np.linspace(-1, 1, 3), None, values, np.zeros(3, bool), config=CONFIG)
    _start(path, directions, empty, overwrite=False, command="t", share=False)


# ---------------------------------------------------------------- crafted run.h5 files
RUN_TARGETS = [
    "dynamics/epoch/train_loss",
    "dynamics/epoch/weight_norm",
    "dynamics/epoch/epoch",
    "dynamics/step/loss",
]


def _wrong_shape(f: h5py.File, name: str, victim: Path) -> None:
    rows = f[name].shape[0]
    del f[name]
    f[name] = np.zeros((rows + 1, 3))


def _missing_group(f: h5py.File, name: str, victim: Path) -> None:
    del f["dynamics"]


def _nan_keys(f: h5py.File, name: str, victim: Path) -> None:
    table = f[name.rsplit("/", 1)[0]]
    for key in ("epoch", "step"):
        if key in table:
            rows = table[key].shape[0]
            del table[key]
            table[key] = np.full(rows, np.nan)


def _non_utf8(f: h5py.File, name: str, victim: Path) -> None:
    f["dynamics"].attrs["config"] = np.bytes_(b'{"model": "\xff\xfe"}')


def _not_json(f: h5py.File, name: str, victim: Path) -> None:
    f["dynamics"].attrs["layers"] = "[not json"


RUN_CRAFTS = [
    _external,
    _soft,
    _virtual,
    _huge,
    _strings,
    _wrong_shape,
    _missing_group,
    _nan_keys,
    _non_utf8,
    _not_json,
]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("fuzz") / "run"
    args = ["train", *TINY_SPEC, "--epochs", "2", "--batch-size", "16", "--out", str(run)]
    res = CliRunner().invoke(cli, ["-q", *args])
    assert res.exit_code == 0, res.output
    return run


def _command_args(command: str, run: Path, out: Path) -> list[str]:
    return {
        "info": ["info", str(run / "run.h5")],
        "plot": ["plot", str(run), "--out", str(out.with_suffix(".png"))],
        "diagnose": ["diagnose", str(run)],
        "trajectory": ["trajectory", str(run), *TINY_SPEC, "--resolution", "3", "--out", str(out)],
        "compare": ["compare", str(run), *TINY_SPEC, "--no-profiles", "--out", str(out)],
    }[command]


@settings(CLI_FUZZ, max_examples=60)
@given(
    st.sampled_from(RUN_CRAFTS),
    st.sampled_from(RUN_TARGETS),
    st.sampled_from(["info", "plot", "diagnose", "trajectory", "compare"]),
)
def test_commands_on_crafted_run_files(trained_run: Path, craft, target: str, command: str) -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        run = tmp / "run"
        shutil.copytree(trained_run, run)
        victim = tmp / "victim.h5"
        with h5py.File(victim, "w") as f:
            f["x"] = np.arange(3.0)
        with h5py.File(run / "run.h5", "r+") as f:
            craft(f, target, victim)
        before = {p: p.read_bytes() for p in sorted(tmp.rglob("*")) if p.is_file()}
        out = tmp / "out.h5"
        res = CliRunner().invoke(cli, ["-q", *_command_args(command, run, out)])
        if craft is _missing_group and command == "info":  # no run left: a plain file, described
            assert res.exit_code == 0 and "contents:" in res.output, res.output[-500:]
        else:
            assert res.exit_code == 1, (craft.__name__, target, command, res.output[-500:])
            assert res.output.startswith("Error: ") and res.output.count("\n") == 1, res.output
        after = {p: p.read_bytes() for p in sorted(tmp.rglob("*")) if p.is_file()}
        assert after == before  # nothing written, nothing changed
