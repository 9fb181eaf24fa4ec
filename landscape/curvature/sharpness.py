"""Sharpness measures of a minimum, each with its formula, citation and settings.

Every function returns a :class:`Sharpness` record holding the value, a
standard error where the measure is stochastic, and the exact settings, so
stored numbers can always be traced back to how they were made. Losses are
full-data means over the objective's fixed batches.
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import numpy as np
import torch
from scipy.optimize import Bounds, brentq, minimize

from landscape.curvature.hvp import loss_and_gradient
from landscape.curvature.lanczos import random_unit
from landscape.errors import LandscapeError
from landscape.objective import Objective
from landscape.params import ParamDict, combine, flatten, unflatten
from landscape.records import Sharpness

Metric = Literal["loss", "error"]
METRICS: tuple[str, ...] = get_args(Metric)


def _metric(objective: Objective, params: ParamDict, metric: Metric) -> float:
    loss, acc = objective.evaluate(params)
    if metric == "error":
        if not objective.has_accuracy:
            raise LandscapeError(
                "sharpness: metric 'error' needs a classification objective; use metric 'loss'"
            )
        return 1.0 - acc
    return loss


def keskar_sharpness(
    objective: Objective,
    params: ParamDict,
    *,
    epsilon: float = 1e-3,
    max_iter: int = 10,
    seed: int = 0,
) -> Sharpness:
    """ε-sharpness of Keskar et al. 2017 ("On Large-Batch Training", Eq. 4, with ``A = I``).

    ``φ(w, ε) = 100 (max_{δ ∈ C_ε} L(w + δ) - L(w)) / (1 + L(w))`` over the
    box ``C_ε = {δ : |δ_i| <= ε (|w_i| + 1)}``; the maximum is approached, as in
    the paper, by L-BFGS-B for ``max_iter`` iterations, started from a seeded
    uniform point of the half-size box (at an exact minimum ``δ = 0`` is a
    stationary point the ascent would never leave).

    >>> from landscape.data import Split
    >>> data = Split(torch.ones(1, 1), torch.zeros(1, 1))
    >>> obj = Objective(torch.nn.Linear(1, 1, bias=False), data, loss="mse")
    >>> # L = w^2 at w = 0: the box is |δ| <= ε, so the maximum is ε^2.
    >>> round(keskar_sharpness(obj, {"weight": torch.zeros(1, 1)}, epsilon=0.1).value, 5)
    1.0
    """
    if not epsilon > 0 or max_iter < 1:
        raise LandscapeError(
            f"keskar sharpness: expected epsilon > 0 and max_iter >= 1 (got {epsilon}, {max_iter})"
        )
    base = _metric(objective, params, "loss")
    w = flatten(params).double().cpu().numpy()
    bound = epsilon * (np.abs(w) + 1.0)
    best = [base]

    def negative(delta: np.ndarray) -> tuple[float, np.ndarray]:
        point = _shifted(params, delta)
        loss, g = loss_and_gradient(objective, point)
        best[0] = max(best[0], loss)
        return -loss, -flatten(g).double().cpu().numpy()

    start = np.random.default_rng(seed).uniform(-0.5, 0.5, size=w.shape) * bound
    minimize(
        negative,
        start,
        jac=True,
        method="L-BFGS-B",
        bounds=Bounds(-bound, bound),
        options={"maxiter": max_iter},
    )
    value = 100.0 * (best[0] - base) / (1.0 + base)
    return Sharpness(
        "keskar",
        value,
        settings={"epsilon": epsilon, "max_iter": max_iter, "seed": seed},
        citation="Keskar et al. 2017, Eq. 4",
    )


def adaptive_worst_case_sharpness(
    objective: Objective, params: ParamDict, *, rho: float = 0.1, steps: int = 20, seed: int = 0
) -> Sharpness:
    """Adaptive worst-case sharpness (Kwon et al. 2021, ASAM; Andriushchenko et al. 2023, Eq. 2).

    ``S_max(w) = max_{||δ / c||_2 <= ρ} L(w + δ) - L(w)`` with the elementwise
    scale ``c = |w|``, which makes it invariant to rescaling the layers of a
    ReLU network. Maximized by projected normalized gradient ascent on
    ``u = δ / c`` (gradient ``c ⊙ ∇L(w + c ⊙ u)``) from a seeded point of norm
    ``ρ/1000`` (at an exact minimum ``u = 0`` is stationary): the first step
    is essentially the SAM solution ``u = ρ ĝ``, later steps shrink as
    ``ρ / sqrt(t + 1)``; the best value seen is returned.

    >>> from landscape.data import Split
    >>> data = Split(torch.ones(1, 1), torch.zeros(1, 1))
    >>> obj = Objective(torch.nn.Linear(1, 1, bias=False), data, loss="mse")
    >>> # L = w^2 at w = 1: δ in [-ρ, ρ], worst is (1 + ρ)^2 - 1.
    >>> round(adaptive_worst_case_sharpness(obj, {"weight": torch.ones(1, 1)}, rho=0.5).value, 6)
    1.25
    """
    if not rho > 0 or steps < 1:
        raise LandscapeError(
            f"adaptive sharpness: expected rho > 0 and steps >= 1 (got {rho}, {steps})"
        )
    base = _metric(objective, params, "loss")
    c = flatten(params).double().abs()
    u = 1e-3 * rho * random_unit(c.numel(), seed=seed, device=c.device)
    best = base
    for t in range(steps):
        loss, g = loss_and_gradient(objective, _shifted(params, (c * u).cpu().numpy()))
        best = max(best, loss)
        gu = c * flatten(g).double()
        if float(gu.norm()) == 0.0:
            break
        u = u + rho / math.sqrt(t + 1) * gu / gu.norm()
        u = u * min(1.0, rho / max(float(u.norm()), 1e-300))
    best = max(best, _metric(objective, _shifted(params, (c * u).cpu().numpy()), "loss"))
    return Sharpness(
        "adaptive_worst",
        best - base,
        settings={"rho": rho, "steps": steps, "seed": seed, "p": 2, "scale": "|w|"},
        citation="Kwon et al. 2021; Andriushchenko et al. 2023",
    )


def adaptive_average_case_sharpness(
    objective: Objective,
    params: ParamDict,
    *,
    rho: float = 0.1,
    num_samples: int = 20,
    seed: int = 0,
) -> Sharpness:
    """Adaptive average-case sharpness (Andriushchenko et al. 2023, Eq. 3).

    ``S_avg(w) = E_{δ ~ N(0, ρ² diag(c²))} L(w + δ) - L(w)`` with ``c = |w|``,
    by Monte Carlo over ``num_samples`` seeded draws (standard error reported).
    For a quadratic it equals ``(ρ²/2) sum_i c_i² H_ii``.

    >>> from landscape.data import Split
    >>> data = Split(torch.ones(1, 1), torch.zeros(1, 1))
    >>> obj = Objective(torch.nn.Linear(1, 1, bias=False), data, loss="mse")
    >>> w = {"weight": torch.ones(1, 1)}
    >>> s = adaptive_average_case_sharpness(obj, w, rho=0.1, num_samples=1000)
    >>> abs(s.value - 0.01) < 3 * s.std_error   # E[(1 + δ)^2] - 1 = ρ^2
    True
    """
    if not rho > 0 or num_samples < 2:
        raise LandscapeError(
            f"adaptive sharpness: expected rho > 0 and num_samples >= 2 (got {rho}, {num_samples})"
        )
    base = _metric(objective, params, "loss")
    c = flatten(params).double().abs().cpu()
    gen = torch.Generator().manual_seed(seed)
    values = np.array(
        [
            _metric(
                objective,
                _shifted(
                    params,
                    (rho * c * torch.randn(c.shape, generator=gen, dtype=torch.float64)).numpy(),
                ),
                "loss",
            )
            - base
            for _ in range(num_samples)
        ]
    )
    return Sharpness(
        "adaptive_average",
        float(values.mean()),
        float(values.std(ddof=1) / math.sqrt(num_samples)),
        settings={"rho": rho, "num_samples": num_samples, "seed": seed, "scale": "|w|"},
        citation="Andriushchenko et al. 2023",
    )


def pac_bayes_sigma(
    objective: Objective,
    params: ParamDict,
    *,
    target: float = 0.1,
    metric: Metric = "error",
    magnitude_aware: bool = True,
    eps: float = 1e-3,
    num_samples: int = 10,
    iterations: int = 20,
    seed: int = 0,
) -> Sharpness:
    """PAC-Bayes flatness: the largest noise scale σ′ the minimum tolerates (Jiang et al. 2019).

    From "Fantastic Generalization Measures and Where to Find Them" (Sec. 7,
    App. C): σ′ is the largest σ with ``E_u[M(w + u)] - M(w) <= target`` where
    ``M`` is the training error (or loss) and ``u_i ~ N(0, σ² w_i² + ε²)``
    (magnitude-aware) or ``N(0, σ²)``. Found by bisection on ``log σ`` with
    the same ``num_samples`` seeded draws at every σ (common random numbers, so
    the deviation is a smooth function of σ). The generalization measure is
    ``1/σ′²``; a flatter minimum has a larger σ′.

    >>> from landscape.data import Split
    >>> data = Split(torch.ones(1, 1), torch.zeros(1, 1))
    >>> obj = Objective(torch.nn.Linear(1, 1, bias=False), data, loss="mse")
    >>> # L = w^2 at w = 0, plain noise: E[u^2] = σ^2 reaches 0.04 at σ = 0.2.
    >>> s = pac_bayes_sigma(obj, {"weight": torch.zeros(1, 1)}, target=0.04,
    ...                     metric="loss", magnitude_aware=False, num_samples=400, iterations=30)
    >>> 0.18 < s.value < 0.22
    True
    """
    if metric not in METRICS:
        raise LandscapeError(
            f"pac-bayes: metric should be one of {', '.join(METRICS)} (got {metric!r})"
        )
    if not target > 0 or num_samples < 1 or iterations < 1:
        raise LandscapeError(
            "pac-bayes: expected target > 0, num_samples >= 1, iterations >= 1 "
            f"(got {target}, {num_samples}, {iterations})"
        )
    base = _metric(objective, params, metric)
    w = flatten(params).double().cpu()
    gen = torch.Generator().manual_seed(seed)
    noise = [torch.randn(w.shape, generator=gen, dtype=torch.float64) for _ in range(num_samples)]

    def deviation(sigma: float) -> float:
        std = torch.sqrt(sigma**2 * w**2 + eps**2) if magnitude_aware else torch.full_like(w, sigma)
        return (
            float(
                np.mean(
                    [_metric(objective, _shifted(params, (std * z).numpy()), metric) for z in noise]
                )
            )
            - base
        )

    lo, hi = 0.0, 1.0
    while deviation(hi) <= target:
        lo, hi = hi, hi * 2.0
        if hi > 1e6:
            break
    for _ in range(iterations):
        mid = math.sqrt(lo * hi) if lo > 0 else hi / 2.0
        if mid < 1e-12:
            break
        lo, hi = (mid, hi) if deviation(mid) <= target else (lo, mid)
    return Sharpness(
        "pac_bayes_sigma",
        lo,
        settings={
            "target": target,
            "metric": metric,
            "magnitude_aware": magnitude_aware,
            "eps": eps,
            "num_samples": num_samples,
            "iterations": iterations,
            "seed": seed,
        },
        citation="Jiang et al. 2019, Sec. 7 and App. C",
    )


def filter_normalized_width(
    objective: Objective,
    params: ParamDict,
    *,
    increase: float = 0.1,
    radius: float = 1.0,
    num_points: int = 21,
    num_directions: int = 1,
    seed: int = 0,
) -> Sharpness:
    """Width of the filter-normalized 1D loss curve at a loss increase (after Li et al. 2018).

    Along a Gaussian direction ``d`` normalized filter by filter to the weights
    (Li et al. 2018, Sec. 4; biases zeroed), the width is ``α₊ - α₋`` where
    ``α₋ < 0 < α₊`` are the nearest points with ``L(w + α d) = L(w) + increase``
    (found on a grid of ``num_points`` over ``[-radius, radius]`` and refined by
    Brent's method). A side that never reaches the increase counts as
    ``radius``. The value is the mean over ``num_directions`` directions
    (seeds ``seed, seed+1, ...``); a *narrower* basin is sharper.

    >>> from landscape.data import Split
    >>> data = Split(torch.ones(1, 1), torch.zeros(1, 1))
    >>> obj = Objective(torch.nn.Linear(1, 1, bias=False), data, loss="mse")
    >>> # L = w^2 at w = 1, d = ±1: L reaches 1.21 at α = 0.1 and α = -2.1 (outside: 1)
    >>> round(filter_normalized_width(obj, {"weight": torch.ones(1, 1)}, increase=0.21).value, 4)
    1.1
    """
    from landscape.directions import random_direction

    if not increase > 0 or not radius > 0 or num_points < 3 or num_directions < 1:
        raise LandscapeError(
            "filter width: expected increase > 0, radius > 0, num_points >= 3, num_directions >= 1 "
            f"(got {increase}, {radius}, {num_points}, {num_directions})"
        )
    base = _metric(objective, params, "loss")
    alphas = np.linspace(-radius, radius, num_points)
    widths = []
    for i in range(num_directions):
        d = random_direction(params, seed=seed + i, norm="filter")

        def excess(a: float, d: ParamDict = d) -> float:
            return _metric(objective, combine(params, [(a, d)]), "loss") - base - increase

        values = np.array([excess(a) for a in alphas])
        center = int(np.argmin(np.abs(alphas)))
        right, left = radius, -radius
        for j in range(center, num_points - 1):
            if values[j + 1] >= 0 > values[j]:
                right = brentq(excess, alphas[j], alphas[j + 1], xtol=1e-6 * radius)
                break
        for j in range(center, 0, -1):
            if values[j - 1] >= 0 > values[j]:
                left = brentq(excess, alphas[j - 1], alphas[j], xtol=1e-6 * radius)
                break
        widths.append(right - left)
    return Sharpness(
        "filter_width",
        float(np.mean(widths)),
        float(np.std(widths, ddof=1) / math.sqrt(len(widths))) if len(widths) > 1 else float("nan"),
        settings={
            "increase": increase,
            "radius": radius,
            "num_points": num_points,
            "num_directions": num_directions,
            "seed": seed,
            "norm": "filter",
        },
        citation="Li et al. 2018, Sec. 4 (filter normalization)",
    )


def _shifted(params: ParamDict, delta: np.ndarray) -> ParamDict:
    ref = next(iter(params.values()))
    step = unflatten(torch.from_numpy(np.asarray(delta)).to(ref.device), params)
    return {k: v + step[k].to(v.dtype) for k, v in params.items()}
