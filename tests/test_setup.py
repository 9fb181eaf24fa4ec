"""The one loader: devices, checkpoints, data and objectives; specs a run file may not choose."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import pytest
import torch
from click.testing import CliRunner

from landscape.cli import cli
from landscape.data import Data, Split, load_data
from landscape.devices import resolve_device
from landscape.dynamics.train import TrainConfig, train
from landscape.errors import LandscapeError
from landscape.loading import file_sha256
from landscape.setup import RunSpecs, load_objective, run_spec
from tests.conftest import tiny_data, tiny_net

DATA = "tests.conftest:tiny_data"
MODEL = "tests.conftest:tiny_net"


def test_resolve_device_auto_and_errors():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device().type == expected
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    with pytest.raises(LandscapeError, match="expected auto, cpu, cuda"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(LandscapeError, match="CUDA is not available"):
            resolve_device("cuda")


def test_objective_is_the_checkpoints_loss_on_the_split(ckpt):
    loaded = load_objective(MODEL, ckpt, DATA, split="test", device="cpu", batch_size=7)
    assert list(loaded.objectives) == ["test"]
    assert loaded.checkpoint_sha256 == file_sha256(ckpt)
    assert loaded.model_name == MODEL and loaded.device == torch.device("cpu")
    x, y = tiny_data()["test"]
    with torch.no_grad():
        exact = torch.nn.functional.cross_entropy(tiny_net()(x), y)
    loss, acc = loaded.objective.evaluate(loaded.params)
    assert loss == pytest.approx(float(exact), rel=1e-6)
    assert 0.0 <= acc <= 1.0


def test_the_splits_objectives_hold_one_set_of_model_weights(ckpt):
    loaded = load_objective(MODEL, ckpt, DATA, device="cpu", batch_size=7)
    train, test = (dict(loaded.objectives[k].model.named_parameters()) for k in ("train", "test"))
    assert train.keys() == test.keys()
    for name, p in train.items():
        assert p is not test[name] and p.data_ptr() == test[name].data_ptr()
    for split, (x, y) in tiny_data().items():  # each still scores its own split exactly
        with torch.no_grad():
            exact = torch.nn.functional.cross_entropy(tiny_net()(x), y)
        loss, _ = loaded.objectives[split].evaluate(loaded.params)
        assert loss == pytest.approx(float(exact), rel=1e-6)


def test_float64_casts_weights_buffers_and_data_without_touching_the_model():
    net = tiny_net()
    loaded = load_objective(net, None, DATA, split="train", dtype="float64", device="cpu")
    assert all(v.dtype == torch.float64 for v in loaded.params.values())
    assert loaded.objective.split.x.dtype == torch.float64
    assert loaded.objective.split.y.dtype == torch.long
    assert next(net.parameters()).dtype == torch.float32  # the caller's model is copied
    with pytest.raises(LandscapeError, match="dtype: expected float32 or float64"):
        load_objective(net, None, DATA, dtype="float16", device="cpu")  # type: ignore[arg-type]


def test_in_memory_data_gets_the_same_split_and_subset_as_a_spec():
    spec = load_data(DATA, split="train", max_samples=20, seed=3)
    splits = {k: Split(*v) for k, v in tiny_data().items()}
    loaded = load_objective(
        tiny_net(), None, Data(splits, "mem"), split="train", max_samples=20, seed=3, device="cpu"
    )
    assert list(loaded.objectives) == ["train"]
    assert torch.equal(loaded.objective.split.x, spec.splits["train"].x)
    with pytest.raises(LandscapeError, match="has no 'test' split"):
        load_objective(tiny_net(), None, Data({"train": splits["train"]}, "mem"), split="test")
    assert load_objective(tiny_net(), None, None).objectives == {}


def test_run_spec_takes_only_what_names_no_code_unless_typed_or_trusted():
    src = Path("runs/a")
    assert run_spec("mlp", None, what="model", source=src) == "mlp"
    assert run_spec("mnist1d", None, what="data", source=src) == "mnist1d"
    assert run_spec("MSELoss", None, what="loss", source=src) == "MSELoss"
    assert run_spec("evil.py:f", "mlp", what="model", source=src) == "mlp"
    assert run_spec("evil.py:f", "evil.py:f", what="model", source=src) == "evil.py:f"
    assert run_spec("evil.py:f", None, what="model", source=src, trust_run_config=True) == (
        "evil.py:f"
    )
    with pytest.raises(LandscapeError, match=r"pass --model evil.py:f to run it"):
        run_spec("evil.py:f", None, what="model", source=src)
    with pytest.raises(LandscapeError, match=r"pass --loss m:l to run it"):
        run_spec("m:l", None, what="loss", source=src)
    with pytest.raises(LandscapeError, match="no built-in, so it cannot be rebuilt; pass --model"):
        run_spec("Sequential", None, what="model", source=src)
    with pytest.raises(LandscapeError, match="does not say which data it used; pass --data"):
        run_spec(None, None, what="data", source=src)
    specs = RunSpecs.of(
        {"model": "mlp"}, src, model=None, data="d:f", loss=None, trust_run_config=False
    )
    assert specs == RunSpecs("mlp", "d:f", "cross_entropy")


HELPER = """
from pathlib import Path

from tests.conftest import tiny_net


def f():
    Path(__file__).with_name("marker").write_text("ran")
    return tiny_net()
