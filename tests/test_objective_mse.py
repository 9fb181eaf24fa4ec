import h5py
import pytest
import torch
from click.testing import CliRunner

from landscape.cli import cli
from landscape.data import Split
from landscape.models import MLP
from landscape.objective import Objective
from landscape.params import model_params


def test_mse_on_class_labels_is_half_summed_one_hot_error_mean_over_samples():
    torch.manual_seed(0)
    model = MLP(6, 3, hidden=(5,))
    x, y = torch.randn(11, 6), torch.randint(0, 3, (11,))
    obj = Objective(model, Split(x, y), loss="mse", batch_size=4)  # unequal batches
    loss, acc = obj.evaluate(model_params(model))
    with torch.no_grad():
        out = model(x)
    by_hand = 0.5 * ((out - torch.eye(3)[y]) ** 2).sum(dim=1).mean()
    assert loss == pytest.approx(float(by_hand), rel=1e-6)
    assert acc == pytest.approx(float((out.argmax(1) == y).float().mean()))


def test_mse_on_float_targets_stays_regression():
    model = MLP(4, 1, hidden=(3,))
    obj = Objective(model, Split(torch.randn(8, 4), torch.randn(8)), loss="mse")
    assert obj.task == "regression" and not obj.has_accuracy


def test_cli_train_with_mse_on_class_labels(tmp_path):
    out = tmp_path / "run"
    args = ["-q", "train", "--loss", "mse", "--epochs", "1", "--max-samples", "32"]
    res = CliRunner().invoke(cli, [*args, "--batch-size", "16", "--out", str(out)])
    assert res.exit_code == 0, res.output
    with h5py.File(out / "run.h5", "r") as f:
        acc = f["dynamics/epoch/train_acc"][()]
        loss = f["dynamics/epoch/train_loss"][()]
    assert ((acc >= 0) & (acc <= 1)).all() and (loss > 0).all()
