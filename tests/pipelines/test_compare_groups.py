"""``landscape compare`` on groups of seeds, through the CLI: findings with their evidence.

Tiny MNIST-1D runs (2 epochs, 64 rows). The A/A case (one setup, seeds 0,1,2 against
3,4,5) must yield no significant finding; the A/B case (SGD η=0.001 against Adam η=0.01)
must find the difference in final training loss; every finding carries an interval or
says why it has none.
"""

import math
import shutil
import types

import h5py
import pytest
from click.testing import CliRunner

from landscape.cli import cli
from landscape.curvature import preconditioned
from landscape.io.compare import read_comparison, read_stored_findings
from landscape.report import findings
from landscape.report.claims import group_claims

TRAIN = ["-q", "train", "--epochs", "2", "--max-samples", "64", "--batch-size", "16"]
COMPARE = ["--curvature-samples", "32", "--max-checkpoints", "2", "--trace-probes", "2"]


def _invoke(args):
    res = CliRunner().invoke(cli, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return res


@pytest.fixture(scope="module")
def groups(tmp_path_factory):
    root = tmp_path_factory.mktemp("groups")
    setups = {
        "sgd": ("0,1,2", "sgd", "0.001"),
        "sgd_again": ("3,4,5", "sgd", "0.001"),
        "adam": ("0,1,2", "adam", "0.01"),
    }
    for name, (seeds, optimizer, lr) in setups.items():
        _invoke(
            [*TRAIN, "--seeds", seeds, "--optimizer", optimizer, "--lr", lr, "--out", root / name]
        )
    return root


def _compare(paths, out, *extra):
    _invoke(["-q", "compare", *paths, "--out", out, *COMPARE, "--no-profiles", *extra])
    return read_stored_findings(out / "compare.h5")


def _differences(stored):
    return [c for c in stored.claims if len(c.runs) == 2]


def _has_interval_or_reason(claim):
    known = math.isfinite(claim.ci_low) and math.isfinite(claim.ci_high)
    if known and claim.ci_low == claim.ci_high:  # seeds without spread: no zero-width interval
        return claim.estimate == claim.ci_low and "(the same in " in claim.statement
    if known:
        return claim.ci_low <= claim.estimate <= claim.ci_high and "95% CI" in claim.statement
    return "no interval" in claim.statement or "cannot be compared by a test" in claim.statement


def test_same_setup_other_seeds_no_significant_finding(groups, tmp_path):
    out = tmp_path / "aa"
    stored = _compare([groups / "sgd", groups / "sgd_again"], out)
    assert stored.contenders == {
        "sgd": ("sgd-seed-0", "sgd-seed-1", "sgd-seed-2"),
        "sgd_again": ("sgd_again-seed-3", "sgd_again-seed-4", "sgd_again-seed-5"),
    }
    differences = _differences(stored)
    assert {c.quantity for c in differences} >= {"final_train_loss", "final_val_loss"}
    assert not any(c.significant for c in differences)
    assert all(  # a quantity without spread in either group (e.g. no time at the edge) has no test
        c.statement.startswith("No clear difference")
        or (math.isnan(c.p_value) and "cannot be compared by a test" in c.statement)
        for c in differences
    )
    assert any(c.statement.startswith("No clear difference") for c in differences)
    assert all(_has_interval_or_reason(c) for c in stored.claims)
    c = read_comparison(out / "compare.h5")  # every run summarised on its own
    assert [r.summary.name for r in c.runs] == [n for ns in stored.contenders.values() for n in ns]
    assert c.runs[0].summary.label == "sgd seed 0"
    report = (out / "report.md").read_text()
    assert "## Findings" in report and "Welch's t-test" in report and "over seeds" in report
    assert "<h2>Findings</h2>" in (out / "index.html").read_text()
    assert (out / "figures" / "dynamics_sgd_again-seed-4.png").is_file()


def test_sgd_against_adam_finds_the_training_loss_difference(groups, tmp_path):
    out = tmp_path / "ab"
    stored = _compare([groups / "sgd", groups / "adam"], out)
    (train,) = [c for c in _differences(stored) if c.quantity == "final_train_loss"]
    assert train.significant and train.runs == ("sgd", "adam")
    assert train.ci_low > 0  # SGD at η=0.001 barely moved: its loss is higher
    assert train.p_value <= findings.ALPHA
    assert all(_has_interval_or_reason(c) for c in stored.claims)
    with h5py.File(out / "compare.h5", "r") as f:
        g = f["findings"]
        assert "Holm" in g.attrs["test"] and g.attrs["alpha"] == 0.05 and g.attrs["level"] == 0.95
        assert len(g["statement"]) == len(stored.claims)
    lines = (out / "report.md").read_text().split("## Findings")[1].split("## The numbers")[0]
    items = [line for line in lines.splitlines() if line.startswith("- ")]
    significant = [c.statement for c in _differences(stored) if c.significant]
    assert items[: len(significant)] == [f"- {s}" for s in significant]  # significant first
    assert train.statement in lines


def test_plain_runs_still_compare(groups, tmp_path):
    out = tmp_path / "plain"
    for name in ("sgd", "adam"):  # two runs both called seed-0 would be refused
        shutil.copytree(groups / name / "seed-0", tmp_path / name)
    stored = _compare([tmp_path / "sgd", tmp_path / "adam"], out)
    assert stored.contenders == {"SGD": ("sgd",), "Adam": ("adam",)}
    assert [r.summary.label for r in read_comparison(out / "compare.h5").runs] == ["SGD", "Adam"]
    differences = _differences(stored)
    assert differences and not any(c.significant for c in differences)
    assert all("cannot be compared by a test" in c.statement for c in differences)
    assert all(_has_interval_or_reason(c) for c in stored.claims)


def test_a_group_and_a_run_both_named_twice_refused(groups, tmp_path):
    res = CliRunner().invoke(
        cli,
        ["compare", str(groups / "sgd"), str(groups / "sgd" / "seed-1"), "--out", tmp_path / "x"],
    )
    assert res.exit_code == 1 and "named twice" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "x" / "compare.h5").exists()


