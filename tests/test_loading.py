from __future__ import annotations

import pickle

import pytest
import torch
from safetensors.torch import save_file

from landscape.errors import LandscapeError
from landscape.loading import (
    build_model,
    import_object,
    load_checkpoint,
    load_state_dict,
    load_torch_file,
)


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


DAMAGED = {
    "memo_get_of_nothing": b"\x80\x02h\x05.",  # KeyError inside the unpickler
    "truncated_pickle": pickle.dumps({"w": 1}, protocol=2)[:5],  # EOFError
    "binint_cut": b"\x80\x02J\x01\x00",  # struct-level read past the end
    "garbage": b"\x00not a checkpoint",
}


@pytest.mark.parametrize("blob", DAMAGED.values(), ids=DAMAGED)
def test_damaged_pickle_is_unreadable_without_trust_hint(tmp_path, blob):
    path = tmp_path / "bad.pt"
    path.write_bytes(blob)
    with pytest.raises(LandscapeError, match=r"bad\.pt: not a readable PyTorch file") as err:
        load_state_dict(path)
    assert "--trust-checkpoint" not in str(err.value) and "\n" not in str(err.value)


def test_damaged_torch_files_one_line(tmp_path, net):
    """Truncations and flipped bytes of real torch.save files: IndexError, AssertionError, ..."""
    for legacy in (False, True):
        path = tmp_path / "good.pt"
        torch.save(net.state_dict(), path, _use_new_zipfile_serialization=not legacy)
        good = path.read_bytes()
        for cut in (len(good) // 3, len(good) - 7):
            path.write_bytes(good[:cut])
            with pytest.raises(LandscapeError, match=r"good\.pt: not a readable PyTorch file"):
                load_state_dict(path)


def test_empty_checkpoint(tmp_path):
    path = tmp_path / "empty.pt"
    path.touch()
    with pytest.raises(LandscapeError, match=r"empty\.pt: empty file; expected a file written by"):
        load_state_dict(path)


def test_trust_hint_only_where_the_command_has_the_option(tmp_path):
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"x": Payload()}, f)
    with pytest.raises(
        LandscapeError, match=r"the Python object builtins\.exec in it; this command"
    ):
        load_torch_file(path, trust_option=None)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda t: t.to_sparse(), "'fc.weight' is a sparse_coo tensor"),
        (lambda t: t.to_sparse_csr(), "'fc.weight' is a sparse_csr tensor"),
        (lambda t: torch.empty_like(t, device="meta"), "'fc.weight' is a meta"),
        (
            lambda t: torch.quantize_per_tensor(t, 0.1, 0, torch.qint8),
            "'fc.weight' is a quantized tensor",
        ),
        (lambda t: t > 0, "'fc.weight' is torch.bool; expected a floating dtype"),
        (lambda t: t.to(torch.int64), "'fc.weight' is torch.int64; expected a floating dtype"),
        (lambda t: t.to(torch.float8_e4m3fn), "is torch.float8_e4m3fn; expected a floating"),
    ],
    ids=["sparse", "csr", "meta", "quantized", "bool", "int", "float8"],
)
def test_unusual_tensors_are_refused_not_cast(tmp_path, net, make, match):
    sd = net.state_dict()
    sd["fc.weight"] = make(sd["fc.weight"])
    path = tmp_path / "odd.pt"
    torch.save(sd, path)
    with pytest.raises(LandscapeError, match=match):
        load_checkpoint(net, path)


def test_half_precision_weights_are_cast(tmp_path, net):
    path = tmp_path / "half.pt"
    torch.save({k: v.half() for k, v in net.state_dict().items()}, path)
    params, _ = load_checkpoint(net, path)
    assert params["fc.weight"].dtype == torch.float32


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("torch.nn:Linear", r"'torch.nn:Linear': calling it failed \(TypeError: .*no arguments"),
        ("sys:exit", r"'sys:exit': calling it exited the program \(SystemExit: None\)"),
    ],
)
def test_model_factory_failures_are_one_line(spec, match):
    with pytest.raises(LandscapeError, match=match):
        build_model(spec)


def test_model_module_failing_at_import(tmp_path, monkeypatch):
    (tmp_path / "broken_mod_xyz.py").write_text("raise SystemExit(3)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(LandscapeError, match=r"importing 'broken_mod_xyz' failed \(SystemExit"):
        build_model("broken_mod_xyz:f")
