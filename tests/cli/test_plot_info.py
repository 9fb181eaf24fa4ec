import json
import re
import warnings

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from matplotlib.image import imread

from landscape.cli import cli
from landscape.cli.plot import KINDS, Kind, default_kind, default_out
from landscape.store import write_params
from tests.helpers_specs import TINY_SPEC
from tests.io.test_surface import X, Y, ident, write_li, write_ours


@pytest.fixture(autouse=True)
def _no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def surf(tmp_path):
    z = ident(X, Y) + 20
    z[0, 0] = np.nan
    return write_ours(tmp_path / "s.h5", z, metrics=("train_loss", "test_loss"))


@pytest.fixture
def curve(tmp_path):
    path = tmp_path / "c.h5"
    with h5py.File(path, "w") as f:
        f.attrs["schema_version"] = 1
        f["xcoordinates"] = X
        f["train_loss"], f["train_acc"] = X**2 + 0.1, 1 - X**2 / 5
        f.create_group("surface").attrs["metrics"] = json.dumps(["train_loss", "train_acc"])
    return path


@pytest.mark.parametrize(
    ("kind", "suffix", "size"),
    [
        ("contour", ".png", (3.3, 2.6)),
        ("filled", ".svg", None),
        ("3d", ".png", (6.9, 3.0)),
        ("contour", ".pdf", None),
    ],
)
def test_plot_kinds_write_figures(surf, tmp_path, kind, suffix, size):
    out = tmp_path / f"fig{suffix}"
    extra = ["--width", "double"] if kind == "3d" else []
    res = run("plot", surf, "--kind", kind, "--out", out, "--metric", "test_loss", *extra)
    assert res.exit_code == 0, res.output
    assert res.output == f"wrote {out}\n"
    assert out.stat().st_size > 1000
    if size:
        assert imread(out).shape[:2] == (round(size[1] * 300), round(size[0] * 300))


def test_plot_1d_options(curve, tmp_path):
    out = tmp_path / "c.png"
    res = run("-q", "plot", curve, "--out", out, "--log", "--height", "2")
    assert res.exit_code == 0, res.output
    assert res.output == ""  # -q
    assert imread(out).shape[:2] == (600, 990)


def test_default_kind_and_output_beside_the_input(surf, curve):
    assert run("plot", surf).output == f"wrote {surf.with_name('s.contour.pdf')}\n"
    assert run("plot", curve).output == f"wrote {curve.with_name('c.1d.pdf')}\n"


def test_li_et_al_file_plots(tmp_path):
    li = write_li(tmp_path / "li.h5", X, Y)
    res = run("plot", li, "--kind", "filled", "--out", tmp_path / "li.png", "--levels", "0.5,5,10")
    assert res.exit_code == 0, res.output


def test_exports_through_cli(surf, tmp_path):
    pytest.importorskip("plotly")
    pytest.importorskip("meshio")
    assert run("plot", surf, "--kind", "html").output == f"wrote {surf.with_name('s.html')}\n"
    res = run("plot", surf, "--kind", "vtk", "--out", tmp_path / "m.vtk", "--vmax", "25")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "m.vtk").stat().st_size > 0


def test_refuses_to_overwrite(surf, tmp_path):
    out = tmp_path / "fig.png"
    out.write_bytes(b"keep me")
    res = run("plot", surf, "--out", out)
    assert res.exit_code == 1
    assert (
        res.output
        == f"Error: {out} exists; pass --overwrite to replace it or choose another --out\n"
    )
    assert out.read_bytes() == b"keep me"
    assert run("plot", surf, "--out", out, "--overwrite").exit_code == 0
    assert out.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["--out", "f.jpg"],
            1,
            r"expected a figure file ending in \.pdf, \.svg, \.png \(got '\.jpg'\)",
        ),
        (["--kind", "pie"], 1, r"--kind: expected one of 1d, contour, .* \(got 'pie'\)"),
        (["--kind", "3d", "--levels", "5"], 1, r"--levels: does not apply to --kind 3d"),
        (["--kind", "html", "--width", "double"], 1, r"--width: does not apply to --kind html"),
        (["--levels", "many"], 1, r"expected a positive count \(20\) or comma-separated values"),
        (["--levels", "0"], 1, r"expected a positive count"),
        (["--kind", "1d"], 1, r"--kind 1d needs a 1D surface"),
        (["--metric", "val_loss"], 1, r"no metric 'val_loss'"),
        (["--vmin", "30", "--vmax", "10"], 1, r"expected vmin < vmax"),
        (["--log", "--vmin", "-1"], 1, r"log scale: expected vmin > 0"),
    ],
)
def test_bad_input_one_line_no_output(surf, tmp_path, monkeypatch, *, args, code, message):
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    res = run("plot", surf, *args)
    assert res.exit_code == code
    if code == 1:
        assert res.output.startswith("Error: ") and res.output.count("\n") == 1
    assert re.search(message, res.output), res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written
    assert "Traceback" not in res.output


