"""``landscape plot c.h5`` for a ``connect`` file: paths, and the curve over its plane."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from landscape.cli import cli
from landscape.errors import LandscapeError
from landscape.io.connect import read_connect
from landscape.pipelines import connect as pipeline
from landscape.plotting.connect import draw_plane, plot_connect
from landscape.plotting.style import figure
from tests import connect_specs as specs


@pytest.fixture
def pair(tmp_path):
    return (
        specs.trained(specs.mlp, 0, tmp_path / "a.pt", steps=40),
        specs.trained(specs.mlp, 1, tmp_path / "b.pt", steps=40),
    )


def test_cli_plots_paths_and_plane(tmp_path, pair):
    out = tmp_path / "c.h5"
    pipeline.connect(
        specs.mlp(), *pair, specs.data(), out=out, points=5, align=True, curve="bezier",
        curve_epochs=1, plane=3, progress=False,
    )  # fmt: skip
    c = read_connect(out)
    fig = plot_connect(out)
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == 2
    labels = panels[0].get_legend_handles_labels()[1]
    assert labels == [
        f"straight line: barrier {c.barriers['linear_barrier']:.3g}",
        f"after alignment: barrier {c.barriers['aligned_barrier']:.3g}",
        f"bezier curve: barrier {c.barriers['curve_barrier']:.3g}",
    ]
    res = CliRunner().invoke(cli, ["-q", "plot", str(out)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert (tmp_path / "c.connect.pdf").stat().st_size > 0


def test_line_only_file_has_one_panel_and_no_plane(tmp_path, pair):
    out = tmp_path / "c.h5"
    pipeline.connect(specs.mlp(), *pair, specs.data(), out=out, points=3, progress=False)
    assert len(plot_connect(out).axes) == 1
    _, ax = figure()
    with pytest.raises(LandscapeError, match="holds no plane"):
        draw_plane(read_connect(out), ax)


def test_plotting_does_not_import_torch():
    code = (
        "import sys, landscape.plotting.connect, landscape.connect.summary; "
        "assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
