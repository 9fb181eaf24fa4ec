"""Per-epoch statistics: weight norms and the epoch table's columns, against hand-computed values."""

import numpy as np
import pytest
import torch

from landscape.dynamics.epoch_stats import epoch_columns, weight_norms
from landscape.dynamics.step_records import EpochRecord, StepSums


def test_weight_norms_against_hand_computed_values():
    current = [torch.tensor([3.0, 4.0]), torch.tensor([[1.0, 2.0], [2.0, 4.0]])]
    previous = [torch.tensor([3.0, 0.0]), torch.tensor([[1.0, 2.0], [2.0, 0.0]])]
    init = [torch.zeros(2), torch.ones(2, 2)]
    got = weight_norms(current, previous, init).tolist()
    assert got[:2] == [5.0, 5.0]  # ||w||
    assert got[2:4] == [4.0, 4.0]  # ||w - w_prev||
    assert got[4:6] == [3.0, 3.0]  # ||w_prev||
    assert got[6:] == pytest.approx([5.0, np.sqrt(0 + 1 + 1 + 9)])  # ||w - w_0||


def epoch_record(epoch, norms, step_size=None):
    return EpochRecord(
        epoch=epoch,
        step=2 * epoch,
        lr=0.1,
        train=(1.0, 0.5),
        val=(2.0, float("nan")),
        weight_norms=torch.tensor(norms, dtype=torch.float32),
        step_size=np.full((3, 2), np.nan) if step_size is None else step_size,
    )


def test_epoch_columns_from_records_and_step_sums():
    # per layer: ||w||, ||w - w_prev||, ||w_prev||, ||w - w_0||, two layers
    records = [
        epoch_record(0, [1.0, 2.0, 0.0, 0.0, 1.0, 2.0, 0.0, 0.0]),
        epoch_record(1, [2.0, 2.0, 1.0, 0.5, 1.0, 2.0, 3.0, 4.0], np.arange(6.0).reshape(3, 2)),
    ]
    sums = {1: StepSums(6.0, 3, np.array([8.0, 18.0]), 2)}
    cols = epoch_columns(records, sums, layers=2)
    assert cols["epoch"].tolist() == [0, 1] and cols["step"].tolist() == [0, 2]
    assert np.isnan(cols["mean_step_loss"][0]) and cols["mean_step_loss"][1] == 2.0
    assert np.isnan(cols["layer_grad_norm"][0]).all()
    assert cols["layer_grad_norm"][1].tolist() == [2.0, 3.0]  # sqrt(8 / 2), sqrt(18 / 2)
    assert cols["grad_norm"][1] == pytest.approx(np.sqrt(26 / 2))
    assert cols["weight_norm"].tolist() == [[1.0, 2.0], [2.0, 2.0]]
    assert np.isnan(cols["update_ratio"][0]).all()  # no previous epoch
    assert cols["update_ratio"][1].tolist() == [1.0, 0.25]
    assert cols["distance_from_init"].tolist() == [0.0, 5.0]
    assert cols["train_loss"].tolist() == [1.0, 1.0] and cols["train_acc"].tolist() == [0.5, 0.5]
    assert np.isnan(cols["val_acc"]).all()
    assert cols["eff_step_p10"][1].tolist() == [0.0, 1.0]
    assert cols["eff_step_p90"][1].tolist() == [4.0, 5.0]
    assert cols["weight_norm"].shape == (2, 2) and cols["distance_from_init"].shape == (2,)
