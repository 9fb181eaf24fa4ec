"""Name-keyed parameter dictionaries and the vector arithmetic on them.

A model's parameters are handled as ``dict[str, Tensor]`` (a *ParamDict*),
keyed by the names of ``model.named_parameters()``. Directions, trajectories
and eigenvectors use the same keys, so a mismatch between a model and a stored
vector is caught by name instead of by silent misalignment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import Tensor, nn

from landscape.errors import LandscapeError

ParamDict = dict[str, Tensor]


def model_params(model: nn.Module) -> ParamDict:
    """Return detached copies of a model's trainable parameters, by name.

    The copies share nothing with the model, so changing them never changes it.

    >>> p = model_params(nn.Linear(2, 1))
    >>> sorted(p), p["weight"].shape
    (['bias', 'weight'], torch.Size([1, 2]))
    """
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def model_buffers(model: nn.Module) -> ParamDict:
    """Return detached copies of a model's buffers (BatchNorm statistics), by name."""
    return {n: b.detach().clone() for n, b in model.named_buffers()}


def check_same_keys(
    expected: Mapping[str, Tensor], got: Mapping[str, Tensor], *, what: str
) -> None:
    """Raise a one-line error if two ParamDicts differ in names or shapes.

    Args:
        expected: the reference (usually the model's parameters).
        got: the dictionary to check against it.
        what: a short description of ``got`` for the message.

    Raises:
        LandscapeError: naming the first few missing, unexpected or misshapen keys.

    """
    missing = [k for k in expected if k not in got]
    unexpected = [k for k in got if k not in expected]
    shapes = [
        f"{k} {tuple(got[k].shape)} vs {tuple(expected[k].shape)}"
        for k in expected
        if k in got and tuple(got[k].shape) != tuple(expected[k].shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing {_first(missing)}")
    if unexpected:
        problems.append(f"unexpected {_first(unexpected)}")
    if shapes:
        problems.append(f"shape mismatch {_first(shapes)}")
    if problems:
        raise LandscapeError(f"{what} does not match the model: " + "; ".join(problems))


def _first(items: list[str], n: int = 3) -> str:
    shown = ", ".join(items[:n])
    return shown + (f" (+{len(items) - n} more)" if len(items) > n else "")


def combine(
    origin: Mapping[str, Tensor], terms: Iterable[tuple[float, Mapping[str, Tensor]]]
) -> ParamDict:
    """Return ``origin + sum_i c_i d_i`` as a new ParamDict.

    >>> o = {"w": torch.zeros(2)}
    >>> combine(o, [(2.0, {"w": torch.ones(2)})])["w"].tolist()
    [2.0, 2.0]
    """
    out = {k: v.clone() for k, v in origin.items()}
    for coef, d in terms:
        for k in out:
            out[k].add_(d[k], alpha=float(coef))
    return out


def subtract(a: Mapping[str, Tensor], b: Mapping[str, Tensor]) -> ParamDict:
    """Return ``a - b`` key by key."""
    return {k: a[k] - b[k] for k in a}


def dot(a: Mapping[str, Tensor], b: Mapping[str, Tensor]) -> float:
    """Return the Euclidean inner product ``<a, b>`` summed over all keys (float64).

    >>> dot({"w": torch.tensor([1.0, 2.0])}, {"w": torch.tensor([3.0, 4.0])})
    11.0
    """
    return float(sum((a[k].double() * b[k].double()).sum() for k in a))


def norm(a: Mapping[str, Tensor]) -> float:
    """Return the Euclidean norm ``||a||`` over all keys.

    >>> norm({"w": torch.tensor([3.0]), "b": torch.tensor([4.0])})
    5.0
    """
    return dot(a, a) ** 0.5


def flatten(p: Mapping[str, Tensor], names: Iterable[str] | None = None) -> Tensor:
    """Concatenate the tensors of ``p`` (in ``names`` order) into one flat vector."""
    keys = list(p) if names is None else list(names)
    return torch.cat([p[k].reshape(-1) for k in keys])


def unflatten(vec: Tensor, like: Mapping[str, Tensor]) -> ParamDict:
    """Split a flat vector back into a ParamDict shaped like ``like`` (inverse of flatten).

    >>> like = {"a": torch.zeros(2), "b": torch.zeros(1, 1)}
    >>> {k: v.shape for k, v in unflatten(torch.arange(3.0), like).items()}
    {'a': torch.Size([2]), 'b': torch.Size([1, 1])}
    """
    out: ParamDict = {}
    i = 0
    for k, t in like.items():
        n = t.numel()
        out[k] = vec[i : i + n].reshape(t.shape).to(t.dtype)
        i += n
    if i != vec.numel():
        raise LandscapeError(f"unflatten: vector has {vec.numel()} entries, expected {i}")
    return out


def num_params(p: Mapping[str, Tensor]) -> int:
    """Total number of scalar entries."""
    return sum(t.numel() for t in p.values())


def to_device(p: Mapping[str, Tensor], device: torch.device | str) -> ParamDict:
    """Every tensor of ``p`` on ``device`` (those already there are not copied)."""
    return {k: v.to(device) for k, v in p.items()}
