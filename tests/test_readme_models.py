"""The README's "Your own models" examples, run as written (issue 18, item 10)."""

from __future__ import annotations

import re
import runpy
import shlex
import sys
from pathlib import Path

import h5py
import pytest
import torch
from click.testing import CliRunner

from landscape.cli import cli

README = Path(__file__).resolve().parents[1] / "README.md"


def section_blocks(heading: str) -> list[tuple[str, str]]:
    """``(language, code)`` of every fenced block under ``heading`` up to the next heading."""
    text = README.read_text()
    start = text.index(f"\n{heading}\n")
    end = re.search(r"\n#{2,3} ", text[start + len(heading) + 2 :])
    body = text[start : start + len(heading) + 2 + (end.start() if end else len(text))]
    return re.findall(r"```(\w+)\n(.*?)```", body, flags=re.S)


def script_name(code: str) -> str:
    """The file name a README code block gives on its first line (``# tokens.py: ...``)."""
    return code.splitlines()[0].removeprefix("# ").split(":")[0]


def run_commands(script: str) -> None:
    """Run a README bash block line by line as a user would: ``python`` scripts and
    ``landscape`` commands only, each of which must succeed."""
    for line in script.strip().splitlines():
        words = shlex.split(line)
        if words[0] == "python":
            runpy.run_path(words[1], run_name="__main__")
            continue
        assert words[0] == "landscape"
        res = CliRunner().invoke(cli, ["-q", *words[1:]], catch_exceptions=False)
        assert res.exit_code == 0, res.output


def test_hugging_face_example(tmp_path, monkeypatch):
    transformers = pytest.importorskip("transformers", reason="transformers is not installed")
    monkeypatch.chdir(tmp_path)
    blocks = section_blocks("### Hugging Face")
    assert [lang for lang, _ in blocks] == ["python", "python", "bash"]
    for _, code in blocks[:2]:
        (tmp_path / script_name(code)).write_text(code)
    run_commands(blocks[2][1])
    model = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "gpt2-tiny").eval()
    data = runpy.run_path(str(tmp_path / "tokens.py"))["data"]()
    with h5py.File(tmp_path / "gpt2-surface.h5", "r") as f:
        x = f["xcoordinates"][()]
        origin = int(abs(x).argmin())
        assert x[origin] == 0.0
        for split, batch in data.items():
            labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
            with torch.no_grad():
                own = model(**batch, labels=labels).loss
            assert float(f[f"{split}_loss"][origin]) == pytest.approx(float(own), rel=1e-6)
            acc = float(f[f"surface/{split}_acc"][origin])  # a fraction; the root is percent
            assert 0.0 <= acc <= 1.0 and float(f[f"{split}_acc"][origin]) == pytest.approx(
                100 * acc
            )
    assert (tmp_path / "gpt2-hessian.h5").exists()


def run_section(heading: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    """Write the section's python blocks under the file names their first lines give, then
    run its bash block line by line as a user would; return the number of python blocks."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # the scripts import the model file beside them
    blocks = section_blocks(heading)
    assert [lang for lang, _ in blocks][-1] == "bash"
    files = [code for lang, code in blocks if lang == "python"]
    for code in files:
        (tmp_path / script_name(code)).write_text(code)
    joined = re.sub(r"\s*\\\n\s*", " ", blocks[-1][1])
    run_commands(joined)
    for code in files:  # the scripts' imports of each other are this test's own
        sys.modules.pop(code.splitlines()[0].removeprefix("# ").split(".py")[0], None)
    return len(files)


def own_losses(model: torch.nn.Module, data: dict) -> dict[str, float]:
    """The network's own eval-mode mean cross-entropy on each split."""
    model.eval()
    with torch.no_grad():
        return {
            s: float(torch.nn.functional.cross_entropy(model(x), y)) for s, (x, y) in data.items()
        }


def origin_value(f: h5py.File, name: str) -> float:
    ix = int(abs(f["xcoordinates"][()]).argmin())
    if "ycoordinates" not in f:
        return float(f[name][ix])
    return float(f[name][int(abs(f["ycoordinates"][()]).argmin()), ix])


def test_torchvision_example(tmp_path, monkeypatch):
    assert run_section("### torchvision", tmp_path, monkeypatch) == 2
    tv = runpy.run_path(str(tmp_path / "tvnet.py"))
    checkpoint = torch.load(tmp_path / "checkpoint.pth", weights_only=False)
    assert set(checkpoint) == {"model", "optimizer", "lr_scheduler", "epoch", "args"}
    model = tv["resnet_tiny"]()
    model.load_state_dict(checkpoint["model"])
    with h5py.File(tmp_path / "tv-surface.h5", "r") as f:
        for split, loss in own_losses(model, tv["images"]()).items():
            assert origin_value(f, f"{split}_loss") == pytest.approx(loss, rel=1e-6)
    with h5py.File(tmp_path / "tv-hessian.h5", "r") as f:
        assert "curvature/hessian" in f


def test_lightning_example(tmp_path, monkeypatch):
    assert run_section("### Lightning", tmp_path, monkeypatch) == 2
    lit = runpy.run_path(str(tmp_path / "litnet.py"))
    ckpt = torch.load(tmp_path / "last.ckpt", weights_only=True)
    assert all(k.startswith("model.") for k in ckpt["state_dict"])
    model = lit["mlp"]()
    model.load_state_dict({k.removeprefix("model."): v for k, v in ckpt["state_dict"].items()})
    with h5py.File(tmp_path / "lit-surface.h5", "r") as f:
        assert f["train_loss"].shape == (11, 11)
        for split, loss in own_losses(model, lit["tabular"]()).items():
            assert origin_value(f, f"{split}_loss") == pytest.approx(loss, rel=1e-6)
    with h5py.File(tmp_path / "lit-sharpness.h5", "r") as f:
        assert "curvature/sharpness" in f
