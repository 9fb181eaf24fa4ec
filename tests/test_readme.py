"""Every runnable code block of README.md, run in order in one folder, as a user would.

A ``bash`` or ``python`` block runs unless the line just above its fence is
``<!-- readme: not run (REASON) -->`` (installs, several machines, fragments
of the user's own code); ``<!-- readme: slow -->`` marks a block that takes
minutes even when made small (training with curvature tracking, comparisons,
Hessians, torchrun), run only by the ``slow`` tests (``pytest -m slow``).
Blocks without a language are sample output and listings; none of them may
hold a ``landscape`` command.

* ``test_readme_fast_blocks_run_small`` (CI; 66 s on 2 shared cores): the unmarked
  blocks, in order, made small by :func:`shrink` (2 epochs, 3-point grids,
  200 samples, 2 torchrun workers).
* ``test_readme_blocks_run_small`` (``slow``: on 2 shared cores it had not
  finished after 8 minutes): every runnable block, in order, made small.
* ``test_readme_blocks_run_verbatim`` (``slow``): every runnable block as
  written; it also checks that the ``landscape diagnose`` sample output is
  what its command prints.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
MARK = re.compile(r"<!-- readme: (not run \((?P<reason>[^)]+)\)|slow) -->\s*$")
SAMPLES = 200
"""Samples per split in the small run."""


@dataclass(frozen=True)
class Block:
    """One fenced block of the README."""

    line: int
    lang: str
    text: str
    mode: str  # "run", "slow" or "skip"


def readme_blocks() -> list[Block]:
    text = README.read_text()
    blocks = []
    for m in FENCE.finditer(text):
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        mark = MARK.search(before)
        mode = "run" if mark is None else ("slow" if mark.group(1) == "slow" else "skip")
        line = text[: m.start()].count("\n") + 1
        blocks.append(Block(line, m.group(1), m.group(2), mode))
    return blocks


def commands(block: Block) -> list[str]:
    """The shell command lines of a bash block: continuations joined, comments dropped."""
    joined = re.sub(r"\s*\\\n\s*", " ", block.text)
    lines = [re.sub(r"\s+#.*$", "", line).strip() for line in joined.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def _with_samples(line: str) -> str:
    if "--max-samples" in line:
        return re.sub(r"--max-samples \d+", f"--max-samples {SAMPLES}", line)
    return f"{line} --max-samples {SAMPLES}"


def shrink(block: Block) -> str:
    """The block with small sizes: few epochs, 3-point grids, few samples and workers."""
    text = re.sub(r"(-?[\d.]+:-?[\d.]+):\d+", r"\1:3", block.text)
    if block.lang == "python":
        return text
    out = []
    for line in commands(Block(block.line, block.lang, text, block.mode)):
        line = re.sub(r"--epochs \d+", "--epochs 2", line)
        line = re.sub(r"every=\d+", f"every=4,subset={SAMPLES}", line)
        line = re.sub(r"--nproc_per_node=\d+", "--nproc_per_node=2", line)
        words = line.split()
        sub = words[words.index("landscape") + 1] if "landscape" in words[:-1] else ""
        if sub in ("train", "surface", "hessian", "sharpness", "curvature-map"):
            line = _with_samples(line)
        elif sub == "trajectory":
            line += " --resolution 4"
        elif sub == "compare":
            line += (
                f" --curvature-samples {SAMPLES} --profile-samples {SAMPLES}"
                f" --plane-samples {SAMPLES} --trace-probes 3"
            )
        out.append(line)
    return "\n".join(out)


def run_block(block: Block, code: str, cwd: Path) -> str:
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    if block.lang == "python":
        argv = [sys.executable, "-c", code]
    else:
        shim = f'landscape() {{ "{sys.executable}" -m landscape "$@"; }}\n'
        torchrun = f'torchrun() {{ "{sys.executable}" -m torch.distributed.run "$@"; }}\n'
        argv = ["bash", "-e", "-o", "pipefail", "-c", shim + torchrun + code]
    res = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=1800)
    assert res.returncode == 0, f"README line {block.line}:\n{code}\n{res.stdout}\n{res.stderr}"
    return res.stdout


def test_every_block_is_run_or_says_why_not():
    blocks = readme_blocks()
    assert blocks
    for b in blocks:
        if b.lang in ("bash", "python"):
            continue
        assert b.mode == "run", f"README line {b.line}: a mark on a block without a language"
        starts = [line.split()[0] for line in b.text.splitlines() if line.strip()]
        assert "landscape" not in starts, f"README line {b.line}: commands belong in ```bash"
    reasons = README.read_text().count("<!-- readme: not run (")
    assert reasons == sum(b.mode == "skip" for b in blocks)


def test_shrink_makes_commands_small():
    block = Block(1, "bash", "landscape train --epochs 30 \\\n  --out r  # note\n", "run")
    assert shrink(block) == f"landscape train --epochs 2 --out r --max-samples {SAMPLES}"
    grid = Block(1, "python", 'x="-1:1:51", y="-0.5:0.5:101"', "run")
    assert shrink(grid) == 'x="-1:1:3", y="-0.5:0.5:3"'


def test_readme_fast_blocks_run_small(tmp_path):
    fast = [b for b in readme_blocks() if b.mode == "run" and b.lang in ("bash", "python")]
    assert len(fast) >= 4
    for block in fast:
        run_block(block, shrink(block), tmp_path)
    assert (tmp_path / "run" / "final.pt").is_file() and (tmp_path / "surf.contour.pdf").is_file()


@pytest.mark.slow
def test_readme_blocks_run_small(tmp_path):
    for block in readme_blocks():
        if block.mode != "skip" and block.lang in ("bash", "python"):
            run_block(block, shrink(block), tmp_path)


@pytest.mark.slow
def test_readme_blocks_run_verbatim(tmp_path):
    outputs = {}
    for block in readme_blocks():
        if block.mode != "skip" and block.lang in ("bash", "python"):
            code = block.text if block.lang == "python" else "\n".join(commands(block))
            outputs[block.line] = run_block(block, code, tmp_path)
    sample = next(b for b in readme_blocks() if b.text.startswith("runs/adam: "))
    diagnose = subprocess.run(
        [sys.executable, "-m", "landscape", "diagnose", "runs/adam"],
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        check=True,
    )
    assert diagnose.stdout == sample.text
