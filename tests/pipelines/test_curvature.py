"""Counts that add up: products spent per stage, the progress total, data dtype and seeds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import h5py
import pytest
import torch
from click.testing import CliRunner

from landscape.cli import cli
from landscape.models import MLP
from landscape.pipelines import curvature as api
from landscape.pipelines import curvature_stages as stage_runner
from landscape.pipelines import sharpness as sharpness_pipeline
from tests.conftest import tiny_net
from tests.helpers_specs import tiny_args


class Bar:
    """Records what ``_run_stages`` tells its progress bar."""

    instances: ClassVar[list[Bar]] = []

    def __init__(self, *, total: int, **_: Any) -> None:
        self.initial_total = total
        self.total = total
        self.n = 0
        Bar.instances.append(self)

    def update(self, n: int) -> None:
        self.n += n

    def set_postfix_str(self, _: str) -> None:
        pass

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.fixture
def setup() -> api.Setup:
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    data = (torch.randn(37, 5, generator=gen), torch.randint(0, 3, (37,), generator=gen))
    return api.prepare(MLP(5, 3, hidden=(6,)), None, data, batch_size=10, dtype="float64")


def test_every_product_is_counted_once_in_result_and_bar(
    setup: api.Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stage_runner, "progress_bar", Bar)
    Bar.instances.clear()
    report = api.hessian(
        setup,
        top_k=2,
        bottom_k=1,
        tol=1e-6,
        trace=True,
        trace_hvps=9,
        density=True,
        density_runs=2,
        density_steps=7,
    )
    stages = [report.top, report.bottom, report.trace, report.density]
    counted = sum(s.num_matvecs for s in stages if s is not None)
    (bar,) = Bar.instances
    assert counted == bar.n == bar.total  # bar.n: every vector that went through the operator
    n = sum(v.numel() for v in setup.params.values())  # 57: Lanczos budgets are capped at n
    assert bar.initial_total == n + n + 9 + 2 * 7
    assert report.trace is not None and report.trace.num_matvecs == 9
    assert report.density is not None and report.density.num_matvecs == 14


def test_sharpness_counts_and_bounds(setup: api.Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stage_runner, "progress_bar", Bar)
    Bar.instances.clear()
    report = sharpness_pipeline.sharpness(
        setup, measures=["lambda_max", "trace"], trace_hvps=6, tol=1e-8
    )
    lam, trace = report.measures["lambda_max"], report.measures["trace"]
    (bar,) = Bar.instances
    assert bar.n == bar.total == lam.settings["num_matvecs"] + 6
    # the error bound is a bound, not a standard error
    assert lam.std_error != lam.std_error
    assert 0 <= lam.settings["error_bound"] <= lam.settings["residual"] <= 1e-8 * lam.value
    assert trace.std_error > 0


def test_float64_data_stays_float64() -> None:
    x = torch.randn(7, 5, dtype=torch.float64) / 3  # not representable in float32
    y = torch.randint(0, 3, (7,))
    exact = api.prepare(MLP(5, 3, hidden=(4,)), None, (x, y), dtype="float64")
    assert exact.objective.split.x.dtype == torch.float64
    assert torch.equal(exact.objective.split.x, x)
    single = api.prepare(MLP(5, 3, hidden=(4,)), None, (x, y), dtype="float32")
    assert single.objective.split.x.dtype == torch.float32


def _config(path: Path) -> dict[str, Any]:
    with h5py.File(path, "r") as f:
        return json.loads(f["curvature/hessian"].attrs["config"])


def test_data_seed_alone_draws_the_subset(tmp_path: Path, ckpt: Path) -> None:
    def run(name: str, *extra: str) -> dict[str, Any]:
        out = tmp_path / name
        args = tiny_args(ckpt, "--top-k", "1", "--max-samples", "20")
        res = CliRunner().invoke(cli, ["-q", "hessian", *args, *extra, "--out", str(out)])
        assert res.exit_code == 0, res.output
        return _config(out)

    base = run("a.h5")
    other_seed = run("b.h5", "--seed", "5")
    other_data = run("c.h5", "--data-seed", "5")
    assert base["data_sha256"] == other_seed["data_sha256"] != other_data["data_sha256"]
    assert base["seed"] == 0 and other_seed["seed"] == 5


def test_cli_prints_error_bounds_as_such(tmp_path: Path, ckpt: Path) -> None:
    args = tiny_args(ckpt, "--top-k", "1", "--bottom-k", "1")
    res = CliRunner().invoke(cli, ["hessian", *args, "--out", str(tmp_path / "h.h5")])
    assert res.exit_code == 0, res.output
    assert "top eigenvalues (± error bound): " in res.output
    assert "bottom eigenvalues (± error bound): " in res.output
    measures = ["--measures", "lambda_max,trace", "--trace-hvps", "6"]
    res = CliRunner().invoke(
        cli,
        ["sharpness", *tiny_args(ckpt), *measures, "--out", str(tmp_path / "s.h5")],
    )
    assert res.exit_code == 0, res.output
    assert "lambda_max: " in res.output and "(error bound " in res.output
    assert "(standard error)" in res.output.split("trace: ")[1]


def test_cli_rejects_a_negative_atol(tmp_path: Path, ckpt: Path) -> None:
    out = tmp_path / "h.h5"
    res = CliRunner().invoke(
        cli,
        ["-q", "hessian", *tiny_args(ckpt), "--atol", "-1", "--out", str(out)],
    )
    assert res.exit_code == 1 and "--atol" in res.output and not out.exists()
    with pytest.raises(api.LandscapeError, match="atol: expected a number >= 0"):
        api.hessian(
            api.prepare(tiny_net(), None, (torch.zeros(3, 8), torch.zeros(3).long())), atol=-1.0
        )
