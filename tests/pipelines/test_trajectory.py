from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from matplotlib.figure import Figure

from landscape.cli import cli
from landscape.data import load_data
from landscape.dynamics.runs import read_run
from landscape.dynamics.train import TrainConfig, train
from landscape.io.trajectory import read_trajectory
from landscape.loading import build_model, load_checkpoint
from landscape.objective import Objective
from landscape.params import dot
from landscape.plotting.dynamics import plot_dynamics
from landscape.plotting.style import figure
from landscape.plotting.trajectory import plot_trajectory
from landscape.store import read_params

SMALL = dict(epochs=3, max_samples=64, batch_size=16)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("traj")
    train(TrainConfig(optimizer="sgd", lr=0.1, momentum=0.9, **SMALL), root / "sgd", progress=False)
    train(TrainConfig(optimizer="adam", lr=0.01, **SMALL), root / "adam", progress=False)
    return root


def invoke(*args):
    return CliRunner().invoke(cli, ["-q", *map(str, args)])


@pytest.fixture(scope="module")
def single(runs):
    out = runs / "adam.h5"
    res = invoke("trajectory", runs / "adam", "--out", out, "--resolution", 3, "--max-samples", 32)
    assert res.exit_code == 0, res.output
    return out


def test_single_run_file_holds_plane_path_and_surface(runs, single):
    t = read_trajectory(single)
    assert t.labels == ("adam",) and t.origin_label == "adam"
    assert t.epochs.tolist() == [0, 1, 2, 3] and t.steps.tolist() == [0, 4, 8, 12]
    np.testing.assert_allclose(t.coords[-1], [0.0, 0.0], atol=1e-12)
    assert t.residual[-1] == 0.0 and (t.residual >= 0).all() and (t.residual <= 1).all()
    assert 0 < t.explained_variance_ratio.sum() <= 1
    with h5py.File(single, "r") as f:
        x, y = f["xcoordinates"][()], f["ycoordinates"][()]
        assert f["surface/done"][()].all() and f["train_loss"].shape == (3, 3)
        assert "test_loss" not in f
        assert f["directions"].attrs["kind"] == "pca"
        d = [
            {k: torch.from_numpy(v) for k, v in read_params(f["directions"][n]).items()}
            for n in ("d0", "d1")
        ]
        loss = f["train_loss"][()]
    assert x.min() < t.coords[:, 0].min() and x.max() > t.coords[:, 0].max()
    assert y.min() < t.coords[:, 1].min() and y.max() > t.coords[:, 1].max()
    assert dot(d[0], d[0]) == pytest.approx(1.0, abs=1e-6) and dot(d[0], d[1]) == pytest.approx(
        0.0, abs=1e-6
    )
    model = build_model("mlp")
    origin, buffers = load_checkpoint(model, runs / "adam" / "checkpoints" / "epoch_0003.pt")
    split = load_data("mnist1d", split="train", max_samples=32, seed=0).splits["train"]
    obj = Objective(model, split, buffers=buffers)
    point = {k: origin[k] + x[2] * d[0][k] + y[0] * d[1][k] for k in origin}
    assert loss[0, 2] == pytest.approx(obj.evaluate(point)[0], rel=1e-5)


def test_rerun_resumes_and_other_settings_are_refused(runs, single):
    res = invoke(
        "trajectory", runs / "adam", "--out", single, "--resolution", 3, "--max-samples", 32
    )
    assert res.exit_code == 0, res.output
    with h5py.File(single, "r") as f:
        assert f["surface/done"][()].all()
    before = single.read_bytes()
    res = invoke(
        "trajectory",
        runs / "adam",
        "--out",
        single,
        "--resolution",
        3,
        "--max-samples",
        32,
        "--margin",
        1,
    )
    assert res.exit_code == 1 and "different settings (margin)" in res.output
    assert single.read_bytes() == before


@pytest.fixture(scope="module")
def shared(runs):
    out = runs / "shared.h5"
    res = invoke(
        "trajectory",
        runs / "sgd",
        runs / "adam",
        "--origin",
        runs / "sgd",
        "--out",
        out,
        "--no-surface",
    )
    assert res.exit_code == 0, res.output
    return out


