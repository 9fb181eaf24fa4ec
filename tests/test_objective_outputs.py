"""Model outputs of every kind, per-token tasks and their exact weighting (issue 18, items 2-3)."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import Tensor, nn

from landscape.cli import cli
from landscape.data import Split, as_split
from landscape.errors import LandscapeError
from landscape.objective import Objective
from landscape.params import model_params

V, T = 6, 5


class TokenModel(nn.Module):
    """Embedding + linear: logits (B, T, V), wrapped as asked (``kind``)."""

    def __init__(self, kind: str = "tensor", layout: str = "btv") -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(V, 4)
        self.out = nn.Linear(4, V)
        self.kind, self.layout = kind, layout

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> object:
        logits = self.out(self.embed(input_ids))
        if self.layout == "bvt":
            logits = logits.transpose(1, 2)
        hidden = torch.zeros(1)
        if self.kind == "tuple":
            return logits, hidden
        if self.kind == "dict":
            return {"hidden": hidden, "logits": logits}
        if self.kind == "model-output":  # ModelOutput is an OrderedDict with attributes
            return OrderedDict(logits=logits, hidden=hidden)
        if self.kind == "named":
            return {"hidden": hidden, "scores": logits}
        if self.kind == "attribute":
            return Scores(logits)
        return logits


@dataclass
class Scores:
    scores: Tensor


def token_data() -> dict[str, Tensor]:
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, V, (5, T), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 3:] = 0
    mask[4, 2:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def manual_lm(model: nn.Module, batch: dict[str, Tensor]) -> tuple[float, float, int]:
    """Next-token cross-entropy and accuracy over unpadded targets, token by token."""
    with torch.no_grad():
        logits = model.out(model.embed(batch["input_ids"])).double()
    losses, hits = [], []
    for b in range(logits.shape[0]):
        for t in range(T - 1):
            if batch["attention_mask"][b, t + 1]:
                target = batch["input_ids"][b, t + 1]
                losses.append(-torch.log_softmax(logits[b, t], -1)[target])
                hits.append(float(logits[b, t].argmax() == target))
    return float(sum(losses) / len(losses)), sum(hits) / len(hits), len(losses)


@pytest.mark.parametrize("batch_size", [None, 2, 3])
def test_lm_loss_and_accuracy_are_exact_means_over_counted_tokens(batch_size):
    model, batch = TokenModel().double(), token_data()
    obj = Objective(model, as_split(batch, source="t"), task="lm", batch_size=batch_size)
    loss, acc = obj.evaluate(model_params(model))
    ref_loss, ref_acc, counted = manual_lm(model, batch)
    assert obj.num_samples == counted == 15
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    assert acc == pytest.approx(ref_acc) and 0.0 <= acc <= 1.0
    assert float(obj.loss(model_params(model))) == pytest.approx(ref_loss, rel=1e-12)


@pytest.mark.parametrize("kind", ["tuple", "dict", "model-output"])
def test_every_output_kind_scores_like_the_tensor(kind):
    split = as_split(token_data(), source="t")
    ref = Objective(TokenModel(), split, task="lm")
    obj = Objective(TokenModel(kind), split, task="lm")
    params = model_params(TokenModel())
    assert obj.evaluate(params) == ref.evaluate(params)


@pytest.mark.parametrize("kind", ["named", "attribute"])
def test_named_output_field(kind):
    split = as_split(token_data(), source="t")
    params = model_params(TokenModel())
    ref = Objective(TokenModel(), split, task="lm").evaluate(params)
    assert Objective(TokenModel(kind), split, task="lm", output="scores").evaluate(params) == ref
    with pytest.raises(LandscapeError, match="no tensor 'missing'"):
        Objective(TokenModel(kind), split, task="lm", output="missing")


def test_dict_without_logits_asks_for_output():
    with pytest.raises(LandscapeError, match="--output KEY"):
        Objective(TokenModel("named"), as_split(token_data(), source="t"), task="lm")


@pytest.mark.parametrize("task", ["lm", "mlm", "classification"])
def test_vocab_first_layout_equals_vocab_last(task):
    batch = token_data()
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    split = as_split({**batch, "labels": labels}, source="t")
    params = model_params(TokenModel())
    a = Objective(TokenModel(layout="btv"), split, task=task, batch_size=2).evaluate(params)
    b = Objective(TokenModel(layout="bvt"), split, task=task, batch_size=2).evaluate(params)
    assert a == pytest.approx(b, rel=1e-6)


def test_per_token_classification_accuracy_is_a_fraction():
    """(B, T, V) logits with (B, T) labels: accuracy over tokens, not tokens per row."""
    g = torch.Generator().manual_seed(2)
    ids = torch.randint(0, V, (4, 16), generator=g)
    labels = ids.clone()  # a copy task the model gets partly right
    model = TokenModel()
    with torch.no_grad():
        model.out.weight.copy_(torch.zeros(V, 4))
        model.out.bias.copy_(torch.tensor([5.0, 0, 0, 0, 0, 0]))  # always predicts token 0
    obj = Objective(model, Split({"input_ids": ids}, labels))
    assert obj.task == "classification" and obj.num_samples == 64
    loss, acc = obj.evaluate(model_params(model))
    assert acc == pytest.approx(float((ids == 0).double().mean()))
    with torch.no_grad():
        ref = nn.functional.cross_entropy(model(ids).reshape(-1, V), labels.reshape(-1))
    assert loss == pytest.approx(float(ref), rel=1e-6)


def test_mlm_scores_only_labelled_positions():
    batch = token_data()
    labels = torch.full_like(batch["input_ids"], -100)
    labels[:, 1] = batch["input_ids"][:, 1]
    model = TokenModel()
    obj = Objective(model, as_split({**batch, "labels": labels}, source="t"), task="mlm")
    with torch.no_grad():
        ref = nn.functional.cross_entropy(model(batch["input_ids"])[:, 1], labels[:, 1])
    assert obj.num_samples == 5
    assert obj.evaluate(model_params(model))[0] == pytest.approx(float(ref), rel=1e-6)


def test_no_accuracy():
    obj = Objective(TokenModel(), as_split(token_data(), source="t"), task="lm", accuracy=False)
    assert not obj.has_accuracy and np.isnan(obj.evaluate(model_params(TokenModel()))[1])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"task": "lm", "loss": "mse"}, "scored per token with cross-entropy"),
        ({"task": "regression"}, "is a classification loss but the task is regression"),
        ({"task": "translation"}, "task: expected one of"),
    ],
)
def test_task_and_loss_must_fit(kwargs, match):
    with pytest.raises(LandscapeError, match=match):
        Objective(TokenModel(), as_split(token_data(), source="t"), **kwargs)


def test_regression_task_takes_mse_on_integer_targets_as_plain_squared_error():
    x, y = torch.randn(6, 2), torch.arange(6)
    lin = nn.Linear(2, 1)
    obj = Objective(lin, Split(x, y), loss="mse", task="regression")
    with torch.no_grad():
        ref = nn.functional.mse_loss(lin(x).squeeze(1), y.float())
    assert obj.task == "regression" and not obj.has_accuracy
    assert obj.evaluate(model_params(lin))[0] == pytest.approx(float(ref), rel=1e-6)


def test_token_labels_out_of_range_and_wrong_shapes_refused():
    batch = token_data()
    with pytest.raises(LandscapeError, match="labels out of range"):
        Objective(TokenModel(), as_split((batch, batch["input_ids"] + V), source="t"), task="mlm")
    with pytest.raises(LandscapeError, match=r"expected \(T, V\) or \(V, T\)"):
        Objective(TokenModel(), as_split((batch, torch.zeros(5, 2, dtype=torch.long)), source="t"), task="mlm")  # fmt: skip
    with pytest.raises(LandscapeError, match="every label is -100"):
        Objective(TokenModel(), as_split((batch, torch.full((5, T), -100)), source="t"), task="mlm")


MODEL_PY = """
import torch
from torch import nn


