"""Sketches of a curvature matrix held as the rows of one preallocated store.

The trace, diagonal and Frobenius estimators keep each block of ``m`` vectors
of the ``n`` parameters (probes, a sketch ``H S`` and its orthonormal basis)
as the rows of one ``(m, n)`` tensor, allocated once in the sketch dtype (the
operator's unless float64 is asked for; see
:func:`~landscape.curvature.lanczos.basis_dtype`), in memory or memory-mapped
in a folder (:func:`~landscape.curvature.allocation.allocate_rows`). Probes
are drawn into it a slice of parameters at a time, products are applied a
block of rows at a time (:data:`BLOCK_BYTES`), every inner product is
accumulated in float64 a slice at a time (:data:`SLICE_ENTRIES`) and the
orthonormalization runs in place, so beside its rows an estimator's peak is
one block's product and one slice.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Literal, get_args

import torch
from torch import Tensor

from landscape.curvature.allocation import allocate_rows, itemsize
from landscape.curvature.linop import Operator
from landscape.errors import LandscapeError

SLICE_ENTRIES = 2**22
"""Entries of one float64 slice of rows (32 MiB) in draws and inner products."""

BLOCK_BYTES = 2**24
"""Bytes of the operator's input rows per product (16 MiB; at least one row).

A Hessian product of a block holds about 5.5 model copies per vector of the
block (measured at 5M parameters: 6.0 copies for one vector, 16.8 for three),
so only models under about 4M float32 parameters get blocks of several
vectors (one vmapped data pass each); larger ones go one vector at a time."""

Distribution = Literal["rademacher", "gaussian"]
DISTRIBUTIONS: tuple[str, ...] = get_args(Distribution)
"""The probe distributions, ``E[z zᵀ] = I`` for both."""

KEEP = 0.5
"""Kahan-Parlett factor: a vector that loses more than half its norm to the
second Gram-Schmidt pass is numerically in the span of the rows before it."""


def check_distribution(distribution: str) -> None:
    """Refuse a probe distribution other than :data:`DISTRIBUTIONS`.

    Raises:
        LandscapeError: ``trace: distribution should be one of rademacher, gaussian ...``.

    """
    if distribution not in DISTRIBUTIONS:
        raise LandscapeError(
            f"trace: distribution should be one of {', '.join(DISTRIBUTIONS)} "
            f"(got {distribution!r})"
        )


def block_rows(n: int, dtype: torch.dtype) -> int:
    """Rows of ``n`` entries of ``dtype`` per product: :data:`BLOCK_BYTES` of them, at least 1."""
    return max(1, BLOCK_BYTES // (n * itemsize(dtype)))


def probe_rows(
    n: int,
    m: int,
    *,
    seed: int,
    distribution: str,
    dtype: torch.dtype,
    device: torch.device | str,
    directory: str | Path | None = None,
) -> tuple[Tensor, Tensor]:
    """A ``(m, n)`` store of ``m`` probes in ``dtype`` and their float64 squared norms ``(m,)``.

    Row ``i`` is column ``i`` of the ``(n, m)`` float64 block that one seeded
    draw on the CPU gives (``randint`` to ±1, or ``randn``), drawn here a
    slice of parameters at a time into the preallocated store (on ``device``,
    or memory-mapped in ``directory``). Slices of a multiple of 16 entries,
    and a last one of at least 16, give the same numbers as one draw (torch's
    normal sampler transforms 16 at a time; the uniform one is serial).
    """
    check_distribution(distribution)
    store = allocate_rows(m, n, dtype, device, directory)
    squares = torch.zeros(m, dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed)
    step = max(16, SLICE_ENTRIES // m // 16 * 16)
    start = 0
    while start < n:
        stop = min(n, start + step)
        if (n - stop) * m < 16:
            stop = n
        shape = (stop - start, m)
        if distribution == "gaussian":
            block = torch.randn(shape, generator=gen, dtype=torch.float64)
        else:
            block = torch.randint(0, 2, shape, generator=gen).to(torch.float64) * 2 - 1
        squares += block.square().sum(0)
        store[:, start:stop] = block.T.to(device=store.device, dtype=dtype)
        start = stop
    return store, squares


def row_products(op: Operator, rows: Tensor) -> Iterator[tuple[slice, Tensor]]:
    """``(part, H rows[part]ᵀ)ᵀ`` for consecutive blocks of :func:`block_rows` rows.

    Each block goes to the operator as one ``(n, b)`` product in its dtype and
    on its device; the ``(b, n)`` result comes back on the rows' device.
    """
    m, n = rows.shape
    b = block_rows(n, op.dtype)
    for start in range(0, m, b):
        part = slice(start, min(m, start + b))
        x = rows[part].to(device=op.device, dtype=op.dtype)
        yield part, (op @ x.T).T.to(rows.device)


def gram(a: Tensor, b: Tensor) -> Tensor:
    """``a bᵀ`` in float64 for rows ``a`` ``(p, n)`` and ``b`` ``(q, n)``, a slice at a time.

    >>> gram(torch.ones(2, 3), torch.arange(3.0)[None]).tolist()
    [[3.0], [3.0]]
    """
    n = a.shape[1]
    b = b.to(a.device)
    width = max(1, SLICE_ENTRIES // max(1, a.shape[0] + b.shape[0]))
    out = torch.zeros(a.shape[0], b.shape[0], dtype=torch.float64, device=a.device)
    for start in range(0, n, width):
        part = slice(start, min(n, start + width))
        out += a[:, part].to(torch.float64) @ b[:, part].to(torch.float64).T
    return out


def row_dots(a: Tensor, b: Tensor) -> Tensor:
    """``(a_i · b_i)_i`` in float64 for rows of equal shape, a slice at a time.

    >>> row_dots(torch.ones(2, 3), torch.arange(6.0).reshape(2, 3)).tolist()
    [3.0, 12.0]
    """
    n = a.shape[1]
    b = b.to(a.device)
    width = max(1, SLICE_ENTRIES // max(1, 2 * a.shape[0]))
    out = torch.zeros(a.shape[0], dtype=torch.float64, device=a.device)
    for start in range(0, n, width):
        part = slice(start, min(n, start + width))
        out += (a[:, part].to(torch.float64) * b[:, part].to(torch.float64)).sum(1)
    return out


def orthonormalize_rows(rows: Tensor) -> Tensor:
    """Replace the rows ``y_i`` by orthonormal ``q_i`` in place; return ``R`` with ``Y = Q R``.

    ``Y`` and ``Q`` are the rows as columns (``n x s``), ``R`` is ``s x s``
    upper triangular in float64. Classical Gram-Schmidt run twice per row
    ("twice is enough", Kahan & Parlett; Parlett 1998, *The Symmetric
    Eigenvalue Problem*, Sec. 6.9): a row whose norm falls below
    :data:`KEEP` times its norm after the first pass in the second is
    numerically in the span of the rows before it and becomes zero, with
    ``R_ii = 0`` (``QQᵀ`` stays an orthogonal projector). The coefficients are
    float64 (:func:`gram`); the updates run in the rows' dtype, where they are.

    >>> y = torch.tensor([[3.0, 4.0, 0.0], [6.0, 8.0, 0.0], [0.0, 0.0, 2.0]], dtype=torch.float64)
    >>> orthonormalize_rows(y).diagonal().tolist(), y.tolist()   # row 1 is dependent
    ([5.0, 0.0, 2.0], [[0.6, 0.8, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    """
    s = rows.shape[0]
    r = torch.zeros(s, s, dtype=torch.float64, device=rows.device)
    for i in range(s):
        v = rows[i]
        norms = [vector_norm(v)]
        for _ in range(2 if i else 0):
            c = gram(rows[:i], v[None])[:, 0]
            v.addmv_(rows[:i].T, c.to(rows.dtype), alpha=-1)
            r[:i, i] += c
            norms.append(vector_norm(v))
        if norms[-1] == 0.0 or (i and norms[-1] < KEEP * norms[-2]):
            v.zero_()
        else:
            v.div_(norms[-1])
            r[i, i] = norms[-1]
    return r


def vector_norm(v: Tensor) -> float:
    """``||v||`` of a vector, its square accumulated in float64 a slice at a time (:func:`row_dots`).

    >>> vector_norm(torch.tensor([3.0, 4.0]))
    5.0
    """
    return float(row_dots(v[None], v[None])[0]) ** 0.5
