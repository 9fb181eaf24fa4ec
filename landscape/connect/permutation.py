"""Permutation groups of a model's hidden units, found by tracing it with ``torch.fx``.

Permuting the hidden units of a layer (rows of its weight and bias, its BatchNorm
parameters and statistics, and the matching input columns of every layer that reads it)
leaves the function unchanged; Ainsworth et al. 2023 ("Git Re-Basin") call the set of axes
that must move together a *permutation group*. :func:`permutation_spec` finds them from the
model's structure: ``make_fx(pre_dispatch=True)`` records the aten graph of one forward pass,
every dimension of every value becomes a variable, and each operation ties variables together
(``linear(x, W, b)`` ties ``x[-1]`` to ``W[:, j]`` and its output to ``W[i]`` and ``b``; an
elementwise op ties its operands' dimensions; a residual ``+`` ties both branches). Inputs,
outputs, convolution windows and batch dimensions are pinned. What remains free, touches a
weight and carries activations is a group. A ``flatten`` of ``(C, L)`` after a convolution
moves the following layer's input in blocks of ``L``.

Ops outside the list below are refused with one line rather than guessed at.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from torch import Tensor, fx, nn
from torch.func import functional_call
from torch.fx.experimental.proxy_tensor import make_fx

from landscape.errors import LandscapeError, one_line

SAME_SHAPE = {
    "relu", "relu_", "gelu", "silu", "tanh", "sigmoid", "leaky_relu", "elu", "selu", "celu",
    "hardtanh", "hardswish", "hardsigmoid", "mish", "softplus", "dropout", "feature_dropout",
    "alpha_dropout", "clone", "contiguous", "detach", "alias", "to", "_to_copy", "type_as",
    "softmax", "log_softmax", "_softmax", "_log_softmax", "neg", "abs", "exp", "square",
    "sqrt", "rsqrt", "lift_fresh_copy", "batch_norm", "layer_norm", "clamp",
}  # fmt: skip
"""Ops whose output has the input's dimensions (norms also tie their parameters, see below)."""
BROADCAST = {"add", "sub", "mul", "div", "add_", "mul_", "maximum", "minimum", "pow", "where"}
REDUCE = {"mean", "sum", "amax", "amin"}
POOL = {
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d", "avg_pool1d",
    "avg_pool2d", "avg_pool3d", "max_pool1d", "max_pool2d", "max_pool3d",
    "max_pool1d_with_indices", "max_pool2d_with_indices", "adaptive_max_pool1d",
    "adaptive_max_pool2d",
}  # fmt: skip
CONV = {"conv1d", "conv2d", "conv3d", "convolution"}
VIEW = {"view", "reshape", "_unsafe_view", "flatten"}


@dataclass(frozen=True)
class AxisPermutation:
    """How one axis of a tensor moves with a permutation group.

    The axis has ``outer * size * inner`` entries; viewed as ``(outer, size, inner)`` its middle
    index is permuted (``outer = inner = 1`` for a plain hidden-unit axis; ``inner = L`` for the
    input of a layer after ``flatten`` of ``(C, L)``).

    Attributes:
        group: index of the group in :attr:`PermutationSpec.sizes`.
        axis: the tensor's axis.
        outer: blocks before the permuted index.
        inner: entries after it.

    """

    group: int
    axis: int
    outer: int = 1
    inner: int = 1


@dataclass(frozen=True)
class PermutationSpec:
    """The permutation groups of a model and the tensor axes each one moves.

    Attributes:
        sizes: number of units of each group.
        axes: parameter or buffer name -> its permuted axes (names with none are absent).

    """

    sizes: tuple[int, ...]
    axes: dict[str, tuple[AxisPermutation, ...]]


