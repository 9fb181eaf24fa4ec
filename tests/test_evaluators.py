"""The splits' point evaluators hold the weights once: shared flat buffers, no model copies."""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from landscape.data import Split
from landscape.directions import random_directions
from landscape.engine import _evaluators
from landscape.evaluators import PointEvaluator
from landscape.objective import Objective
from landscape.params import model_params


def _storages(tensors: list[torch.Tensor]) -> set[int]:
    return {t.untyped_storage().data_ptr() for t in tensors}


def test_splits_share_one_point_origin_and_directions_and_match_private_evaluators(
    net: nn.Module, splits: dict[str, Split]
) -> None:
    objectives = {k: Objective(net, s, batch_size=16) for k, s in splits.items()}
    origin = model_params(net)
    vectors = random_directions(origin, ndim=2, seed=3).vectors
    private = {  # built from copies, before the shared ones point the dicts at flat buffers
        k: PointEvaluator(obj, copy.deepcopy(origin), copy.deepcopy(vectors))
        for k, obj in objectives.items()
    }
    shared = _evaluators(
        objectives, origin, vectors, points_per_pass=None, bn="eval", buffer_vectors=None
    )
    (train, _), (test, _) = shared["train"], shared["test"]
    assert train.weights is test.weights
    ((point, flat_origin, flat_directions),) = train.weights.groups
    for ev in (train, test):  # the models' weights are views of the one point buffer
        assert _storages(list(ev.model.parameters())) == _storages([point])
    assert _storages(list(origin.values())) == _storages([flat_origin])
    for obj in objectives.values():  # the objectives' own copies hold the origin, no copy
        assert _storages(list(obj.model.parameters())) == _storages([flat_origin])
    for d, flat in zip(vectors, flat_directions, strict=True):
        assert _storages(list(d.values())) == _storages([flat])
    assert len(_storages([point, flat_origin, *flat_directions])) == 4
    coords = np.array([[0.0, 0.0], [0.5, -0.25], [-1.0, 1.0]])
    for split, (ev, _) in shared.items():
        loss, acc = ev(coords)
        want_loss, want_acc = private[split](coords)
        assert np.array_equal(loss, want_loss) and np.array_equal(acc, want_acc)


def test_a_point_evaluator_leaves_the_objective_model_and_the_callers_dicts_alone(
    net: nn.Module, splits: dict[str, Split]
) -> None:
    obj = Objective(net, splits["train"])
    before = {k: v.clone() for k, v in obj.model.state_dict().items()}
    origin = model_params(net)
    vectors = random_directions(origin, ndim=1, seed=0).vectors
    ids = [id(v) for v in origin.values()]
    PointEvaluator(obj, origin, vectors)(np.array([[2.0]]))
    assert all(torch.equal(before[k], v) for k, v in obj.model.state_dict().items())
    assert [id(v) for v in origin.values()] == ids