"""


@pytest.fixture(scope="module")
def evil_run(tmp_path_factory):
    """A run whose stored config names a planted helper.py (it wrote the marker when trained)."""
    root = tmp_path_factory.mktemp("evil")
    helper = root / "helper.py"
    helper.write_text(HELPER)
    cfg = TrainConfig(model=f"{helper}:f", data=DATA, optimizer="sgd", lr=0.1, epochs=2, seed=0)
    train(cfg, root / "run", progress=False)
    return root / "run", helper


def _planted(helper: Path) -> Path:
    marker = helper.with_name("marker")
    marker.unlink(missing_ok=True)
    return marker


@pytest.mark.parametrize("command", ["trajectory", "compare"])
def test_a_run_file_never_chooses_code(evil_run, tmp_path, command):
    run, helper = evil_run
    marker = _planted(helper)
    out = ["--out", str(tmp_path / ("t.h5" if command == "trajectory" else "rep"))]
    res = CliRunner().invoke(cli, [command, str(run), *out])
    assert res.exit_code == 1, res.output
    assert res.output.strip().count("\n") == 0 and "Traceback" not in res.output
    assert f"pass --model {helper}:f to run it" in res.output
    assert not marker.exists()
    assert not (tmp_path / "t.h5").exists() and not (tmp_path / "rep").exists()


def test_trajectory_runs_the_model_the_user_types(evil_run, tmp_path):
    run, helper = evil_run
    marker = _planted(helper)
    args = ["-q", "trajectory", str(run), "--out", str(tmp_path / "t.h5"), "--no-surface"]
    res = CliRunner().invoke(cli, [*args, "--model", f"{helper}:f"])
    assert res.exit_code == 0, res.output
    assert marker.read_text() == "ran"
    marker.unlink()
    trusted = CliRunner().invoke(cli, [*args, "--trust-run-config", "--overwrite"])
    assert trusted.exit_code == 0, trusted.output
    assert marker.exists()


def test_compare_runs_the_model_the_user_types(evil_run, tmp_path):
    run, helper = evil_run
    marker = _planted(helper)
    small = ["--no-profiles", "--max-checkpoints", "2", "--trace-probes", "2"]
    res = CliRunner().invoke(
        cli,
        ["-q", "compare", str(run), "--out", str(tmp_path / "rep"), *small,
         "--curvature-samples", "20", "--model", f"{helper}:f", "--data", DATA],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert marker.exists()


def test_a_run_that_cannot_say_how_to_rebuild_its_model_is_refused(evil_run, tmp_path):
    run, _ = evil_run
    copy = tmp_path / "recorded"
    copy.mkdir()
    (copy / "checkpoints").symlink_to(run / "checkpoints")
    (copy / "run.h5").write_bytes((run / "run.h5").read_bytes())
    with h5py.File(copy / "run.h5", "r+") as f:
        cfg = json.loads(f["dynamics"].attrs["config"])
        cfg["model"] = "Sequential"  # what a Recorder in a user's loop stores by default
        del cfg["data"]
        f["dynamics"].attrs["config"] = json.dumps(cfg)
    res = CliRunner().invoke(cli, ["trajectory", str(copy), "--out", str(tmp_path / "t.h5")])
    assert res.exit_code == 1 and "'Sequential', which is no built-in" in res.output
    assert "pass --model" in res.output and res.output.strip().count("\n") == 0
    res = CliRunner().invoke(
        cli, ["compare", str(copy), "--out", str(tmp_path / "r"), "--model", MODEL]
    )
    assert res.exit_code == 1 and "does not say which data it used; pass --data" in res.output
    assert not (tmp_path / "r").exists()


def _own_loop_run(run_dir: Path, model: torch.nn.Module, data: str | None = None) -> None:
    """Two epochs of a user's own loop on MNIST-1D-shaped rows, recorded with default config."""
    from landscape.dynamics.recorder import Recorder

    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(32, 40, generator=gen), torch.randint(0, 10, (32,), generator=gen)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with Recorder(run_dir, model, opt, data=data, checkpoint_every=1) as rec:
        for _ in range(2):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            rec.step(loss)
            rec.epoch(train=float(loss.detach()))


def test_a_recorder_run_names_its_model_class_and_a_file_never_imports_it(tmp_path):
    from landscape.models import MLP

    run = tmp_path / "mine"
    _own_loop_run(run, MLP())
    with h5py.File(run / "run.h5", "r") as f:
        assert json.loads(f["dynamics"].attrs["config"])["model"] == "landscape.models:MLP"
    out = tmp_path / "t.h5"
    res = CliRunner().invoke(cli, ["trajectory", str(run), "--out", str(out), "--no-surface"])
    assert res.exit_code == 1 and res.output.strip().count("\n") == 0
    assert "pass --model landscape.models:MLP to run it" in res.output and not out.exists()
    for consent in (["--model", "landscape.models:MLP"], ["--trust-run-config"]):
        res = CliRunner().invoke(
            cli, ["trajectory", str(run), "--out", str(out), "--no-surface", *consent]
        )
        assert res.exit_code == 0, res.output
        assert out.exists()
        out.unlink()


def test_a_class_defined_in_a_function_is_recorded_by_name(tmp_path):
    class Local(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(40, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(x)

    run = tmp_path / "local"
    _own_loop_run(run, Local())
    res = CliRunner().invoke(cli, ["trajectory", str(run), "--out", str(tmp_path / "t.h5")])
    assert res.exit_code == 1 and "'Local', which is no built-in" in res.output


def test_a_recorder_given_its_data_spec_stores_it_for_the_surface(tmp_path):
    from landscape.models import MLP

    run = tmp_path / "mine"
    _own_loop_run(run, MLP(), data="mnist1d")
    with h5py.File(run / "run.h5", "r") as f:
        config = json.loads(f["dynamics"].attrs["config"])
    assert config["data"] == "mnist1d" and config["model"] == "landscape.models:MLP"
    specs = RunSpecs.of(
        config, run, model="landscape.models:MLP", data=None, loss=None, trust_run_config=False
    )
    assert specs.data == "mnist1d"