class _Dims:
    """Union-find over dimension variables, with one class pinned (never permuted)."""

    def __init__(self) -> None:
        self.parent: list[int] = []
        self.size: list[int] = []
        self.parts: dict[int, list[int]] = {}
        self.pinned = self.new(0)

    def new(self, size: int) -> int:
        self.parent.append(len(self.parent))
        self.size.append(size)
        return len(self.parent) - 1

    def find(self, v: int) -> int:
        while self.parent[v] != v:
            self.parent[v] = self.parent[self.parent[v]]
            v = self.parent[v]
        return v

    def tie(self, u: int, v: int) -> bool:
        ru, rv = self.find(u), self.find(v)
        if ru == rv:
            return False
        self.parent[max(ru, rv)] = min(ru, rv)  # the pinned class (0) stays its own root
        return True

    def pin(self, v: int) -> bool:
        return self.tie(v, self.pinned)

    def is_pinned(self, v: int) -> bool:
        return self.find(v) == self.find(self.pinned)

    def merged(self, parts: list[int]) -> int:
        """A dimension that is the row-major merge of ``parts``."""
        if len(parts) == 1:
            return parts[0]
        v = self.new(math.prod(self.size[p] for p in parts))
        self.parts[v] = parts
        return v


def permutation_spec(
    model: nn.Module, params: Mapping[str, Tensor], buffers: Mapping[str, Tensor], example: Tensor
) -> PermutationSpec:
    """Find the permutation groups of ``model`` from one traced forward pass on ``example``.

    Args:
        model: the model (not modified).
        params: its parameters by name.
        buffers: its buffers by name.
        example: a few input rows.

    Raises:
        LandscapeError: if the model cannot be traced, uses an op this analysis does not
            know, or has no hidden units to permute.

    """
    names = [*params, *buffers]

    def forward(p: dict[str, Tensor], b: dict[str, Tensor], x: Tensor) -> Any:
        return functional_call(model, (p, b), (x,))

    try:
        graph = make_fx(forward, pre_dispatch=True)(dict(params), dict(buffers), example).graph
    except Exception as exc:
        raise LandscapeError(
            f"align: cannot trace the model with torch.fx ({one_line(exc)})"
        ) from exc
    dims = _Dims()
    values: dict[fx.Node, Any] = {}
    tensor_dims: dict[str, list[int]] = {}
    flowing: set[int] = set()
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    for i, node in enumerate(placeholders):
        shape = _shape(node)
        values[node] = [dims.new(s) for s in shape]
        if i < len(names):
            tensor_dims[names[i]] = values[node]
        else:
            for v in values[node]:
                dims.pin(v)
    for node in graph.nodes:
        if node.op == "call_function":
            values[node] = _propagate(node, values, dims)
            if isinstance(values[node], list):
                flowing.update(values[node])
        elif node.op == "output":
            for v in _leaves(node.args[0], values):
                dims.pin(v)
        elif node.op != "placeholder":
            raise LandscapeError(f"align: cannot align a model whose graph has a {node.op!r} node")
    _settle_merges(dims)
    return _spec(dims, tensor_dims, flowing)


def _shape(node: fx.Node) -> tuple[int, ...]:
    val = node.meta.get("val")
    return tuple(int(s) for s in val.shape) if isinstance(val, Tensor) else ()


def _leaves(arg: Any, values: dict[fx.Node, Any]) -> list[int]:
    """Every dimension variable of the tensors in a (nested) output."""
    if isinstance(arg, fx.Node):
        v = values.get(arg)
        if isinstance(v, list):
            return list(v)
        return [d for part in (v or ()) for d in part]
    if isinstance(arg, (list, tuple)):
        return [d for a in arg for d in _leaves(a, values)]
    if isinstance(arg, dict):
        return [d for a in arg.values() for d in _leaves(a, values)]
    return []


def _op_name(node: fx.Node) -> str:
    if node.target is operator.getitem:
        return "getitem"
    packet = getattr(node.target, "overloadpacket", None)
    return getattr(packet, "__name__", str(node.target))


