from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from landscape.cli import cli
from landscape.curvature import lanczos
from landscape.curvature.hvp import HessianLinearOperator
from landscape.data import Split
from landscape.objective import Objective
from landscape.params import model_params
from tests.conftest import tiny_data, tiny_net
from tests.helpers_specs import TINY_SPEC, tiny_args


def run(*args: str) -> object:
    return CliRunner().invoke(cli, ["-q", *args], catch_exceptions=False)


@pytest.fixture
def train_ckpt(tmp_path: Path) -> Path:
    """A checkpoint as ``landscape train`` writes it: model + Adam state."""
    model = tiny_net()
    x, y = tiny_data()["train"]
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(3):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    path = tmp_path / "train.pt"
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "optimizer_name": "adam",
            "optimizer_hparams": {"lr": 1e-2},
            "epoch": 1,
            "step": 3,
        },
        path,
    )
    return path


def test_hessian_cli_writes_and_resumes(tmp_path: Path, ckpt: Path) -> None:
    out = tmp_path / "curv.h5"
    args = tiny_args(
        ckpt,
        "--top-k",
        "3",
        "--bottom-k",
        "1",
        "--trace",
        "--trace-hvps",
        "12",
        "--density",
        "--density-runs",
        "2",
        "--density-steps",
        "10",
        "--tol",
        "1e-6",
        "--out",
        str(out),
    )
    res = run("hessian", *args)
    assert res.exit_code == 0, res.output
    model = tiny_net()
    x, y = tiny_data()["train"]
    params = model_params(model)
    expected = lanczos(
        HessianLinearOperator(Objective(model, Split(x, y), batch_size=1000), params), 3, tol=1e-6
    )
    with h5py.File(out, "r") as f:
        g = f["curvature/hessian"]
        assert '"top_k": 3' in g.attrs["config"]
        np.testing.assert_allclose(g["top/eigenvalues"][()], expected.eigenvalues, rtol=1e-4)
        assert set(g["top/vectors/v0"]) == set(params)
        assert g["top/vectors/v0/fc.weight"].shape == (4, 24)
        assert {"top", "bottom", "trace", "density"} <= set(g)
        assert np.trapezoid(g["density/density"][()], g["density/grid"][()]) == pytest.approx(
            1.0, abs=1e-6
        )
        assert "schema_version" in f.attrs
    before = out.read_bytes()
    again = run("hessian", *args)  # same settings: everything is there, nothing recomputed
    assert again.exit_code == 0 and out.read_bytes() == before


def test_hessian_cli_refuses_other_settings_without_overwrite(tmp_path: Path, ckpt: Path) -> None:
    out = tmp_path / "curv.h5"
    assert run("hessian", *tiny_args(ckpt), "--top-k", "1", "--out", str(out)).exit_code == 0
    before = out.read_bytes()
    res = run("hessian", *tiny_args(ckpt), "--top-k", "2", "--out", str(out))
    assert res.exit_code == 1
    assert res.output.count("\n") == 1 and "different settings (top_k)" in res.output
    assert out.read_bytes() == before
    res = run("hessian", *tiny_args(ckpt), "--top-k", "2", "--out", str(out), "--overwrite")
    assert res.exit_code == 0
    with h5py.File(out, "r") as f:
        assert len(f["curvature/hessian/top/eigenvalues"]) == 2


@pytest.mark.parametrize(
    ("extra", "code", "text"),
    [
        (["--top-k", "0"], 1, "--top-k"),
        (["--checkpoint-missing"], 1, "No such option"),
        (["--trace-method", "magic"], 1, "--trace-method"),
    ],
)
def test_hessian_cli_bad_options(
    tmp_path: Path, ckpt: Path, extra: list[str], code: int, text: str
) -> None:
    res = run("hessian", *tiny_args(ckpt), "--out", str(tmp_path / "c.h5"), *extra)
    assert res.exit_code == code and text in res.output and len(res.output.splitlines()) == 1
    assert not (tmp_path / "c.h5").exists()


def test_hessian_cli_missing_checkpoint_is_one_line(tmp_path: Path) -> None:
    res = run(
        "hessian",
        *TINY_SPEC,
        "--checkpoint",
        str(tmp_path / "nope.pt"),
        "--out",
        str(tmp_path / "c.h5"),
    )
    assert res.exit_code == 1 and res.output.strip().startswith("Error: checkpoint not found")
    assert res.output.count("\n") == 1 and not (tmp_path / "c.h5").exists()


