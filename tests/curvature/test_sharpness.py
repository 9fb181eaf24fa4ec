from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from landscape.curvature.sharpness import (
    adaptive_average_case_sharpness,
    adaptive_worst_case_sharpness,
    filter_normalized_width,
    keskar_sharpness,
    pac_bayes_sigma,
)
from landscape.data import Split
from landscape.directions import random_direction
from landscape.errors import LandscapeError
from landscape.objective import Objective

# L(w) = (1/N) sum_i (x_i . w - y_i)^2 with X = sqrt(N/2) diag(sqrt(h)) padded: H = diag(h) exactly.
H_DIAG = torch.tensor([4.0, 1.0], dtype=torch.float64)
W_STAR = torch.tensor([[1.5, -2.0]], dtype=torch.float64)


@pytest.fixture
def quadratic() -> tuple[Objective, dict[str, torch.Tensor]]:
    n = 2
    x = torch.diag((H_DIAG * n / 2).sqrt())
    y = (x @ W_STAR.T).reshape(n, 1)
    obj = Objective(nn.Linear(2, 1, bias=False).double(), Split(x, y), loss="mse")
    return obj, {"weight": W_STAR.clone()}


def test_keskar_equals_box_corner_maximum(quadratic: tuple) -> None:
    obj, params = quadratic
    eps = 1e-2
    bound = eps * (W_STAR.abs() + 1).reshape(-1)
    expected = 100 * float(0.5 * (H_DIAG * bound**2).sum())  # L(w*) = 0
    s = keskar_sharpness(obj, params, epsilon=eps, max_iter=20)
    assert s.value == pytest.approx(expected, rel=1e-6)
    assert s.settings == {"epsilon": eps, "max_iter": 20, "seed": 0} and "Keskar" in s.citation


def test_adaptive_worst_case_equals_scaled_top_curvature(quadratic: tuple) -> None:
    obj, params = quadratic
    rho = 0.05
    c2 = W_STAR.reshape(-1) ** 2
    expected = 0.5 * rho**2 * float((H_DIAG * c2).max())
    s = adaptive_worst_case_sharpness(obj, params, rho=rho, steps=50)
    assert s.value == pytest.approx(expected, rel=1e-3)
    assert s.value <= expected * (1 + 1e-9)


def test_adaptive_average_case_equals_half_scaled_trace(quadratic: tuple) -> None:
    obj, params = quadratic
    rho = 0.05
    expected = 0.5 * rho**2 * float((H_DIAG * W_STAR.reshape(-1) ** 2).sum())
    s = adaptive_average_case_sharpness(obj, params, rho=rho, num_samples=400, seed=1)
    assert abs(s.value - expected) <= 3 * s.std_error


def test_pac_bayes_sigma_matches_quadratic_closed_form(quadratic: tuple) -> None:
    obj, params = quadratic
    target = 0.02
    expected = math.sqrt(2 * target / float(H_DIAG.sum()))  # E[L(w* + u)] = σ² tr(H) / 2
    options = dict(
        target=target, metric="loss", magnitude_aware=False, num_samples=100, iterations=25
    )
    s = pac_bayes_sigma(obj, params, **options)
    assert s.value == pytest.approx(expected, rel=0.2)
    sharper = Objective(obj.model, Split(obj.split.x * 2, obj.split.y * 2), loss="mse")
    s2 = pac_bayes_sigma(sharper, params, **options)
    assert s2.value == pytest.approx(s.value / 2, rel=1e-6)  # same draws, H four times larger
    with pytest.raises(LandscapeError, match="metric 'error' needs a classification objective"):
        pac_bayes_sigma(obj, params, metric="error")


def test_filter_width_equals_quadratic_root_distance(quadratic: tuple) -> None:
    obj, params = quadratic
    d = random_direction(params, seed=3, norm="filter")["weight"].reshape(-1)
    curvature = float((H_DIAG * d**2).sum())
    increase = 0.3
    expected = 2 * math.sqrt(2 * increase / curvature)
    s = filter_normalized_width(obj, params, increase=increase, radius=2.0, num_points=41, seed=3)
    assert s.value == pytest.approx(expected, rel=1e-5)
    flat = filter_normalized_width(obj, params, increase=100.0, radius=0.5, seed=3)
    assert flat.value == pytest.approx(1.0)  # never reaches the increase: 2 * radius


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda o, p: keskar_sharpness(o, p, epsilon=0.0), "expected epsilon > 0"),
        (lambda o, p: adaptive_worst_case_sharpness(o, p, rho=-1.0), "expected rho > 0"),
        (lambda o, p: adaptive_average_case_sharpness(o, p, num_samples=1), "num_samples >= 2"),
        (
            lambda o, p: pac_bayes_sigma(o, p, metric="accuracy"),
            "metric should be one of loss, error",
        ),
        (lambda o, p: filter_normalized_width(o, p, num_points=2), "num_points >= 3"),
    ],
)
def test_bad_settings(quadratic: tuple, call, match: str) -> None:
    with pytest.raises(LandscapeError, match=match):
        call(*quadratic)