def _propagate(node: fx.Node, values: dict[fx.Node, Any], dims: _Dims) -> Any:
    """Tie the dimensions of ``node``'s operands and return its output's dimension variables."""
    name = _op_name(node)
    args = node.args
    shape = _shape(node)

    def of(a: Any) -> list[int] | None:
        return values.get(a) if isinstance(a, fx.Node) else None

    def fresh(pinned: bool = False) -> list[int]:
        out = [dims.new(s) for s in shape]
        if pinned:
            for v in out:
                dims.pin(v)
        return out

    if name == "getitem":
        return values[args[0]][args[1]]
    handler = _HANDLERS.get(name)
    if handler is not None:
        return handler(node, of, fresh, dims)
    if name in SAME_SHAPE:
        x = of(args[0])
        assert x is not None
        _tie_norm_params(name, node, x, of, dims)
        return x
    if name in BROADCAST:
        out = fresh()
        for a in list(args) + list(node.kwargs.values()):
            if isinstance(a, fx.Node) and of(a) is not None:
                _tie_broadcast(of(a), _shape(a), out, shape, dims)  # type: ignore[arg-type]
        return out
    raise LandscapeError(
        f"align: cannot find the permutation groups of this model: op {node.target} is not "
        "supported (supported: linear, conv, batch/layer norm, elementwise, pooling, "
        "reductions, views, matmul)"
    )


def _tie_norm_params(
    name: str, node: fx.Node, x: list[int], of: Callable[[Any], list[int] | None], dims: _Dims
) -> None:
    if name == "batch_norm":  # x, weight, bias, running_mean, running_var, ...
        for a in node.args[1:5]:
            if of(a) is not None:
                dims.tie(of(a)[0], x[1])  # type: ignore[index]
    elif name == "layer_norm":  # x, normalized_shape, weight, bias
        k = len(node.args[1])  # type: ignore[arg-type]
        for a in node.args[2:4]:
            if of(a) is not None:
                for v, w in zip(of(a), x[-k:], strict=True):  # type: ignore[arg-type]
                    dims.tie(v, w)


def _tie_broadcast(
    a: list[int], a_shape: tuple[int, ...], out: list[int], shape: tuple[int, ...], dims: _Dims
) -> None:
    for i in range(1, len(a) + 1):
        if a_shape[-i] == shape[-i]:
            dims.tie(a[-i], out[-i])


def _linear(node: fx.Node, of: Any, fresh: Any, dims: _Dims) -> list[int]:
    x, w = of(node.args[0]), of(node.args[1])
    b = of(node.args[2]) if len(node.args) > 2 else None
    dims.tie(x[-1], w[1])
    if b is not None:
        dims.tie(b[0], w[0])
    return [*x[:-1], w[0]]


def _conv(node: fx.Node, of: Any, fresh: Any, dims: _Dims) -> list[int]:
    args = node.args
    if _op_name(node) == "convolution":
        transposed, groups = args[6], args[8]
    else:
        transposed, groups = False, args[6] if len(args) > 6 else 1
    if transposed or groups != 1:
        raise LandscapeError(
            "align: cannot align grouped or transposed convolutions (only groups=1 is supported)"
        )
    x, w = of(args[0]), of(args[1])
    b = of(args[2]) if len(args) > 2 else None
    channel = len(x) - len(w) + 1  # 1 when batched, 0 for an unbatched input
    dims.tie(x[channel], w[1])
    for v in w[2:]:
        dims.pin(v)
    if b is not None:
        dims.tie(b[0], w[0])
    out = fresh(pinned=True)
    out[channel] = w[0]
    for i in range(channel):
        out[i] = x[i]
    return out


def _pool(node: fx.Node, of: Any, fresh: Any, dims: _Dims) -> Any:
    x = of(node.args[0])
    spatial = int(_op_name(node).split("pool")[1][0])
    out = fresh(pinned=True) if isinstance(node.meta.get("val"), Tensor) else None
    if out is None:  # (values, indices)
        shape = _shape_of(node.meta["val"][0])
        out = [dims.new(s) for s in shape]
        for v in out:
            dims.pin(v)
    out[: len(x) - spatial] = x[: len(x) - spatial]
    return [out, out] if not isinstance(node.meta.get("val"), Tensor) else out


