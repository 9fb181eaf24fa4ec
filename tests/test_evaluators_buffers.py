import numpy as np
import pytest
import torch
from torch import nn

from landscape.data import Split
from landscape.directions import interpolation_direction, plane_through
from landscape.evaluators import PointEvaluator, StackedEvaluator
from landscape.objective import Objective
from landscape.params import model_buffers, model_params


def bn_net(seed):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    net.train()
    with torch.no_grad():
        for _ in range(5):  # distinct running statistics per checkpoint
            net(torch.randn(64, 6) * (1 + seed) + seed)
    return net.eval()


def own_loss(net, split):
    obj = Objective(net, split)
    return obj.evaluate(model_params(net))[0]


def split():
    g = torch.Generator().manual_seed(9)
    return Split(torch.randn(80, 6, generator=g), torch.randint(0, 3, (80,), generator=g))


def float_buffers(net):
    return {k: v for k, v in model_buffers(net).items() if v.is_floating_point()}


@pytest.mark.parametrize("evaluator", [PointEvaluator, StackedEvaluator])
def test_interpolation_endpoints_score_their_own_loss_with_batchnorm(evaluator):
    a, b = bn_net(0), bn_net(1)
    data = split()
    obj = Objective(a, data)
    d = interpolation_direction(model_params(a), model_params(b))
    bd = interpolation_direction(float_buffers(a), float_buffers(b))
    losses, _ = evaluator(obj, model_params(a), [d], buffer_directions=[bd])(
        np.array([[0.0], [1.0]])
    )
    assert losses[0] == pytest.approx(own_loss(a, data), rel=1e-6)
    assert losses[1] == pytest.approx(own_loss(b, data), rel=1e-6)
    kept, _ = evaluator(obj, model_params(a), [d])(np.array([[1.0]]))
    assert abs(kept[0] - own_loss(b, data)) > 1e-3  # the origin's statistics mislead


def test_plane_corners_score_their_own_loss_and_evaluators_agree():
    nets = [bn_net(s) for s in (0, 1, 2)]
    data = split()
    origin, vectors = plane_through(*(model_params(n) for n in nets))
    _, bvectors = plane_through(*(float_buffers(n) for n in nets))
    obj = Objective(nets[0], data)
    coords = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.3, 0.4]])
    point, _ = PointEvaluator(obj, origin, vectors, buffer_directions=bvectors)(coords)
    stacked, _ = StackedEvaluator(obj, origin, vectors, buffer_directions=bvectors)(coords)
    for i, net in enumerate(nets):
        assert point[i] == pytest.approx(own_loss(net, data), rel=1e-6)
    assert stacked == pytest.approx(point, rel=1e-6)


def test_bn_recompute_estimates_on_the_given_inputs_not_the_scored_split():
    net = bn_net(0)
    train, test = split(), Split(torch.randn(40, 6) * 5 + 3, torch.randint(0, 3, (40,)))
    obj = Objective(net, test)
    zero = {k: torch.zeros_like(v) for k, v in model_params(net).items()}
    on_train, _ = PointEvaluator(obj, model_params(net), [zero], bn="recompute", bn_data=train)(
        np.array([[0.0]])
    )
    on_test, _ = PointEvaluator(obj, model_params(net), [zero], bn="recompute")(np.array([[0.0]]))
    ref = bn_net(0)
    ref.train()
    for m in ref.modules():
        if isinstance(m, nn.BatchNorm1d):
            m.reset_running_stats()
            m.momentum = None
    with torch.no_grad():  # in batches of the scored objective's size, averaged
        ref(train.x[:40])
        ref(train.x[40:])
    ref.eval()
    assert on_train[0] == pytest.approx(own_loss(ref, test), rel=1e-6)
    assert abs(on_train[0] - on_test[0]) > 1e-4


def test_surface_interp_endpoints_score_their_own_loss_with_batchnorm(tmp_path):
    from landscape.pipelines.surface import surface

    a, b = bn_net(0), bn_net(1)
    data = split()
    paths = []
    for name, net in (("a", a), ("b", b)):
        paths.append(tmp_path / f"{name}.pt")
        torch.save(net.state_dict(), paths[-1])
    result = surface(
        bn_net(0),
        paths[0],
        {"train": (data.x, data.y)},
        dirs="interp",
        targets=[paths[1]],
        x=np.array([0.0, 1.0]),
        out=tmp_path / "s.h5",
        progress=False,
    )
    loss = result.values["train_loss"]
    assert loss[0] == pytest.approx(own_loss(a, data), rel=1e-6)
    assert loss[1] == pytest.approx(own_loss(b, data), rel=1e-6)
    from landscape.io.surface import read_surface

    assert read_surface(tmp_path / "s.h5").directions.get("buffers") == "interpolated"
