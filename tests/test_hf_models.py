"""Hugging Face models from local save_pretrained directories (issue 18, items 1, 3, 4).

Tiny GPT-2 and BERT models are built from configs (random init, no download)
and saved into tmp directories.
"""

from __future__ import annotations

import sys
from pathlib import Path

import h5py
import pytest
import torch
from click.testing import CliRunner

from landscape.cli import cli
from landscape.curvature.hvp import HessianLinearOperator
from landscape.data import as_split
from landscape.errors import LandscapeError
from landscape.loading import build_model, load_checkpoint
from landscape.objective import Objective
from landscape.params import model_params

transformers = pytest.importorskip("transformers", reason="transformers is not installed")

VOCAB, T = 40, 7


def gpt2_config(**kw: object) -> transformers.GPT2Config:
    return transformers.GPT2Config(
        vocab_size=VOCAB,
        n_positions=16,
        n_embd=16,
        n_layer=2,
        n_head=2,
        bos_token_id=0,
        eos_token_id=0,
        **kw,
    )


def bert_config(**kw: object) -> transformers.BertConfig:
    return transformers.BertConfig(
        vocab_size=VOCAB,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=16,
        num_labels=3,
        **kw,
    )


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("gpt2")
    transformers.GPT2LMHeadModel(gpt2_config()).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("bert")
    transformers.BertForSequenceClassification(bert_config()).save_pretrained(path)
    return path


def token_batch(rows: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, VOCAB, (rows, T), generator=g)
    mask = torch.ones_like(ids)
    mask[::3, -2:] = 0  # padded rows: their last tokens are not scored
    return {"input_ids": ids, "attention_mask": mask}


def lm_labels(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)


DATA_PY = """
import torch

VOCAB, T = {vocab}, {t}


def batch(rows, seed):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, VOCAB, (rows, T), generator=g)
    mask = torch.ones_like(ids)
    mask[::3, -2:] = 0
    return {{"input_ids": ids, "attention_mask": mask}}


def lm():
    return {{"train": batch(10, 1), "test": batch(5, 2)}}


def classify():
    train, test = batch(10, 1), batch(5, 2)
    train["labels"] = torch.arange(10) % 3
    return {{"train": train, "test": (test, torch.arange(5) % 3)}}
"""


