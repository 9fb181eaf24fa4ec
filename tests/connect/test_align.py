"""``connect --align``: permutation groups from the traced model, weight matching, refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch.func import functional_call

from landscape.cli import cli
from landscape.connect.align import apply_permutations, weight_matching
from landscape.connect.permutation import permutation_spec
from landscape.errors import LandscapeError
from landscape.io.connect import read_alignment
from landscape.pipelines import connect as pipeline
from tests import connect_specs as specs

FACTORIES = {
    "mlp": specs.mlp,
    "mlp_bn": specs.mlp_bn,
    "cnn": specs.cnn,
    "resnet_bn": specs.resnet_bn,
}


def tensors(model):
    params = {k: v.detach().clone() for k, v in model.named_parameters()}
    buffers = {k: v.detach().clone() for k, v in model.named_buffers()}
    return params, buffers


def with_random_statistics(model):
    """BatchNorm statistics that differ per unit, so that a wrong permutation shows."""
    g = torch.Generator().manual_seed(3)
    for name, buf in model.named_buffers():
        if "running_mean" in name:
            buf.copy_(torch.randn(buf.shape, generator=g))
        elif "running_var" in name:
            buf.copy_(torch.rand(buf.shape, generator=g) + 0.5)
    return model


@pytest.mark.parametrize("name", list(FACTORIES))
def test_groups_leave_the_function_unchanged_and_matching_undoes_them(name):
    torch.manual_seed(0)
    model = with_random_statistics(FACTORIES[name]()).eval()
    params, buffers = tensors(model)
    x = specs.data()["train"][0][:9]
    spec = permutation_spec(model, params, buffers, x[:2])
    assert len(spec.sizes) >= 2
    rng = np.random.default_rng(1)
    perms = [rng.permutation(n) for n in spec.sizes]
    p_b, b_b = apply_permutations(spec, params, perms), apply_permutations(spec, buffers, perms)
    assert any(not torch.equal(p_b[k], params[k]) for k in params)
    torch.testing.assert_close(
        functional_call(model, (p_b, b_b), (x,)), functional_call(model, (params, buffers), (x,))
    )
    back = weight_matching(spec, params, p_b)
    restored = apply_permutations(spec, p_b, back)
    assert all(torch.equal(restored[k], params[k]) for k in params)
    restored_buffers = apply_permutations(spec, b_b, back)
    assert all(torch.equal(restored_buffers[k], buffers[k]) for k in buffers)


def test_residual_branches_share_one_group_and_flatten_moves_blocks():
    model = specs.resnet_bn().eval()
    spec = permutation_spec(model, *tensors(model), torch.zeros(2, specs.FEATURES))
    stem = spec.axes["stem.weight"][0].group
    assert spec.axes["blocks.0.conv2.weight"][0].group == stem  # tied by the skip connection
    assert spec.axes["blocks.1.bn2.running_mean"][0].group == stem
    assert spec.axes["head.weight"][0].group == stem
    cnn = specs.cnn().eval()
    head = permutation_spec(cnn, *tensors(cnn), torch.zeros(2, specs.FEATURES)).axes["head.weight"]
    assert (head[0].axis, head[0].outer, head[0].inner) == (1, 1, specs.FEATURES // 4)


@pytest.mark.parametrize("name", ["mlp", "resnet_bn"])
def test_permuted_copy_aligns_back_to_no_barrier(tmp_path, name):
    factory = FACTORIES[name]
    a_path = specs.trained(factory, 0, tmp_path / "a.pt", steps=40)  # BatchNorm stats trained
    model = factory()
    model.load_state_dict(torch.load(a_path))
    model.eval()
    params, buffers = tensors(model)
    spec = permutation_spec(model, params, buffers, torch.zeros(2, specs.FEATURES))
    rng = np.random.default_rng(5)
    perms = [rng.permutation(n) for n in spec.sizes]
    permuted = {
        **apply_permutations(spec, params, perms),
        **apply_permutations(spec, buffers, perms),
    }
    torch.save(permuted, tmp_path / "b.pt")
    out = tmp_path / "c.h5"
    c = pipeline.connect(
        factory(), a_path, tmp_path / "b.pt", specs.data(), out=out, points=5, align=True,
        progress=False,
    )  # fmt: skip
    assert c.barriers["aligned_barrier"] < 1e-4
    assert c.barriers["linear_barrier"] > 1e-2  # the permuted copy is far along the line
    stored, stored_buffers = read_alignment(out)
    for k, v in params.items():
        np.testing.assert_array_equal(stored[k], v.numpy())
    for k, v in buffers.items():
        np.testing.assert_array_equal(stored_buffers[k], v.numpy())


@pytest.mark.parametrize(
    ("factory", "message"),
    [(specs.linear, "no hidden units to permute"), (specs.concat, "is not supported")],
)
def test_models_it_cannot_align_are_refused(tmp_path, factory, message):
    a = specs.trained(factory, 0, tmp_path / "a.pt", steps=1)
    b = specs.trained(factory, 1, tmp_path / "b.pt", steps=1)
    with pytest.raises(LandscapeError, match=message):
        pipeline.connect(
            factory(), a, b, specs.data(), out=tmp_path / "c.h5", align=True, progress=False
        )
    assert not (tmp_path / "c.h5").exists()


def test_cli_refuses_with_one_line(tmp_path):
    a = specs.trained(specs.linear, 0, tmp_path / "a.pt", steps=1)
    res = CliRunner().invoke(
        cli,
        ["-q", "connect", "--model", "tests.connect_specs:linear", "--data",
         "tests.connect_specs:data", "--checkpoint", str(a), "--target", str(a), "--align",
         "--out", str(tmp_path / "c.h5")],
    )  # fmt: skip
    assert res.exit_code == 1 and len(res.output.strip().splitlines()) == 1
    assert "no hidden units to permute" in res.output
