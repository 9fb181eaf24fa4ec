"""The objective: loss and accuracy of a parameter dictionary on fixed data.

An :class:`Objective` holds a private copy of the user's model (in eval mode),
the model's buffers, one data split already on the device, and a loss. It
evaluates any ParamDict through ``torch.func.functional_call`` or, on the hot
path of a surface, by writing into its private copy; the user's model and its
buffers are never touched. Batch losses are summed and divided by the number
of samples, so batches of unequal size are weighted by their size.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Literal

import torch
from torch import Tensor, nn
from torch.func import functional_call

from landscape.data import Split
from landscape.errors import LandscapeError
from landscape.loading import import_object
from landscape.params import ParamDict

Task = Literal["classification", "regression"]
SumLoss = Callable[[Tensor, Tensor], Tensor]

_ALIASES = {
    "cross_entropy": "CrossEntropyLoss",
    "ce": "CrossEntropyLoss",
    "mse": "MSELoss",
    "nll": "NLLLoss",
    "l1": "L1Loss",
    "bce": "BCEWithLogitsLoss",
    "huber": "HuberLoss",
}
_REGRESSION = {"MSELoss", "L1Loss", "HuberLoss", "SmoothL1Loss"}


def one_hot_mse_sum(out: Tensor, y: Tensor) -> Tensor:
    """Squared error against one-hot class targets, summed over rows.

    Per row, ``0.5 * sum_c (out_c - [y = c])^2`` (summed over classes), the loss of
    Cohen et al. 2021 for classification with MSE; divided by the sample count it is the
    mean over samples.

    >>> float(one_hot_mse_sum(torch.tensor([[1.0, 0.0], [0.0, 0.0]]), torch.tensor([0, 1])))
    0.5
    """
    target = torch.nn.functional.one_hot(y.long(), out.shape[-1]).to(out.dtype)
    return 0.5 * (out - target).pow(2).sum()


def resolve_loss(spec: str, *, class_labels: bool = False) -> tuple[SumLoss, Task]:
    """Return a *summed* loss ``f(outputs, targets)`` and its task for a loss spec.

    ``spec`` is a ``torch.nn`` loss class name (``CrossEntropyLoss``), an alias
    (``cross_entropy``, ``mse``, ``nll``, ``l1``, ``bce``, ``huber``) or a
    ``module:callable`` returning the batch *mean*, which is multiplied by the
    batch size so that batches are weighted by their size. ``mse`` (``MSELoss``) on
    integer class labels (``class_labels``) is the one-hot squared error of
    :func:`one_hot_mse_sum`, a classification loss with an accuracy.

    >>> f, task = resolve_loss("mse")
    >>> float(f(torch.ones(4, 1), torch.zeros(4, 1))), task
    (4.0, 'regression')
    >>> resolve_loss("mse", class_labels=True) == (one_hot_mse_sum, "classification")
    True
    """
    if ":" in spec:
        fn = import_object(spec, what="loss")
        if not callable(fn):
            raise LandscapeError(f"loss spec {spec!r} is not callable")

        def user_sum(out: Tensor, y: Tensor) -> Tensor:
            return fn(out, y) * out.shape[0]

        return user_sum, "classification"
    name = _ALIASES.get(spec, spec)
    cls = getattr(nn, name, None)
    if not (isinstance(cls, type) and issubclass(cls, nn.modules.loss._Loss)):
        raise LandscapeError(
            f"loss: unknown {spec!r}; expected a torch.nn loss name (e.g. CrossEntropyLoss), "
            f"one of {sorted(_ALIASES)}, or 'module:callable'"
        )
    if name == "MSELoss" and class_labels:
        return one_hot_mse_sum, "classification"
    module = cls(reduction="sum")
    if name in _REGRESSION:

        def regression_sum(out: Tensor, y: Tensor) -> Tensor:
            return module(out, y.reshape(out.shape).to(out.dtype))

        return regression_sum, "regression"
    return module, "classification"


def correct_count(out: Tensor, y: Tensor) -> Tensor:
    """Number of rows whose arg-max logit equals the integer label.

    >>> int(correct_count(torch.tensor([[0.0, 1.0], [2.0, 0.0]]), torch.tensor([1, 1])))
    1
    """
    return (out.argmax(dim=-1) == y).sum()


class Objective:
    """Loss and accuracy of parameters on one data split, model never mutated.

    Args:
        model: the user's model; a private copy is taken and put in eval mode.
        split: the data, already on the device it will be evaluated on.
        loss: a loss spec (see :func:`resolve_loss`).
        batch_size: rows per forward pass (``None``: the whole split at once).
        buffers: the model buffers to use (e.g. a checkpoint's BatchNorm
            statistics); defaults to the model's own.

    Attributes:
        output_shape: one row's model output shape, without the batch axis,
            when accuracy is defined (from one forward pass of one row, which
            also checks the labels against the number of outputs); else ``None``.

    Example:
        >>> from landscape.models import MLP
        >>> from landscape.params import model_params
        >>> m = MLP(4, 2, hidden=(3,))
        >>> obj = Objective(m, Split(torch.zeros(5, 4), torch.zeros(5, dtype=torch.long)))
        >>> loss, acc = obj.evaluate(model_params(m))
        >>> 0.0 <= acc <= 1.0
        True

    """

    def __init__(
        self,
        model: nn.Module,
        split: Split,
        *,
        loss: str = "cross_entropy",
        batch_size: int | None = None,
        buffers: ParamDict | None = None,
    ):
        if len(split) == 0:
            raise LandscapeError("objective: the data split is empty")
        if batch_size is not None and batch_size < 1:
            raise LandscapeError(f"batch-size: expected a positive integer (got {batch_size})")
        self.split = split
        self.device = split.x.device
        self.model = copy.deepcopy(model).to(self.device).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.buffers: ParamDict = {
            k: v.detach().clone().to(self.device)
            for k, v in (
                buffers if buffers is not None else dict(self.model.named_buffers())
            ).items()
        }
        for name, buf in self.model.named_buffers():
            if name in self.buffers:
                buf.copy_(self.buffers[name])
        self.loss_spec = loss
        self.loss_sum, self.task = resolve_loss(loss, class_labels=not split.y.is_floating_point())
        self.batch_size = len(split) if batch_size is None else min(batch_size, len(split))
        self.num_samples = len(split)
        self.output_shape: tuple[int, ...] | None = None
        if self.has_accuracy:
            with torch.inference_mode():
                out = self.model(split.x[:1])
            self.output_shape = tuple(out.shape[1:])
            if out.dim() == 2 and (int(split.y.min()) < 0 or int(split.y.max()) >= out.shape[-1]):
                raise LandscapeError(
                    f"labels out of range: found {int(split.y.min())}..{int(split.y.max())} "
                    f"but the model has {out.shape[-1]} outputs"
                )

    @property
    def has_accuracy(self) -> bool:
        """Whether accuracy is defined (classification with integer labels)."""
        return self.task == "classification" and not self.split.y.is_floating_point()

    def batches(self) -> Iterator[tuple[Tensor, Tensor]]:
        """The fixed sequence of ``(x, y)`` batches, always in the same order."""
        return self.split.batches(self.batch_size)

    def forward(self, params: ParamDict, x: Tensor, buffers: ParamDict | None = None) -> Tensor:
        """Model output for ``x`` at ``params`` via ``functional_call`` (differentiable)."""
        return functional_call(
            self.model, (params, self.buffers if buffers is None else buffers), (x,)
        )

    def batch_loss_sum(self, params: ParamDict, x: Tensor, y: Tensor) -> Tensor:
        """Summed loss of one batch at ``params`` (differentiable; divide by ``num_samples``)."""
        return self.loss_sum(self.forward(params, x), y)

    def loss(self, params: ParamDict) -> Tensor:
        """Mean loss over the whole split at ``params``, differentiable: ``(1/N) sum_i l_i``."""
        total = sum(self.batch_loss_sum(params, x, y) for x, y in self.batches())
        return total / self.num_samples  # type: ignore[operator]

    @torch.inference_mode()
    def evaluate(self, params: ParamDict, buffers: ParamDict | None = None) -> tuple[float, float]:
        """Return ``(mean loss, accuracy)`` at ``params``; accuracy is NaN for regression."""
        loss = torch.zeros((), dtype=torch.float64, device=self.device)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        for x, y in self.batches():
            out = self.forward(params, x, buffers)
            loss += self.loss_sum(out, y).double()
            if self.has_accuracy:
                correct += correct_count(out, y)
        acc = float(correct) / self.num_samples if self.has_accuracy else float("nan")
        return float(loss) / self.num_samples, acc
