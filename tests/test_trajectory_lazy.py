import pytest
import torch
from safetensors.torch import save_file

from landscape.checkpoint_mmap import open_checkpoint_lazily
from landscape.errors import LandscapeError
from landscape.loading import load_checkpoint


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(5, 3), torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 2)
    )


@pytest.mark.parametrize("name", ["zip.pt", "legacy.pt", "w.safetensors"])
def test_lazy_checkpoint_equals_the_eager_one(tmp_path, name):
    model = _model()
    path = tmp_path / name
    if name == "w.safetensors":
        save_file(model.state_dict(), str(path))
    else:
        torch.save(model.state_dict(), path, _use_new_zipfile_serialization=name == "zip.pt")
    params, buffers = open_checkpoint_lazily(model, path)
    ref_params, ref_buffers = load_checkpoint(model, path)
    assert list(params) == list(ref_params) and list(buffers) == list(ref_buffers)
    for got, ref in ((params, ref_params), (buffers, ref_buffers)):
        for k in ref:
            assert got[k].dtype == ref[k].dtype and torch.equal(got[k], ref[k]), k


def test_lazy_checkpoint_refuses_what_the_eager_one_refuses(tmp_path):
    model = _model()
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(LandscapeError, match="not a readable safetensors file"):
        open_checkpoint_lazily(model, bad)
    other = tmp_path / "other.pt"
    torch.save(torch.nn.Linear(2, 2).state_dict(), other)
    with pytest.raises(LandscapeError, match="does not fit the model"):
        open_checkpoint_lazily(model, other)
    nan = tmp_path / "nan.safetensors"
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["0.weight"][0, 0] = float("nan")
    save_file(state, str(nan))
    with pytest.raises(LandscapeError, match="NaN or infinity"):
        open_checkpoint_lazily(model, nan)
    with pytest.raises(LandscapeError, match="not found"):
        open_checkpoint_lazily(model, tmp_path / "missing.pt")
