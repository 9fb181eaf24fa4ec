import h5py
import numpy as np

from landscape.io.directions import read_directions, write_directions


def test_directions_are_chunked_compressed_and_come_back_exactly(tmp_path):
    rng = np.random.default_rng(0)
    vec = {
        "w": rng.standard_normal((64, 32)),
        "b": rng.standard_normal(32).astype(np.float32),
        "scale": np.array(1.5),
        "empty": np.zeros((0, 3)),
    }
    path = tmp_path / "d.h5"
    with h5py.File(path, "w") as f:
        write_directions(f, "random", {}, [vec])
    with h5py.File(path, "r") as f:
        g = f["directions/d0"]
        for k in ("w", "b"):
            assert g[k].compression == "gzip" and g[k].shuffle and g[k].chunks is not None
        assert g["scale"].compression is None and g["empty"].compression is None
        (back,) = read_directions(f)
    assert list(back) == list(vec)
    for k, v in vec.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape
        np.testing.assert_array_equal(back[k], v)


def test_a_smooth_direction_takes_less_room_than_its_raw_bytes(tmp_path):
    vec = {"w": np.repeat(np.linspace(0, 1, 100, dtype=np.float32), 1000)}
    with h5py.File(tmp_path / "d.h5", "w") as f:
        write_directions(f, "pca", {}, [vec])
        stored = f["directions/d0/w"].id.get_storage_size()
    assert stored < vec["w"].nbytes / 10