def test_sharpness_cli_with_optimizer_state(tmp_path: Path, train_ckpt: Path) -> None:
    out = tmp_path / "curv.h5"
    res = run(
        "sharpness",
        *tiny_args(train_ckpt),
        "--optimizer-state",
        str(train_ckpt),
        "--measures",
        "lambda_max,adaptive_average,filter_width",
        "--samples",
        "4",
        "--out",
        str(out),
    )
    assert res.exit_code == 0, res.output
    with h5py.File(out, "r") as f:
        g = f["curvature/sharpness"]
        assert set(g) == {
            "lambda_max",
            "adaptive_average",
            "filter_width",
            "stability_threshold",
            "precond_lambda_max",
            "update_curvature",
        }
        assert g["stability_threshold"].attrs["value"] == pytest.approx(
            (2 + 2 * 0.9) / (0.1 * 1e-2)
        )
        assert g["lambda_max"].attrs["value"] > 0 and g["precond_lambda_max"].attrs["value"] > 0
        assert '"samples": 4' in g.attrs["config"]


def test_sharpness_cli_bad_measure_and_state(tmp_path: Path, ckpt: Path) -> None:
    out = tmp_path / "curv.h5"
    res = run("sharpness", *tiny_args(ckpt), "--measures", "lambda_max,vibes", "--out", str(out))
    assert (
        res.exit_code == 1
        and "measures: expected a comma list" in res.output
        and res.output.count("\n") == 1
    )
    res = run("sharpness", *tiny_args(ckpt), "--optimizer-state", str(ckpt), "--out", str(out))
    assert res.exit_code == 1 and "optimizer state" in res.output and res.output.count("\n") == 1
    assert not out.exists()


def test_quiet_hessian_prints_no_progress(tmp_path: Path, ckpt: Path) -> None:
    res = CliRunner().invoke(
        cli,
        ["-q", "hessian", *tiny_args(ckpt), "--top-k", "1", "--out", str(tmp_path / "c.h5")],
    )
    assert res.exit_code == 0 and "hvp" not in res.output


def test_spectrum_plot(tmp_path: Path, ckpt: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from landscape.plotting.spectrum import plot_spectrum

    out = tmp_path / "curv.h5"
    assert (
        run(
            "hessian",
            *tiny_args(ckpt),
            "--top-k",
            "2",
            "--density",
            "--density-runs",
            "2",
            "--density-steps",
            "8",
            "--out",
            str(out),
        ).exit_code
        == 0
    )
    fig, ax = plt.subplots()
    assert plot_spectrum(out, ax) is ax and ax.get_yscale() == "log"
    plt.close(fig)
    res = run("plot", str(out), "--kind", "spectrum", "--out", str(tmp_path / "esd.pdf"))
    assert res.exit_code == 0, res.output
    assert (tmp_path / "esd.pdf").stat().st_size > 0


def test_hessian_cli_resumes_an_interrupted_run_at_the_missing_stage(
    tmp_path: Path, ckpt: Path
) -> None:
    out = tmp_path / "curv.h5"
    args = tiny_args(ckpt, "--top-k", "2", "--trace", "--trace-hvps", "9", "--out", str(out))
    assert run("hessian", *args).exit_code == 0
    with h5py.File(out, "r") as f:
        full = dict(f["curvature/hessian/trace"].attrs)
        top = f["curvature/hessian/top/eigenvalues"][()]
    with h5py.File(out, "r+") as f:  # as if killed after the top stage was committed
        del f["curvature/hessian/trace"]
    assert run("hessian", *args).exit_code == 0
    with h5py.File(out, "r") as f:
        assert dict(f["curvature/hessian/trace"].attrs) == full
        np.testing.assert_array_equal(f["curvature/hessian/top/eigenvalues"][()], top)


def test_hessian_rerun_from_another_directory(
    tmp_path: Path, ckpt: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "m.pt").write_bytes(ckpt.read_bytes())
    monkeypatch.chdir(tmp_path / "a")
    assert (
        run(
            "hessian", *TINY_SPEC, "--checkpoint", "m.pt", "--top-k", "2", "--out", "c.h5"
        ).exit_code
        == 0
    )
    before = (tmp_path / "a" / "c.h5").read_bytes()
    monkeypatch.chdir(tmp_path)
    res = run("hessian", *TINY_SPEC, "--checkpoint", "a/m.pt", "--top-k", "2", "--out", "a/c.h5")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "a" / "c.h5").read_bytes() == before  # found complete: nothing recomputed
