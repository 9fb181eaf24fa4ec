"""``landscape demo --quick`` end to end: promised files, schema, numbers equal the stored ones."""

import hashlib
import json
import math
import re

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from landscape.cli import cli
from landscape.data import load_data
from landscape.dynamics.lr_sweep import lr_dir, sweep_criterion
from landscape.errors import LandscapeError
from landscape.pipelines.demo import DEMO_SIZES, OPTIMIZER_RUNS, SWEEP_SEED, run_demo
from landscape.report.html import column_parts
from landscape.report.table import COLUMNS, format_number

ROOT_ATTRS = ("schema_version", "landscape_version", "created", "command", "package_versions")
FIGURES = ("convergence", "stability", "profiles", "paths", "lr_sweep", "sharpness_gd")
QUICK = DEMO_SIZES["quick"]
MEMBERS = [f"{r.name}-seed-{s}" for r in OPTIMIZER_RUNS for s in QUICK.seeds]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "demo"
    args = ["-q", "demo", "--quick", "--out", str(out), "--device", "cpu"]
    res = CliRunner().invoke(cli, args)  # one thread by default: immune to oversubscription
    assert res.exit_code == 0, res.output
    return out, res.output


def test_prints_where_the_report_is(demo):
    out, output = demo
    assert f"report: {out / 'report' / 'index.html'}" in output


def test_every_promised_file_exists(demo):
    out, _ = demo
    names = [r.name for r in OPTIMIZER_RUNS]
    assert len(names) == 5 and len(QUICK.seeds) >= 2
    for n in names:
        for seed in QUICK.seeds:
            assert (out / "runs" / n / f"seed-{seed}" / "run.h5").is_file()
            assert (out / "runs" / n / f"seed-{seed}" / "checkpoints" / "init.pt").is_file()
            assert (out / "report" / "profiles" / f"{n}-seed-{seed}.h5").is_file()
        for ext in ("png", "pdf"):
            assert (out / "report" / "figures" / f"dynamics_{n}-seed-0.{ext}").stat().st_size > 0
        assert list((out / "sweep" / n).glob("lr-*/run.h5"))
    for f in FIGURES:
        for ext in ("png", "pdf"):
            assert (out / "report" / "figures" / f"{f}.{ext}").stat().st_size > 0, f
    assert (out / "gd" / "run.h5").is_file()
    for name in ("compare.h5", "index.html", "report.md", "plane.h5"):
        assert (out / "report" / name).is_file()


def test_hdf5_files_follow_the_schema(demo):
    out, _ = demo
    for name in MEMBERS:
        with h5py.File(out / "report" / "profiles" / f"{name}.h5", "r") as f:
            assert f["surface"].attrs["ndim"] == 1 and "ycoordinates" not in f
            assert all(k in f.attrs for k in ROOT_ATTRS)
    for r in OPTIMIZER_RUNS:
        for seed in QUICK.seeds:
            with h5py.File(out / "runs" / r.name / f"seed-{seed}" / "run.h5", "r") as f:
                assert json.loads(f["dynamics"].attrs["config"])["seed"] == seed
    with h5py.File(out / "report" / "compare.h5", "r") as f:
        assert all(k in f.attrs for k in ROOT_ATTRS)
        for g in ("compare", "curvature", "trajectory"):
            json.loads(f[g].attrs["config"])
        assert json.loads(f["compare"].attrs["runs"]) == MEMBERS
        assert f.attrs["command"] == f"landscape demo --out={out} --quick --device=cpu"
        assert f["trajectory"].attrs["surface"] == "plane.h5"
    n = QUICK.compare.plane_resolution
    with h5py.File(out / "report" / "plane.h5", "r") as f:
        assert f["train_loss"].shape == (n, n) and f["directions"].attrs["kind"] == "pca"


def table_rows(md: str) -> dict[str, list[str]]:
    lines = [ln for ln in md.splitlines() if ln.startswith("| ")]
    return {
        cells[0]: cells[1:]
        for cells in ([c.strip() for c in ln.strip("|").split("|")] for ln in lines[2:])
    }


