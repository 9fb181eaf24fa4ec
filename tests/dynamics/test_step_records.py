"""The named records the Recorder keeps between writes, and the columns made from them."""

import numpy as np
import torch

from landscape.dynamics.step_records import (
    ProbeRecord,
    StepRecord,
    StepSums,
    probe_columns,
    step_columns,
    sums_by_epoch,
    to_host,
)


def test_step_record_fields_by_name():
    norms = [torch.tensor(3.0), torch.tensor(4.0)]
    record = StepRecord(7, 2, torch.tensor(0.5), 0.1, norms)
    assert (record.step, record.epoch, record.lr) == (7, 2, 0.1)
    assert float(record.loss) == 0.5 and record.grad_norms is norms
    assert record._fields == ("step", "epoch", "loss", "lr", "grad_norms")


def test_step_columns_from_sampled_and_unsampled_steps():
    steps = [
        StepRecord(1, 1, torch.tensor(1.0), 0.1, [torch.tensor(3.0), torch.tensor(4.0)]),
        StepRecord(2, 1, 2.0, 0.1, None),
        StepRecord(3, 2, torch.tensor(4.0), 0.05, [torch.tensor(1.0), torch.tensor(0.0)]),
    ]
    columns, sums = step_columns(steps, layers=2)
    assert columns["step"].tolist() == [1, 2, 3] and columns["step"].dtype == np.int64
    assert columns["epoch"].tolist() == [1, 1, 2] and columns["epoch"].dtype == np.int64
    assert columns["loss"].tolist() == [1.0, 2.0, 4.0] and columns["loss"].dtype == np.float64
    assert columns["lr"].tolist() == [0.1, 0.1, 0.05]
    g = columns["grad_norm"]
    assert g[0] == 5.0 and np.isnan(g[1]) and g[2] == 1.0  # sqrt(3^2 + 4^2); NaN unsampled
    assert set(sums) == {1, 2}
    assert (sums[1].loss, sums[1].steps, sums[1].sampled) == (3.0, 2, 1)
    assert sums[1].grad_sq.tolist() == [9.0, 16.0]
    assert (sums[2].loss, sums[2].steps, sums[2].sampled) == (4.0, 1, 1)


def test_step_sums_add_up_across_writes():
    first = StepSums(3.0, 2, np.array([9.0, 16.0]), 1)
    second = StepSums(1.0, 1, np.array([1.0, 0.0]), 1)
    total = first + second
    assert (total.loss, total.steps, total.sampled) == (4.0, 3, 2)
    assert total.grad_sq.tolist() == [10.0, 16.0]


def test_sums_by_epoch_groups_consecutive_epochs():
    sums = sums_by_epoch(
        np.array([3, 3, 3, 4]),
        np.array([1.0, 2.0, 3.0, 10.0]),
        np.array([[1.0], [0.0], [4.0], [9.0]]),
        np.array([True, False, True, True]),
    )
    assert sums[3].loss == 6.0 and sums[3].steps == 3 and sums[3].sampled == 2
    assert sums[3].grad_sq.tolist() == [5.0] and sums[4].grad_sq.tolist() == [9.0]


def test_probe_columns_fill_missing_values_with_nan():
    cols = probe_columns([ProbeRecord(2, {"lambda_max": 3.0}), ProbeRecord(4, {"trace": 1.5})])
    assert list(cols) == ["lambda_max", "step", "trace"]  # sorted, as the file stores them
    assert cols["step"].dtype == np.float64 and cols["step"].tolist() == [2.0, 4.0]
    assert cols["lambda_max"][0] == 3.0 and np.isnan(cols["lambda_max"][1])
    assert np.isnan(cols["trace"][0]) and cols["trace"][1] == 1.5


def test_to_host_keeps_the_order_of_floats_and_tensors():
    values = [torch.tensor(1.5), 2.5, torch.tensor(3.5, dtype=torch.float64)]
    out = to_host(values)
    assert out.dtype == np.float64 and out.tolist() == [1.5, 2.5, 3.5]
    assert to_host([0.25]).tolist() == [0.25]
