"""Files that point elsewhere, planted symbolic links and the lock race (issue 13, items 1, 2, 4).

Each test failed before :mod:`landscape.store` refused links, wrote its temporaries in a
private directory and re-checked the lock's inode.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from landscape import store
from landscape.cli import cli
from landscape.errors import LandscapeError
from tests.helpers_specs import TINY_SPEC

SURFACE = ["surface", *TINY_SPEC, "--x=-1:1:3"]


def run(*args: str):
    return CliRunner().invoke(cli, ["-q", *args], catch_exceptions=False)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "victim.h5"
    with h5py.File(victim, "w") as f:
        f["x"] = np.arange(3.0)
    return victim


def _one_line_error(res) -> str:
    assert res.exit_code == 1, res.output
    assert len(res.output.strip().splitlines()) == 1 and res.output.startswith("Error: ")
    return res.output


def test_surface_refuses_out_whose_metric_is_an_external_link(tmp_path: Path, ckpt: Path) -> None:
    out, victim = tmp_path / "s.h5", _victim(tmp_path)
    args = [*SURFACE, "--checkpoint", str(ckpt), "--out", str(out)]
    assert run(*args).exit_code == 0
    with h5py.File(out, "r+") as f:
        f["surface/done"][...] = False
        del f["train_loss"], f["surface/train_loss"]
        f["train_loss"] = h5py.ExternalLink(str(victim), "/x")
        f["surface/train_loss"] = h5py.ExternalLink(str(victim), "/x")
    before, victim_before = digest(out), digest(victim)
    assert "is an external link to" in _one_line_error(run(*args))
    assert digest(victim) == victim_before and digest(out) == before
    assert run(*args, "--overwrite").exit_code == 0  # the way out the message names
    assert digest(victim) == victim_before


@pytest.mark.parametrize(
    "link",
    [
        pytest.param(lambda victim: h5py.ExternalLink(str(victim), "/x"), id="external"),
        pytest.param(lambda victim: h5py.SoftLink("/data"), id="soft"),
    ],
)
def test_transaction_refuses_links(tmp_path: Path, link) -> None:
    path, victim = tmp_path / "f.h5", _victim(tmp_path)
    with h5py.File(path, "w") as f:
        f["data"] = np.zeros(3)
        f["link"] = link(victim)
    before = digest(path)
    with (
        pytest.raises(LandscapeError, match=r"f\.h5: 'link' is an? (external|soft) link"),
        store.atomic_update(path) as f,
    ):
        f["link"][...] = 7.0
    assert digest(path) == before and digest(victim) != "" and h5py.File(victim)["x"][0] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.h5", "victim.h5"]


def _virtual(path: Path, source: Path) -> None:
    layout = h5py.VirtualLayout(shape=(3,), dtype="f8")
    layout[:] = h5py.VirtualSource(str(source), "x", shape=(3,))
    with h5py.File(path, "w") as f:
        f.create_virtual_dataset("v", layout)


def _external_storage(path: Path, raw: Path) -> None:
    raw.write_bytes(np.arange(3.0).tobytes())
    with h5py.File(path, "w") as f:
        f.create_dataset("v", shape=(3,), dtype="f8", external=[(str(raw), 0, 24)])


def test_reading_refuses_what_lies_in_other_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = _victim(tmp_path)
    ext, virt, raw = tmp_path / "ext.h5", tmp_path / "virt.h5", tmp_path / "raw.h5"
    with h5py.File(ext, "w") as f:
        f["v"] = h5py.ExternalLink(str(victim), "/x")
    _virtual(virt, victim)
    _external_storage(raw, tmp_path / "raw.bin")
    for path, what in ((ext, "external link"), (virt, "virtual dataset"), (raw, "external file")):
        with (
            pytest.raises(LandscapeError, match=f"{path.name}: 'v' .*{what}.*FOLLOW_EXTERNAL"),
            store.open_read(path),
        ):
            pass
    monkeypatch.setenv(store.FOLLOW_EXTERNAL_ENV, "1")
    for path in (ext, virt, raw):
        with store.open_read(path) as f:
            assert f["v"][()].tolist() == [0.0, 1.0, 2.0]
        with (
            pytest.raises(LandscapeError, match="a file we write may hold hard links only"),
            store.atomic_update(path),
        ):
            pass


def test_soft_links_inside_a_file_may_be_read(tmp_path: Path) -> None:
    path = tmp_path / "f.h5"
    with h5py.File(path, "w") as f:
        f["data"] = np.arange(3.0)
        f["alias"] = h5py.SoftLink("/data")
    with store.open_read(path) as f:
        assert f["alias"][()].tolist() == [0.0, 1.0, 2.0]


def test_declared_shape_far_beyond_stored_bytes_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "huge.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("train_loss", shape=(1 << 27,), dtype="f8", chunks=(1024,))
    assert path.stat().st_size < 30_000
    pattern = r"huge\.h5: dataset 'train_loss' declares shape \(134217728,\) \(1\.1 GB\) but stores"
    with (
        pytest.raises(LandscapeError, match=pattern + r".*LANDSCAPE_MAX_UNSTORED_BYTES"),
        store.open_read(path),
    ):
        pass
    res = run("info", str(path))
    assert "declares shape" in _one_line_error(res)
    monkeypatch.setenv(store.MAX_UNSTORED_ENV, str(2 << 30))
    with store.open_read(path) as f:
        assert f["train_loss"].shape == (1 << 27,)


def test_planted_symlink_at_the_temporary_name_is_not_followed(tmp_path: Path) -> None:
    path, victim = tmp_path / "f.h5", tmp_path / "victim.txt"
    victim.write_text("someone else's file")
    with h5py.File(path, "w") as f:
        f["data"] = np.zeros(3)
    for pid in {os.getpid(), os.getpid() + 1}:
        (tmp_path / f"f.h5.tmp-{pid}").symlink_to(victim)
    with store.atomic_update(path) as f:
        f["data"][...] = 1.0
    with store.atomic_update(path, new=True) as f:
        f["fresh"] = np.ones(2)
    assert victim.read_text() == "someone else's file"
    assert h5py.File(path)["fresh"][()].tolist() == [1.0, 1.0]


def test_temporary_directory_is_private_and_removed(tmp_path: Path) -> None:
    path = tmp_path / "f.h5"
    with store.atomic_update(path, new=True) as f:
        folder = Path(f.filename).parent
        assert folder.parent == tmp_path and folder.name.startswith(f"f.h5.tmp-{os.getpid()}-")
        assert folder.stat().st_mode & 0o777 == 0o700
    assert not folder.exists() and path.is_file()
    with pytest.raises(RuntimeError, match="stop"), store.atomic_update(path) as f:
        raise RuntimeError("stop")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.h5"]


def test_killed_writers_temporaries_are_removed(tmp_path: Path) -> None:
    path = tmp_path / "f.h5"
    dead = 2**22 + 12345  # above pid_max's default: no such process
    (tmp_path / f"f.h5.tmp-{dead}-abc").mkdir()
    (tmp_path / f"f.h5.tmp-{dead}-abc" / "f.h5").write_bytes(b"half")
    (tmp_path / f"f.h5.tmp-{dead}").write_bytes(b"old style")
    with store.atomic_update(path, new=True):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.h5"]


def test_planted_symlink_as_lock_file_is_refused(tmp_path: Path) -> None:
    path, target = tmp_path / "f.h5", tmp_path / "elsewhere"
    (tmp_path / "f.h5.lock").symlink_to(target)
    with (
        pytest.raises(LandscapeError, match=r"f\.h5\.lock is a symbolic link"),
        store.writer_lock(path),
    ):
        pass
    assert not target.exists()


def test_lock_taken_on_a_deleted_file_is_taken_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A opens and locks; B opens the lock file; A leaves (deleting it); B locks; C comes."""
    path = tmp_path / "f.h5"
    holder = store.writer_lock(path)
    holder.__enter__()
    real_flock = fcntl.flock

    def holder_leaves_first(fd: int, operation: int) -> None:
        monkeypatch.setattr(fcntl, "flock", real_flock)
        holder.__exit__(None, None, None)
        real_flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", holder_leaves_first)
    with store.writer_lock(path):  # B
        assert (tmp_path / "f.h5.lock").exists()
        with (
            pytest.raises(LandscapeError, match="being written by another process"),
            store.writer_lock(path),
        ):  # C
            pass
    assert not (tmp_path / "f.h5.lock").exists()