def test_report_numbers_equal_the_stored_numbers(demo):
    out, _ = demo
    rows = table_rows((out / "report" / "report.md").read_text())
    html = (out / "report" / "index.html").read_text()
    with h5py.File(out / "report" / "compare.h5", "r") as f:
        stored = {n: json.loads(f["compare"][n].attrs["summary"]) for n in f["compare"]}
        profiles = {n: f["compare"][n]["profile/train_loss"][()] for n in f["compare"]}
    assert len(rows) >= len(MEMBERS)
    for name, s in stored.items():
        cells = rows[s["label"]]
        assert cells == [format_number(s[c.field]) for c in COLUMNS], name
        row = [s["label"], *cells]  # the page splits a wide table, repeating the run column
        for part in column_parts(len(row)):
            assert "<tr>" + "".join(f"<td>{row[j]}</td>" for j in [0, *part]) + "</tr>" in html
        with h5py.File(out / "report" / "profiles" / f"{name}.h5", "r") as g:
            assert np.array_equal(g["train_loss"][()], profiles[name])
    with h5py.File(out / "runs" / "adam" / "seed-1" / "run.h5", "r") as f:
        final = float(f["dynamics/epoch/val_loss"][-1])
    assert stored["adam-seed-1"]["final_val_loss"] == final


def section(md: str, title: str) -> str:
    return md.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_every_finding_carries_an_interval_and_is_in_the_report(demo):
    out, _ = demo
    md = (out / "report" / "report.md").read_text()
    with h5py.File(out / "report" / "compare.h5", "r") as f:
        g = f["findings"]
        est, lo, hi = (g[k][()] for k in ("estimate", "ci_low", "ci_high"))
        statements = [s.decode() for s in g["statement"][()]]
        pairs = [bool(r[1]) for r in g["runs"][()]]  # a difference names two contenders
        significant = g["significant"][()]
    assert len(statements) > 0 and any(pairs)
    assert np.isfinite(est).all()
    # A difference that no test can judge (no spread over seeds in either group) has no
    # interval; it must say so and must not be significant. Every other row has one.
    untestable = np.array(["cannot be compared by a test" in s for s in statements])
    interval = np.isfinite(lo) & np.isfinite(hi)
    assert (interval | untestable).all()
    assert not significant[untestable].any()
    assert (lo[interval] <= est[interval]).all() and (est[interval] <= hi[interval]).all()
    findings = section(md, "Findings")
    for s, pair in zip(statements, pairs, strict=True):
        assert s in findings or not pair


def test_provenance_section_holds_the_numbers_of_the_run_files(demo):
    out, _ = demo
    md = (out / "report" / "report.md").read_text()
    prov = section(md, "Provenance")
    rows = table_rows(prov)
    for r in OPTIMIZER_RUNS:
        with h5py.File(out / "runs" / r.name / "seed-0" / "run.h5", "r") as f:
            config = json.loads(f["dynamics"].attrs["config"])
            shapes = json.loads(f["dynamics"].attrs["shapes"])
            versions = json.loads(f.attrs["package_versions"])
        cells = rows[r.name]
        assert cells[0] == "mlp" and cells[1] == r.optimizer and cells[2] == f"{config['lr']:g}"
        momentum = "β₁ 0.9, β₂ 0.999" if r.optimizer == "adam" else f"{r.momentum:g}"
        assert cells[3] == ("—" if r.optimizer == "adagrad" else momentum)
        assert cells[4] == str(QUICK.batch_size) == str(config["batch_size"])
        assert cells[5] == str(QUICK.epochs) and cells[6] == ", ".join(map(str, QUICK.seeds))
        assert cells[8] == f"at most {config['max_samples']:,}"
    with h5py.File(out / "gd" / "run.h5", "r") as f:
        gd = json.loads(f["dynamics"].attrs["config"])
    assert rows["gd"][4] == "full" and gd["batch_size"] is None and rows["gd"][7] == "mse"
    assert rows["gd"][8] == f"at most {gd['max_samples']:,}" == f"at most {QUICK.gd_rows:,}"
    count = sum(math.prod(s) for s in shapes)
    assert f"Architecture of mlp: {count:,} parameters in {len(shapes)} tensors" in prov
    data = load_data("mnist1d", max_samples=QUICK.max_samples)
    n_train, n_val = len(data.splits["train"]), len(data.splits["test"])
    assert f"{n_train:,} train rows, {n_val:,} validation rows" in prov
    for k in ("python", "landscape", "torch", "numpy", "h5py"):
        assert f"{k} {versions[k]}" in prov
    assert "Device: cpu; torch CPU threads: 1." in prov


