import json

import h5py
import pytest
import torch
from click.testing import CliRunner

from landscape.cli import cli
from landscape.errors import LandscapeError
from landscape.io.groups import find_contender, find_contenders

COMMON = ["train", "--epochs", "1", "--max-samples", "32", "--batch-size", "16"]


def _final_state(run_dir):
    (last,) = sorted((run_dir / "checkpoints").glob("epoch_*.pt"))[-1:]
    return torch.load(last, weights_only=True)


def test_seeds_write_a_group_equal_to_single_runs(tmp_path):
    group = tmp_path / "group"
    res = CliRunner().invoke(cli, ["-q", *COMMON, "--seeds", "0,3", "--out", str(group)])
    assert res.exit_code == 0, res.output
    single = tmp_path / "single"
    res = CliRunner().invoke(cli, ["-q", *COMMON, "--seed", "3", "--out", str(single)])
    assert res.exit_code == 0, res.output
    member = group / "seed-3"
    with h5py.File(member / "run.h5", "r") as f:
        assert json.loads(f["dynamics"].attrs["config"])["seed"] == 3
    a, b = _final_state(member), _final_state(single)
    a = a.get("model", a)
    b = b.get("model", b)
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], torch.Tensor):
            assert torch.equal(a[key], b[key]), key
    contender = find_contender(group)
    assert contender.is_group and contender.seeds == (0, 3)
    assert contender.runs == (group / "seed-0", group / "seed-3")
    assert find_contender(single).runs == (single,) and not find_contender(single).is_group


def test_a_run_named_twice_is_refused(tmp_path):
    group = tmp_path / "g"
    assert (
        CliRunner().invoke(cli, ["-q", *COMMON, "--seeds", "1", "--out", str(group)]).exit_code == 0
    )
    with pytest.raises(LandscapeError, match="named twice"):
        find_contenders([group, group / "seed-1"])
    with pytest.raises(LandscapeError, match="not a run"):
        find_contender(tmp_path)


@pytest.mark.parametrize("spec", ["0,0", "a,b", "-1", "", str(2**64)])
def test_bad_seeds_one_line_nothing_written(tmp_path, spec):
    out = tmp_path / "g"
    res = CliRunner().invoke(cli, [*COMMON, "--seeds", spec, "--out", str(out)])
    assert res.exit_code == 1
    assert "--seeds: expected" in res.output and "Traceback" not in res.output
    assert not out.exists()
