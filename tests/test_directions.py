from __future__ import annotations

import pytest
import torch

from landscape.directions import (
    directions_from_positional,
    normalize_direction,
    orthogonalize,
    random_direction,
    random_directions,
)
from landscape.errors import LandscapeError
from landscape.params import dot, model_params


def test_filter_normalization_matches_reference_filters(net):
    ref = model_params(net)
    d = random_direction(ref, seed=0, norm="filter")
    for name, w in ref.items():
        if w.dim() <= 1:
            assert torch.count_nonzero(d[name]) == 0, name
        else:
            got = d[name].reshape(w.shape[0], -1).norm(dim=1)
            want = w.reshape(w.shape[0], -1).norm(dim=1)
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)


def test_keep_1d_scales_each_entry(net):
    ref = model_params(net)
    d = random_direction(ref, seed=0, norm="filter", keep_1d=True)
    torch.testing.assert_close(d["fc.bias"].abs(), ref["fc.bias"].abs(), rtol=1e-5, atol=1e-7)


def test_layer_and_weight_normalization(net):
    ref = model_params(net)
    raw = {k: torch.randn_like(v) for k, v in ref.items()}
    layer = normalize_direction(raw, ref, norm="layer", keep_1d=True)
    for k in ref:
        torch.testing.assert_close(layer[k].norm(), ref[k].norm(), rtol=1e-5, atol=1e-7)
    weight = normalize_direction(raw, ref, norm="weight")
    torch.testing.assert_close(weight["fc.weight"], raw["fc.weight"] * ref["fc.weight"])
    none = normalize_direction(raw, ref, norm="none", keep_1d=True)
    torch.testing.assert_close(none["fc.bias"], raw["fc.bias"])


def test_same_seed_same_direction_and_orthogonal_option(net):
    ref = model_params(net)
    a = random_direction(ref, seed=7)
    b = random_direction(ref, seed=7)
    assert all(torch.equal(a[k], b[k]) for k in a)
    dirs = random_directions(ref, ndim=2, seed=1, orthogonal=True)
    assert abs(dot(dirs.vectors[0], dirs.vectors[1])) < 1e-5 * dot(dirs.vectors[0], dirs.vectors[0])


def test_orthogonalize_keeps_norm():
    d = orthogonalize({"w": torch.tensor([3.0, 4.0])}, {"w": torch.tensor([1.0, 0.0])})
    torch.testing.assert_close(d["w"], torch.tensor([0.0, 5.0]))


def test_unknown_norm_and_mismatched_direction(net):
    ref = model_params(net)
    with pytest.raises(LandscapeError, match="norm: expected one of filter"):
        random_direction(ref, seed=0, norm="filters")  # type: ignore[arg-type]
    bad = dict(ref)
    bad["fc.weight"] = torch.zeros(2, 2)
    with pytest.raises(LandscapeError, match=r"shape mismatch fc\.weight"):
        normalize_direction(bad, ref)


def test_one_d_treatments_of_1d_parameters(net):
    ref = {k: v.detach() for k, v in net.named_parameters()}
    zero = random_direction(ref, seed=0)
    kept = random_direction(ref, seed=0, one_d="normalize")
    theirs = random_direction(ref, seed=0, one_d="weights")
    for name, w in ref.items():
        if w.dim() == 1:
            assert not zero[name].any()
            torch.testing.assert_close(kept[name].abs(), w.abs())  # filter: |d_i| = |w_i|
            torch.testing.assert_close(theirs[name], w)  # Li et al.: d.copy_(w)
        else:
            torch.testing.assert_close(theirs[name], zero[name])
    torch.testing.assert_close(
        random_direction(ref, seed=0, keep_1d=True)["fc.bias"], kept["fc.bias"]
    )
    with pytest.raises(LandscapeError, match="one-d: expected one of zero, normalize, weights"):
        random_direction(ref, seed=0, one_d="keep")  # type: ignore[arg-type]
    with pytest.raises(LandscapeError, match="contradicts"):
        random_direction(ref, seed=0, keep_1d=True, one_d="zero")
    attrs = random_directions(ref, ndim=1, seed=0, one_d="weights").attrs
    assert attrs["one_d"] == "weights" and attrs["keep_1d"] is True
    assert "one_d" not in random_directions(ref, ndim=1, seed=0, keep_1d=True).attrs


def test_positional_directions_are_checked_by_count_and_shape(net):
    ref = {k: v.detach() for k, v in net.named_parameters()}
    arrays = [v.numpy() + 1 for v in ref.values()]
    (named,) = directions_from_positional([arrays], ref, source="d.h5")
    assert list(named) == list(ref)
    torch.testing.assert_close(named["fc.weight"], ref["fc.weight"] + 1)
    with pytest.raises(LandscapeError, match="xdirection holds 3 arrays, the model has 4"):
        directions_from_positional([arrays[:3]], ref, source="d.h5")
    swapped = [arrays[0], arrays[1], arrays[3], arrays[2]]
    with pytest.raises(
        LandscapeError, match=r"xdirection/2 has shape \(4,\), parameter 2 \(fc.weight\)"
    ):
        directions_from_positional([swapped], ref, source="d.h5")
