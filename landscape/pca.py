"""Principal directions of a path of checkpoints in bounded memory, through its Gram matrix.

For T checkpoints ``theta_i`` and an origin ``o``, the rows of ``M = [theta_i - o]`` (T x P)
have the uncentred SVD ``M = U S V^T``. Instead of forming M (T P float64 numbers: 20 GB for
100 checkpoints of a 25M-parameter model), :func:`gram_pca` accumulates the T x T Gram matrix
``G = M M^T`` one slice of parameters at a time, takes its eigendecomposition
``G = U S^2 U^T`` (scipy), and forms the leading right singular vectors
``v_k = M^T u_k / s_k`` in a second pass, again a slice at a time. Peak memory is the
checkpoints' slices in flight (one preallocated float64 buffer of at most ``chunk_bytes``,
reused for every slice) plus the two directions.

Checkpoints are read through a callable, so they can be opened lazily
(``torch.load(mmap=True)`` or safetensors): a slice of each is read only when needed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import torch
from torch import Tensor

from landscape.errors import LandscapeError
from landscape.params import ParamDict

CHUNK_BYTES = 64 * 2**20
"""Float64 bytes of one (T, chunk) slice of the path held at once."""


@dataclass(frozen=True)
class PathPCA:
    """The two leading principal directions of a path around an origin.

    Attributes:
        directions: Unit directions, name-keyed like the origin, in its dtypes.
        singular_values: Every singular value of ``M``, descending.
        explained_variance_ratio: ``s_k^2 / sum s^2`` of the two directions.
    """

    directions: tuple[ParamDict, ParamDict]
    singular_values: np.ndarray
    explained_variance_ratio: np.ndarray


def _width(origin: ParamDict, t: int, chunk_bytes: int) -> int:
    """Parameters per slice: ``chunk_bytes`` of T float64 rows, at most the largest tensor."""
    largest = max(v.numel() for v in origin.values())
    return max(1, min(largest, chunk_bytes // (8 * max(t, 1))))


def _slices(origin: ParamDict, t: int, chunk_bytes: int) -> Iterator[tuple[str, slice]]:
    width = _width(origin, t, chunk_bytes)
    for name, tensor in origin.items():
        n = tensor.numel()
        for start in range(0, n, width):
            yield name, slice(start, min(n, start + width))


def _block(
    checkpoints: Sequence[ParamDict], origin: ParamDict, name: str, part: slice, buffer: Tensor
) -> np.ndarray:
    """The (T, len(part)) float64 slice ``theta_i[name][part] - o[name][part]``, in ``buffer``.

    Each checkpoint's slice is copied (and widened to float64) straight into its
    row of the preallocated ``buffer``, so no per-checkpoint temporary is made.
    """
    rows = buffer[:, : part.stop - part.start]
    for row, c in zip(rows, checkpoints, strict=True):
        row.copy_(c[name].reshape(-1)[part])
    rows -= origin[name].reshape(-1)[part]
    return rows.numpy()


def gram_pca(
    open_checkpoints: Callable[[], Sequence[ParamDict]],
    origin: ParamDict,
    *,
    chunk_bytes: int = CHUNK_BYTES,
) -> PathPCA:
    """Two leading principal directions of the checkpoints around ``origin``.

    Args:
        open_checkpoints: Returns the checkpoints, name-keyed like ``origin``; called once
            per pass (twice). Lazily opened checkpoints (memory-mapped) keep memory bounded.
        origin: The point the plane passes through.
        chunk_bytes: Bound on the float64 slice of the path held at once.

    Returns:
        The directions, each signed so that the first checkpoint has a negative
        coordinate (as the SVD path did), with the singular values.

    Raises:
        LandscapeError: when the checkpoints span fewer than two directions.

    >>> o = {"w": torch.zeros(3)}
    >>> pts = [{"w": torch.tensor([2.0, 0.0, 0.0])}, {"w": torch.tensor([0.0, 1.0, 0.0])}, o]
    >>> pca = gram_pca(lambda: pts, o)
    >>> pca.explained_variance_ratio.round(12).tolist(), pca.directions[0]["w"].abs().tolist()
    ([0.8, 0.2], [1.0, 0.0, 0.0])
    """
    checkpoints = open_checkpoints()
    t = len(checkpoints)
    gram = np.zeros((t, t))
    buffer = torch.empty((t, _width(origin, t, chunk_bytes)), dtype=torch.float64)
    for name, part in _slices(origin, t, chunk_bytes):
        block = _block(checkpoints, origin, name, part, buffer)
        gram += block @ block.T
    eigenvalues, eigenvectors = scipy.linalg.eigh(gram)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues = np.clip(eigenvalues[order], 0.0, None)
    eigenvectors = eigenvectors[:, order]
    singular = np.sqrt(eigenvalues)
    # the Gram matrix resolves s_k only down to about sqrt(eps) s_0
    if t < 2 or not singular[1] > 1e-7 * max(float(singular[0]), 1e-300):
        raise LandscapeError(
            f"trajectory: the checkpoints span fewer than 2 directions around the origin "
            f"({t} checkpoints); expected at least 3 distinct checkpoints"
        )
    u = eigenvectors[:, :2] * np.where(eigenvectors[0, :2] > 0, -1.0, 1.0)
    flat = [
        {n: torch.zeros(v.numel(), dtype=torch.float64) for n, v in origin.items()} for _ in u.T
    ]
    checkpoints = open_checkpoints()
    for name, part in _slices(origin, t, chunk_bytes):
        block = _block(checkpoints, origin, name, part, buffer)
        for k in range(2):
            flat[k][name][part] = torch.from_numpy(u[:, k] @ block / singular[k])
    directions = tuple(
        {n: d[n].reshape(origin[n].shape).to(origin[n].dtype) for n in origin} for d in flat
    )
    return PathPCA(
        directions=(directions[0], directions[1]),
        singular_values=singular,
        explained_variance_ratio=eigenvalues[:2] / eigenvalues.sum(),
    )
