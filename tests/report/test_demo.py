"""``landscape demo --quick`` end to end: promised files, schema, numbers equal the stored ones."""

import hashlib
import json

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from landscape.cli import cli
from landscape.demo import DEMO_SIZES, OPTIMIZER_RUNS, run_demo
from landscape.errors import LandscapeError
from landscape.report.table import COLUMNS, format_number

ROOT_ATTRS = ("schema_version", "landscape_version", "created", "command", "package_versions")
FIGURES = ("convergence", "stability", "profiles", "paths", "surface_pair")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "demo"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: one thread is fastest and immune to oversubscription
    try:
        res = CliRunner().invoke(
            cli, ["-q", "demo", "--quick", "--out", str(out), "--device", "cpu"]
        )
    finally:
        torch.set_num_threads(threads)
    assert res.exit_code == 0, res.output
    return out, res.output


def test_prints_where_the_report_is(demo):
    out, output = demo
    assert f"report: {out / 'report' / 'index.html'}" in output


def test_every_promised_file_exists(demo):
    out, _ = demo
    names = [r.name for r in OPTIMIZER_RUNS]
    assert len(names) == 5
    for n in names:
        assert (out / "runs" / n / "run.h5").is_file()
        assert (out / "runs" / n / "checkpoints" / "init.pt").is_file()
        assert (out / "report" / "profiles" / f"{n}.h5").is_file()
        for ext in ("png", "pdf"):
            assert (out / "report" / "figures" / f"dynamics_{n}.{ext}").stat().st_size > 0
    for f in FIGURES:
        for ext in ("png", "pdf"):
            assert (out / "report" / "figures" / f"{f}.{ext}").stat().st_size > 0, f
    for name in ("skip", "noskip"):
        assert (out / "surfaces" / f"resnet-{name}.h5").is_file()
        assert (out / "resnet" / name / "run.h5").is_file()
    for name in ("compare.h5", "index.html", "report.md", "plane.h5"):
        assert (out / "report" / name).is_file()


def test_hdf5_files_follow_the_schema(demo):
    out, _ = demo
    n = int(DEMO_SIZES["quick"].surface_grid.split(":")[2])
    for name in ("skip", "noskip"):
        with h5py.File(out / "surfaces" / f"resnet-{name}.h5", "r") as f:
            assert all(k in f.attrs for k in ROOT_ATTRS)
            assert f["xcoordinates"].shape == (n,) and f["ycoordinates"].shape == (n,)
            for m in ("train_loss", "train_acc", "test_loss", "test_acc"):
                assert f[m].shape == (n, n) and np.isfinite(f[m][()]).all(), m
            g = f["surface"]
            assert g.attrs["ndim"] == 2 and set(json.loads(g.attrs["metrics"])) >= {"train_loss"}
            json.loads(g.attrs["config"])
            assert g["done"][()].all()
            d = f["directions"]
            assert (
                {"d0", "d1"} <= set(d)
                and d.attrs["kind"] == "random"
                and d.attrs["norm"] == "filter"
            )
            assert "keep_1d" in d.attrs and "seed" in d.attrs
    for r in OPTIMIZER_RUNS:
        with h5py.File(out / "report" / "profiles" / f"{r.name}.h5", "r") as f:
            assert f["surface"].attrs["ndim"] == 1 and "ycoordinates" not in f
            assert all(k in f.attrs for k in ROOT_ATTRS)
        with h5py.File(out / "runs" / r.name / "run.h5", "r") as f:
            json.loads(f["dynamics"].attrs["config"])
    with h5py.File(out / "report" / "compare.h5", "r") as f:
        assert all(k in f.attrs for k in ROOT_ATTRS)
        for g in ("compare", "curvature", "trajectory"):
            json.loads(f[g].attrs["config"])
        assert json.loads(f["compare"].attrs["runs"]) == [r.name for r in OPTIMIZER_RUNS]
        assert f["trajectory"].attrs["surface"] == "plane.h5"
    n = DEMO_SIZES["quick"].compare.plane_resolution
    with h5py.File(out / "report" / "plane.h5", "r") as f:
        assert f["train_loss"].shape == (n, n) and f["directions"].attrs["kind"] == "pca"


def table_rows(md: str) -> dict[str, list[str]]:
    lines = [ln for ln in md.splitlines() if ln.startswith("| ")]
    return {
        cells[0]: cells[1:]
        for cells in ([c.strip() for c in ln.strip("|").split("|")] for ln in lines[2:])
    }


def test_report_numbers_equal_the_stored_numbers(demo):
    out, _ = demo
    rows = table_rows((out / "report" / "report.md").read_text())
    html = (out / "report" / "index.html").read_text()
    with h5py.File(out / "report" / "compare.h5", "r") as f:
        stored = {n: json.loads(f["compare"][n].attrs["summary"]) for n in f["compare"]}
        profiles = {n: f["compare"][n]["profile/train_loss"][()] for n in f["compare"]}
    assert len(rows) == 5
    for name, s in stored.items():
        cells = rows[s["label"]]
        assert cells == [format_number(s[c.field]) for c in COLUMNS], name
        assert "".join(f"<td>{c}</td>" for c in cells) in html
        with h5py.File(out / "report" / "profiles" / f"{name}.h5", "r") as g:
            assert np.array_equal(g["train_loss"][()], profiles[name])
    with h5py.File(out / "runs" / "adam" / "run.h5", "r") as f:
        final = float(f["dynamics/epoch/val_loss"][-1])
    assert stored["adam"]["final_val_loss"] == final


def test_unknown_size_is_refused(tmp_path):
    with pytest.raises(LandscapeError, match="size: expected one of quick, default, full"):
        run_demo(tmp_path, size="huge")
    with pytest.raises(LandscapeError, match="threads: expected a positive integer"):
        run_demo(tmp_path, size="quick", threads=0)
    res = CliRunner().invoke(cli, ["demo", "--quick", "--threads", "0", "--out", str(tmp_path)])
    assert res.exit_code == 1 and "--threads" in res.output and len(res.output.splitlines()) == 1
    assert not any(tmp_path.iterdir())


def digests(paths):
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def surfaces(paths):
    out = {}
    for p in paths:
        with h5py.File(p, "r") as f:
            out[p] = f["train_loss"][()]
    return out


@pytest.mark.slow
def test_rerun_reuses_everything(demo):
    out, _ = demo
    runs = sorted(out.glob("runs/*/run.h5")) + sorted(out.glob("resnet/*/run.h5"))
    surf = sorted(out.glob("surfaces/*.h5")) + sorted(out.glob("report/profiles/*.h5"))
    before, values = digests(runs), surfaces(surf)
    with h5py.File(out / "report" / "compare.h5", "r") as f:
        lam = {n: f["curvature"][n]["lambda_max"][()] for n in f["curvature"]}
    res = CliRunner().invoke(cli, ["-q", "demo", "--quick", "--out", str(out), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert digests(runs) == before
    after = surfaces(surf)
    assert all(np.array_equal(after[p], v) for p, v in values.items())
    with h5py.File(out / "report" / "compare.h5", "r") as f:
        assert all(np.array_equal(f["curvature"][n]["lambda_max"][()], v) for n, v in lam.items())
