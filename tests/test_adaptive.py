import logging
import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from landscape.adaptive import AdaptiveObjective, AdaptivePointEvaluator, axis_anchors
from landscape.adaptive_stats import (
    SKEW_RULE,
    Z95,
    PointValues,
    UnitSample,
    binomial_standard_error,
    regression_estimate,
    regression_fit,
    regression_residuals,
    skew_rule,
    t_quantile,
    units_needed,
)
from landscape.adaptive_units import (
    PILOT_BATCHES,
    PILOT_ROWS,
    BatchUnits,
    RowUnits,
    per_row_loss,
    row_sizes,
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
    slopes, variance, df = regression_fit(sums, rows, ref)
    assert slopes.tolist() == pytest.approx([b])
    assert (variance, df) == pytest.approx(((e @ e) / (2 * 2.5**2), 2))
    slopes, variance, df = regression_fit(sums, rows, None)
    assert (len(slopes), variance, df) == pytest.approx((0, (u @ u) / (3 * 2.5**2), 3))


def test_multiple_regression_fit_and_estimate_by_hand():
    rng = np.random.default_rng(4)
    refs = rng.gamma(2.0, 0.5, (30, 2))
    sums = 1.5 * refs[:, 0] - 0.5 * refs[:, 1] + rng.normal(0, 0.1, 30)
    ones = np.ones(30)
    design = np.column_stack([ones, refs])  # with m_i = 1: ordinary least squares with intercept
    coef = np.linalg.lstsq(design, sums, rcond=None)[0]
    e = sums - design @ coef
    slopes, variance, df = regression_fit(sums, ones, refs)
    assert slopes == pytest.approx(coef[1:], rel=1e-10)
    assert (variance, df) == pytest.approx(((e @ e) / 27, 27), rel=1e-10)
    means = np.array([1.2, 0.7])
    expected = sums.mean() + coef[1:] @ (means - refs.mean(axis=0))
    estimate = regression_estimate(sums.sum(), 30.0, slopes, refs.sum(axis=0), means)
    assert estimate == pytest.approx(expected, rel=1e-12)


def test_units_needed_is_the_smallest_count_within_the_tolerance():
    variance, df, tol, total = 0.7, 8, 0.05, 400
    k = units_needed(variance, df, tol, total)

    def half_width(n: int) -> float:
        return t_quantile(df) * math.sqrt((1 - n / total) * variance / n)

    assert half_width(k) <= tol < half_width(k - 1)
    assert units_needed(1e9, df, tol, total) == total
    assert units_needed(math.nan, df, tol, total) == total


def test_binomial_standard_error_closed_form():
    assert binomial_standard_error(0.3, 50, 200) == pytest.approx(
        math.sqrt(0.3 * 0.7 / 50 * (1 - 50 / 200))
    )


def _draws(sample: UnitSample, values: np.ndarray, order: np.ndarray, refs: list[np.ndarray]):
    """One draw: ``sample`` over the units ``values`` (and reference points ``refs``) in ``order``."""
    for ref in refs:
        sample.add_reference(ref[order])
    ordered = values[order]
    return sample.estimate(
        lambda start, stop: (ordered[start:stop], 0),
        lambda: PointValues(values.mean(), math.nan, 0.0, math.nan, len(values)),
        with_correct=False,
    )


def _coverage(reference: bool, draws: int = 1500) -> tuple[float, float]:
    """Batch units: share of draws (random batch orders) whose 95% interval holds the mean."""
    rng = np.random.default_rng(0)
    batches, size = 60, 40
    hard = rng.gamma(2.0, 0.5, batches * size)  # per-row losses of known variance 2 * 0.5**2
    losses = hard + rng.normal(0.0, 0.5, hard.size)
    sums = losses.reshape(batches, size).sum(axis=1)
    ref_sums = hard.reshape(batches, size).sum(axis=1)
    truth = losses.mean()
    hits, rows = 0, 0
    for seed in range(draws):
        order = torch.randperm(batches, generator=torch.Generator().manual_seed(seed)).numpy()
        sample = UnitSample(np.full(batches, size), tolerance=0.04, pilot=PILOT_BATCHES)
        values = _draws(sample, sums, order, [ref_sums] if reference else [])
        hits += abs(values.loss - truth) <= Z95 * values.loss_se + 1e-12
        rows += values.rows
    return hits / draws, rows / draws / losses.size


def test_coverage_is_nominal_over_many_draws_with_and_without_a_reference():
    plain, plain_rows = _coverage(reference=False)
    controlled, controlled_rows = _coverage(reference=True)
    assert 0.935 <= plain <= 0.965 and 0.935 <= controlled <= 0.965
    assert 0.2 < plain_rows < 0.9 and controlled_rows < 0.6 * plain_rows  # stopped early


def _row_coverage(references: int, draws: int = 1500) -> tuple[float, float]:
    """Row units, ``PILOT_ROWS`` pilot: share of draws whose 95% interval holds the mean."""
    rng = np.random.default_rng(1)
    rows = 20_000
    a = rng.gamma(2.0, 0.5, rows)  # skewed per-row losses, as cross-entropy is
    b = rng.gamma(2.0, 0.5, rows)
    losses = a + 0.5 * b + rng.normal(0.0, 0.3, rows)
    refs = [a, b][:references]
    tolerance = {0: 0.03, 1: 0.015, 2: 0.006}[references]
    hits, used = 0, 0
    for seed in range(draws):
        order = np.random.default_rng(seed).permutation(rows)
        values = _draws(
            UnitSample(np.ones(rows), tolerance=tolerance, pilot=PILOT_ROWS), losses, order, refs
        )
        hits += abs(values.loss - losses.mean()) <= Z95 * values.loss_se + 1e-12
        used += values.rows
    return hits / draws, used / draws / rows


@pytest.mark.parametrize("references", [0, 1, 2])
def test_row_units_coverage_is_nominal_over_many_draws(references):
    covered, used = _row_coverage(references)
    assert 0.935 <= covered <= 0.965
    assert PILOT_ROWS / 20_000 < used < 0.8  # past the pilot, short of the whole split


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
    assert isinstance(ev.units, RowUnits)  # MSE gives per-row losses through vmap
    values = ev.evaluate(np.array([[1.0]]))  # per-row (y - 1)^2 against the origin's y^2
    order = np.array(ev.order)
    at_origin, at_point = (y**2).numpy()[order], ((y - 1) ** 2).numpy()[order]
    # a tenth of the 400 rows (fewer than PILOT_ROWS), or Cochran's 25 G1^2 of the origin's y^2
    n0 = max(40, math.ceil(SKEW_RULE * stats.skew(at_origin - at_origin.mean()) ** 2))
    assert 40 < n0 < 400  # chi-square(1) rows: G1 near 2 sqrt(2)
    ones = np.ones(400)
    b, variance, df = regression_fit(at_point[:n0], ones[:n0], at_origin[:n0])
    _, residual, _ = regression_residuals(at_point[:n0], ones[:n0], at_origin[:n0])
    k = max(n0, units_needed(variance, df, tol, 400), skew_rule(residual))
    loss = at_point[:k].mean() + b[0] * (at_origin.mean() - at_origin[:k].mean())
    se = t_quantile(df) * math.sqrt((1 - k / 400) * variance / k) / Z95
    assert n0 < k < 400  # the rule went past the pilot, but not to the end
    assert values.rows[0] == k
    assert values.loss[0] == pytest.approx(loss, rel=1e-12)
    assert values.loss_se[0] == pytest.approx(se, rel=1e-12)
    assert Z95 * values.loss_se[0] <= tol


def test_batch_units_where_the_loss_gives_no_per_row_values(caplog, monkeypatch):
    monkeypatch.setattr(logging.getLogger("landscape"), "propagate", True)  # after a CLI test
    obj, origin, dirs, coords = _mlp_case()
    plain_sum = obj.loss_sum
    obj.loss_sum = lambda out, y: plain_sum(out, y) * float(out.sum().item() * 0 + 1)  # no vmap
    assert per_row_loss(obj) is None and "sampling whole batches instead" in caplog.text
    ev = AdaptivePointEvaluator(obj, origin, dirs, tolerance=0.05, seed=1)
    assert isinstance(ev.units, BatchUnits) and ev.units.pilot(1) == PILOT_BATCHES
    full, _ = PointEvaluator(obj, origin, dirs)(coords)
    values = ev.evaluate(coords)
    assert values.loss[3] == full[3] and (values.rows[values.rows < 600] % 25 == 0).all()
    assert (values.rows >= PILOT_BATCHES * 25).all() and (values.rows < 600).any()
    assert (np.abs(values.loss - full) <= 3 * values.loss_se + 1e-12).all()


def test_per_row_losses_sum_to_the_batch_loss():
    obj, _, _, _ = _mlp_case()
    x, y = next(obj.batches())
    out = obj.call(obj.model, x)
    for loss in ("cross_entropy", "nll", "mse"):  # the first directly, the others through vmap
        obj.loss_sum = Objective(obj.model, obj.split, loss=loss).loss_sum
        rows = per_row_loss(obj)(out, y)
        assert rows.shape == (25,)
        assert float(rows.sum()) == pytest.approx(float(obj.loss_sum(out, y)), rel=1e-5)


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


class Tokens(nn.Module):
    """Token ids in, one score per token and vocabulary entry out (vocabulary of 5)."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(5, 5)

    def forward(self, x):
        return self.emb(x)


def test_token_tasks_count_tokens_per_batch():
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


def test_axis_anchors_are_the_grid_ends_nearest_each_axis():
    grid = np.array([[x, y] for y in (0.5, 1.0, 2.0) for x in (-1.0, 0.0, 3.0)])
    assert axis_anchors(grid).tolist() == [[-1.0, 0.5], [3.0, 0.5], [0.0, 0.5], [0.0, 2.0]]
    assert axis_anchors(np.zeros((1, 2))).shape == (0, 2)


def test_anchors_get_their_full_data_values_and_cut_the_rows_used():
    obj, origin, dirs, _ = _mlp_case()
    g = torch.Generator().manual_seed(5)
    two = [dirs[0], {k: torch.randn(v.shape, generator=g) * 0.2 for k, v in origin.items()}]
    grid = np.array([[x, y] for y in np.linspace(-1, 1, 5) for x in np.linspace(-1, 1, 5)])
    anchors = axis_anchors(grid)
    full, _ = PointEvaluator(obj, origin, two)(grid)
    alone = AdaptivePointEvaluator(obj, origin, two, tolerance=0.03, seed=2).evaluate(grid)
    both = AdaptivePointEvaluator(obj, origin, two, tolerance=0.03, seed=2, anchors=anchors)
    values = both.evaluate(grid)
    at = [int(np.flatnonzero((grid == a).all(axis=1))[0]) for a in [[0, 0], *anchors.tolist()]]
    assert (values.loss[at] == full[at]).all() and (values.rows[at] == 600).all()
    others = np.setdiff1d(np.arange(25), at)
    assert values.rows[others].sum() < alone.rows[others].sum()
    assert (np.abs(values.loss - full) <= 3 * values.loss_se + 1e-12).all()


def test_row_sizes_count_tokens_per_sequence():
    y = torch.tensor([[1, 2, -100], [3, -100, -100], [4, 4, 4]])
    x = torch.zeros(3, 3, dtype=torch.long)
    mlm = Objective(Tokens(), Split(x, y), task="mlm", batch_size=2)
    lm = Objective(Tokens(), Split(x, y), task="lm", batch_size=2)
    assert row_sizes(mlm).tolist() == [2, 1, 3] and row_sizes(lm).tolist() == [1, 0, 2]
    rows = per_row_loss(mlm)(mlm.call(mlm.model, x), y)
    assert float(rows.sum()) == pytest.approx(float(mlm.loss_sum(mlm.call(mlm.model, x), y)))


def test_a_pilot_as_large_as_the_split_evaluates_all_the_data_once():
    exact = PointValues(1.0, math.nan, 0.0, math.nan, 5)

    def sample(start, stop):
        raise AssertionError("sampled although every row is needed")

    skewed = np.array([0.0] * 40 + [10.0])  # 25 G1^2 = 951 > 41 rows
    mean = UnitSample(np.ones(41), tolerance=0.1, pilot=10)
    mean.add_reference(skewed)
    assert mean.pilot == 41
    assert mean.estimate(sample, lambda: exact, with_correct=False) is exact
