import h5py
import numpy as np
import pytest

from landscape.errors import LandscapeError
from landscape.io.directions import (
    direction_names,
    read_direction_file,
    read_directions,
    write_directions,
)
from landscape.store import read_params


def vectors(n):
    return [
        {"fc.weight": np.full((2, 3), float(i)), "fc.bias": np.arange(3.0) + i} for i in range(n)
    ]


def test_twelve_directions_come_back_in_numeric_order(tmp_path):
    path = tmp_path / "d.h5"
    with h5py.File(path, "w") as f:
        write_directions(
            f, "random", {"seed": 3, "norm": "filter", "sources": ["a", "b"]}, vectors(12)
        )
    with h5py.File(path, "r") as f:
        assert direction_names(f["directions"]) == [f"d{i}" for i in range(12)]
        stored = read_directions(f)
        g = f["directions"]
        assert g.attrs["kind"] == "random" and g.attrs["seed"] == 3 and g.attrs["norm"] == "filter"
        assert g.attrs["sources"] == '["a", "b"]'
        assert list(read_params(g["d0"])) == ["fc.weight", "fc.bias"]
    assert [float(v["fc.weight"][0, 0]) for v in stored] == [float(i) for i in range(12)]
    assert read_direction_file(path)[10]["fc.bias"].tolist() == [10.0, 11.0, 12.0]


def test_other_names_are_not_directions(tmp_path):
    path = tmp_path / "d.h5"
    with h5py.File(path, "w") as f:
        write_directions(f, "plane", {}, vectors(2))
        for name in ("data", "d", "d1x", "dd2"):
            f["directions"].create_group(name)
    with h5py.File(path, "r") as f:
        assert direction_names(f["directions"]) == ["d0", "d1"]
    with h5py.File(tmp_path / "none.h5", "w") as f:
        assert read_directions(f) == []


def test_file_without_directions_is_refused(tmp_path):
    path = tmp_path / "x.h5"
    with h5py.File(path, "w") as f:
        f["xcoordinates"] = np.zeros(2)
    with pytest.raises(LandscapeError, match="holds no 'directions' group"):
        read_direction_file(path)
    with pytest.raises(LandscapeError, match="file not found"):
        read_direction_file(tmp_path / "missing.h5")


def test_floats_are_stored_in_float32_chunked_and_compressed_float64_kept(tmp_path):
    g = np.random.default_rng(0)
    half = g.standard_normal((40, 30)).astype(np.float16)
    single = g.standard_normal((40, 30)).astype(np.float32)
    double = g.standard_normal((40, 30))
    path = tmp_path / "d.h5"
    with h5py.File(path, "w") as f:
        write_directions(f, "random", {}, [{"h": half, "s": single, "d": double}])
    with h5py.File(path, "r") as f:
        d0 = f["directions/d0"]
        assert [d0[k].dtype for k in ("h", "s", "d")] == [np.float32, np.float32, np.float64]
        assert all(d0[k].compression == "gzip" and d0[k].chunks for k in ("h", "s", "d"))
    (back,) = read_direction_file(path)
    assert np.array_equal(back["h"].astype(np.float16), half)  # widened exactly
    assert np.array_equal(back["s"], single) and np.array_equal(back["d"], double)
