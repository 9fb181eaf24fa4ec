from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from landscape.curvature.hvp import HessianLinearOperator, check_deterministic, loss_and_gradient
from landscape.data import Split
from landscape.errors import LandscapeError
from landscape.models import MLP
from landscape.objective import Objective
from landscape.params import flatten, unflatten
from tests.curvature.cases import CASES as SHARED_CASES
from tests.curvature.cases import dense_hessian, make_case


class WithUnused(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(5, 4)
        self.b = nn.Linear(4, 3)
        self.unused = nn.Linear(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.tanh(self.a(x)))


CASES = {
    **SHARED_CASES,
    "unused-ce": dict(model=WithUnused, features=5, loss="cross_entropy", batch=None),
}


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> tuple[Objective, dict[str, torch.Tensor]]:
    return make_case(request.param, cases=CASES)  # 11 rows: unequal batches


def test_hvp_equals_dense_hessian_times_vector(case: tuple[Objective, dict]) -> None:
    obj, params = case
    hess = dense_hessian(obj, params)
    op = HessianLinearOperator(obj, params, max_vectors=2)
    gen = torch.Generator().manual_seed(3)
    v = torch.randn(op.shape[0], generator=gen, dtype=torch.float64)
    block = torch.randn(op.shape[0], 5, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(op @ v, hess @ v, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(op @ block, hess @ block, rtol=1e-10, atol=1e-12)
    assert op.num_matvecs == 6
    assert (
        op.shape == tuple(hess.shape)
        and op.dtype == torch.float64
        and op.device == torch.device("cpu")
    )
    np.testing.assert_allclose(
        op.to_scipy() @ v.numpy(), (hess @ v).numpy(), rtol=1e-10, atol=1e-12
    )
    pv = op.matvec_params(unflatten(v, params))
    torch.testing.assert_close(flatten(pv), hess @ v, rtol=1e-10, atol=1e-12)


def test_unused_parameters_get_zero_rows() -> None:
    torch.manual_seed(0)
    model = WithUnused().double()
    obj = Objective(model, Split(torch.randn(6, 5, dtype=torch.float64), torch.randint(0, 3, (6,))))
    params = {k: v.detach() for k, v in model.named_parameters()}
    out = HessianLinearOperator(obj, params).matvec_params(
        {k: torch.ones_like(v) for k, v in params.items()}
    )
    assert float(out["unused.weight"].abs().sum()) == 0.0
    assert float(out["a.weight"].abs().sum()) > 0.0


def test_loss_and_gradient_weights_batches_by_size(case: tuple[Objective, dict]) -> None:
    obj, params = case
    p = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    loss = obj.loss(p)
    expected = torch.autograd.grad(
        loss, list(p.values()), allow_unused=True, materialize_grads=True
    )
    got_loss, got = loss_and_gradient(obj, params)
    assert got_loss == pytest.approx(float(loss.detach()), rel=1e-12)
    for (k, g), e in zip(got.items(), expected, strict=True):
        torch.testing.assert_close(g, e, msg=k)


class Augmenting(Objective):
    """mat data source that shuffles and adds noise on every pass."""

    def batches(self):  # type: ignore[override]
        perm = torch.randperm(len(self.split))
        x = self.split.x[perm] + 0.1 * torch.randn_like(self.split.x)
        yield from Split(x, self.split.y[perm]).batches(self.batch_size)


def test_determinism_guard_raises_on_augmenting_source() -> None:
    torch.manual_seed(0)
    obj = Augmenting(
        MLP(5, 3, hidden=(4,)), Split(torch.randn(12, 5), torch.randint(0, 3, (12,))), batch_size=5
    )
    params = {k: v.detach() for k, v in obj.model.named_parameters()}
    with pytest.raises(LandscapeError, match=r"not deterministic.*augmentation, shuffling"):
        HessianLinearOperator(obj, params)
    HessianLinearOperator(obj, params, check=False)  # the guard can be skipped knowingly


def test_determinism_guard_raises_on_active_dropout() -> None:
    class AlwaysDropout(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(5, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(nn.functional.dropout(x, 0.5, training=True))

    obj = Objective(AlwaysDropout(), Split(torch.randn(12, 5), torch.randint(0, 3, (12,))))
    with pytest.raises(LandscapeError, match="dropout"):
        check_deterministic(obj, {k: v.detach() for k, v in obj.model.named_parameters()})


def test_bad_vector_shape_and_options() -> None:
    obj = Objective(nn.Linear(2, 1), Split(torch.randn(4, 2), torch.randn(4, 1)), loss="mse")
    params = {k: v.detach() for k, v in obj.model.named_parameters()}
    op = HessianLinearOperator(obj, params)
    with pytest.raises(LandscapeError, match=r"expected a vector of shape \(3,\)"):
        op @ torch.ones(4)
    with pytest.raises(LandscapeError, match="max_vectors should be at least 1"):
        HessianLinearOperator(obj, params, max_vectors=0)
    with pytest.raises(LandscapeError, match="at least one parameter"):
        HessianLinearOperator(obj, {})


def test_float32_block_matches_float64_dense() -> None:
    torch.manual_seed(0)
    model = MLP(5, 3, hidden=(4,))
    x, y = torch.randn(9, 5), torch.randint(0, 3, (9,))
    obj32 = Objective(model, Split(x, y), batch_size=4)
    obj64 = Objective(model.double(), Split(x.double(), y), batch_size=4)
    p64 = {k: v.detach() for k, v in obj64.model.named_parameters()}
    hess = dense_hessian(obj64, p64)
    op = HessianLinearOperator(obj32, {k: v.float() for k, v in p64.items()})
    assert op.dtype == torch.float32
    torch.testing.assert_close(op.dense().double(), hess, rtol=1e-4, atol=1e-5)


def test_batchnorm_model_in_eval_mode_keeps_its_buffers() -> None:
    from landscape.models import ResNet1d

    torch.manual_seed(0)
    model = ResNet1d(num_classes=3, channels=2, blocks=1, batchnorm=True).double()
    model.train()
    x = torch.randn(9, 8, dtype=torch.float64)
    model(x)  # non-trivial running statistics
    before = {k: v.clone() for k, v in model.state_dict().items()}
    obj = Objective(model, Split(x, torch.randint(0, 3, (9,))), batch_size=4)
    params = {k: v.detach() for k, v in model.named_parameters()}
    op = HessianLinearOperator(obj, params)
    v = torch.randn(op.shape[0], dtype=torch.float64)
    torch.testing.assert_close(op @ v, dense_hessian(obj, params) @ v, rtol=1e-9, atol=1e-11)
    for k, t in model.state_dict().items():
        torch.testing.assert_close(t, before[k], msg=k)
    for k, t in obj.buffers.items():
        torch.testing.assert_close(t, before[k], msg=k)
    assert model.training  # the user's model is untouched
