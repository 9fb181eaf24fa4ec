import math

import numpy as np
import pytest
import torch
from torch import nn

from landscape.adaptive import (
    PILOT_BATCHES,
    Z95,
    AdaptiveObjective,
    AdaptivePointEvaluator,
    PointValues,
    SequentialMean,
    batches_needed,
    binomial_standard_error,
    regression_fit,
    t_quantile,
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


def test_regression_fit_by_hand():
    sums, rows = np.array([3.0, 5.0, 4.5, 2.0]), np.array([3.0, 3.0, 2.0, 2.0])
    ref = np.array([2.0, 4.0, 2.5, 2.0])
    u = sums - sums.sum() / rows.sum() * rows
    v = ref - ref.sum() / rows.sum() * rows
    b = (u @ v) / (v @ v)
    e = u - b * v
    assert regression_fit(sums, rows, ref) == pytest.approx((b, (e @ e) / (2 * 2.5**2), 2))
    assert regression_fit(sums, rows, None) == pytest.approx((0.0, (u @ u) / (3 * 2.5**2), 3))


def test_batches_needed_is_the_smallest_count_within_the_tolerance():
    variance, df, tol, total = 0.7, 8, 0.05, 400
    k = batches_needed(variance, df, tol, total)

    def half_width(n: int) -> float:
        return t_quantile(df) * math.sqrt((1 - n / total) * variance / n)

    assert half_width(k) <= tol < half_width(k - 1)
    assert batches_needed(1e9, df, tol, total) == total
    assert batches_needed(math.nan, df, tol, total) == total


def test_binomial_standard_error_closed_form():
    assert binomial_standard_error(0.3, 50, 200) == pytest.approx(
        math.sqrt(0.3 * 0.7 / 50 * (1 - 50 / 200))
    )


def _coverage(reference: bool, draws: int = 1500) -> tuple[float, float]:
    """Share of draws (random batch orders) whose 95% interval holds the population mean."""
    rng = np.random.default_rng(0)
    batches, size = 60, 40
    hard = rng.gamma(2.0, 0.5, batches * size)  # per-row losses of known variance 2 * 0.5**2
    losses = hard + rng.normal(0.0, 0.5, hard.size)
    sums = torch.tensor(losses.reshape(batches, size).sum(axis=1))
    ref_sums = torch.tensor(hard.reshape(batches, size).sum(axis=1))
    truth = losses.mean()
    hits, rows = 0, 0
    for seed in range(draws):
        mean = SequentialMean(
            [size] * batches, tolerance=0.04, seed=seed, device=torch.device("cpu")
        )
        if reference:
            mean.set_reference(lambda i: (ref_sums[i], None), with_correct=False)
        values = mean.estimate(lambda i: (sums[i], None), with_correct=False)
        hits += abs(values.loss - truth) <= Z95 * values.loss_se + 1e-12
        rows += values.rows
    return hits / draws, rows / draws / losses.size


def test_coverage_is_nominal_over_many_draws_with_and_without_a_reference():
    plain, plain_rows = _coverage(reference=False)
    controlled, controlled_rows = _coverage(reference=True)
    assert 0.935 <= plain <= 0.965 and 0.935 <= controlled <= 0.965
    assert 0.2 < plain_rows < 0.9 and controlled_rows < 0.6 * plain_rows  # stopped early


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
    values = ev.evaluate(np.array([[1.0]]))  # residuals (y - 1)^2 against the origin's y^2
    at_origin = (y**2).reshape(40, 10).sum(dim=1).numpy()
    at_point = ((y - 1) ** 2).reshape(40, 10).sum(dim=1).numpy()
    rows = np.full(40, 10.0)
    pilot = ev.order[:PILOT_BATCHES]
    _, variance, df = regression_fit(at_point[pilot], rows[:PILOT_BATCHES], at_origin[pilot])
    k = max(PILOT_BATCHES, batches_needed(variance, df, tol, 40))
    used = ev.order[:k]
    b, _, _ = regression_fit(at_point[used], rows[:k], at_origin[used])
    loss = at_point[used].sum() / (10 * k) + b * (
        at_origin.mean() / 10 - at_origin[used].mean() / 10
    )
    se = t_quantile(df) * math.sqrt((1 - k / 40) * variance / k) / Z95
    assert PILOT_BATCHES < k < 40  # the rule went past the pilot, but not to the end
    assert values.rows[0] == 10 * k
    assert values.loss[0] == pytest.approx(loss, rel=1e-12)
    assert values.loss_se[0] == pytest.approx(se, rel=1e-12)
    assert Z95 * values.loss_se[0] <= tol


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
    values = AdaptivePointEvaluator(obj, origin, dirs, tolerance=1e-12).evaluate(coords)
    assert (values.rows == 600).all() and (values.loss_se == 0).all()
    assert np.array_equal(values.loss, plain_loss) and np.array_equal(values.acc, plain_acc)


def test_the_origin_is_exact_on_the_pilot_and_every_point_within_a_few_errors():
    obj, origin, dirs, coords = _mlp_case()
    full, _ = PointEvaluator(obj, origin, dirs)(coords)
    values = AdaptivePointEvaluator(obj, origin, dirs, tolerance=0.05, seed=1).evaluate(coords)
    assert (values.rows < 600).any()
    assert values.rows[3] == 600 and values.loss_se[3] == 0  # coordinate 0: the reference
    assert values.loss[3] == full[3]
    assert (np.abs(values.loss - full) <= 3 * values.loss_se + 1e-12).all()
    assert (values.acc >= 0).all() and (values.acc <= 1).all()


def test_adaptive_objective_at_full_data_equals_objective_evaluate_exactly():
    obj, origin, dirs, _ = _mlp_case()
    point = {k: v + 0.5 * dirs[0][k] for k, v in origin.items()}
    exact = AdaptiveObjective(obj, (origin, obj.buffers), tolerance=1e-12).evaluate(point)
    assert (exact.loss, exact.acc, exact.loss_se, exact.rows) == (*obj.evaluate(point), 0.0, 600)
    loose = AdaptiveObjective(obj, (origin, obj.buffers), tolerance=0.05, seed=2)
    assert loose.evaluate(origin) == PointValues(*obj.evaluate(origin), 0.0, 0.0, 600)
    values = loose.evaluate(point)
    assert values.rows < 600 and abs(values.loss - obj.evaluate(point)[0]) <= 3 * values.loss_se


def test_token_tasks_count_tokens_per_batch():
    class Tokens(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(5, 5)

        def forward(self, x):
            return self.emb(x)

    x = torch.randint(0, 5, (40, 6), generator=torch.Generator().manual_seed(0))
    y = x.clone()
    y[:, :2] = -100
    model = Tokens()
    obj = Objective(model, Split(x, y), task="mlm", batch_size=2)
    assert obj.count(y[:2]) == 8 and obj.count(y[:1, :3]) == 1
    assert sum(obj.count(b) for _, b in obj.batches()) == obj.num_samples == 160
    origin = model_params(model)
    values = AdaptiveObjective(obj, (origin, obj.buffers), tolerance=1e-12)
    point = {k: 1.5 * v for k, v in origin.items()}
    assert values.evaluate(point).rows == 160 and values.evaluate(origin).rows == 160
