import numpy as np
import pytest
import torch

from landscape.errors import LandscapeError
from landscape.params import flatten
from landscape.pca import gram_pca


def _path(t=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    origin = {
        "a.weight": torch.randn(7, 5, generator=g),
        "a.bias": torch.randn(7, generator=g),
        "b.weight": torch.randn(3, 7, generator=g),
    }
    drift = {k: torch.randn(v.shape, generator=g) for k, v in origin.items()}
    side = {k: torch.randn(v.shape, generator=g) for k, v in origin.items()}
    points = []
    for i in range(t):
        s = i / (t - 1)
        points.append(
            {
                k: origin[k]
                + (1 - s) * 3 * drift[k]
                + np.sin(3 * s) * side[k]
                + 0.01 * torch.randn(v.shape, generator=g)
                for k, v in origin.items()
            }
        )
    return points, points[-1]


@pytest.mark.parametrize("chunk_bytes", [8 * 12 * 4, 2**26])  # slices of 4 entries, or whole
def test_gram_pca_equals_the_svd_to_round_off(chunk_bytes):
    points, origin = _path()
    names = list(origin)
    o = flatten(origin, names).double()
    m = np.stack([(flatten(p, names).double() - o).numpy() for p in points])
    _, s, vt = np.linalg.svd(m, full_matrices=False)
    got = gram_pca(lambda: points, origin, chunk_bytes=chunk_bytes)
    assert got.singular_values[: len(s)] == pytest.approx(s, rel=1e-9, abs=1e-9 * s[0])
    assert got.explained_variance_ratio == pytest.approx(s[:2] ** 2 / (s**2).sum(), rel=1e-10)
    for k, d in enumerate(got.directions):
        v = vt[k] if m[0] @ vt[k] <= 0 else -vt[k]  # the first checkpoint's coordinate is negative
        np.testing.assert_allclose(flatten(d, names).double().numpy(), v, atol=1e-9)


def test_gram_pca_reads_the_checkpoints_twice_and_refuses_a_line():
    points, origin = _path()
    calls = []
    gram_pca(lambda: calls.append(1) or points, origin)
    assert len(calls) == 2
    line = [{k: origin[k] + i * torch.ones_like(v) for k, v in origin.items()} for i in range(4)]
    with pytest.raises(LandscapeError, match="fewer than 2 directions"):
        gram_pca(lambda: line, origin)