def test_read_only_out_folder_is_one_line(
    tmp_path: Path, ckpt: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    real_open = os.open

    def read_only(name: str | Path, flags: int, *args: int, **kwargs: int) -> int:
        if Path(name).parent == folder and flags & os.O_CREAT:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(name))
        return real_open(name, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)  # root ignores a folder's mode bits
    res = run(*SURFACE, "--checkpoint", str(ckpt), "--out", str(folder / "s.h5"))
    assert "ro/s.h5: cannot write there (Permission denied); choose another --out" in (
        _one_line_error(res)
    )
    assert list(folder.iterdir()) == []


def _save_checkpoint(run_dir: Path) -> Path:
    import torch

    from landscape.dynamics.checkpoints import save_checkpoint

    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    kw = {"model": model, "optimizer": optimizer, "hparams": {"lr": 0.1}, "epoch": 1, "step": 4}
    return save_checkpoint(run_dir, "epoch_0001.pt", **kw)


def _write_final(run_dir: Path) -> Path:
    from landscape.dynamics.train import _write_final

    _save_checkpoint(run_dir)
    _write_final(run_dir, 1)
    return run_dir / "final.pt"


def _write_report_text(folder: Path) -> Path:
    from landscape.report.document import _write_text

    _write_text(folder / "index.html", "<html></html>")
    return folder / "index.html"


