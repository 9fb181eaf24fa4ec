"""Per-epoch statistics: weight norms on the device, then the ``epoch`` table's columns.

Per epoch ``e`` and layer ``l`` (``T_e`` its steps, ``S_e`` the sampled ones):

- mean step loss: ``mean_{t in T_e} loss_t``;
- gradient norm: ``sqrt(mean_{t in S_e} ||g_t^l||^2)`` per layer (root mean
  square), ``sqrt(mean_{t in S_e} sum_l ||g_t^l||^2)`` over all layers;
- update ratio: ``||w_e^l - w_{e-1}^l|| / ||w_{e-1}^l||`` (NaN at epoch 0);
- distance from initialization: ``||theta_e - theta_0||`` over all layers;
- effective step-size percentiles (:mod:`landscape.dynamics.step_sizes`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from landscape.dynamics.step_records import EpochRecord, StepSums

STEP_SIZE_QUANTILES = (0.1, 0.5, 0.9)
"""The effective step-size quantiles recorded per layer (``eff_step_p10/p50/p90``)."""


def weight_norms(
    current: Sequence[Tensor], previous: Sequence[Tensor], init: Sequence[Tensor]
) -> Tensor:
    """``||w||``, ``||w - w_prev||``, ``||w_prev||`` and ``||w - w_0||`` per layer, on the device.

    Args:
        current: the layers' weights now.
        previous: at the end of the previous epoch.
        init: at initialization.

    Returns:
        The four blocks of ``len(current)`` norms, concatenated (no host copy).

    >>> w, w_prev, w_0 = [torch.tensor([3.0, 4.0])], [torch.tensor([3.0, 0.0])], [torch.zeros(2)]
    >>> weight_norms(w, w_prev, w_0).tolist()
    [5.0, 4.0, 3.0, 5.0]
    """
    with torch.no_grad():
        delta = [w - p for w, p in zip(current, previous, strict=True)]
        moved = [w - w0 for w, w0 in zip(current, init, strict=True)]
        return torch.stack(
            [torch.linalg.vector_norm(t) for t in (*current, *delta, *previous, *moved)]
        )


def epoch_columns(
    records: Sequence[EpochRecord], sums: Mapping[int, StepSums], layers: int
) -> dict[str, np.ndarray]:
    """The ``epoch`` table's columns for ``records`` (tensors copied to the host in one batch).

    Args:
        records: the epochs to write.
        sums: each epoch's step sums (an epoch without steps may be missing).
        layers: the number of layers ``L``.

    Returns:
        The columns of README's ``epoch/`` table, ``(E,)`` or ``(E, L)``; NaN
        where an epoch has no (sampled) steps.
    """
    n = len(records)
    weight, delta, before, moved = (
        torch.stack([r.weight_norms for r in records])
        .double()
        .cpu()
        .numpy()
        .reshape(n, 4, layers)
        .transpose(1, 0, 2)
    )
    none = StepSums(0.0, 0, np.zeros(layers), 0)
    steps = [sums.get(r.epoch, none) for r in records]
    sampled = np.array([s.sampled for s in steps], dtype=np.float64)
    grad_sq = np.stack([s.grad_sq for s in steps])
    epoch = np.array([r.epoch for r in records], dtype=np.int64)
    # 0 / 0: an epoch without (sampled) steps, or a zero-initialized tensor
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_loss = np.array([s.loss for s in steps]) / np.array([s.steps for s in steps])
        layer_grad = np.sqrt(grad_sq / sampled[:, None])
        grad_norm = np.sqrt(grad_sq.sum(1) / sampled)
        ratio = np.where((epoch > 0)[:, None], delta / before, np.nan)
    step_size = np.stack([r.step_size for r in records])
    train = np.array([r.train for r in records], dtype=np.float64).reshape(n, 2)
    val = np.array([r.val for r in records], dtype=np.float64).reshape(n, 2)
    return {
        "epoch": epoch,
        "step": np.array([r.step for r in records], dtype=np.int64),
        "lr": np.array([r.lr for r in records], dtype=np.float64),
        "train_loss": train[:, 0],
        "train_acc": train[:, 1],
        "val_loss": val[:, 0],
        "val_acc": val[:, 1],
        "mean_step_loss": mean_loss,
        "grad_norm": grad_norm,
        "distance_from_init": np.sqrt(np.square(moved).sum(1)),
        "layer_grad_norm": layer_grad,
        "weight_norm": weight,
        "update_ratio": ratio,
        "eff_step_p10": step_size[:, 0],
        "eff_step_p50": step_size[:, 1],
        "eff_step_p90": step_size[:, 2],
    }
