"""The effective per-parameter step size of adaptive optimizers, and its percentiles per layer.

Adam, AdamW, RMSprop and Adagrad scale each entry's update by
``lr / (sqrt(v_hat) + eps)``, where ``v_hat`` is their second-moment state;
the spread of that factor over a layer shows how far the optimizer has
adapted its learning rate per parameter.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

__all__ = ["effective_step_size", "sample_positions", "step_size_percentiles"]


class _StepSizeTerms(NamedTuple):
    """The effective step size is ``lr / (sqrt(v / c) + eps)``, entry by entry."""

    v: Tensor
    lr: float
    eps: float
    c: float


def _step_size_terms(
    optimizer: torch.optim.Optimizer, param: Tensor, group: dict[str, Any] | None = None
) -> _StepSizeTerms | None:
    """The terms of ``param``'s effective step size, or ``None`` without adaptive state.

    ``group`` is ``param``'s parameter group (looked up when not given). A
    centered RMSprop state ``E[g^2] - E[g]^2`` that rounds below zero counts as zero.
    """
    state = optimizer.state.get(param)
    if not state:
        return None
    if group is None:
        group = next(g for g in optimizer.param_groups if any(q is param for q in g["params"]))
    lr, eps = float(group["lr"]), float(group.get("eps", 0.0))
    if isinstance(optimizer, (torch.optim.Adam, torch.optim.AdamW)):
        v = state["max_exp_avg_sq"] if group.get("amsgrad") else state["exp_avg_sq"]
        return _StepSizeTerms(v, lr, eps, 1.0 - group["betas"][1] ** float(state["step"]))
    if isinstance(optimizer, torch.optim.RMSprop):
        v = state["square_avg"]
        if group.get("centered"):
            v = (v - state["grad_avg"] ** 2).clamp(min=0)
        return _StepSizeTerms(v, lr, eps, 1.0)
    if isinstance(optimizer, torch.optim.Adagrad):
        t = float(state["step"])
        decayed = lr / (1.0 + (t - 1.0) * float(group["lr_decay"]))
        return _StepSizeTerms(state["sum"], decayed, eps, 1.0)
    return None


def effective_step_size(optimizer: torch.optim.Optimizer, param: Tensor) -> Tensor | None:
    """Per-entry effective step size ``lr / (sqrt(v) + eps)`` of an adaptive optimizer.

    ``v`` is the optimizer's second-moment state for ``param``: Adam/AdamW use
    the bias-corrected ``v_hat = v / (1 - beta2^t)`` (Kingma & Ba 2015; the
    AMSGrad maximum when enabled), RMSprop its running average of squared
    gradients (minus the squared mean when centered; Tieleman & Hinton 2012),
    Adagrad the sum of squared gradients with the decayed rate
    ``lr / (1 + (t - 1) * lr_decay)`` (Duchi et al. 2011). It is the factor that
    multiplies the (momentum of the) gradient in the update, so its spread
    shows how the optimizer adapts the learning rate per parameter.

    Returns:
        A tensor shaped like ``param``, or ``None`` for a non-adaptive optimizer
        or a parameter without state yet.

    >>> p = torch.nn.Parameter(torch.tensor([2.0]))
    >>> opt = torch.optim.Adam([p], lr=0.1, eps=0.0)
    >>> p.grad = torch.tensor([4.0]); opt.step()
    >>> effective_step_size(opt, p)  # lr / |g| after one step: v_hat = g^2
    tensor([0.0250])

    """
    terms = _step_size_terms(optimizer, param)
    if terms is None:
        return None
    return terms.lr / ((terms.v / terms.c).sqrt() + terms.eps)


def step_size_percentiles(
    optimizer: torch.optim.Optimizer,
    params: Sequence[Tensor],
    q: Sequence[float],
    *,
    sample: int | None = None,
) -> np.ndarray:
    """Quantiles ``q`` of :func:`effective_step_size` per parameter, without computing it per entry.

    The step size ``s(v) = lr / (sqrt(v / c) + eps)`` decreases in ``v``, so the
    k-th smallest step size is ``s`` of the k-th largest ``v``. One ``np.sort``
    of each parameter's optimizer state (or of a sample of it, gathered on its
    device) gives the needed order statistics; only those go through ``s``, in
    float64, and are interpolated as ``np.percentile`` does: the value at
    fraction ``q`` of ``n`` sorted values sits at ``h = (n - 1) q``,
    ``x[floor(h)] + (h - floor(h)) (x[floor(h) + 1] - x[floor(h)])`` (Hyndman &
    Fan 1996, definition 7, numpy's default). ``np.percentile`` of the step
    sizes gives the same values; it costs two to three times as much per
    epoch, its fixed cost per call repeated for every layer (BENCHMARKS.md).

    Args:
        optimizer: the optimizer.
        params: parameters it updates.
        q: fractions in [0, 1].
        sample: the quantiles of a parameter with more entries than this are
            those of ``sample`` entries drawn uniformly at random without
            replacement (:func:`sample_positions`: the same entries for the same
            size every time); the rank of a fraction ``q`` then has a standard
            error of ``sqrt(q (1 - q) / sample)`` (0.5 percentage points for
            ``q = 0.1`` and ``sample = 4096``). ``None``: every entry, exactly.

    Returns:
        Shape ``(len(q), len(params))``, float64; NaN for a parameter without
        adaptive state (a non-adaptive optimizer, no step yet, or no entries).

    >>> p = torch.nn.Parameter(torch.tensor([1.0, 1.0, 1.0]))
    >>> opt = torch.optim.Adam([p], lr=0.1, eps=0.0)
    >>> p.grad = torch.tensor([1.0, 2.0, 4.0]); opt.step()
    >>> step_size_percentiles(opt, [p], (0.0, 0.5, 1.0)).round(6).tolist()  # 0.1 / |g|
    [[0.025], [0.05], [0.1]]
    """
    k = len(q)
    # a row per parameter: lr, eps, c, the order statistics at floor(h) and floor(h) + 1
    # (counted from the largest), the weights h - floor(h); NaN without adaptive state
    rows = np.full((len(params), 3 + 3 * k), np.nan)
    groups = {id(p): g for g in optimizer.param_groups for p in g["params"]}
    for i, p in enumerate(params):
        terms = _step_size_terms(optimizer, p, groups.get(id(p)))
        if terms is None or p.numel() == 0:
            continue
        flat = terms.v.detach().reshape(-1)
        if flat.dtype == torch.bfloat16:  # numpy has no bfloat16
            flat = flat.float()
        if sample is not None and flat.numel() > sample:
            flat = flat[sample_positions(flat.numel(), sample, flat.device)]
        take, frac = _order_positions(flat.numel(), tuple(q))
        rows[i, :3] = terms.lr, terms.eps, terms.c
        rows[i, 3 : 3 + 2 * k] = np.sort(flat.cpu().numpy())[take]
        rows[i, 3 + 2 * k :] = frac
    # s(v) and the interpolation for every parameter at once
    lr, eps, c = rows[:, 0:1], rows[:, 1:2], rows[:, 2:3]
    steps = lr / (np.sqrt(rows[:, 3 : 3 + 2 * k] / c) + eps)
    low, high = steps[:, :k], steps[:, k:]
    return (low + rows[:, 3 + 2 * k :] * (high - low)).T


@functools.cache
def _order_positions(n: int, q: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Where :func:`step_size_percentiles` reads ``n`` sorted values: ``(take, frac)``.

    For each ``h = (n - 1) q``, ``take`` holds the positions of the
    ``floor(h)``-th and then the ``(floor(h) + 1)``-th largest value (capped at
    ``n - 1``), ``frac`` the weights ``h - floor(h)``. Pure in its arguments,
    so cached: a Recorder asks for the same few sizes every epoch.
    """
    h = (n - 1) * np.asarray(q, dtype=np.float64)
    lo = np.floor(h).astype(np.intp)
    return n - 1 - np.concatenate([lo, np.minimum(lo + 1, n - 1)]), h - lo


@functools.lru_cache(maxsize=256)
def sample_positions(n: int, k: int, device: torch.device) -> Tensor:
    """``k`` distinct sorted positions out of ``n``, uniformly at random, seeded with ``n``.

    The same layer gets the same positions every epoch, so its percentile
    series follows one set of entries. Cached: a Recorder asks for the same
    few sizes every epoch.

    >>> sample_positions(10, 3, torch.device("cpu")).tolist() == sorted(
    ...     np.random.default_rng(10).choice(10, 3, replace=False).tolist())
    True
    """
    positions = np.sort(np.random.default_rng(n).choice(n, k, replace=False))
    return torch.from_numpy(positions).to(device)