def test_shared_plane_for_two_runs(shared):
    out = shared
    t = read_trajectory(out)
    assert t.labels == ("sgd", "adam") and t.origin_label == "sgd"
    assert t.run.tolist() == [0] * 4 + [1] * 4
    np.testing.assert_allclose(t.coords[3], [0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(t.coords[0], t.coords[4], atol=1e-9)  # same seed: same initial point
    with h5py.File(out, "r") as f:
        assert "xcoordinates" not in f and f["directions"].attrs["kind"] == "pca"


@pytest.mark.parametrize(
    "extra, match",
    [
        (lambda r: [r / "missing_run"], "run directory not found"),
        (lambda r: [r / "adam", "--origin", r / "sgd"], "origin: expected one of the runs"),
        (lambda r: [r / "adam", "--model", "cnn"], "does not fit the model"),
    ],
)
def test_trajectory_bad_input(runs, tmp_path, extra, match):
    res = invoke("trajectory", *extra(runs), "--out", tmp_path / "t.h5", "--no-surface")
    assert res.exit_code == 1, res.output
    assert match in res.output and "Traceback" not in res.output
    assert not (tmp_path / "t.h5").exists()


def test_too_few_checkpoints(tmp_path):
    train(TrainConfig(epochs=1, max_samples=32, batch_size=16), tmp_path / "one", progress=False)
    res = invoke("trajectory", tmp_path / "one", "--out", tmp_path / "t.h5", "--no-surface")
    assert res.exit_code == 1 and "at least 3 distinct checkpoints" in res.output


def test_plots_from_files(runs, single, shared, tmp_path):
    ax = figure()[1]
    plot_trajectory(single, ax)
    assert ax.get_xlabel().startswith("direction 1 (PCA, ") and "% of variance" in ax.get_xlabel()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["adam", "start", "end"]
    assert "not at the checkpoints" in ax.get_legend().get_title().get_text()
    ax = figure()[1]
    plot_trajectory(shared, ax)
    assert [t.get_text() for t in ax.get_legend().get_texts()][:2] == ["sgd", "adam"]
    dyn = plot_dynamics(runs / "adam")
    assert isinstance(dyn, Figure) and len(dyn.axes) == 6
    assert dyn.axes[2].get_yscale() == "log"
    for kind, src, name in [("contour+path", single, "p.png"), ("dynamics", runs / "sgd", "d.pdf")]:
        res = invoke("plot", src, "--kind", kind, "--out", tmp_path / name)
        assert res.exit_code == 0, res.output
        assert (tmp_path / name).stat().st_size > 0


def test_plot_bad_input(runs, tmp_path):
    res = invoke(
        "plot", runs / "adam" / "run.h5", "--kind", "contour+path", "--out", tmp_path / "x.png"
    )
    assert res.exit_code == 1 and "no 'trajectory' group" in res.output
    (tmp_path / "empty").mkdir()
    res = invoke("plot", tmp_path / "empty", "--kind", "dynamics", "--out", tmp_path / "y.png")
    assert res.exit_code == 1 and "no run.h5" in res.output


def test_unrelated_file_is_not_replaced(runs, tmp_path):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("mine", data=np.arange(3))
    before = other.read_bytes()
    for extra in ([], ["--no-surface"]):
        res = invoke("trajectory", runs / "adam", "--out", other, "--resolution", 3, *extra)
        assert res.exit_code == 1 and "holds something else" in res.output
        assert other.read_bytes() == before


def test_interrupted_surface_resumes_before_the_trajectory_is_written(runs, tmp_path, monkeypatch):
    import landscape.pipelines.trajectory as traj_module

    out = tmp_path / "t.h5"
    args = ["trajectory", runs / "adam", "--out", out, "--resolution", 3, "--max-samples", 16]

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(traj_module, "_write", interrupted)
    res = invoke(*args)
    assert res.exit_code == 130 and out.exists()
    with h5py.File(out, "r") as f:
        assert "trajectory" not in f and f["surface/done"][()].all()
    monkeypatch.undo()
    res = invoke(*args)
    assert res.exit_code == 0, res.output
    assert read_trajectory(out).labels == ("adam",)


def test_file_equals_the_dense_svd_of_the_checkpoints(runs, single):
    """The Gram path (memory-mapped checkpoints) gives what the dense float64 SVD gave."""
    model = build_model("mlp")
    points = [load_checkpoint(model, c.path)[0] for c in read_run(runs / "adam").checkpoints]
    names = list(points[-1])
    flat = [torch.cat([p[n].reshape(-1).double() for n in names]).numpy() for p in points]
    m = np.stack([x - flat[-1] for x in flat])
    _, s, vt = np.linalg.svd(m, full_matrices=False)
    v = vt[:2] * np.where(m[0] @ vt[:2].T > 0, -1.0, 1.0)[:, None]
    coords = np.linalg.solve(v @ v.T, v @ m.T).T
    resid = [
        0.0 if not m[i].any() else np.linalg.norm(m[i] - coords[i] @ v) / np.linalg.norm(m[i])
        for i in range(len(m))
    ]
    t = read_trajectory(single)
    np.testing.assert_allclose(t.explained_variance_ratio, s[:2] ** 2 / (s**2).sum(), rtol=1e-9)
    np.testing.assert_allclose(t.coords, coords, rtol=1e-6, atol=1e-6 * abs(coords).max())
    np.testing.assert_allclose(t.residual, resid, rtol=1e-5, atol=1e-7)
    with h5py.File(single, "r") as f:
        d = [read_params(f["directions"][n]) for n in ("d0", "d1")]
    for k in range(2):
        got = np.concatenate([d[k][n].reshape(-1) for n in names])
        np.testing.assert_allclose(got, v[k], atol=1e-6)


def test_two_ranks_write_the_single_process_trajectory(runs, single, tmp_path):
    from tests.test_distributed_surface import torchrun

    out = tmp_path / "dist.h5"
    res = torchrun(
        "trajectory", str(runs / "adam"), "--out", str(out), "--resolution", "3",
        "--max-samples", "32",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    with h5py.File(single, "r") as a, h5py.File(out, "r") as b:
        for name in ("trajectory/coords", "trajectory/residual", "trajectory/epochs"):
            np.testing.assert_array_equal(a[name][()], b[name][()])
        for name in ("xcoordinates", "ycoordinates", "surface/done", "directions/d0/net.0.weight"):
            np.testing.assert_array_equal(a[name][()], b[name][()])
        np.testing.assert_allclose(a["train_loss"][()], b["train_loss"][()], rtol=1e-6)
        assert a["trajectory"].attrs["config"] == b["trajectory"].attrs["config"]
    assert not Path(str(out) + ".lock").exists()