def test_lr_protocol_table_is_read_from_the_sweep_runs(demo):
    out, _ = demo
    md = (out / "report" / "report.md").read_text()
    text = section(md, "Learning-rate protocol")
    assert f"seed {SWEEP_SEED}" in text and f"{QUICK.epochs} epochs" in text
    rows = table_rows(text)
    assert set(rows) == {r.name for r in OPTIMIZER_RUNS}
    for r in OPTIMIZER_RUNS:
        tried, chosen, best, edge = rows[r.name]
        found = {}
        for p in (out / "sweep" / r.name).glob("lr-*"):
            with h5py.File(p / "run.h5", "r") as f:
                lr = json.loads(f["dynamics"].attrs["config"])["lr"]
                found[lr] = sweep_criterion(f["dynamics/epoch/val_loss"][()])
            assert p.name == lr_dir(lr)
        assert set(r.grid) <= set(found)
        lrs = sorted(found)
        pick = min(lrs, key=lambda lr: (found[lr], lr))
        assert chosen == f"{pick:g}" and best == f"{found[pick]:.4g}"
        assert edge == ("yes" if pick in (lrs[0], lrs[-1]) else "no")
        cells = [c.split(" (") for c in tried.split(", ")]
        assert [float(c[0].rstrip("⁺")) for c in cells] == lrs
        assert [c[1].rstrip(")") for c in cells] == [f"{found[lr]:.4g}" for lr in lrs]
        with h5py.File(out / "runs" / r.name / "seed-0" / "run.h5", "r") as f:
            assert json.loads(f["dynamics"].attrs["config"])["lr"] == pick


def test_edge_of_stability_sentences_quote_the_gd_run(demo):
    out, _ = demo
    md = (out / "report" / "report.md").read_text()
    text = section(md, "Edge of stability (full-batch gradient descent)")
    with h5py.File(out / "gd" / "run.h5", "r") as f:
        lam = f["dynamics/probe/lambda_max"][()]
        thr = f["dynamics/probe/stability_threshold"][()]
        steps = f["dynamics/probe/step"][()]
        lr = json.loads(f["dynamics"].attrs["config"])["lr"]
    assert f"η = {lr:g}, loss mse" in text
    assert (
        f"λ_max was {lam[0]:.3g} at step 0, {lam[0] / thr[0]:.2f} times 2/η = {thr[0]:.3g}" in text
    )
    ratio = lam / thr
    at = np.flatnonzero(ratio >= 0.9)
    if at.size:
        assert f"first reached 90% of 2/η at step {int(steps[at[0]])}" in text
        assert f"at or above 90% of 2/η in {at.size} of the {ratio[at[0] :].size} probes" in text
    else:
        assert f"peaked at {np.nanmax(lam):.3g} ({np.nanmax(ratio):.2f} times 2/η)" in text
    with h5py.File(out / "gd" / "run.h5", "r") as f:
        loss = f["dynamics/step/loss"][()]
    assert f"fell from {loss[0]:.3g} at step 1 to {loss[-1]:.3g}" in text or not at.size


def test_unknown_size_is_refused(tmp_path):
    with pytest.raises(LandscapeError, match="size: expected one of quick, default, full"):
        run_demo(tmp_path, size="huge")
    with pytest.raises(LandscapeError, match="threads: expected a positive integer"):
        run_demo(tmp_path, size="quick", threads=0)
    res = CliRunner().invoke(cli, ["demo", "--quick", "--threads", "0", "--out", str(tmp_path)])
    assert res.exit_code == 1 and "--threads" in res.output and len(res.output.splitlines()) == 1
    assert not any(tmp_path.iterdir())


def digests(paths):
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def surfaces(paths):
    out = {}
    for p in paths:
        with h5py.File(p, "r") as f:
            out[p] = f["train_loss"][()]
    return out