class Scorer(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding({v}, 4)
        self.out = nn.Linear(4, {v})

    def forward(self, input_ids, attention_mask=None):
        return {{"scores": self.out(self.embed(input_ids)).transpose(1, 2), "aux": input_ids}}


def data():
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, {v}, (5, {t}), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 3:] = 0
    mask[4, 2:] = 0
    return {{"train": {{"input_ids": ids, "attention_mask": mask}}}}
"""


def test_cli_scores_a_named_vocab_first_output_without_accuracy(tmp_path):
    src = tmp_path / "scorer.py"
    src.write_text(MODEL_PY.format(v=V, t=T))
    model = TokenModel()
    ckpt = tmp_path / "ckpt.pt"
    torch.save(model.state_dict(), ckpt)
    out = tmp_path / "s.h5"
    res = CliRunner().invoke(
        cli,
        ["-q", "surface", "--model", f"{src}:Scorer", "--checkpoint", str(ckpt),
         "--data", f"{src}:data", "--task", "lm", "--output", "scores", "--no-accuracy",
         "--batch-size", "2", "--x=-1:1:3", "--out", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    with h5py.File(out, "r") as f:
        origin = float(f["train_loss"][1])
        assert "train_acc" not in f  # no accuracy stored, as for regression
    assert origin == pytest.approx(manual_lm(model, token_data())[0], rel=1e-6)
    res = CliRunner().invoke(
        cli,
        ["-q", "surface", "--model", f"{src}:Scorer", "--checkpoint", str(ckpt),
         "--data", f"{src}:data", "--task", "lm", "--x=-1:1:3", "--out", str(tmp_path / "t.h5")],
    )  # fmt: skip
    assert res.exit_code == 1 and "--output KEY" in res.output


def test_connect_scores_a_named_output_at_both_ends_exactly(tmp_path):
    """``connect`` takes the scoring options too: its path starts and ends at each model's loss."""
    from landscape.io.connect import read_connect

    src = tmp_path / "scorer.py"
    src.write_text(MODEL_PY.format(v=V, t=T))
    a, b = TokenModel(), TokenModel()
    with torch.no_grad():
        b.out.weight.mul_(-0.5)
    torch.save(a.state_dict(), tmp_path / "a.pt")
    torch.save(b.state_dict(), tmp_path / "b.pt")
    out = tmp_path / "c.h5"
    args = ["-q", "connect", "--model", f"{src}:Scorer", "--checkpoint", str(tmp_path / "a.pt"),
            "--target", str(tmp_path / "b.pt"), "--data", f"{src}:data", "--split", "train",
            "--task", "lm", "--batch-size", "2", "--points", "3", "--out", str(out)]  # fmt: skip
    res = CliRunner().invoke(cli, [*args, "--output", "scores", "--no-accuracy"])
    assert res.exit_code == 0, res.output
    values = read_connect(out).paths["linear"].values
    assert "train_acc" not in values
    ends = values["train_loss"][[0, -1]]
    expected = [manual_lm(a, token_data())[0], manual_lm(b, token_data())[0]]
    np.testing.assert_allclose(ends, expected, rtol=1e-6)
    with h5py.File(out, "r") as f:
        assert '"output": "scores"' in f["connect"].attrs["config"]
    res = CliRunner().invoke(cli, [*args[:-1], str(tmp_path / "d.h5")])
    assert res.exit_code == 1 and "--output KEY" in res.output
