import math

import numpy as np
import pytest
import torch
from scipy import stats as sps
from torch import nn

from landscape.adaptive import (
    MIN_BATCHES,
    AdaptivePointEvaluator,
    binomial_standard_error,
    ratio_standard_error,
)
from landscape.data import Split
from landscape.evaluators import PointEvaluator
from landscape.models import MLP
from landscape.objective import Objective
from landscape.params import model_params


class Zero(nn.Module):
    """Predicts 0 whatever the input: the per-row MSE loss is y**2, known in advance."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return self.w * x[:, :1]


def test_ratio_standard_error_by_hand_and_coverage():
    sums, rows = np.array([3.0, 5.0, 4.5]), np.array([3, 3, 2])
    ratio = sums.sum() / rows.sum()
    by_hand = math.sqrt(
        (1 - 3 / 10) * ((sums - ratio * rows) ** 2).sum() / (3 * 2 * rows.mean() ** 2)
    )
    assert ratio_standard_error(sums, rows, 10) == pytest.approx(by_hand, rel=1e-12)
    # coverage over repeated cluster samples of a known population
    rng = np.random.default_rng(0)
    population = rng.gamma(2.0, 1.0, 4000)
    batches = population.reshape(200, 20).sum(axis=1)
    truth = population.mean()
    hits = 0
    for _ in range(2000):
        pick = rng.choice(200, 12, replace=False)
        se = ratio_standard_error(batches[pick], np.full(12, 20), 200)
        est = batches[pick].sum() / 240
        hits += abs(est - truth) <= sps.t.ppf(0.975, 11) * se
    assert 0.93 <= hits / 2000 <= 0.97


def test_binomial_standard_error_closed_form():
    assert binomial_standard_error(0.3, 50, 200) == pytest.approx(
        math.sqrt(0.3 * 0.7 / 50 * (1 - 50 / 200))
    )


def _known_losses_objective(n=400, batch=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randn(n, generator=g, dtype=torch.float64)
    x = torch.ones(n, 1, dtype=torch.float64)
    model = Zero().double()
    return Objective(model, Split(x, y), loss="mse", batch_size=batch), model, y


def test_stopping_rule_equals_its_closed_form_on_known_per_row_losses():
    obj, model, y = _known_losses_objective()
    tol = 0.15
    ev = AdaptivePointEvaluator(
        obj, model_params(model), [{"w": torch.ones(1, dtype=torch.float64)}], tolerance=tol, seed=3
    )
    values = ev.evaluate(np.zeros((1, 1)))
    batch_sums = (y**2).reshape(40, 10).sum(dim=1).numpy()
    order = ev.order
    for k in range(MIN_BATCHES, 41):
        picked = batch_sums[order[:k]]
        se = ratio_standard_error(picked, np.full(k, 10.0), 40)
        if sps.t.ppf(0.975, k - 1) * se <= tol or k == 40:
            break
    assert values.rows[0] == 10 * k
    assert values.loss[0] == pytest.approx(picked.sum() / (10 * k), rel=1e-12)
    assert values.loss_se[0] == pytest.approx(se, rel=1e-12)
    assert MIN_BATCHES < k < 40  # the rule stopped early, but not at once


def _mlp_case():
    torch.manual_seed(0)
    model = MLP(8, 4, hidden=(16,))
    g = torch.Generator().manual_seed(1)
    x = torch.randn(600, 8, generator=g)
    y = torch.randint(0, 4, (600,), generator=g)
    obj = Objective(model, Split(x, y), batch_size=25)
    origin = model_params(model)
    dirs = [{k: torch.randn(v.shape, generator=g) * 0.2 for k, v in origin.items()}]
    coords = np.linspace(-1, 1, 7)[:, None]
    return obj, origin, dirs, coords


def test_full_data_equals_the_plain_evaluator_exactly():
    obj, origin, dirs, coords = _mlp_case()
    plain_loss, plain_acc = PointEvaluator(obj, origin, dirs)(coords)
    values = AdaptivePointEvaluator(obj, origin, dirs, tolerance=0.0).evaluate(coords)
    assert (values.rows == 600).all() and (values.loss_se == 0).all()
    assert np.array_equal(values.loss, plain_loss) and np.array_equal(values.acc, plain_acc)


def test_every_point_within_a_few_standard_errors_of_the_full_value():
    obj, origin, dirs, coords = _mlp_case()
    full, _ = PointEvaluator(obj, origin, dirs)(coords)
    values = AdaptivePointEvaluator(obj, origin, dirs, tolerance=0.05, seed=1).evaluate(coords)
    assert (values.rows < 600).any()
    assert (np.abs(values.loss - full) <= 4 * values.loss_se + 1e-12).all()
    assert (values.acc >= 0).all() and (values.acc <= 1).all()
