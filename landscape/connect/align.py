"""Weight matching: permute ``B``'s hidden units to match ``A`` (Ainsworth et al. 2023).

For each permutation group ``g`` (see :mod:`landscape.connect.permutation`) with the other
groups' permutations held fixed, the best permutation solves the linear assignment problem

    P_g = argmax_P  sum_{W in g} < W_A, P W_B' >_F,

where ``W_B'`` is ``B``'s tensor with the other groups' current permutations applied and the
sum runs over every parameter axis the group moves ("Git Re-Basin", Algorithm 1). It is solved
with :func:`scipy.optimize.linear_sum_assignment`; the groups are visited in a seeded random
order, sweep after sweep, until no group improves.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from landscape.connect.permutation import AxisPermutation, PermutationSpec
from landscape.params import ParamDict

MAX_SWEEPS = 100


def permute_axis(t: Tensor, ax: AxisPermutation, perm: Tensor) -> Tensor:
    """``t`` with entry ``perm[i]`` of the permuted index moved to position ``i`` on ``ax``.

    >>> permute_axis(torch.arange(6.0).reshape(2, 3), AxisPermutation(0, 1), torch.tensor([2, 0, 1]))
    tensor([[2., 0., 1.],
            [5., 3., 4.]])
    """
    shape = t.shape
    blocks = t.reshape(*shape[: ax.axis], ax.outer, -1, ax.inner, *shape[ax.axis + 1 :])
    moved = blocks.index_select(ax.axis + 1, perm.to(t.device))
    return moved.reshape(shape)


def apply_permutations(
    spec: PermutationSpec, tensors: Mapping[str, Tensor], perms: list[np.ndarray]
) -> ParamDict:
    """Permute every axis that ``spec`` names in ``tensors`` (parameters or buffers).

    Tensors that no group moves are copied unchanged.
    """
    index = [torch.as_tensor(p, dtype=torch.long) for p in perms]
    out: ParamDict = {}
    for name, t in tensors.items():
        t = t.clone()
        for ax in spec.axes.get(name, ()):
            t = permute_axis(t, ax, index[ax.group])
        out[name] = t
    return out


def _unit_rows(t: Tensor, ax: AxisPermutation) -> np.ndarray:
    """``t`` as a ``(units, rest)`` float64 matrix, one row per unit of ``ax``'s group."""
    shape = t.shape
    blocks = t.reshape(*shape[: ax.axis], ax.outer, -1, ax.inner, *shape[ax.axis + 1 :])
    rows = blocks.movedim(ax.axis + 1, 0)
    return rows.reshape(rows.shape[0], -1).detach().double().cpu().numpy()


def weight_matching(
    spec: PermutationSpec,
    a: Mapping[str, Tensor],
    b: Mapping[str, Tensor],
    *,
    seed: int = 0,
    max_sweeps: int = MAX_SWEEPS,
) -> list[np.ndarray]:
    """Permutations of ``B``'s units, one per group, that match ``A``'s weights.

    Args:
        spec: the model's permutation groups.
        a: parameters of ``A`` by name (only parameters enter the matching).
        b: parameters of ``B``.
        seed: seed of the order in which groups are visited.
        max_sweeps: most sweeps over all groups.

    Returns:
        ``perms[g][i]``: the unit of ``B`` placed at position ``i`` of group ``g``; apply them
        with :func:`apply_permutations`.

    """
    perms = [np.arange(n) for n in spec.sizes]
    uses = {
        g: [
            (name, ax)
            for name, axes in spec.axes.items()
            if name in a
            for ax in axes
            if ax.group == g
        ]
        for g in range(len(spec.sizes))
    }
    rows_a = {(name, ax): _unit_rows(a[name], ax) for g in uses for name, ax in uses[g]}
    rng = np.random.default_rng(seed)
    for _ in range(max_sweeps):
        improved = False
        for g in rng.permutation(len(spec.sizes)):
            n = spec.sizes[g]
            cost = np.zeros((n, n))
            index = [torch.as_tensor(p, dtype=torch.long) for p in perms]
            for name, ax in uses[int(g)]:
                t = b[name]
                for other in spec.axes[name]:
                    if other != ax:
                        t = permute_axis(t, other, index[other.group])
                cost += rows_a[(name, ax)] @ _unit_rows(t, ax).T
            _, cols = linear_sum_assignment(cost, maximize=True)
            before = cost[np.arange(n), perms[g]].sum()
            after = cost[np.arange(n), cols].sum()
            if after > before + 1e-12 * max(1.0, abs(before)):
                perms[g] = cols
                improved = True
        if not improved:
            break
    return perms
