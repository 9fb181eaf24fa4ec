"""HVPs through PyTorch's fused attention equal double backward through eager attention (issue 18, item 4)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from landscape.curvature.hvp import HessianLinearOperator
from landscape.data import Split
from landscape.objective import Objective
from landscape.params import ParamDict, model_params

D, HEADS, T = 8, 2, 5


class TinyTransformer(nn.Module):
    """Linear embedding, one TransformerEncoderLayer (fused attention), mean pool, head."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(3, D)
        self.layer = nn.TransformerEncoderLayer(
            D, HEADS, dim_feedforward=16, dropout=0.0, batch_first=True
        )
        self.head = nn.Linear(D, 4)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.layer(self.embed(x)).mean(dim=1))


def linear(p: ParamDict, name: str, x: Tensor) -> Tensor:
    return x @ p[f"{name}.weight"].T + p[f"{name}.bias"]


def eager_forward(p: ParamDict, x: Tensor) -> Tensor:
    """TinyTransformer written out with matmul + softmax attention (post-norm, ReLU)."""
    h = linear(p, "embed", x)
    b, t, _ = h.shape
    qkv = h @ p["layer.self_attn.in_proj_weight"].T + p["layer.self_attn.in_proj_bias"]
    q, k, v = (z.reshape(b, t, HEADS, D // HEADS).transpose(1, 2) for z in qkv.chunk(3, dim=-1))
    att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(D // HEADS), dim=-1) @ v
    att = linear(p, "layer.self_attn.out_proj", att.transpose(1, 2).reshape(b, t, D))
    norm = nn.functional.layer_norm
    h = norm(h + att, (D,), p["layer.norm1.weight"], p["layer.norm1.bias"])
    ff = linear(p, "layer.linear2", torch.relu(linear(p, "layer.linear1", h)))
    h = norm(h + ff, (D,), p["layer.norm2.weight"], p["layer.norm2.bias"])
    return linear(p, "head", h.mean(dim=1))


@pytest.fixture
def case() -> tuple[TinyTransformer, Split]:
    torch.manual_seed(0)
    model = TinyTransformer().double().eval()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(7, T, 3, dtype=torch.float64, generator=g)
    return model, Split(x, torch.randint(0, 4, (7,), generator=g))


def eager_hvps(params: ParamDict, split: Split, vectors: Tensor) -> Tensor:
    leaves = [p.clone().requires_grad_(True) for p in params.values()]
    p = dict(zip(params, leaves, strict=True))
    loss = nn.functional.cross_entropy(eager_forward(p, split.x), split.y)
    flat = torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, leaves, create_graph=True)])
    columns = [torch.autograd.grad(flat @ v, leaves, retain_graph=True) for v in vectors.T]
    return torch.stack([torch.cat([h.reshape(-1) for h in c]) for c in columns], dim=1)


def test_eager_reference_is_the_same_function(case):
    model, split = case
    with torch.no_grad():
        torch.testing.assert_close(eager_forward(model_params(model), split.x), model(split.x))


def test_fused_attention_has_no_double_backward_by_itself(case):
    model, split = case
    obj = Objective(model, split)
    leaves = {k: v.clone().requires_grad_(True) for k, v in model_params(model).items()}
    grads = torch.autograd.grad(obj.loss(leaves), list(leaves.values()), create_graph=True)
    with pytest.raises(RuntimeError, match="derivative for"):
        torch.autograd.grad(sum(g.sum() for g in grads), list(leaves.values()))


@pytest.mark.parametrize("batch_size", [None, 3])
def test_hvps_through_encoder_layer_equal_eager_double_backward(case, batch_size):
    model, split = case
    params = model_params(model)
    n = sum(p.numel() for p in params.values())
    vectors = torch.randn(n, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    ref = eager_hvps(params, split, vectors)
    op = HessianLinearOperator(Objective(model, split, batch_size=batch_size), params)
    torch.testing.assert_close(op @ vectors, ref, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(op @ vectors[:, 1], ref[:, 1], rtol=1e-9, atol=1e-12)


def test_hessian_cli_through_attention(tmp_path):
    from click.testing import CliRunner

    from landscape.cli import cli

    torch.manual_seed(0)
    path = tmp_path / "ckpt.pt"
    torch.save(TinyTransformer().state_dict(), path)
    res = CliRunner().invoke(
        cli,
        [
            "-q",
            "hessian",
            "--model",
            "tests.curvature.test_attention:TinyTransformer",
            "--checkpoint",
            str(path),
            "--data",
            "tests.curvature.test_attention:attention_data",
            "--top-k",
            "1",
            "--out",
            str(tmp_path / "h.h5"),
        ],
        catch_exceptions=False,
    )
    assert res.exit_code == 0, res.output


def attention_data() -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(3)
    return torch.randn(16, T, 3, generator=g), torch.randint(0, 4, (16,), generator=g)
