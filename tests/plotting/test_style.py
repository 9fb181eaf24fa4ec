import subprocess
import sys
import warnings

import matplotlib as mpl
import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.image import imread

from landscape.errors import LandscapeError
from landscape.plotting.style import (
    CMAP,
    COLORS,
    HEIGHTS,
    PNG_DPI,
    WIDTHS,
    figure,
    save,
    style_context,
)


def test_figure_sizes():
    for width, inches in (("single", 3.3), ("double", 6.9)):
        fig, ax = figure(width)
        assert fig.get_size_inches().tolist() == [inches, HEIGHTS[width]]
        assert ax in fig.axes
    fig, ax = figure("single", 1.5, projection="3d")
    assert ax.name == "3d" and fig.get_size_inches()[1] == 1.5


def test_figure_bad_input():
    with pytest.raises(
        LandscapeError, match=r"width: expected one of single, double \(got 'wide'\)"
    ):
        figure("wide")  # type: ignore[arg-type]
    with pytest.raises(LandscapeError, match="height: expected a positive number"):
        figure("single", 0)


def test_style_is_scoped_and_colour_blind_safe():
    before = mpl.rcParams["font.size"]
    with style_context():
        assert mpl.rcParams["font.size"] == 8
        assert mpl.rcParams["pdf.fonttype"] == 42 and mpl.rcParams["svg.fonttype"] == "none"
        cycle = [c["color"] for c in mpl.rcParams["axes.prop_cycle"]]
    assert mpl.rcParams["font.size"] == before
    assert cycle == COLORS and len(set(COLORS)) == len(COLORS)
    assert all(len(to_rgb(c)) == 3 for c in COLORS)
    assert CMAP in mpl.colormaps


@pytest.mark.parametrize("width", ["single", "double"])
def test_png_is_sized_as_promised(tmp_path, width):
    fig, ax = figure(width)
    ax.plot([0, 1], [1, 0], label="a")
    ax.set_xlabel("x")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = save(fig, tmp_path / "f.png")
    image = imread(out)
    assert image.shape[:2] == (round(HEIGHTS[width] * PNG_DPI), round(WIDTHS[width] * PNG_DPI))
    assert np.ptp(image[..., :3]) > 0  # not blank


def test_vector_formats_and_reproducibility(tmp_path):
    fig, ax = figure()
    ax.plot([0, 1], [0, 1])
    for suffix, magic in ((".pdf", b"%PDF"), (".svg", b"<?xml")):
        first = save(fig, tmp_path / f"a{suffix}").read_bytes()
        second = save(fig, tmp_path / f"b{suffix}").read_bytes()
        assert first.startswith(magic)
        assert first == second  # no time stamps: re-running gives the same file
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "a.pdf",
        "a.svg",
        "b.pdf",
        "b.svg",
    ]  # no temp files


def test_save_refuses_unknown_suffix(tmp_path):
    fig, _ = figure()
    with pytest.raises(
        LandscapeError,
        match=r"expected a figure file ending in \.pdf, \.svg, \.png \(got '\.jpg'\)",
    ):
        save(fig, tmp_path / "f.jpg")
    assert not list(tmp_path.iterdir())


NO_TORCH = (  # every module of landscape.plotting, and the plot/info commands
    "import importlib, pkgutil, sys\n"
    "import landscape.plotting, landscape.cli.plot, landscape.cli.info\n"
    "for m in pkgutil.iter_modules(landscape.plotting.__path__, 'landscape.plotting.'):\n"
    "    importlib.import_module(m.name)\n"
    "heavy = ('torch', 'landscape.objective', 'landscape.params')\n"
    "bad = sorted(m for m in heavy if m in sys.modules)\n"
    "assert not bad, bad\n"
)
BARE_PACKAGE = (  # the package object without running landscape/__init__.py
    "import importlib.util, sys, types\n"
    "pkg = types.ModuleType('landscape')\n"
    "pkg.__path__ = list(importlib.util.find_spec('landscape').submodule_search_locations)\n"
    "sys.modules['landscape'] = pkg\n"
)


def test_plotting_package_never_imports_torch():
    subprocess.run([sys.executable, "-c", BARE_PACKAGE + NO_TORCH], check=True)


def test_plot_cli_never_imports_torch_through_the_package():
    subprocess.run([sys.executable, "-c", NO_TORCH], check=True, capture_output=True)
