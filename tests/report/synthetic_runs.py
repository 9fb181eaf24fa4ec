"""Run directories written straight through ``landscape.io.run`` (no training), for report tests."""

import json
from pathlib import Path

import numpy as np

from landscape.io.run import RunHeader, append_records, create_run_file, run_file


def write_run(
    run_dir: Path,
    config: dict,
    *,
    epochs: dict[str, np.ndarray] | None = None,
    steps: dict[str, np.ndarray] | None = None,
    probes: dict[str, np.ndarray] | None = None,
    shapes: tuple[tuple[int, ...], ...] = ((3, 2), (3,)),
) -> Path:
    """A run directory whose run.h5 holds exactly these records."""
    run_dir.mkdir(parents=True)
    names = tuple(f"p{i}" for i in range(len(shapes)))
    header = RunHeader(
        json.dumps(config),
        config.get("optimizer", "sgd"),
        {"lr": config.get("lr")},
        names,
        shapes,
        1,
    )
    create_run_file(
        run_file(run_dir), header, {n: np.zeros(s) for n, s in zip(names, shapes, strict=True)}
    )
    append_records(run_file(run_dir), steps=steps, epochs=epochs, probes=probes)
    return run_dir
