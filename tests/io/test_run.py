"""The run file's io module: layout, appends, truncation, reading, and no torch."""

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest

from landscape.errors import LandscapeError
from landscape.io.run import (
    GROUP,
    RunHeader,
    append_records,
    create_run_file,
    read_resume_point,
    read_run_file,
    run_file,
    truncate_records,
)

HEADER = RunHeader(
    config='{"optimizer": "adam"}',
    optimizer="adam",
    hparams={"lr": 0.01, "betas": [0.9, 0.999]},
    layers=("w", "b"),
    shapes=((2, 3), (2,)),
    grad_every=2,
    step_size_sample=16,
)


@pytest.fixture
def path(tmp_path):
    p = run_file(tmp_path / "run")
    create_run_file(
        p, HEADER, {"w": np.arange(6.0).reshape(2, 3), "b": np.zeros(2)}, command="test"
    )
    return p


def test_create_writes_the_header_and_init(path):
    with h5py.File(path, "r") as f:
        g = f[GROUP]
        assert g.attrs["config"] == HEADER.config and g.attrs["optimizer"] == "adam"
        assert json.loads(g.attrs["hparams"]) == HEADER.hparams
        assert json.loads(g.attrs["layers"]) == ["w", "b"]
        assert json.loads(g.attrs["shapes"]) == [[2, 3], [2]]
        assert g.attrs["grad_every"] == 2 and g.attrs["step_size_sample"] == 16
        assert g["init/w"][()].tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
        assert f.attrs["command"] == "test"
    resume = read_resume_point(path)
    assert resume.epoch_steps == {} and list(resume.init) == ["w", "b"]


def test_no_step_size_sample_attribute_when_every_entry_is_used(tmp_path):
    p = run_file(tmp_path)
    header = RunHeader("{}", "sgd", {}, ("w",), ((1,),), grad_every=1)
    create_run_file(p, header, {"w": np.zeros(1)})
    with h5py.File(p, "r") as f:
        assert "step_size_sample" not in f[GROUP].attrs
    assert read_run_file(p).step_size_sample is None


def test_appends_keep_one_row_per_record_in_every_column(path):
    append_records(path, steps={"step": np.array([1, 2]), "loss": np.array([0.5, 0.25])})
    append_records(path, steps={"step": np.array([3]), "grad_norm": np.array([2.0])})
    run = read_run_file(path)
    assert run.steps["step"].tolist() == [1, 2, 3] and run.steps["step"].dtype == np.int64
    loss, grad = run.steps["loss"], run.steps["grad_norm"]
    assert loss[:2].tolist() == [0.5, 0.25] and np.isnan(loss[2])  # missing: extended
    assert np.isnan(grad[:2]).all() and grad[2] == 2.0  # new: back-filled


def test_tables_are_resizable_in_chunks_of_64_kib_of_rows(path):
    append_records(
        path,
        epochs={"epoch": np.array([0, 1]), "weight_norm": np.ones((2, 2))},
        probes={"step": np.array([2.0]), "lambda_max": np.array([3.0])},
    )
    with h5py.File(path, "r") as f:
        epoch = f[GROUP]["epoch/epoch"]
        assert epoch.maxshape == (None,) and epoch.chunks == (8192,)  # 8-byte rows
        layer = f[GROUP]["epoch/weight_norm"]
        assert layer.maxshape == (None, 2) and layer.chunks == (4096, 2)  # 16-byte rows
        assert f[GROUP]["probe/lambda_max"][()].tolist() == [3.0]


def test_truncate_drops_later_records_and_the_diagnosis(path):
    append_records(
        path,
        steps={"step": np.arange(1, 7)},
        epochs={"epoch": np.array([0, 1, 2, 3]), "step": np.array([0, 2, 4, 6])},
        probes={"step": np.array([2.0, 4.0, 6.0])},
    )
    with h5py.File(path, "r+") as f:
        f[GROUP].create_group("diagnosis").attrs["result"] = "{}"
    truncate_records(path, last_epoch=2, last_step=4)
    run = read_run_file(path)
    assert run.epochs["epoch"].tolist() == [0, 1, 2]
    assert run.steps["step"].tolist() == [1, 2, 3, 4]
    assert run.probes["step"].tolist() == [2.0, 4.0]
    assert run.diagnosis is None
    assert read_resume_point(path).epoch_steps == {0: 0, 1: 2, 2: 4}


def test_truncate_keeps_the_diagnosis_when_nothing_is_dropped(path):
    append_records(path, epochs={"epoch": np.array([0, 1]), "step": np.array([0, 2])})
    with h5py.File(path, "r+") as f:
        f[GROUP].create_group("diagnosis").attrs["result"] = '{"findings": []}'
    truncate_records(path, last_epoch=1, last_step=2)
    assert read_run_file(path).diagnosis == {"findings": []}


def test_read_run_file_reads_the_header(path):
    run = read_run_file(path)
    assert run.config == {"optimizer": "adam"} and run.hparams == HEADER.hparams
    assert run.layers == ("w", "b") and run.shapes == ((2, 3), (2,))
    assert (run.grad_every, run.step_size_sample) == (2, 16)
    assert run.epochs == {} and run.steps == {} and run.probes == {}


def test_read_run_file_without_the_group_is_one_clear_error(tmp_path):
    p = tmp_path / "run.h5"
    with h5py.File(p, "w") as f:
        f.create_group("surface")
    with pytest.raises(LandscapeError, match="no 'dynamics' group"):
        read_run_file(p)


@pytest.mark.parametrize("module", ["landscape.io.run", "landscape.dynamics.runs"])
def test_reading_runs_imports_no_torch(module):
    code = f"import {module}, sys; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
