from __future__ import annotations

import pickle

import pytest
import torch
from safetensors.torch import save_file

from landscape.errors import LandscapeError
from landscape.loading import build_model, import_object, load_checkpoint, load_state_dict


@pytest.mark.parametrize("key", [None, "state_dict", "model", "model_state_dict", "net"])
def test_state_dict_layouts_and_ddp_prefix(tmp_path, net, key):
    sd = {f"module.{k}": v for k, v in net.state_dict().items()}
    obj = sd if key is None else {key: sd, "epoch": 3}
    path = tmp_path / "c.pt"
    torch.save(obj, path)
    params, _ = load_checkpoint(net, path)
    for name, p in net.named_parameters():
        assert torch.equal(params[name], p.detach())


def test_safetensors(tmp_path, net):
    path = tmp_path / "c.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    params, _ = load_checkpoint(net, path)
    assert torch.equal(params["fc.weight"], net.fc.weight.detach())


class Payload:
    def __reduce__(self):
        return (exec, ("open(__import__('os').environ['PWNED_FILE'], 'w').write('pwned')",))


def test_malicious_pickle_is_refused(tmp_path, net, monkeypatch):
    marker = tmp_path / "pwned"
    monkeypatch.setenv("PWNED_FILE", str(marker))
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"state_dict": net.state_dict(), "x": Payload()}, f)
    with pytest.raises(LandscapeError, match="--trust-checkpoint"):
        load_state_dict(path)
    assert not marker.exists()


def test_mismatch_names_first_keys(tmp_path, net):
    sd = net.state_dict()
    sd["extra.weight"] = torch.zeros(1)
    del sd["conv.bias"]
    path = tmp_path / "c.pt"
    torch.save(sd, path)
    with pytest.raises(
        LandscapeError, match=r"missing keys conv\.bias; unexpected keys extra\.weight"
    ):
        load_checkpoint(net, path)


def test_nonfinite_and_corrupt_and_missing(tmp_path, net):
    sd = net.state_dict()
    sd["fc.weight"][0, 0] = float("nan")
    path = tmp_path / "nan.pt"
    torch.save(sd, path)
    with pytest.raises(LandscapeError, match="NaN or infinity"):
        load_checkpoint(net, path)
    bad = tmp_path / "corrupt.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(LandscapeError, match="not a readable"):
        load_state_dict(bad)
    with pytest.raises(LandscapeError, match="checkpoint not found"):
        load_state_dict(tmp_path / "missing.pt")


def test_model_specs(tmp_path):
    assert build_model("mlp").__class__.__name__ == "MLP"
    f = tmp_path / "mymodel.py"
    f.write_text("import torch\ndef make():\n    return torch.nn.Linear(2, 2)\n")
    assert isinstance(build_model(f"{f}:make"), torch.nn.Linear)
    with pytest.raises(LandscapeError, match="unknown built-in"):
        build_model("resnet999")
    with pytest.raises(LandscapeError, match="cannot import module"):
        import_object("no_such_module_xyz:f")
    with pytest.raises(LandscapeError, match="has no attribute"):
        import_object(f"{f}:nothing")
    with pytest.raises(LandscapeError, match=r"expected torch\.nn\.Module"):
        build_model("math:pi")
