"""The objective: loss and accuracy of a parameter dictionary on fixed data.

An :class:`Objective` holds a private copy of the user's model (in eval mode),
the model's buffers, one data split already on the device, a task and a loss.
It evaluates any ParamDict through ``torch.func.functional_call`` or, on the hot
path of a surface, by writing into its private copy; the user's model and its
buffers are never touched. Batch losses are summed and divided by the number
of scored targets (rows, or counted tokens for per-token tasks), so batches of
unequal size are weighted exactly.

Inputs are a tensor (``model(x)``) or a dict of tensors (``model(**x)``); the
output is a tensor, a tuple (its first element), a dict or Hugging Face
``ModelOutput`` (its ``logits``), or the field named by ``output``.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar, Literal, get_args

import torch
from torch import Tensor, nn
from torch.func import functional_call

from landscape.data import IGNORE_INDEX, Inputs, Split, take_rows
from landscape.errors import LandscapeError
from landscape.loading import import_object
from landscape.params import ParamDict

Task = Literal["classification", "regression", "lm", "mlm"]
TASKS: tuple[str, ...] = get_args(Task)
TOKEN_TASKS = ("lm", "mlm")
"""Tasks scored per token: ``lm`` (next token, shifted by one) and ``mlm`` (each position)."""
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
_CROSS_ENTROPY = {"CrossEntropyLoss"}


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


def model_output(out: Any, key: str | None = None) -> Tensor:
    """The tensor of a model's output that the loss scores.

    A tensor is itself; a tuple or list gives its first element; a dict or
    Hugging Face ``ModelOutput`` gives ``logits``; ``key`` names another field.

    >>> model_output((torch.ones(1), torch.zeros(1))).tolist()
    [1.0]
    >>> model_output({"logits": torch.zeros(2), "h": torch.ones(1)}, "h").tolist()
    [1.0]

    Raises:
        LandscapeError: when the field is missing or is not a tensor.

    """
    if key is not None:
        value = out.get(key) if isinstance(out, Mapping) else getattr(out, key, None)
        if not isinstance(value, Tensor):
            fields = sorted(out) if isinstance(out, Mapping) else type(out).__name__
            raise LandscapeError(
                f"output: the model's output has no tensor {key!r} (it has {fields})"
            )
        return value
    if isinstance(out, Tensor):
        return out
    if isinstance(out, Mapping):
        if isinstance(out.get("logits"), Tensor):
            return out["logits"]
        raise LandscapeError(
            f"output: the model returned a dict without 'logits' (keys {sorted(out)}); "
            "name the field with --output KEY"
        )
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], Tensor):
        return out[0]
    raise LandscapeError(
        f"output: the model returned {type(out).__name__}; expected a tensor, a tuple starting "
        "with one, or a dict/ModelOutput with 'logits' (or --output KEY)"
    )


def token_targets(
    logits: Tensor, labels: Tensor, *, shift: bool, classes_last: bool
) -> tuple[Tensor, Tensor]:
    """Flatten per-token logits to ``(positions, V)`` and labels to ``(positions,)``.

    ``classes_last``: logits are ``(B, T, V)`` (Hugging Face); else ``(B, V, T)``
    (``torch.nn.CrossEntropyLoss``). ``shift`` scores position ``t`` against label
    ``t + 1`` (next-token prediction, the last position has no target).

    >>> z, t = token_targets(torch.zeros(2, 3, 5), torch.ones(2, 3, dtype=torch.long),
    ...                      shift=True, classes_last=True)
    >>> tuple(z.shape), tuple(t.shape)
    ((4, 5), (4,))
    """
    if not classes_last:
        logits = logits.movedim(1, -1)
    if shift:
        logits, labels = logits[:, :-1], labels[:, 1:]
    return logits.reshape(-1, logits.shape[-1]), labels.reshape(-1)


def token_cross_entropy_sum(
    logits: Tensor, labels: Tensor, *, shift: bool, classes_last: bool
) -> Tensor:
    """Cross-entropy summed over counted tokens (labels other than ``-100``).

    ``sum_{t: y_t != -100} -log softmax(z_t)[y_t]``; divided by the number of
    counted tokens it is the mean that Hugging Face models return for
    ``labels=`` (with ``shift`` for causal language models).

    >>> float(token_cross_entropy_sum(torch.zeros(1, 3, 4), torch.tensor([[0, 1, -100]]),
    ...                               shift=False, classes_last=True))  # 2 tokens x log 4
    2.772588...
    """
    z, t = token_targets(logits, labels, shift=shift, classes_last=classes_last)
    return nn.functional.cross_entropy(z, t, ignore_index=IGNORE_INDEX, reduction="sum")


def token_correct_count(
    logits: Tensor, labels: Tensor, *, shift: bool, classes_last: bool
) -> Tensor:
    """Number of counted tokens whose arg-max logit is the label.

    >>> int(token_correct_count(torch.tensor([[[0.0, 1.0], [1.0, 0.0]]]), torch.tensor([[1, -100]]),
    ...                         shift=False, classes_last=True))
    1
    """
    z, t = token_targets(logits, labels, shift=shift, classes_last=classes_last)
    return ((z.argmax(dim=-1) == t) & (t != IGNORE_INDEX)).sum()


def counted_tokens(labels: Tensor, *, shift: bool) -> int:
    """Number of scored tokens: labels other than ``-100`` (after the shift).

    >>> counted_tokens(torch.tensor([[3, 4, -100]]), shift=True)
    1
    """
    kept = labels[:, 1:] if shift else labels
    return int((kept != IGNORE_INDEX).sum())


def call_model(model: nn.Module, x: Inputs) -> Any:
    """Call ``model(x)``, or ``model(**x)`` for dict inputs."""
    return model(**x) if isinstance(x, dict) else model(x)


class Objective:
    """Loss and accuracy of parameters on one data split, model never mutated.

    Args:
        model: the user's model; a private copy is taken and put in eval mode.
        split: the data, already on the device it will be evaluated on.
        loss: a loss spec (see :func:`resolve_loss`); per-token tasks use
            cross-entropy.
        batch_size: rows per forward pass (``None``: the whole split at once).
        buffers: the model buffers to use (e.g. a checkpoint's BatchNorm
            statistics); defaults to the model's own.
        task: ``classification``, ``regression``, ``lm`` (next-token
            cross-entropy) or ``mlm`` (cross-entropy at every labelled
            position); ``None`` infers it from a Hugging Face model's class,
            else from the loss. Integer labels with more axes than the batch
            (per-token outputs, ``(B, T, V)`` or ``(B, V, T)``) are scored per
            token under ``classification`` too.
        output: the field of the model's output to score (see :func:`model_output`).
        accuracy: compute accuracy where it is defined.

    Attributes:
        num_samples: the divisor of every mean: rows, or counted tokens (labels
            other than ``-100``) for per-token scoring.
        output_shape: one row's model output shape, without the batch axis,
            when row-level accuracy is defined (from one forward pass of one
            row, which also checks the labels against the number of outputs); else ``None``.

    Example:
        >>> from landscape.models import MLP
        >>> from landscape.params import model_params
        >>> m = MLP(4, 2, hidden=(3,))
        >>> obj = Objective(m, Split(torch.zeros(5, 4), torch.zeros(5, dtype=torch.long)))
        >>> loss, acc = obj.evaluate(model_params(m))
        >>> 0.0 <= acc <= 1.0
        True

    """

    DEFAULTS: ClassVar[dict[str, Any]] = {"task": None, "output": None, "accuracy": True}
    """Defaults of the scoring arguments (provenance records only those that differ)."""

    @classmethod
    def changed_scoring(cls, scoring: Mapping[str, Any]) -> dict[str, Any]:
        """The scoring arguments of ``scoring`` that differ from :attr:`DEFAULTS`.

        What a file's config records, so that a file scored by the defaults stays as it was.

        >>> Objective.changed_scoring({"task": "lm", "output": None, "accuracy": True})
        {'task': 'lm'}
        """
        return {k: v for k, v in scoring.items() if v != cls.DEFAULTS[k]}

    def __init__(
        self,
        model: nn.Module,
        split: Split,
        *,
        loss: str = "cross_entropy",
        batch_size: int | None = None,
        buffers: ParamDict | None = None,
        task: str | None = None,
        output: str | None = None,
        accuracy: bool = True,
    ):
        if len(split) == 0:
            raise LandscapeError("objective: the data split is empty")
        if batch_size is not None and batch_size < 1:
            raise LandscapeError(f"batch-size: expected a positive integer (got {batch_size})")
        if task is not None and task not in TASKS:
            raise LandscapeError(f"task: expected one of {list(TASKS)} (got {task!r})")
        self.split = split
        self.device = split.y.device
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
        self.output_key = output
        integer_labels = not split.y.is_floating_point()
        self.loss_sum, loss_task = resolve_loss(
            loss, class_labels=integer_labels and task != "regression"
        )
        self.task: str = task or _model_task(model) or loss_task
        per_token = self.task in TOKEN_TASKS or (
            self.task == "classification"
            and integer_labels
            and split.y.dim() >= 2
            and _is_cross_entropy(loss)
        )
        self._check_loss(loss, loss_task, per_token=per_token)
        self.batch_size = len(split) if batch_size is None else min(batch_size, len(split))
        self.num_samples = len(split)
        self.output_shape: tuple[int, ...] | None = None
        self._accuracy = (
            accuracy
            and self.task in ("classification", *TOKEN_TASKS)
            and integer_labels
            and (per_token or split.y.dim() == 1)
        )
        self._token_score: dict[str, bool] | None = None
        if per_token:
            self._setup_tokens(shift=self.task == "lm")
        elif self.has_accuracy:
            with torch.inference_mode():
                out = self.call(self.model, take_rows(split.x, slice(0, 1)))
            self.output_shape = tuple(out.shape[1:])
            if out.dim() == 2 and (int(split.y.min()) < 0 or int(split.y.max()) >= out.shape[-1]):
                raise LandscapeError(
                    f"labels out of range: found {int(split.y.min())}..{int(split.y.max())} "
                    f"but the model has {out.shape[-1]} outputs"
                )

    def _check_loss(self, loss: str, loss_task: str, *, per_token: bool) -> None:
        """Refuse a loss that does not fit the task (a ``module:callable`` fits any but tokens)."""
        if per_token:
            if not _is_cross_entropy(loss):
                raise LandscapeError(
                    f"loss: task {self.task} is scored per token with cross-entropy; "
                    f"omit --loss or pass cross_entropy (got {loss!r})"
                )
        elif ":" not in loss and loss_task != self.task:
            raise LandscapeError(
                f"loss: {loss!r} is a {loss_task} loss but the task is {self.task}; "
                "pass a matching --loss or --task"
            )

    def _setup_tokens(self, *, shift: bool) -> None:
        """Find the class axis of per-token outputs from one row; count the scored tokens."""
        y = self.split.y
        if y.dim() < 2:
            raise LandscapeError(
                f"task {self.task}: expected per-token labels of shape (B, T) (got {tuple(y.shape)})"
            )
        with torch.inference_mode():
            out = self.call(self.model, take_rows(self.split.x, slice(0, 1)))
        if out.dim() == y.dim() + 1 and out.shape[1:-1] == y.shape[1:]:
            classes_last = True
        elif out.dim() == y.dim() + 1 and out.shape[2:] == y.shape[1:]:
            classes_last = False
        else:
            raise LandscapeError(
                f"task {self.task}: model outputs of shape {tuple(out.shape[1:])} per row do not "
                f"fit labels of shape {tuple(y.shape[1:])}; expected (T, V) or (V, T) per row"
            )
        classes = int(out.shape[-1] if classes_last else out.shape[1])
        counted = y[y != IGNORE_INDEX]
        if counted.numel() and (int(counted.min()) < 0 or int(counted.max()) >= classes):
            raise LandscapeError(
                f"labels out of range: found {int(counted.min())}..{int(counted.max())} "
                f"but the model has {classes} outputs per token"
            )
        self.num_samples = counted_tokens(y, shift=shift)
        if self.num_samples == 0:
            raise LandscapeError(f"task {self.task}: no token is scored (every label is -100)")
        self._token_score = {"shift": shift, "classes_last": classes_last}
        self.loss_sum = functools.partial(token_cross_entropy_sum, **self._token_score)

    @property
    def has_accuracy(self) -> bool:
        """Whether accuracy is computed (classification or tokens, integer labels, not turned off)."""
        return self._accuracy

    def batches(self) -> Iterator[tuple[Inputs, Tensor]]:
        """The fixed sequence of ``(x, y)`` batches, always in the same order."""
        return self.split.batches(self.batch_size)

    def call(self, model: nn.Module, x: Inputs) -> Tensor:
        """The scored output tensor of ``model`` (e.g. a private copy) on inputs ``x``."""
        return model_output(call_model(model, x), self.output_key)

    def forward(self, params: ParamDict, x: Inputs, buffers: ParamDict | None = None) -> Tensor:
        """Model output for ``x`` at ``params`` via ``functional_call`` (differentiable)."""
        args, kwargs = ((), x) if isinstance(x, dict) else ((x,), None)
        out = functional_call(
            self.model, (params, self.buffers if buffers is None else buffers), args, kwargs
        )
        return model_output(out, self.output_key)

    def count(self, y: Tensor) -> int:
        """What one batch's summed loss is divided by: its rows, or its counted tokens.

        Summed over the split's batches it is :attr:`num_samples`.
        """
        if self._token_score is not None:
            return counted_tokens(y, shift=self._token_score["shift"])
        return len(y)

    def num_correct(self, out: Tensor, y: Tensor) -> Tensor:
        """Correct rows of a batch, or correct counted tokens for per-token scoring."""
        if self._token_score is not None:
            return token_correct_count(out, y, **self._token_score)
        return correct_count(out, y)

    def batch_loss_sum(self, params: ParamDict, x: Inputs, y: Tensor) -> Tensor:
        """Summed loss of one batch at ``params`` (differentiable; divide by ``num_samples``)."""
        return self.loss_sum(self.forward(params, x), y)

    def loss(self, params: ParamDict) -> Tensor:
        """Mean loss over the whole split at ``params``, differentiable: ``(1/N) sum_i l_i``."""
        total = sum(self.batch_loss_sum(params, x, y) for x, y in self.batches())
        return total / self.num_samples  # type: ignore[operator]

    @torch.inference_mode()
    def evaluate(self, params: ParamDict, buffers: ParamDict | None = None) -> tuple[float, float]:
        """Return ``(mean loss, accuracy)`` at ``params``; accuracy is NaN where not computed."""
        loss = torch.zeros((), dtype=torch.float64, device=self.device)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        for x, y in self.batches():
            out = self.forward(params, x, buffers)
            loss += self.loss_sum(out, y).double()
            if self.has_accuracy:
                correct += self.num_correct(out, y)
        acc = float(correct) / self.num_samples if self.has_accuracy else float("nan")
        return float(loss) / self.num_samples, acc


def _is_cross_entropy(spec: str) -> bool:
    return _ALIASES.get(spec, spec) in _CROSS_ENTROPY


def _model_task(model: nn.Module) -> str | None:
    """The task of a Hugging Face model from its class (``None`` for other models)."""
    from landscape.hf import model_task

    return model_task(model)
