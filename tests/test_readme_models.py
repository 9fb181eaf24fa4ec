"""The README's "Your own models" examples, run as written (issue 18, item 10)."""

from __future__ import annotations

import re
import runpy
import shlex
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


def test_hugging_face_example(tmp_path, monkeypatch):
    transformers = pytest.importorskip("transformers", reason="transformers is not installed")
    monkeypatch.chdir(tmp_path)
    blocks = section_blocks("### Hugging Face")
    assert [lang for lang, _ in blocks] == ["python", "python", "bash"]
    for _, code in blocks[:2]:
        name = code.splitlines()[0].removeprefix("# ").split(":")[0]
        (tmp_path / name).write_text(code)
    for line in blocks[2][1].strip().splitlines():
        words = shlex.split(line)
        if words[0] == "python":
            runpy.run_path(words[1], run_name="__main__")
            continue
        assert words[0] == "landscape"
        res = CliRunner().invoke(cli, ["-q", *words[1:]], catch_exceptions=False)
        assert res.exit_code == 0, res.output
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
            assert 0.0 <= acc <= 1.0 and float(f[f"{split}_acc"][origin]) == pytest.approx(100 * acc)
    assert (tmp_path / "gpt2-hessian.h5").exists()