@pytest.mark.slow
def test_rerun_reuses_everything(demo):
    out, _ = demo
    runs = sorted(out.glob("runs/*/seed-*/run.h5")) + sorted(out.glob("sweep/*/lr-*/run.h5"))
    runs.append(out / "gd" / "run.h5")
    surf = sorted(out.glob("report/profiles/*.h5"))
    before, values = digests(runs), surfaces(surf)
    with h5py.File(out / "report" / "compare.h5", "r") as f:
        lam = {n: f["curvature"][n]["lambda_max"][()] for n in f["curvature"]}
    res = CliRunner().invoke(cli, ["-q", "demo", "--quick", "--out", str(out), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert digests(runs) == before
    after = surfaces(surf)
    assert all(np.array_equal(after[p], v) for p, v in values.items())
    with h5py.File(out / "report" / "compare.h5", "r") as f:
        assert all(np.array_equal(f["curvature"][n]["lambda_max"][()], v) for n, v in lam.items())


def _stored_values(out) -> list[float]:
    """Every number compare.h5 holds that a sentence may quote: findings, targets, settings."""
    with h5py.File(out / "report" / "compare.h5", "r") as f:
        g = f["findings"]
        values = [g[k][()] for k in ("estimate", "ci_low", "ci_high", "p_value")]
        attrs = f["compare"].attrs
        values.append(np.array([attrs["train_target"], attrs["val_target"], attrs["matched_loss"]]))
        config = json.loads(attrs["config"])
        values.append(np.array([v for v in config.values() if isinstance(v, float)]))
    flat = np.concatenate([np.ravel(v).astype(float) for v in values])
    return [float(v) for v in flat if np.isfinite(v)]


def test_every_decimal_in_the_summary_is_a_stored_value(demo):
    out, _ = demo
    md = (out / "report" / "report.md").read_text()
    summary = section(md, "In short")
    stored = _stored_values(out)
    # a difference may be quoted either way round ("a's is higher than b's by ...")
    shown = {f"{s * v:.{d}g}" for v in stored for s in (1, -1) for d in (3, 4)}
    quoted = re.findall(r"(?<![\w.])-?\d+\.\d+(?:e[-+]?\d+)?", summary)
    assert quoted, summary
    missing = [q for q in quoted if q not in shown and q.rstrip("0").rstrip(".") not in shown]
    assert not missing, missing


def _stored_integers(out) -> dict[str, set[int]]:
    """The whole numbers a sentence of "In short" may quote, by what they count, read from
    compare.h5 alone (run summaries, findings, settings)."""
    with h5py.File(out / "report" / "compare.h5", "r") as f:
        runs = [json.loads(f["compare"][n].attrs["summary"]) for n in f["compare"]]
        g = f["findings"]
        quantity = [q.decode() if isinstance(q, bytes) else str(q) for q in g["quantity"][()]]
        pairs = np.array([bool(second) for _, second in g["runs"][()]])  # "" for an estimate
        p_value, significant = g["p_value"][()], g["significant"][()]
        contenders = json.loads(g.attrs["contenders"])
        level = float(g.attrs["level"])
        config = json.loads(f["compare"].attrs["config"])
    by_name = {s["name"]: s for s in runs}
    other_pairs = set()
    for q in set(quantity):
        rows = [i for i, k in enumerate(quantity) if k == q and pairs[i]]
        other_pairs.add(len(rows) - int(sum(significant[i] for i in rows)))
    at_edge = {
        (sum(by_name[n]["edge_epoch"] is not None for n in names), len(names))
        for names in contenders.values()
    }
    return {
        "epochs": {s["epochs"] for s in runs},
        "comparisons": {int(np.isfinite(p_value[pairs]).sum())},
        "rows": {s["curvature_rows"] for s in runs},
        "other pairs": other_pairs,
        "k of n": {k for pair in at_edge for k in pair},
        "records": {config["edge_records"]},
        "seeds": {len(v) for v in contenders.values()},
        "edge epochs": {e for s in runs for e in (s["edge_epoch"], s["edge_end_epoch"]) if e},
        "steps": {s["edge_steps"] for s in runs},
        "finding epochs": {int(x["start_epoch"]) for s in runs for x in s["findings"]},
        "percent": {round(100 * level)} | {round(100 * s["edge_share"]) for s in runs},
    }


INTEGER_CONTEXTS = (
    (r"within (\d+) epochs", "epochs"),
    (r"over (\d+) comparisons?", "comparisons"),
    (r"on the (?:first|full training split \() ?(\d+)", "rows"),
    (r"other (\d+) pairs?", "other pairs"),
    (r"in (\d+) of (\d+) runs?", "k of n"),
    (r"at least (\d+) consecutive records", "records"),
    (r"n=(\d+)", "seeds"),
    (r"the same in all (\d+) seeds", "seeds"),
    (r"epochs (\d+)-(\d+)", "edge epochs"),
    (r"for (\d+) steps", "steps"),
    (r"(?:at|from) epoch (\d+)", "finding epochs"),
    (r"(\d+)%", "percent"),
)
"""Where "In short" quotes a whole number, and which stored count it must be."""


def test_every_integer_in_the_summary_is_a_stored_count(demo):
    out, _ = demo
    summary = section((out / "report" / "report.md").read_text(), "In short")
    stored, counts = _stored_values(out), _stored_integers(out)
    checked = 0
    rest = summary
    for pattern, kind in INTEGER_CONTEXTS:
        for match in re.finditer(pattern, summary):
            for number in match.groups():
                assert int(number) in counts[kind], (kind, match.group(0), counts[kind])
                checked += 1
        rest = re.sub(pattern, " ", rest)
    # any other whole number is a quoted value (an estimate or interval that is whole)
    shown = {f"{v:.3g}" for v in stored} | {f"{-v:.3g}" for v in stored}
    others = re.findall(r"(?<![\w.\-−⁻])-?\d+(?![\w.%]|\.\d)", rest)
    missing = [n for n in others if n not in shown]
    assert not missing, missing
    assert checked + len(others) > 10