def test_adaptive_optimizers_as_in_curvature():
    assert findings.ADAPTIVE is preconditioned.ADAPTIVE  # one definition, torch-free


def _summary(optimizer, **values):
    defaults = {q.key: float("nan") for q in findings.QUANTITIES}
    return types.SimpleNamespace(optimizer=optimizer, **{**defaults, **values})


def test_contender_values_per_seed_and_quantities_without_values_left_out():
    summaries = {
        "a0": _summary("sgd", final_train_loss=1.0),
        "a1": _summary("sgd", final_train_loss=2.0),
        "b0": _summary("adam", final_train_loss=0.5),
    }
    values = findings.contender_values(summaries, {"A": ("a0", "a1"), "B": ("b0",)})
    assert values == {"final_train_loss": {"A": [1.0, 2.0], "B": [0.5]}}


def test_mechanisms_fire_on_significant_differences_only():
    seeds = {"sgd": [1.0, 1.1, 0.9], "adam": [1.0, 1.05, 0.95]}
    worse = {"sgd": [1.0, 1.1, 0.9], "adam": [3.0, 3.1, 2.9]}
    summaries = {f"{o}{i}": _summary(o) for o in ("sgd", "adam") for i in range(3)}
    contenders = {"sgd": ("sgd0", "sgd1", "sgd2"), "adam": ("adam0", "adam1", "adam2")}
    qs = findings.QUANTITIES
    fires = group_claims({"final_train_loss": seeds, "final_val_loss": worse}, qs)
    (sentence,) = findings.mechanism_sentences(fires, summaries, contenders)
    assert sentence.startswith("adam reached a training loss not clearly different from sgd's")
    assert "Wilson et al. 2017" in sentence
    quiet = group_claims({"final_train_loss": seeds, "final_val_loss": seeds}, qs)
    assert findings.mechanism_sentences(quiet, summaries, contenders) == []
    statements = findings.difference_statements([*quiet, *fires])
    assert statements[0] == next(c.statement for c in fires if c.significant)
