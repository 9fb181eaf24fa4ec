"""Directions in parameter space: random (normalized), interpolation, planes.

All directions are name-keyed ParamDicts shaped like the reference point.

Normalization follows Li et al. 2018, "Visualizing the Loss Landscape of
Neural Nets" (NeurIPS), Sec. 4: a Gaussian direction ``d`` is rescaled so that
each *filter* matches the norm of the same filter of the reference weights
``w``::

    d_{i,j} <- d_{i,j} / ||d_{i,j}|| * ||w_{i,j}||

where a filter is one slice along the output dimension (a conv kernel's
output channel, a linear layer's output row). Parameters with one dimension
(biases, normalization scales) are treated by ``one_d``: ``zero`` (the default,
and the reference code's ``ignore='biasbn'``), ``normalize`` (ours: each entry
is its own filter, so ``d_i <- sign(d_i) |w_i|`` under filter normalization), or
``weights``, the reference code's treatment otherwise
(``net_plotter.normalize_directions_for_weights``: ``d.copy_(w)``, the direction
is the weights themselves).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np
import torch
from torch import Tensor

from landscape.errors import LandscapeError
from landscape.params import ParamDict, check_same_keys, dot, subtract

Norm = Literal["filter", "layer", "weight", "none"]
NORMS: tuple[str, ...] = get_args(Norm)
OneD = Literal["zero", "normalize", "weights"]
ONE_D: tuple[str, ...] = get_args(OneD)
_EPS = 1e-10


def _check_norm(norm: str) -> None:
    if norm not in NORMS:
        raise LandscapeError(f"norm: expected one of {', '.join(NORMS)} (got {norm!r})")


def resolve_one_d(one_d: str | None, keep_1d: bool) -> OneD:
    """The treatment of 1-D parameters named by ``one_d``, or by the older ``keep_1d`` flag.

    >>> resolve_one_d(None, False), resolve_one_d(None, True), resolve_one_d("weights", False)
    ('zero', 'normalize', 'weights')
    """
    if one_d is None:
        return "normalize" if keep_1d else "zero"
    if one_d not in ONE_D:
        raise LandscapeError(f"one-d: expected one of {', '.join(ONE_D)} (got {one_d!r})")
    if keep_1d and one_d != "normalize":
        raise LandscapeError(
            f"one-d: --keep-1d means 'normalize', which contradicts one-d {one_d!r}; give one"
        )
    return one_d  # type: ignore[return-value]


def normalize_direction(
    direction: Mapping[str, Tensor],
    reference: Mapping[str, Tensor],
    *,
    norm: Norm = "filter",
    keep_1d: bool = False,
    one_d: OneD | None = None,
) -> ParamDict:
    """Rescale a direction by the reference weights.

    Args:
        direction: the raw direction.
        reference: the weights the direction is taken around.
        norm: ``filter`` (per output slice, Li et al. 2018), ``layer`` (per
            tensor: ``d <- d ||w|| / ||d||``), ``weight`` (elementwise:
            ``d <- d * w``) or ``none``.
        keep_1d: the older name of ``one_d="normalize"``.
        one_d: 1-D parameters (biases, norm layers): ``zero`` (default),
            ``normalize`` like the rest, or ``weights`` (the weights themselves,
            as Li et al.'s code does unless told ``ignore='biasbn'``).

    >>> w = {"w": torch.tensor([[3.0, 4.0], [1.0, 0.0]]), "b": torch.tensor([2.0, -1.0])}
    >>> d = normalize_direction({"w": torch.ones(2, 2), "b": torch.ones(2)}, w)
    >>> d["w"].norm(dim=1).round(decimals=5).tolist(), d["b"].tolist()
    ([5.0, 1.0], [0.0, 0.0])
    >>> normalize_direction({"w": torch.ones(2, 2), "b": -torch.ones(2)}, w, one_d="weights")["b"].tolist()
    [2.0, -1.0]

    """
    _check_norm(norm)
    one_d = resolve_one_d(one_d, keep_1d)
    check_same_keys(reference, direction, what="direction")
    return {
        name: _normalized(direction[name], w, norm=norm, one_d=one_d, in_place=False)
        for name, w in reference.items()
    }


def _normalized(d: Tensor, w: Tensor, *, norm: Norm, one_d: OneD, in_place: bool) -> Tensor:
    """One tensor of :func:`normalize_direction`; ``in_place`` rescales ``d`` itself (ours).

    Both ways compute the same values bit for bit (the same elementwise products).
    """
    d = d.to(dtype=w.dtype, device=w.device)
    if w.dim() <= 1 and one_d == "zero":
        return torch.zeros_like(w)
    if w.dim() <= 1 and one_d == "weights":
        return w.clone()
    if norm == "none":
        return d if in_place else d.clone()
    if norm == "weight":
        return d.mul_(w) if in_place else d * w
    if norm == "layer":
        scale = w.norm() / (d.norm() + _EPS)
        return d.mul_(scale) if in_place else d * scale
    d2 = d.reshape(d.shape[0], -1) if d.dim() > 0 else d.reshape(1, 1)
    w2 = w.reshape(w.shape[0], -1) if w.dim() > 0 else w.reshape(1, 1)
    scale = w2.norm(dim=1, keepdim=True) / (d2.norm(dim=1, keepdim=True) + _EPS)
    if in_place:  # d2 is a view of d (freshly drawn, contiguous)
        d2.mul_(scale)
        return d
    return (d2 * scale).reshape(w.shape)


def random_direction(
    reference: Mapping[str, Tensor],
    *,
    seed: int,
    norm: Norm = "filter",
    keep_1d: bool = False,
    one_d: OneD | None = None,
) -> ParamDict:
    """A Gaussian direction, normalized by ``reference`` (see :func:`normalize_direction`).

    Drawn on the CPU in parameter-name order from ``torch.Generator().manual_seed(seed)``,
    so the same seed gives the same direction on every device. Each tensor is drawn and
    rescaled in place in turn, so drawing holds no more than the direction itself.

    >>> ref = {"w": torch.ones(4, 3)}
    >>> d = random_direction(ref, seed=0)
    >>> torch.allclose(d["w"].norm(dim=1), ref["w"].norm(dim=1))
    True
    """
    _check_norm(norm)
    one_d = resolve_one_d(one_d, keep_1d)
    gen = torch.Generator().manual_seed(seed)
    return {
        k: _normalized(
            torch.randn(v.shape, generator=gen, dtype=torch.float32),
            v,
            norm=norm,
            one_d=one_d,
            in_place=True,
        )
        for k, v in reference.items()
    }


def orthogonalize(direction: Mapping[str, Tensor], against: Mapping[str, Tensor]) -> ParamDict:
    """Remove from ``direction`` its component along ``against``, keeping its norm.

    ``d' = (d - <d,a>/<a,a> a) * ||d|| / ||d - <d,a>/<a,a> a||`` (one Gram-Schmidt step,
    rescaled so the axis keeps the scale chosen by its normalization).

    >>> d = orthogonalize({"w": torch.tensor([1.0, 1.0])}, {"w": torch.tensor([1.0, 0.0])})
    >>> d["w"].tolist()
    [0.0, 1.4142135381698608]
    """
    coef = dot(direction, against) / max(dot(against, against), _EPS)
    resid = {k: direction[k] - coef * against[k] for k in direction}
    scale = (dot(direction, direction) / max(dot(resid, resid), _EPS)) ** 0.5
    return {k: v * scale for k, v in resid.items()}


def interpolation_direction(start: Mapping[str, Tensor], end: Mapping[str, Tensor]) -> ParamDict:
    """The direction ``end - start``: ``start + α d`` is ``end`` at α = 1 (Goodfellow et al. 2015)."""
    check_same_keys(start, end, what="second checkpoint")
    return subtract(end, start)


def plane_through(
    a: Mapping[str, Tensor], b: Mapping[str, Tensor], c: Mapping[str, Tensor]
) -> tuple[ParamDict, list[ParamDict]]:
    """The plane through three points: origin ``a``, axes ``b - a`` and ``c - a``.

    The three checkpoints sit at coordinates (0, 0), (1, 0) and (0, 1).
    """
    check_same_keys(a, b, what="second checkpoint")
    check_same_keys(a, c, what="third checkpoint")
    return dict(a), [subtract(b, a), subtract(c, a)]


@dataclass(frozen=True)
class Directions:
    """Directions of a surface with how they were made.

    Attributes:
        vectors: one (1D) or two (2D) name-keyed directions.
        kind: ``random``, ``interp``, ``plane``, ``pca``, ``hessian`` or ``file``.
        attrs: settings to store with them (norm, seed, keep_1d, sources...).
        buffer_vectors: for lines and planes through checkpoints, the matching
            directions of their floating-point buffers (BatchNorm statistics), so that
            each checkpoint on the path scores with its own statistics; ``None``: the
            origin's buffers everywhere.

    """

    vectors: list[ParamDict]
    kind: str
    attrs: dict[str, Any] = field(default_factory=dict)
    buffer_vectors: list[ParamDict] | None = None

    def numpy(self) -> list[dict[str, np.ndarray]]:
        """The vectors as numpy arrays (for storage)."""
        return [{k: v.detach().cpu().numpy() for k, v in d.items()} for d in self.vectors]


def random_directions(
    reference: Mapping[str, Tensor],
    *,
    ndim: int,
    seed: int,
    norm: Norm = "filter",
    keep_1d: bool = False,
    orthogonal: bool = False,
    one_d: OneD | None = None,
) -> Directions:
    """One or two random directions; the second uses ``seed + 1``, optionally orthogonalized.

    The settings stored with them are ``norm``, ``seed``, ``keep_1d`` (1-D parameters
    not zeroed), ``orthogonal`` and, for ``one_d="weights"`` only, ``one_d``.
    """
    one_d = resolve_one_d(one_d, keep_1d)
    vectors = [
        random_direction(reference, seed=seed + i, norm=norm, one_d=one_d) for i in range(ndim)
    ]
    if orthogonal and ndim == 2:
        vectors[1] = orthogonalize(vectors[1], vectors[0])
    attrs: dict[str, Any] = {
        "norm": norm,
        "seed": seed,
        "keep_1d": one_d != "zero",
        "orthogonal": orthogonal,
    }
    if one_d == "weights":
        attrs["one_d"] = one_d
    return Directions(vectors, "random", attrs)


def directions_from_arrays(
    arrays: Sequence[Mapping[str, np.ndarray]], reference: Mapping[str, Tensor], *, source: str
) -> list[ParamDict]:
    """Turn stored numpy directions into tensors like ``reference``, checking names and shapes."""
    out = []
    for d in arrays:
        tensors = {k: torch.from_numpy(np.asarray(v)) for k, v in d.items()}
        check_same_keys(reference, tensors, what=f"directions in {source}")
        out.append({k: tensors[k].to(device=v.device, dtype=v.dtype) for k, v in reference.items()})
    return out


def directions_from_positional(
    axes: Sequence[Sequence[np.ndarray]], reference: Mapping[str, Tensor], *, source: str
) -> list[ParamDict]:
    """Name arrays stored by position (Li et al.'s ``0, 1, ...``) after ``reference``'s parameters.

    Each axis must hold one array per parameter of ``reference``, in its order
    (``model.parameters()`` order, which is what their code writes), each of that
    parameter's shape.

    Raises:
        LandscapeError: naming the first mismatch: the count, or the position, name and
            both shapes.

    >>> ref = {"w": torch.zeros(2, 3), "b": torch.zeros(2)}
    >>> d = directions_from_positional([[np.ones((2, 3)), np.ones(2)]], ref, source="f.h5")
    >>> {k: tuple(v.shape) for k, v in d[0].items()}
    {'w': (2, 3), 'b': (2,)}
    """
    names = list(reference)
    out = []
    for axis, arrays in zip(("x", "y"), axes, strict=False):
        if len(arrays) != len(names):
            raise LandscapeError(
                f"dirs: {source} {axis}direction holds {len(arrays)} arrays, the model has "
                f"{len(names)} parameters (expected one per parameter, in model.parameters() order)"
            )
        vector: ParamDict = {}
        for i, (name, arr) in enumerate(zip(names, arrays, strict=True)):
            ref = reference[name]
            if tuple(np.shape(arr)) != tuple(ref.shape):
                raise LandscapeError(
                    f"dirs: {source} {axis}direction/{i} has shape {tuple(np.shape(arr))}, "
                    f"parameter {i} ({name}) has {tuple(ref.shape)}"
                )
            vector[name] = torch.from_numpy(np.asarray(arr)).to(device=ref.device, dtype=ref.dtype)
        out.append(vector)
    return out