def _save_figure(folder: Path) -> Path:
    from matplotlib.figure import Figure

    from landscape.plotting.style import save

    return save(Figure(figsize=(1, 1)), folder / "fig.png")


def _export_file(folder: Path) -> Path:
    from landscape.plotting.export import _atomic

    return _atomic(folder / "surf.vtk", lambda tmp: tmp.write_text("mesh"))


def _mnist1d_cache(folder: Path) -> Path:
    from landscape.data import mnist1d

    mnist1d()
    return folder / "mnist1d-default.npz"


@pytest.mark.parametrize(
    ("write", "old_temporary"),
    [
        (_save_checkpoint, "checkpoints/epoch_0001.pt.tmp-{pid}"),
        (_write_final, "final.pt.tmp-{pid}"),
        (_write_report_text, ".index.html.tmp-{pid}"),
        (_save_figure, ".fig.tmp-{pid}.png"),
        (_export_file, ".surf.tmp-{pid}.vtk"),
        (_mnist1d_cache, "mnist1d-default.tmp{pid}.npz"),
    ],
    ids=["checkpoint", "final", "report", "figure", "export", "mnist1d-cache"],
)
def test_writers_do_not_follow_a_symlink_at_their_old_temporary_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write, old_temporary: str
) -> None:
    monkeypatch.setenv("LANDSCAPE_CACHE", str(tmp_path))
    victim = tmp_path.parent / f"{tmp_path.name}-victim.txt"
    victim.write_text("someone else's file")
    planted = tmp_path / old_temporary.format(pid=os.getpid())
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.symlink_to(victim)
    written = write(tmp_path)
    assert victim.read_text() == "someone else's file"
    assert written.is_file() and not written.is_symlink() and written.stat().st_size > 0
    leftovers = [p.name for p in written.parent.iterdir() if ".tmp" in p.name and p != planted]
    assert leftovers == []


def test_open_read_turns_an_error_on_the_content_into_one_line(tmp_path: Path) -> None:
    path = tmp_path / "f.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.zeros(2)
    damaged = r"f\.h5: damaged HDF5 content \('missing'\)$"
    with pytest.raises(LandscapeError, match=damaged), store.open_read(path):
        raise KeyError("missing")
    with pytest.raises(LandscapeError, match=r"^bad grid$"), store.open_read(path):
        raise LandscapeError("bad grid")  # passes through unchanged
