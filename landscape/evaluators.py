"""Evaluate the loss (and accuracy) at many points ``origin + a d0 + b d1``.

Two strategies, chosen per device by measurement (see
:func:`landscape.engine.compute_surface`):

* :class:`PointEvaluator`, one point per pass: writes the point's weights into
  a private copy of the model whose parameters are views of one flat buffer
  (:class:`FlatWeights`: one fused op per direction; the copy shares that buffer
  instead of copying the weights, and the splits' evaluators can share one
  :class:`FlatWeights`), calls the module
  directly, and keeps each batch's arg-max predictions in a preallocated buffer
  (one op per batch, compared with the labels once per point), so the per-point
  overhead over a plain forward pass is a few tensor ops (no
  ``functional_call``, no ``.item()`` per batch).
* :class:`StackedEvaluator`, several points per pass: ``torch.func.vmap`` over
  stacked weights through ``functional_call``, which pays off on GPUs.

Both accumulate in float64 on the device and synchronize once per point (or
chunk).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import vmap

from landscape.data import Inputs, Split
from landscape.objective import Objective
from landscape.params import ParamDict, to_device

BNMode = Literal["eval", "recompute"]
ALIGN_BYTES = 64
"""Each parameter's view in :class:`FlatWeights` starts on a 64-byte (cache line, AVX-512) boundary."""


