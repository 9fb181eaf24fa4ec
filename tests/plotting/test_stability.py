from click.testing import CliRunner

from landscape.cli import cli
from landscape.plotting.stability import plot_sharpness

TRAIN = ["-q", "train", "--max-samples", "48", "--batch-size", "full", "--epochs", "4"]


def test_sharpness_against_threshold_from_step_0(tmp_path):
    run = tmp_path / "gd"
    args = [*TRAIN, "--lr", "0.5", "--track-sharpness", "every=1,subset=48", "--out", str(run)]
    assert CliRunner().invoke(cli, args).exit_code == 0
    fig = plot_sharpness(run)
    (ax,) = fig.axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"λ_max", "stability threshold 2/η"}
    assert lines["λ_max"].get_xdata().tolist() == [0, 1, 2, 3, 4]
    assert lines["stability threshold 2/η"].get_ydata().tolist() == [4.0] * 5
    res = CliRunner().invoke(cli, ["-q", "plot", str(run), "--kind", "sharpness"])
    assert res.exit_code == 0, res.output
    assert (run / "run.sharpness.pdf").is_file()


def test_a_run_without_probe_gets_one_line(tmp_path):
    run = tmp_path / "plain"
    assert CliRunner().invoke(cli, [*TRAIN, "--out", str(run)]).exit_code == 0
    res = CliRunner().invoke(cli, ["plot", str(run), "--kind", "sharpness"])
    assert res.exit_code == 1 and "--track-sharpness" in res.output
    assert len(res.output.strip().splitlines()) == 1
