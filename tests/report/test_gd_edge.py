import numpy as np
import pytest

from landscape.errors import LandscapeError
from landscape.report.gd_edge import edge_sentences
from tests.report.synthetic_runs import write_run

CONFIG = {"lr": 0.5, "batch_size": None, "loss": "mse", "optimizer": "sgd"}


def gd_run(tmp_path, lam, loss):
    n = len(lam)
    return write_run(
        tmp_path / "gd",
        CONFIG,
        steps={"step": np.arange(1, len(loss) + 1), "loss": np.asarray(loss)},
        probes={
            "step": np.arange(n) * 10,
            "lambda_max": np.asarray(lam),
            "stability_threshold": np.full(n, 4.0),
        },
    )


def test_sharpening_then_the_edge_with_the_runs_numbers(tmp_path):
    lam = [1.0, 2.0, 3.0, 3.7, 4.1, 3.9, 4.2, 3.0]  # probes at steps 0, 10, ..., 70
    loss = [1.0, 0.9, 0.8, 0.7] + [0.6, 0.65, 0.5, 0.55] * 17  # 72 steps
    s = edge_sentences(gd_run(tmp_path, lam, loss))
    assert s[0] == (
        "gd (full-batch gradient descent, η = 0.5, loss mse): λ_max was 1 at step 0, 0.25 times "
        "2/η = 4; it first reached 90% of 2/η at step 30 (progressive sharpening)."
    )
    assert s[1].startswith(
        "From there λ_max stayed at or above 90% of 2/η in 4 of the 5 probes, longest over "
        "steps 30-60 (4 probes, median ratio 1)"
    )
    rises = int(np.count_nonzero(np.diff(np.asarray(loss)[29:]) > 0))
    assert s[2] == (
        f"The full-batch training loss fell from 1 at step 1 to 0.55 at step 72, not "
        f"monotonically: it rose at {rises} of the 42 steps after step 30."
    )


def test_no_edge_is_said_so(tmp_path):
    s = edge_sentences(gd_run(tmp_path, [1.0, 1.5, 2.0], [1.0, 0.9, 0.8]))
    assert s == (
        "gd (full-batch gradient descent, η = 0.5, loss mse): λ_max was 1 at step 0, 0.25 times "
        "2/η = 4; it peaked at 2 (0.50 times 2/η) and did not reach the edge of stability "
        "within 20 steps.",
    )


def test_a_run_without_probe_is_refused(tmp_path):
    run = write_run(tmp_path / "r", CONFIG, steps={"step": np.arange(1, 3), "loss": np.ones(2)})
    with pytest.raises(LandscapeError, match="no sharpness recorded"):
        edge_sentences(run)