@pytest.fixture(scope="module")
def data_py(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "hfdata.py"
    path.write_text(DATA_PY.format(vocab=VOCAB, t=T))
    return path


def run(*args: str):
    return CliRunner().invoke(cli, ["-q", *args], catch_exceptions=False)


SPLITS = {"train": (10, 1), "test": (5, 2)}  # rows and seed of each split in DATA_PY


def origin_losses(out: Path) -> dict[str, float]:
    with h5py.File(out, "r") as f:
        return {f"{k}_loss": float(f[f"{k}_loss"][1]) for k in ("train", "test")} | {
            f"{k}_acc": float(f[f"surface/{k}_acc"][1]) for k in ("train", "test")
        }


def origin_of_surface(out: Path, model: str, data: str, *, batch_size: int) -> dict[str, float]:
    """``landscape surface`` over x = -1, 0, 1, then the losses and accuracies at x = 0."""
    res = run(
        "surface", "--model", model, "--data", data,
        "--x=-1:1:3", "--batch-size", str(batch_size), "--out", str(out),
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    return origin_losses(out)


def test_gpt2_surface_origin_is_the_models_own_labels_loss(tmp_path, gpt2_dir, data_py):
    got = origin_of_surface(tmp_path / "s.h5", f"hf:{gpt2_dir}", f"{data_py}:lm", batch_size=4)
    model = transformers.GPT2LMHeadModel.from_pretrained(gpt2_dir).eval()
    for name, (rows, seed) in SPLITS.items():
        batch = token_batch(rows, seed)
        with torch.no_grad():
            ref = model(**batch, labels=lm_labels(batch)).loss
        assert got[f"{name}_loss"] == pytest.approx(float(ref), rel=1e-6)
        assert 0.0 <= got[f"{name}_acc"] <= 1.0


def test_bert_classifier_surface_origin_is_the_models_own_loss(tmp_path, bert_dir, data_py):
    data = f"{data_py}:classify"
    got = origin_of_surface(tmp_path / "s.h5", f"hf:{bert_dir}", data, batch_size=3)
    model = transformers.BertForSequenceClassification.from_pretrained(bert_dir).eval()
    for name, (rows, seed) in SPLITS.items():
        batch, labels = token_batch(rows, seed), torch.arange(rows) % 3
        with torch.no_grad():
            out_ = model(**batch, labels=labels)
        assert got[f"{name}_loss"] == pytest.approx(float(out_.loss), rel=1e-6)
        acc = float((out_.logits.argmax(-1) == labels).double().mean())
        assert got[f"{name}_acc"] == pytest.approx(acc)


def test_task_is_inferred_from_the_config(gpt2_dir, bert_dir, tmp_path):
    split = as_split(token_batch(4, 0), source="t")
    assert Objective(build_model(f"hf:{gpt2_dir}"), split).task == "lm"
    labelled = as_split((token_batch(4, 0), torch.tensor([0, 1, 2, 0])), source="t")
    assert Objective(build_model(f"hf:{bert_dir}"), labelled).task == "classification"
    torch.manual_seed(0)
    mlm = tmp_path / "mlm"
    transformers.BertForMaskedLM(bert_config()).save_pretrained(mlm)
    assert Objective(build_model(f"hf:{mlm}"), split).task == "mlm"
    reg = tmp_path / "reg"
    transformers.BertForSequenceClassification(bert_config(problem_type="regression")).save_pretrained(reg)  # fmt: skip
    floats = as_split((token_batch(4, 0), torch.randn(4, 3)), source="t")
    assert Objective(build_model(f"hf:{reg}"), floats, loss="mse").task == "regression"


def test_mlm_loss_equals_the_models_own(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "mlm"
    transformers.BertForMaskedLM(bert_config()).save_pretrained(path)
    batch = token_batch(6, 3)
    labels = torch.full_like(batch["input_ids"], -100)
    labels[:, 2] = batch["input_ids"][:, 2]
    labels[1:, 4] = batch["input_ids"][1:, 4]
    net = build_model(f"hf:{path}")
    obj = Objective(net, as_split({**batch, "labels": labels}, source="t"), batch_size=4)
    with torch.no_grad():
        ref = net(**batch, labels=labels).loss
    loss, acc = obj.evaluate(model_params(net))
    assert obj.num_samples == 11
    assert loss == pytest.approx(float(ref), rel=1e-6) and 0.0 <= acc <= 1.0


def test_tied_weights_restored_from_their_partner(gpt2_dir):
    from safetensors.torch import load_file

    stored = load_file(gpt2_dir / "model.safetensors")
    assert "lm_head.weight" not in stored  # save_pretrained keeps one copy of a tied weight
    net = build_model(f"hf:{gpt2_dir}")
    params, _ = load_checkpoint(net, gpt2_dir / "model.safetensors")
    assert torch.equal(params["transformer.wte.weight"], stored["transformer.wte.weight"])
    split = as_split(token_batch(5, 4), source="t")
    obj = Objective(net, split)
    assert obj.evaluate(params) == obj.evaluate(model_params(net))


def test_checkpoint_flag_loads_the_same_weights_through_the_cli(tmp_path, gpt2_dir, data_py):
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    common = ["surface", "--model", f"hf:{gpt2_dir}", "--data", f"{data_py}:lm", "--x=-1:1:3"]
    assert run(*common, "--out", str(a)).exit_code == 0
    res = run(*common, "--checkpoint", str(gpt2_dir / "model.safetensors"), "--out", str(b))
    assert res.exit_code == 0, res.output
    assert origin_losses(a) == origin_losses(b)


def test_hub_name_is_refused_without_download(tmp_path):
    with pytest.raises(LandscapeError, match="not a local directory; landscape never downloads"):
        build_model("hf:gpt2")
    res = CliRunner().invoke(
        cli, ["-q", "surface", "--model", "hf:bert-base-uncased", "--out", str(tmp_path / "s.h5")]
    )
    assert res.exit_code != 0
    assert "never downloads" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "s.h5").exists()


def test_checkpoint_still_required_for_other_models(tmp_path):
    res = CliRunner().invoke(
        cli, ["-q", "surface", "--model", "mlp", "--out", str(tmp_path / "s.h5")]
    )
    assert res.exit_code == 1 and "--checkpoint" in res.output


def test_missing_transformers_gives_one_line(monkeypatch, gpt2_dir, tmp_path):
    monkeypatch.setitem(sys.modules, "transformers", None)  # import now raises ImportError
    with pytest.raises(
        LandscapeError, match=r"needs the transformers package: pip install 'landscape\[hf\]'"
    ):
        build_model(f"hf:{gpt2_dir}")
    res = CliRunner().invoke(
        cli, ["-q", "surface", "--model", f"hf:{gpt2_dir}", "--out", str(tmp_path / "s.h5")]
    )
    assert res.exit_code == 1
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and "pip install 'landscape[hf]'" in lines[0]


def test_directory_without_config_is_refused(tmp_path):
    with pytest.raises(LandscapeError, match=r"no config\.json"):
        build_model(f"hf:{tmp_path}")


@pytest.mark.parametrize(
    ("make", "data"),
    [
        (lambda impl: transformers.GPT2LMHeadModel(gpt2_config(attn_implementation=impl)), None),
        (
            lambda impl: transformers.BertForSequenceClassification(
                bert_config(attn_implementation=impl)
            ),
            torch.tensor([0, 1, 2]),
        ),
    ],
    ids=["gpt2", "bert"],
)
def test_hvp_through_sdpa_equals_double_backward_of_eager(make, data):
    torch.manual_seed(0)
    sdpa, eager = make("sdpa").double().eval(), make("eager").double().eval()
    eager.load_state_dict(sdpa.state_dict())
    batch = token_batch(3, 5)
    split = as_split(batch if data is None else (batch, data), source="t")
    params = model_params(sdpa)
    n = sum(p.numel() for p in params.values())
    vectors = torch.randn(n, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    # reference: plain double backward through eager attention (matmul + softmax)
    ref_obj = Objective(eager, split)
    leaves = [p.clone().requires_grad_(True) for p in params.values()]
    loss = ref_obj.loss(dict(zip(params, leaves, strict=True)))
    grads = torch.autograd.grad(loss, leaves, create_graph=True)
    flat = torch.cat([g.reshape(-1) for g in grads])
    ref = torch.stack(
        [
            torch.cat(
                [h.reshape(-1) for h in torch.autograd.grad(flat @ v, leaves, retain_graph=True)]
            )
            for v in vectors.T
        ],
        dim=1,
    )
    op = HessianLinearOperator(Objective(sdpa, split), params)
    torch.testing.assert_close(op @ vectors, ref, rtol=1e-9, atol=1e-12)  # one block (vmap)
    torch.testing.assert_close(
        op @ vectors[:, 0], ref[:, 0], rtol=1e-9, atol=1e-12
    )  # double backward


def test_hessian_cli_on_a_hf_model(tmp_path, gpt2_dir, data_py):
    out = tmp_path / "h.h5"
    res = run(
        "hessian", "--model", f"hf:{gpt2_dir}", "--data", f"{data_py}:lm", "--top-k", "1",
        "--out", str(out),
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert out.exists()
