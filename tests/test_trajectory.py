import numpy as np
import pytest
import torch

from landscape.errors import LandscapeError
from landscape.params import dot, flatten
from landscape.trajectory import pca_plane, project, surface_grid


def random_points(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    like = {"a.weight": (3, 4), "a.bias": (3,), "b.weight": (2, 3)}
    return [
        {k: torch.randn(s, generator=g, dtype=torch.float64) for k, s in like.items()}
        for _ in range(n)
    ]


def test_pca_plane_orthonormal_and_match_numpy_svd():
    pts = random_points()
    origin = pts[-1]
    plane = pca_plane(pts, origin)
    d0, d1 = plane.directions
    assert set(d0) == set(origin) and all(d0[k].shape == origin[k].shape for k in origin)
    assert dot(d0, d0) == pytest.approx(1.0, abs=1e-12)
    assert dot(d1, d1) == pytest.approx(1.0, abs=1e-12)
    assert dot(d0, d1) == pytest.approx(0.0, abs=1e-12)
    names = list(origin)
    m = np.stack([(flatten(p, names) - flatten(origin, names)).numpy() for p in pts])
    _, s, vt = np.linalg.svd(m, full_matrices=False)
    evr = s**2 / (s**2).sum()
    np.testing.assert_allclose(plane.explained_variance_ratio, evr[:2], rtol=1e-10)
    assert plane.explained_variance_ratio.sum() <= 1.0
    np.testing.assert_allclose(plane.singular_values, s, rtol=1e-10)
    for k, d in enumerate((d0, d1)):
        v = flatten(d, names).numpy()
        np.testing.assert_allclose(abs(v @ vt[k]), 1.0, rtol=1e-10)


def test_pca_sign_points_from_start_toward_origin():
    pts = random_points(seed=1)
    plane = pca_plane(pts, pts[-1])
    coords = project(pts, pts[-1], plane.directions)
    assert (coords[0] <= 0).all()
    np.testing.assert_allclose(coords[-1], [0.0, 0.0], atol=1e-12)


def test_explained_variance_sums_to_one_for_a_planar_path():
    origin = random_points(1)[0]
    d0, d1 = random_points(2, seed=5)
    pts = [
        {k: origin[k] + a * d0[k] + b * d1[k] for k in origin}
        for a, b in [(1, 2), (-1, 0.5), (3, 1), (0, 0)]
    ]
    plane = pca_plane(pts, origin)
    assert plane.explained_variance_ratio.sum() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("a, b", [(0.3, -1.7), (2.0, 0.0), (-5.0, 4.0)])
def test_projection_recovers_coordinates_on_a_non_orthogonal_plane(a, b):
    origin, d0, raw = random_points(3, seed=2)
    d1 = {k: raw[k] + 0.8 * d0[k] for k in d0}  # strongly correlated with d0
    point = {k: origin[k] + a * d0[k] + b * d1[k] for k in origin}
    np.testing.assert_allclose(
        project([point], origin, [d0, d1])[0], [a, b], rtol=1e-10, atol=1e-10
    )


def test_projection_of_pca_plane_points_is_exact():
    pts = random_points(seed=3)
    plane = pca_plane(pts, pts[-1])
    a, b = 1.25, -0.5
    on_plane = {
        k: pts[-1][k] + a * plane.directions[0][k] + b * plane.directions[1][k] for k in pts[-1]
    }
    np.testing.assert_allclose(
        project([on_plane], pts[-1], plane.directions)[0], [a, b], atol=1e-12
    )


def test_pca_errors():
    pts = random_points(3)
    with pytest.raises(LandscapeError, match="fewer than 2 directions"):
        pca_plane([pts[0], pts[1], pts[1]], pts[1])
    bad = dict(pts[0])
    bad["a.weight"] = torch.zeros(4, 4, dtype=torch.float64)
    with pytest.raises(LandscapeError, match="shape mismatch"):
        pca_plane([bad, pts[1]], pts[1])
    d = random_points(1)[0]
    with pytest.raises(LandscapeError, match="linearly dependent"):
        project(pts, pts[0], [d, {k: 2 * v for k, v in d.items()}])


def test_surface_grid_encloses_points_with_margin():
    coords = np.array([[-4.0, -0.1], [-1.0, 0.2], [0.0, 0.0]])
    x, y = surface_grid(coords, margin=0.25, resolution=11)
    assert len(x) == len(y) == 11
    assert x[0] == pytest.approx(-5.0) and x[-1] == pytest.approx(1.0)
    assert y[0] == pytest.approx(-1.1) and y[-1] == pytest.approx(1.2)
    with pytest.raises(LandscapeError, match="resolution"):
        surface_grid(coords, resolution=1)
    with pytest.raises(LandscapeError, match="margin"):
        surface_grid(coords, margin=-1)
