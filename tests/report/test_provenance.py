from types import SimpleNamespace

from landscape.io.provenance import read_origin
from landscape.io.run import run_file
from landscape.records.provenance import Environment
from landscape.report.provenance import provenance
from landscape.store import package_versions
from tests.report.synthetic_runs import write_run

ADAM = {"model": "mlp", "optimizer": "adam", "lr": 0.003, "batch_size": 64, "epochs": 5}


def test_rows_group_seeds_and_lines_name_architecture_data_versions_device(tmp_path):
    members = [
        write_run(tmp_path / "adam" / f"seed-{s}", {**ADAM, "seed": s}, shapes=((4, 3), (4,)))
        for s in (0, 2)
    ]
    gd = {"model": "cnn", "optimizer": "sgd", "lr": 0.3, "batch_size": None, "epochs": 9}
    gd_run = write_run(
        tmp_path / "gd", {**gd, "seed": 0, "loss": "mse", "momentum": 0.0, "max_samples": 1000}
    )
    c = SimpleNamespace(config={"runs": [str(p) for p in members]})
    env = Environment("cpu", 1, {"train": 40, "validation": 10})
    p = provenance(c, env=env, extra=[gd_run])
    assert p.table.rows == (
        (
            "adam",
            "mlp",
            "adam",
            "0.003",
            "β₁ 0.9, β₂ 0.999",
            "64",
            "5",
            "0, 2",
            "cross_entropy",
            "all",
        ),
        ("gd", "cnn", "sgd", "0.3", "0", "full", "9", "0", "mse", "at most 1,000"),
    )
    v = package_versions()
    assert p.lines == (
        "Architecture of mlp: 16 parameters in 2 tensors; weight shapes 4×3.",
        "Architecture of cnn: 9 parameters in 2 tensors; weight shapes 3×2.",
        "Data: unknown, 40 train rows, 10 validation rows (as the optimizer runs used).",
        "Packages: "
        + ", ".join(
            f"{k} {v[k]}" for k in ("python", "landscape", "torch", "numpy", "h5py", "scipy")
        )
        + ".",
        "Device: cpu; torch CPU threads: 1.",
    )
    assert read_origin(run_file(gd_run)).package_versions == v
