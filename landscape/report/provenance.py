"""The report's provenance section: how every run was made and on what, read from its files.

One table row per contender (a run, or a group of runs that differ by seed only): model,
optimizer, learning rate, momentum (β₁, β₂ for Adam), batch size, epochs, seeds, loss and
the rows per split it was limited to, all from the runs' stored configurations; below it
the architecture of each model (its parameter count and weight shapes, from the shapes the
run file stores), the rows per split, the package versions the run files were written
with, and the device and threads.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from landscape.dynamics.runs import Run, read_run
from landscape.io.groups import SEED_DIR
from landscape.io.provenance import read_origin
from landscape.io.run import run_file
from landscape.records import Comparison
from landscape.records.provenance import Environment
from landscape.report.table import Table

VERSIONS = ("python", "landscape", "torch", "numpy", "h5py", "scipy")
"""The packages the section names, in this order."""

HEADERS = (
    "runs",
    "model",
    "optimizer",
    "η",
    "momentum",
    "batch size",
    "epochs",
    "seeds",
    "loss",
    "rows per split",
)


@dataclass(frozen=True)
class ProvenanceText:
    """The provenance section: the per-contender table and the lines below it."""

    table: Table
    lines: tuple[str, ...]


def parameter_count(shapes: Sequence[Sequence[int]]) -> int:
    """The number of parameters of tensors of these shapes.

    >>> parameter_count([(100, 40), (100,), (10, 100), (10,)])
    5110
    """
    return sum(math.prod(s) for s in shapes)


def weight_shapes(shapes: Sequence[Sequence[int]]) -> str:
    """The shapes of the tensors with two or more axes, in order, repeats counted.

    >>> weight_shapes([(16, 1, 5), (16,), (16, 16, 3), (16, 16, 3), (10, 16)])
    '16×1×5, 16×16×3 (×2), 10×16'
    """
    counts = Counter(tuple(s) for s in shapes if len(s) >= 2)
    return ", ".join(
        "×".join(map(str, s)) + (f" (×{n})" if n > 1 else "") for s, n in counts.items()
    )


def _momentum(config: dict[str, Any]) -> str:
    if config.get("optimizer") in ("adam", "adamw"):
        return f"β₁ {config.get('beta1', 0.9):g}, β₂ {config.get('beta2', 0.999):g}"
    if config.get("optimizer") == "adagrad":
        return "—"
    return f"{config.get('momentum', 0.0):g}"


def _groups(paths: Sequence[Path]) -> dict[str, list[Path]]:
    """Run paths by contender: a ``seed-N`` member joins its parent directory's group."""
    out: dict[str, list[Path]] = {}
    for p in paths:
        key = p.parent.name if p.name.startswith(SEED_DIR) else p.name
        out.setdefault(key, []).append(p)
    return out


def _row(label: str, runs: Sequence[Run]) -> tuple[str, ...]:
    c = runs[0].config
    batch = c.get("batch_size")
    return (
        label,
        str(c.get("model", "?")),
        runs[0].optimizer or str(c.get("optimizer", "?")),
        f"{c.get('lr', math.nan):g}",
        _momentum(c),
        "full" if batch is None else str(batch),
        str(c.get("epochs", "?")),
        ", ".join(str(r.config.get("seed", "?")) for r in runs),
        str(c.get("loss", "cross_entropy")),
        "all" if c.get("max_samples") is None else f"at most {c['max_samples']:,}",
    )


def provenance(
    c: Comparison, *, env: Environment | None = None, extra: Sequence[str | Path] = ()
) -> ProvenanceText:
    """The provenance of a comparison's runs (and of ``extra`` runs shown beside it).

    Args:
        c: The comparison; its runs are the paths its configuration lists.
        env: Device, threads and rows per split, where the caller knows them.
        extra: Further run directories (a gradient-descent run, the ResNets, ...).

    """
    paths = [Path(p) for p in c.config.get("runs", [])] + [Path(p) for p in extra]
    groups = {label: [read_run(p) for p in ps] for label, ps in _groups(paths).items()}
    rows = tuple(_row(label, runs) for label, runs in groups.items())
    lines: list[str] = []
    models: dict[str, Run] = {}
    for runs in groups.values():
        models.setdefault(str(runs[0].config.get("model", "?")), runs[0])
    for name, run in models.items():
        lines.append(
            f"Architecture of {name}: {parameter_count(run.shapes):,} parameters in "
            f"{len(run.shapes)} tensors; weight shapes {weight_shapes(run.shapes)}."
        )
    if env is not None and env.rows:
        data = {str(r.config.get("data", "unknown")) for rs in groups.values() for r in rs}
        sizes = ", ".join(f"{n:,} {split} rows" for split, n in env.rows.items())
        lines.append(f"Data: {', '.join(sorted(data))}, {sizes} (as the optimizer runs used).")
    versions = {
        tuple((k, v.get(k, "?")) for k in VERSIONS)
        for v in (read_origin(run_file(p)).package_versions for p in paths)
    }
    for vs in sorted(versions):
        lines.append("Packages: " + ", ".join(f"{k} {v}" for k, v in vs) + ".")
    if env is not None:
        threads = "torch's default" if env.threads is None else str(env.threads)
        lines.append(f"Device: {env.device}; torch CPU threads: {threads}.")
    return ProvenanceText(Table(HEADERS, rows, ()), tuple(lines))