def _shape_of(t: Tensor) -> tuple[int, ...]:
    return tuple(int(s) for s in t.shape)


def _reduce(node: fx.Node, of: Any, fresh: Any, dims: _Dims) -> list[int]:
    x = of(node.args[0])
    axes = node.args[1] if len(node.args) > 1 else None
    keep = bool(node.args[2]) if len(node.args) > 2 else bool(node.kwargs.get("keepdim", False))
    if axes is None or (isinstance(axes, (list, tuple)) and len(axes) == 0):
        axes = list(range(len(x)))
    axes = {a % len(x) for a in ([axes] if isinstance(axes, int) else axes)}  # type: ignore[union-attr]
    out = []
    for i, v in enumerate(x):
        if i not in axes:
            out.append(v)
        elif keep:
            out.append(dims.new(1))
    return out


def _unsqueeze(node: fx.Node, of: Any, fresh: Any, dims: _Dims) -> list[int]:
    x = list(of(node.args[0]))
    d = int(node.args[1]) % (len(x) + 1)
    return [*x[:d], dims.new(1), *x[d:]]


def _squeeze(node: fx.Node, of: Any, fresh: Any, dims: _Dims) -> list[int]:
    x, before = of(node.args[0]), _shape(node.args[0])  # type: ignore[arg-type]
    kept = [v for v, s in zip(x, before, strict=True) if s != 1]
    if len(kept) == len(_shape(node)):
        return kept
    return _view_dims(x, before, _shape(node), dims)


def _permute(node: fx.Node, of: Any, fresh: Any, dims: _Dims) -> list[int]:
    x = list(of(node.args[0]))
    name = _op_name(node)
    if name == "t":
        return x[::-1]
    if name == "permute":
        return [x[int(i)] for i in node.args[1]]  # type: ignore[union-attr]
    a, b = int(node.args[1]) % len(x), int(node.args[2]) % len(x)  # type: ignore[arg-type]
    x[a], x[b] = x[b], x[a]
    return x


def _matmul(node: fx.Node, of: Any, fresh: Any, dims: _Dims) -> list[int]:
    name = _op_name(node)
    first = 1 if name == "addmm" else 0
    a, b = of(node.args[first]), of(node.args[first + 1])
    a_shape, b_shape = _shape(node.args[first]), _shape(node.args[first + 1])  # type: ignore[arg-type]
    if len(a) < 2 or len(b) < 2:
        raise LandscapeError(f"align: cannot align a model that uses {name} on a vector")
    dims.tie(a[-1], b[-2])
    out = fresh()
    out[-2], out[-1] = a[-2], b[-1]
    shape = _shape(node)
    _tie_broadcast(a[:-2], a_shape[:-2], out[:-2], shape[:-2], dims)
    _tie_broadcast(b[:-2], b_shape[:-2], out[:-2], shape[:-2], dims)
    if name == "addmm":
        _tie_broadcast(of(node.args[0]), _shape(node.args[0]), out, shape, dims)  # type: ignore[arg-type]
    return out


def _view(node: fx.Node, of: Any, fresh: Any, dims: _Dims) -> list[int]:
    return _view_dims(of(node.args[0]), _shape(node.args[0]), _shape(node), dims)  # type: ignore[arg-type]