def test_kind_whose_module_is_missing(surf, monkeypatch):
    monkeypatch.setitem(
        KINDS, "ghost", Kind("landscape.plotting.ghost:plot_ghost", "not written yet")
    )
    res = run("plot", surf, "--kind", "ghost")
    assert res.exit_code == 1
    assert (
        "Error: --kind ghost is not available: module landscape.plotting.ghost is missing"
        in res.output
    )


def test_default_output_of_a_run_lies_inside_it(tmp_path):
    run_dir = tmp_path / "runs" / "adam"
    run_dir.mkdir(parents=True)
    assert default_out(run_dir, "dynamics") == run_dir / "run.dynamics.pdf"
    assert default_out(run_dir / "traj.h5", "contour+path") == run_dir / "traj.contour-path.pdf"


def test_every_kind_draws_one_known_way():
    for spec in KINDS.values():
        assert spec.draws in ("axes", "file", "figure")
        assert spec.options <= {"metric", "log", "vmin", "vmax", "levels", "width", "height"}
        if spec.draws != "figure":  # the command makes (or needs no) figure for these
            assert not spec.options & {"width", "height"}


def test_default_kind_by_content(tmp_path):
    for group, kind in (
        ("curvature", "spectrum"),
        ("dynamics", "dynamics"),
        ("trajectory", "contour+path"),
    ):
        path = tmp_path / f"{group}.h5"
        with h5py.File(path, "w") as f:
            f.create_group(group)
        assert default_kind(path) == kind
    assert default_kind(tmp_path) == "dynamics"
    with h5py.File(tmp_path / "odd.h5", "w") as f:
        f.create_group("misc")
    res = run("plot", tmp_path / "odd.h5")
    assert (
        res.exit_code == 1 and "cannot tell what to draw (it holds misc); pass --kind" in res.output
    )


def test_info_on_our_file(surf, tmp_path):
    with h5py.File(surf, "a") as f:
        write_params(f["directions"], "d0", {"fc.weight": np.zeros((2, 3)), "fc.bias": np.zeros(2)})
    res = run("info", surf)
    assert res.exit_code == 0, res.output
    out = res.output
    assert f"{surf}: landscape file, schema 1" in out
    assert "2D, x: 4 points from -1 to 2; y: 3 points from 0.1 to 0.3" in out
    assert "11 of 12 points done, 1 to go" in out
    assert "train_loss: 1 NaN of 12; min 10.2, max 40.3" in out
    assert "command: landscape surface --x=-1:2:4" in out
    assert "    config:\n      grid: x\n" in out  # config pretty-printed
    assert "d0/  2 named tensors, 8 values (-v lists them)" in out
    verbose = run("-v", "info", surf).output
    assert "fc.weight  float64 (2, 3)" in verbose


def test_info_on_li_file(tmp_path):
    res = run("info", write_li(tmp_path / "li.h5", X, Y))
    assert res.exit_code == 0, res.output
    assert "Li et al. 2018 loss-landscape file (-1 = not computed, no provenance)" in res.output
    assert "train_loss: 2 -1 (not computed) of 12" in res.output
    assert "how it was made" not in res.output
    assert "dir_file  object ()" in res.output


def test_info_bad_input(tmp_path):
    (tmp_path / "junk.h5").write_text("nope")
    res = run("info", tmp_path / "junk.h5")
    assert (
        res.exit_code == 1
        and res.output.startswith("Error: ")
        and "not a readable HDF5 file" in res.output
    )
    missing = run("info", tmp_path / "missing.h5")
    assert missing.exit_code == 1 and len(missing.output.splitlines()) == 1


def test_surface_then_plot_then_info(tmp_path, ckpt):
    """A real file from `landscape surface` plots and describes."""
    out = tmp_path / "s.h5"
    res = run(
        "-q", "surface", *TINY_SPEC, "--checkpoint", ckpt, "--x=-1:1:5", "--y=-1:1:3", "--out", out
    )
    assert res.exit_code == 0, res.output
    for kind in ("contour", "filled", "3d"):
        res = run("plot", out, "--kind", kind, "--out", tmp_path / f"{kind}.png")
        assert res.exit_code == 0, res.output
    info = run("info", out).output
    assert "15 of 15 points done" in info and "directions/" in info
