from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from landscape.cli import cli
from landscape.curvature import allocation
from landscape.curvature.allocation import allocate_rows, grow_rows
from landscape.curvature.hvp import HessianLinearOperator
from landscape.curvature.lanczos import lanczos, lanczos_steps
from landscape.curvature.trace import hutchinson_trace, hutchpp_trace, xtrace
from landscape.errors import LandscapeError
from tests.curvature.cases import mlp_objective, wishart
from tests.helpers_specs import tiny_args


class Counting:
    """A 1000 x 1000 identity operator that counts its products (none may happen)."""

    shape, device = (1000, 1000), torch.device("cpu")

    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype, self.calls = dtype, 0

    def __matmul__(self, v: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return v


def test_a_disk_backed_store_is_a_mapped_file_left_nowhere(tmp_path: Path) -> None:
    store = allocate_rows(3, 5, torch.float32, "cpu", tmp_path)
    assert store.shape == (3, 5) and store.dtype == torch.float32
    assert list(tmp_path.iterdir()) == []  # unlinked as soon as mapped
    store[1] = torch.arange(5.0)
    grown = grow_rows(store, 6, tmp_path)
    assert grown.shape == (6, 5) and torch.equal(grown[:3], store)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_basis_on_disk_gives_the_in_memory_results_exactly(tmp_path: Path, dtype) -> None:
    mat = wishart(60, 80, 2)
    op = mat.to(dtype)
    ram = lanczos(op, 4, tol=1e-6, max_iter=30)
    disk = lanczos(op, 4, tol=1e-6, max_iter=30, basis_dir=tmp_path)
    np.testing.assert_array_equal(disk.eigenvalues, ram.eigenvalues)
    assert torch.equal(disk.eigenvectors, ram.eigenvectors)
    np.testing.assert_array_equal(disk.residuals, ram.residuals)
    assert disk.num_matvecs == ram.num_matvecs
    exact = np.linalg.eigvalsh(mat.numpy())[::-1][:4]
    np.testing.assert_allclose(
        disk.eigenvalues, exact, rtol=1e-4 if dtype == torch.float32 else 1e-6
    )


def test_a_hessian_spectrum_with_the_basis_on_disk_equals_the_in_memory_one(tmp_path) -> None:
    obj, params = mlp_objective(40, batch_size=15)
    op = HessianLinearOperator(obj, params)
    ram = lanczos(op, 3, tol=1e-8)
    disk = lanczos(op, 3, tol=1e-8, basis_dir=tmp_path)
    np.testing.assert_array_equal(disk.eigenvalues, ram.eigenvalues)
    assert torch.equal(disk.eigenvectors, ram.eigenvectors)


def test_continuing_past_a_disk_basis_grows_it_on_disk(tmp_path: Path) -> None:
    mat = wishart(30, 40, 3)
    v0 = torch.ones(30, dtype=torch.float64)
    s = lanczos_steps(mat, 5, v0=v0, basis_dir=tmp_path)
    s = lanczos_steps(mat, 8, v0=v0, state=s)
    ref = lanczos_steps(mat, 5, v0=v0)
    ref = lanczos_steps(mat, 8, v0=v0, state=ref)
    assert s.store.shape == (12, 30) and s.directory == tmp_path
    assert torch.equal(s.basis, ref.basis) and s.alpha == ref.alpha


def test_a_basis_that_does_not_fit_on_disk_is_refused_before_any_product(
    tmp_path: Path, monkeypatch
) -> None:
    op = Counting(torch.float32)
    monkeypatch.setattr(allocation, "available_disk", lambda directory: 40_000)
    with pytest.raises(LandscapeError, match=r"free on disk in .* at most 10 vectors fit"):
        lanczos(op, 1, max_iter=100, basis_dir=tmp_path)
    with pytest.raises(LandscapeError, match=r"basis-on-disk: .* is not a folder"):
        lanczos(op, 1, max_iter=100, basis_dir=tmp_path / "absent")
    assert op.calls == 0 and list(tmp_path.iterdir()) == []


def test_a_basis_that_cannot_fit_in_memory_names_the_disk_option(monkeypatch) -> None:
    monkeypatch.setattr(allocation, "available_memory", lambda device: 100_000)
    with pytest.raises(LandscapeError, match="--basis-on-disk DIR"):
        lanczos(torch.eye(1000), 1, max_iter=100)


@pytest.mark.parametrize(
    ("estimator", "m", "fit"),
    [(hutchinson_trace, 100, 41), (hutchpp_trace, 99, 93), (xtrace, 100, 62)],
)
def test_a_sketch_that_cannot_fit_is_refused_before_any_product(
    monkeypatch, estimator, m: int, fit: int
) -> None:
    op = Counting(torch.float64)
    # 8000 bytes a vector; the rows plus one product block (input and output, 2 vectors a
    # row): Hutchinson m + 2m, Hutch++ (s = g = 33) s + g + 2g, XTrace (s = 50) 2s + 2s
    # vectors: the most products that fit is m * 1e6 / need
    monkeypatch.setattr(allocation, "available_memory", lambda device: 1_000_000)
    with pytest.raises(LandscapeError, match=rf"trace: {m} products .* at most {fit} products fit"):
        estimator(op, m)
    assert op.calls == 0


@pytest.mark.parametrize("estimator", [hutchinson_trace, hutchpp_trace, xtrace])
def test_a_sketch_that_does_not_fit_on_disk_is_refused_before_any_product(
    tmp_path: Path, monkeypatch, estimator
) -> None:
    op = Counting(torch.float32)
    monkeypatch.setattr(allocation, "available_disk", lambda directory: 40_000)  # 10 vectors
    with pytest.raises(LandscapeError, match=r"trace: 99 products .* free on disk in .* fit"):
        estimator(op, 99, directory=tmp_path)
    with pytest.raises(LandscapeError, match=r"basis-on-disk: .* is not a folder"):
        estimator(op, 99, directory=tmp_path / "absent")
    monkeypatch.setattr(allocation, "available_memory", lambda device: 100_000)
    with pytest.raises(LandscapeError, match=r"--basis-on-disk DIR"):
        estimator(op, 99)
    assert op.calls == 0 and list(tmp_path.iterdir()) == []


def _in_memory_and_on_disk(tmp_path: Path, base: list[str]) -> Path:
    """Run the command ``base`` into ``ram.h5`` and, basis on disk, ``disk.h5``; the folder."""
    folder = tmp_path / "basis"
    folder.mkdir()
    for name, extra in (("ram.h5", []), ("disk.h5", ["--basis-on-disk", str(folder)])):
        res = CliRunner().invoke(cli, [*base, *extra, "--out", str(tmp_path / name)])
        assert res.exit_code == 0, res.output
    return folder


def test_cli_hessian_with_the_basis_on_disk_writes_the_same_spectrum(
    tmp_path: Path, ckpt: Path
) -> None:
    base = ["-q", "hessian", *tiny_args(ckpt), "--top-k", "2", "--bottom-k", "1"]
    base += ["--trace", "--trace-hvps", "12"]
    folder = _in_memory_and_on_disk(tmp_path, base)
    with h5py.File(tmp_path / "ram.h5") as ram, h5py.File(tmp_path / "disk.h5") as disk:
        for end in ("top", "bottom"):
            key = f"curvature/hessian/{end}/eigenvalues"
            np.testing.assert_array_equal(disk[key][()], ram[key][()])
        trace = "curvature/hessian/trace"
        assert dict(disk[trace].attrs) == dict(ram[trace].attrs)
    assert list(folder.iterdir()) == []
    res = CliRunner().invoke(
        cli, [*base, "--basis-on-disk", str(tmp_path / "absent"), "--out", str(tmp_path / "x.h5")]
    )
    assert res.exit_code == 1 and "is not a folder" in res.output
    assert not (tmp_path / "x.h5").exists()


def test_a_basis_that_cannot_fit_is_refused_before_any_product(monkeypatch) -> None:
    op = Counting(torch.float32)
    # 101 float32 vectors of 1000 = 404,000 bytes (+ 3 float32 work vectors, 12,000);
    # 100,000 bytes free: (100,000 - 12,000) // 4,000 = 22 vectors fit
    monkeypatch.setattr(allocation, "available_memory", lambda device: 100_000)
    with pytest.raises(LandscapeError, match=r"101 Krylov vectors .* at most 22 vectors fit"):
        lanczos(op, 1, max_iter=100)
    assert op.calls == 0


def test_cli_sharpness_with_the_basis_on_disk_writes_the_same_measures(
    tmp_path: Path, ckpt: Path
) -> None:
    base = ["-q", "sharpness", *tiny_args(ckpt), "--measures", "lambda_max,trace"]
    base += ["--trace-hvps", "12"]
    folder = _in_memory_and_on_disk(tmp_path, base)
    with h5py.File(tmp_path / "ram.h5") as ram, h5py.File(tmp_path / "disk.h5") as disk:
        for measure in ("lambda_max", "trace"):
            key = f"curvature/sharpness/{measure}"
            np.testing.assert_equal(dict(disk[key].attrs), dict(ram[key].attrs))  # NaN == NaN
    assert list(folder.iterdir()) == []
    res = CliRunner().invoke(
        cli, [*base, "--basis-on-disk", str(tmp_path / "absent"), "--out", str(tmp_path / "x.h5")]
    )
    assert res.exit_code == 1 and "is not a folder" in res.output
    assert not (tmp_path / "x.h5").exists()
