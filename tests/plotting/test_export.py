import json
import sys

import h5py
import numpy as np
import pytest

from landscape.errors import LandscapeError
from landscape.plotting import export

meshio = pytest.importorskip("meshio")
pytest.importorskip("plotly")

X = np.array([-1.0, 0.0, 1.0, 2.0])
Y = np.array([0.1, 0.2, 0.3])


def write(path, *, y=Y):
    xx, yy = np.meshgrid(X, Y)
    z = 10 * xx + yy + 20  # positive; names its coordinates
    z[2, 3] = np.nan
    with h5py.File(path, "w") as f:
        f.attrs["schema_version"] = 1
        f["xcoordinates"] = X
        if y is not None:
            f["ycoordinates"] = y
            f["train_loss"], f["train_acc"] = z, z / 100
        else:
            f["train_loss"] = X + 1
        g = f.create_group("surface")
        g.attrs["metrics"] = json.dumps(
            ["train_loss", "train_acc"] if y is not None else ["train_loss"]
        )
    return path


def test_vtk_points_cells_and_data(tmp_path):
    out = export.write_vtk(write(tmp_path / "s.h5"), tmp_path / "s.vtu", log=False)
    mesh = meshio.read(out)
    ny, nx = len(Y), len(X)
    assert mesh.points.shape == (ny * nx, 3)
    px, py, pz = mesh.points.T
    finite = np.isfinite(mesh.point_data["train_loss"])
    np.testing.assert_allclose(
        pz[finite], 10 * px[finite] + py[finite] + 20
    )  # height = value at (x, y)
    np.testing.assert_allclose(mesh.point_data["train_loss"][finite], pz[finite])
    assert np.isnan(mesh.point_data["train_loss"][2 * nx + 3])  # point [iy=2, ix=3]
    assert set(mesh.point_data) == {"train_loss", "train_acc", "height"}
    quads = mesh.cells_dict["quad"]
    assert len(quads) == (ny - 1) * (nx - 1) - 1  # the quad touching the missing point is left out
    assert 2 * nx + 3 not in quads


def test_vtk_legacy_and_log_height(tmp_path):
    out = export.write_vtk(write(tmp_path / "s.h5"), tmp_path / "s.vtk", log=True, vmax=25.0)
    mesh = meshio.read(out)
    np.testing.assert_allclose(mesh.points[:, 2].max(), np.log10(25.0))


def test_html_is_self_contained(tmp_path):
    out = export.write_html(write(tmp_path / "s.h5"), tmp_path / "s.html", metric="train_acc")
    text = out.read_text()
    assert "<script src=" not in text  # plotly.js embedded: opens offline
    assert '"type":"surface"' in text.replace(" ", "")
    assert "train accuracy" in text


def test_exports_refuse_bad_input(tmp_path):
    two = write(tmp_path / "s.h5")
    with pytest.raises(
        LandscapeError, match=r"expected a file ending in \.vtu, \.vtk \(got '\.pdf'\)"
    ):
        export.write_vtk(two, tmp_path / "s.pdf")
    with pytest.raises(LandscapeError, match=r"expected a file ending in \.html"):
        export.write_html(two, tmp_path / "s.htm")
    one = write(tmp_path / "one.h5", y=None)
    with pytest.raises(LandscapeError, match="exports need a 2D surface"):
        export.write_html(one, tmp_path / "one.html")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.h5", "s.h5"]


def test_missing_extra_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "meshio", None)  # makes `import meshio` fail
    with pytest.raises(
        LandscapeError,
        match=r"needs the optional package 'meshio'; .*pip install 'landscape\[viz\]'",
    ):
        export.write_vtk(write(tmp_path / "s.h5"), tmp_path / "s.vtu")
    assert not (tmp_path / "s.vtu").exists()