def _view_dims(
    x: list[int], before: tuple[int, ...], after: tuple[int, ...], dims: _Dims
) -> list[int]:
    """Dimensions after a reshape: kept, merged (``flatten``) or, when split, pinned."""
    src = [i for i, s in enumerate(before) if s != 1]
    out: list[int | None] = [None if s != 1 else dims.new(1) for s in after]
    dst = [i for i, s in enumerate(after) if s != 1]
    i = j = 0
    while i < len(src) or j < len(dst):
        ins, outs = [src[i]], [dst[j]]
        i, j = i + 1, j + 1
        while math.prod(before[k] for k in ins) != math.prod(after[k] for k in outs):
            if math.prod(before[k] for k in ins) < math.prod(after[k] for k in outs):
                ins.append(src[i])
                i += 1
            else:
                outs.append(dst[j])
                j += 1
        if len(outs) == 1:
            out[outs[0]] = dims.merged([x[k] for k in ins])
        else:  # a split cannot carry a permutation: pin both sides
            for k in ins:
                dims.pin(x[k])
            for k in outs:
                out[k] = dims.new(after[k])
                dims.pin(out[k])  # type: ignore[arg-type]
    return out  # type: ignore[return-value]


def _embedding(node: fx.Node, of: Any, fresh: Any, dims: _Dims) -> list[int]:
    w, idx = of(node.args[0]), of(node.args[1])
    dims.pin(w[0])
    return [*idx, w[1]]


_HANDLERS: dict[str, Callable[..., Any]] = {
    "linear": _linear,
    **dict.fromkeys(CONV, _conv),
    **dict.fromkeys(POOL, _pool),
    **dict.fromkeys(REDUCE, _reduce),
    "unsqueeze": _unsqueeze,
    "squeeze": _squeeze,
    **dict.fromkeys(("t", "transpose", "permute"), _permute),
    **dict.fromkeys(("mm", "bmm", "matmul", "addmm"), _matmul),
    **dict.fromkeys(VIEW, _view),
    "embedding": _embedding,
}


def _settle_merges(dims: _Dims) -> None:
    """Pin what a merged dimension cannot carry, until nothing changes.

    A merged dimension moves by the permutation of at most one free part (the others pinned);
    a pinned merge pins its parts; several merges in one class must share their parts' classes.
    """
    changed = True
    while changed:
        changed = False
        by_class: dict[int, list[int]] = {}
        for m in dims.parts:
            by_class.setdefault(dims.find(m), []).append(m)
        for root, merges in by_class.items():
            layouts = {tuple(dims.find(p) for p in dims.parts[m]) for m in merges}
            parts = [p for m in merges for p in dims.parts[m]]
            free = {dims.find(p) for p in parts if not dims.is_pinned(p) and dims.size[p] > 1}
            nested = any(dims.find(p) in by_class for p in parts)
            if dims.is_pinned(root) or len(layouts) > 1 or len(free) > 1 or nested:
                for p in parts:
                    changed |= dims.pin(p)
                changed |= dims.pin(root)


def _spec(dims: _Dims, tensor_dims: dict[str, list[int]], flowing: set[int]) -> PermutationSpec:
    merge_of = {dims.find(m): m for m in dims.parts}
    active = {dims.find(v) for v in flowing}
    candidates = [
        r
        for r in dict.fromkeys(dims.find(v) for vs in tensor_dims.values() for v in vs)
        if r in active and r not in merge_of and not dims.is_pinned(r) and dims.size[r] > 1
    ]
    index = {r: i for i, r in enumerate(candidates)}
    axes: dict[str, tuple[AxisPermutation, ...]] = {}
    for name, vs in tensor_dims.items():
        found = []
        for axis, v in enumerate(vs):
            r = dims.find(v)
            if r in index:
                found.append(AxisPermutation(index[r], axis))
            elif r in merge_of and not dims.is_pinned(r):
                parts = dims.parts[merge_of[r]]
                k = next((k for k, p in enumerate(parts) if dims.find(p) in index), None)
                if k is not None:
                    outer = math.prod(dims.size[p] for p in parts[:k])
                    inner = math.prod(dims.size[p] for p in parts[k + 1 :])
                    found.append(AxisPermutation(index[dims.find(parts[k])], axis, outer, inner))
        if found:
            axes[name] = tuple(found)
    if not candidates:
        raise LandscapeError(
            "align: the model has no hidden units to permute (every dimension is an input, an "
            "output or a window); --align needs hidden layers"
        )
    return PermutationSpec(tuple(dims.size[r] for r in candidates), axes)