class PointEvaluator:
    """One point per forward pass, weights written into a private model copy.

    Args:
        objective: loss, data and the model (its private copy is copied again, all but
            the weights: the copy's parameters are views of the point, see
            :meth:`FlatWeights.model_copy`).
        origin: the reference point.
        directions: one or two directions.
        bn: ``eval`` keeps the checkpoint's BatchNorm statistics; ``recompute``
            re-estimates them at every point on the first ``bn_samples`` rows of
            ``bn_data`` (cumulative average, as in mode-connectivity studies), on a
            copy of the buffers.
        bn_samples: rows used to re-estimate BatchNorm statistics.
        bn_data: the data that re-estimates them: the training split, whichever
            split is scored (defaults to the scored split).
        buffer_directions: with ``bn="eval"``, one direction of the floating-point buffers
            per weight direction: the point ``origin + sum_i c_i d_i`` then uses the buffers
            ``objective.buffers + sum_i c_i b_i``, so that along a line or plane through
            checkpoints each checkpoint scores with its own BatchNorm statistics. ``None``
            keeps the objective's buffers at every point.
        weights: the flat point buffers to write into, shared with other evaluators of
            the same model, origin and directions (one split each); ``None`` builds them
            from ``origin`` and ``directions``.

    """

    def __init__(
        self,
        objective: Objective,
        origin: ParamDict,
        directions: Sequence[ParamDict],
        *,
        bn: BNMode = "eval",
        bn_samples: int = 1000,
        bn_data: Split | None = None,
        buffer_directions: Sequence[ParamDict] | None = None,
        weights: FlatWeights | None = None,
    ):
        self.objective = objective
        self.weights = (
            FlatWeights(dict(objective.model.named_parameters()), origin, directions)
            if weights is None
            else weights
        )
        self.model = self.weights.model_copy(objective.model).eval()
        for name, buf in self.model.named_buffers():
            if name in objective.buffers:
                buf.copy_(objective.buffers[name])
        self.buffers = (
            InterpolatedBuffers(
                dict(self.model.named_buffers()), objective.buffers, buffer_directions
            )
            if buffer_directions is not None
            else None
        )
        self.bn = bn
        self.bn_modules = [
            m for m in self.model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
        ]
        for m in self.bn_modules:
            m.momentum = None
        self.bn_data = (objective.split if bn_data is None else bn_data).take(slice(0, bn_samples))
        self._pred = self._prediction_buffer()

    def _prediction_buffer(self) -> Tensor | None:
        """Room for every row's arg-max prediction, or ``None`` without accuracy or class axis."""
        obj = self.objective
        if not obj.output_shape:  # None (no accuracy) or () (no class axis)
            return None
        shape = (obj.num_samples, *obj.output_shape[:-1])
        return torch.empty(shape, dtype=torch.int64, device=obj.device)

    @torch.inference_mode()
    def __call__(self, coords: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(loss, acc)`` arrays for ``coords`` of shape ``(P, ndim)``."""
        obj = self.objective
        losses = torch.zeros(len(coords), dtype=torch.float64, device=obj.device)
        correct = torch.zeros(len(coords), dtype=torch.int64, device=obj.device)
        for i, point in enumerate(coords):
            self.set_point(point)
            self._accumulate(losses[i], correct[i])
        acc = (
            correct.double() / obj.num_samples
            if obj.has_accuracy
            else torch.full_like(losses, float("nan"))
        )
        return (losses / obj.num_samples).cpu().numpy(), acc.cpu().numpy()

    def set_point(self, point: np.ndarray) -> None:
        """Write the point's weights (and buffers) into the private model."""
        self.weights.set(point)
        if self.buffers is not None:
            self.buffers.set(point)
        if self.bn == "recompute" and self.bn_modules:
            self._recompute_bn()

    def _recompute_bn(self) -> None:
        for m in self.bn_modules:
            m.reset_running_stats()
        self.model.train()
        for x, _ in self.bn_data.batches(self.objective.batch_size):
            self.objective.call(self.model, x)
        self.model.eval()

    def _accumulate(self, loss: Tensor, correct: Tensor) -> None:
        """Add the summed loss and the number of correct rows at the current weights, in place."""
        obj = self.objective
        row = 0
        for x, y in obj.batches():
            out = obj.call(self.model, x)
            loss += obj.loss_sum(out, y)
            if self._pred is not None:
                torch.argmax(out, dim=-1, out=self._pred[row : row + len(y)])
            elif obj.has_accuracy:
                correct += obj.num_correct(out, y)
            row += len(y)
        if self._pred is not None:
            correct += (self._pred == obj.split.y).sum()


class InterpolatedBuffers:
    """Floating-point buffers written per point as ``base + sum_i c_i b_i``.

    Integer buffers (BatchNorm's ``num_batches_tracked``) keep their base value.

    Example:
        >>> bn = nn.BatchNorm1d(2)
        >>> base = {k: v.clone() for k, v in bn.named_buffers()}
        >>> step = {"running_mean": torch.ones(2), "running_var": torch.ones(2)}
        >>> InterpolatedBuffers(dict(bn.named_buffers()), base, [step]).set(np.array([0.5]))
        >>> bn.running_mean.tolist(), bn.running_var.tolist()
        ([0.5, 0.5], [1.5, 1.5])
    """

    def __init__(
        self, buffers: dict[str, Tensor], base: ParamDict, directions: Sequence[ParamDict]
    ):
        self.targets = {k: b for k, b in buffers.items() if b.is_floating_point() and k in base}
        self.base = {k: base[k].to(b.device, b.dtype) for k, b in self.targets.items()}
        self.directions = [
            {k: d[k].to(b.device, b.dtype) for k, b in self.targets.items() if k in d}
            for d in directions
        ]

    def set(self, point: np.ndarray) -> None:
        """Write ``base + sum_i point[i] b_i`` into the buffers."""
        for k, buf in self.targets.items():
            buf.copy_(self.base[k])
            for c, d in zip(point, self.directions, strict=False):
                if k in d:
                    buf.add_(d[k], alpha=float(c))


class FlatWeights:
    """A point's parameters in one flat buffer per dtype, written by one op per direction.

    Writing the point ``origin + sum_i c_i d_i`` costs one fused ``torch.add``
    per direction on the flat buffer, whatever the number of parameter tensors
    (a loop over the tensors costs a few microseconds per tensor and direction).
    Each parameter starts at a multiple of :data:`ALIGN_BYTES`, as freshly
    allocated tensors do, so that vectorized kernels see the alignment they
    would otherwise. The flat origin and directions live on the parameters'
    device; an origin or direction whose tensors already are views of one such
    buffer (as ``share`` leaves them) is used as it is, not copied.

    Memory: the point, the origin and each direction, one model's parameters
    each; :meth:`model_copy` gives models whose parameters are views of the
    point (no copy of the weights), so evaluators of several data splits share
    one :class:`FlatWeights`.

    Args:
        params: the model's parameters by name, without duplicates (as
            ``named_parameters()`` gives them): their shapes, dtypes and devices
            lay out the buffers (the parameters themselves are left as they are).
        origin: the reference point.
        directions: one or two directions.
        share: point the tensors of ``origin`` and ``directions`` (the caller's dicts)
            at the flat buffers as each is laid out, same values: their own storage is
            freed unless held elsewhere, so at most one extra copy is alive while the
            buffers are built.
        holders: model copies laid out like ``params`` whose parameters become views
            of the flat origin as soon as it exists (see :func:`use_as_parameters`),
            before the flat directions and the point are made.

    Example:
        >>> lin = nn.Linear(2, 1)
        >>> origin = {"weight": torch.ones(1, 2), "bias": torch.zeros(1)}
        >>> w = FlatWeights(dict(lin.named_parameters()), origin, [{"weight": torch.ones(1, 2),
        ...     "bias": torch.ones(1)}])
        >>> point = w.model_copy(lin)
        >>> w.set(np.array([0.5]))
        >>> point.weight.tolist(), point.bias.tolist()
        ([[1.5, 1.5]], [0.5])

    """

    def __init__(
        self,
        params: dict[str, nn.Parameter],
        origin: ParamDict,
        directions: Sequence[ParamDict],
        *,
        share: bool = False,
        holders: Sequence[nn.Module] = (),
    ):
        groups: dict[tuple[torch.dtype, torch.device], list[str]] = {}
        for name, p in params.items():
            groups.setdefault((p.dtype, p.device), []).append(name)
        self.shapes = {name: p.shape for name, p in params.items()}
        self.offsets: dict[str, int] = {}
        self.groups: list[tuple[Tensor, Tensor, list[Tensor]]] = []
        self._group_of: dict[str, int] = {}
        for (dtype, device), names in groups.items():
            align = max(1, ALIGN_BYTES // dtype.itemsize)
            offsets, end = {}, 0
            for k in names:
                offsets[k] = end
                self._group_of[k] = len(self.groups)
                end += -(-params[k].numel() // align) * align
            self.offsets.update(offsets)
            flat_origin = _flatten(origin, offsets, end, dtype, device)
            for model in holders:
                use_as_parameters(model, {k: self._view(flat_origin, k) for k in names})
            if share:
                self._point_at(origin, flat_origin, names)
            flat_directions = []
            for d in directions:
                flat_directions.append(_flatten(d, offsets, end, dtype, device))
                if share:
                    self._point_at(d, flat_directions[-1], names)
            self.groups.append((flat_origin.clone(), flat_origin, flat_directions))

    def _view(self, flat: Tensor, name: str) -> Tensor:
        start = self.offsets[name]
        shape = self.shapes[name]
        return flat[start : start + shape.numel()].view(shape)

    def model_copy(self, model: nn.Module) -> nn.Module:
        """A deep copy of ``model`` whose parameters are views of the point (weights not copied).

        Buffers and everything else are copied; :meth:`set` moves every such copy.
        """
        memo: dict[int, Any] = {}
        for name, p in model.named_parameters():
            view = self._view(self.groups[self._group_of[name]][0], name)
            memo[id(p)] = nn.Parameter(view, requires_grad=p.requires_grad)
        return copy.deepcopy(model, memo)

    def _point_at(self, d: ParamDict, flat: Tensor, names: Sequence[str]) -> None:
        """Replace ``d``'s entries of ``names`` by views of ``flat`` where dtype and device match.

        Their own storage is then freed unless held elsewhere, and evaluators built
        from ``d`` afterwards (another split's, a :class:`StackedEvaluator`) use ``flat``
        instead of a copy (see :func:`_flatten`).
        """
        for name in names:
            if d[name].dtype == flat.dtype and d[name].device == flat.device:
                d[name] = self._view(flat, name)

    def set(self, point: np.ndarray) -> None:
        """Write ``origin + sum_i point[i] d_i`` into the parameters."""
        for buffer, origin, directions in self.groups:
            torch.add(origin, directions[0], alpha=float(point[0]), out=buffer)
            for c, d in zip(point[1:], directions[1:], strict=True):
                buffer.add_(d, alpha=float(c))


def use_as_parameters(model: nn.Module, tensors: ParamDict) -> None:
    """Make ``model``'s parameters share the storage of ``tensors`` of the same shape and dtype.

    For a private model copy whose parameters are only the structure that the
    point's weights are written into (an :class:`~landscape.objective.Objective`'s):
    its own storage is then freed. Parameters without such a tensor keep theirs.
    """
    for name, p in model.named_parameters():
        t = tensors.get(name)
        if t is not None and (t.shape, t.dtype, t.device) == (p.shape, p.dtype, p.device):
            p.data = t


def _flatten(
    d: ParamDict, offsets: dict[str, int], size: int, dtype: torch.dtype, device: torch.device
) -> Tensor:
    """``d``'s tensors laid out at ``offsets`` in one zero-padded buffer of ``size`` entries.

    When they already are views of one buffer of ``size`` entries at those offsets (as
    :class:`FlatWeights` leaves them with ``share``), that buffer is returned, not copied.
    """
    shared = _shared_buffer(d, offsets, size, dtype, device)
    if shared is not None:
        return shared
    flat = torch.zeros(size, dtype=dtype, device=device)
    for k, start in offsets.items():
        flat[start : start + d[k].numel()] = d[k].reshape(-1)
    return flat


def _shared_buffer(
    d: ParamDict, offsets: dict[str, int], size: int, dtype: torch.dtype, device: torch.device
) -> Tensor | None:
    """The one flat buffer of ``size`` entries whose views at ``offsets`` ``d``'s tensors are."""
    storage = None
    for k, start in offsets.items():
        t = d[k]
        if t.dtype != dtype or t.device != device or not t.is_contiguous():
            return None
        if t.storage_offset() != start:
            return None
        if storage is None:
            storage = t.untyped_storage()
            if storage.nbytes() != size * dtype.itemsize:
                return None
        elif t.untyped_storage().data_ptr() != storage.data_ptr():
            return None
    if storage is None:
        return None
    return torch.empty(0, dtype=dtype, device=device).set_(storage, 0, (size,))


class StackedEvaluator:
    """Several points per forward pass: ``vmap`` over stacked weights.

    The stacked weights ``origin + A d0 (+ B d1)`` are built with one
    broadcasted multiply-add per parameter, then a single vmapped
    ``functional_call`` evaluates all points on each data batch. With
    ``buffer_directions`` (see :class:`PointEvaluator`) the floating-point buffers are
    stacked the same way.
    """

    def __init__(
        self,
        objective: Objective,
        origin: ParamDict,
        directions: Sequence[ParamDict],
        *,
        buffer_directions: Sequence[ParamDict] | None = None,
    ):
        self.objective = objective
        dev = objective.device
        names = [n for n, _ in objective.model.named_parameters()]
        self.origin = {k: origin[k].to(dev) for k in names}
        self.directions = [{k: d[k].to(dev) for k in names} for d in directions]
        self.buffer_directions = (
            [to_device(d, dev) for d in buffer_directions]
            if buffer_directions is not None
            else None
        )
        loss_sum, with_acc = objective.loss_sum, objective.has_accuracy

        def one_point(
            params: ParamDict, buffers: ParamDict, x: Inputs, y: Tensor
        ) -> tuple[Tensor, Tensor]:
            out = objective.forward(params, x, buffers)
            loss = loss_sum(out, y)
            return loss, objective.num_correct(out, y) if with_acc else loss

        in_buffers = 0 if buffer_directions is not None else None
        self._batched = vmap(one_point, in_dims=(0, in_buffers, None, None))

    def _stack(
        self, base: ParamDict, directions: Sequence[ParamDict], c: Tensor
    ) -> dict[str, Tensor]:
        stacked = {}
        for k, o in base.items():
            shape = (len(c),) + (1,) * o.dim()
            w = o.unsqueeze(0).expand(len(c), *o.shape)
            if o.is_floating_point():
                for j, d in enumerate(directions):
                    if k in d:
                        w = w + c[:, j].to(o.dtype).reshape(shape) * d[k].unsqueeze(0)
            stacked[k] = w.contiguous()
        return stacked

    @torch.inference_mode()
    def __call__(self, coords: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(loss, acc)`` arrays for ``coords`` of shape ``(P, ndim)``."""
        obj = self.objective
        c = torch.as_tensor(coords, dtype=next(iter(self.origin.values())).dtype, device=obj.device)
        stacked = self._stack(self.origin, self.directions, c)
        buffers = (
            self._stack(obj.buffers, self.buffer_directions, c)
            if self.buffer_directions is not None
            else obj.buffers
        )
        loss = torch.zeros(len(coords), dtype=torch.float64, device=obj.device)
        correct = torch.zeros(len(coords), dtype=torch.float64, device=obj.device)
        for x, y in obj.batches():
            batch_loss, batch_correct = self._batched(stacked, buffers, x, y)
            loss += batch_loss
            correct += batch_correct
        acc = correct / obj.num_samples if obj.has_accuracy else torch.full_like(loss, float("nan"))
        return (loss / obj.num_samples).cpu().numpy(), acc.cpu().numpy()
