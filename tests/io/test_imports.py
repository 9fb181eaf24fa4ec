"""The io layer, the records, plotting and report load without torch (checked in a fresh process)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECK = (
    "import importlib, pkgutil, sys\n"
    "import landscape.records\n"
    "pkg = importlib.import_module({package!r})\n"
    "names = [m.name for m in pkgutil.iter_modules(pkg.__path__, pkg.__name__ + '.')]\n"
    "for name in names:\n"
    "    importlib.import_module(name)\n"
    "assert len(names) >= {least}, names\n"
    "assert 'torch' not in sys.modules, 'torch imported'\n"
)


@pytest.mark.parametrize(
    ("package", "least"), [("landscape.io", 7), ("landscape.plotting", 6), ("landscape.report", 7)]
)
def test_package_imports_no_torch(package, least):
    code = CHECK.format(package=package, least=least)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_check_sees_torch():
    code = CHECK.format(package="landscape.pipelines", least=1)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode != 0 and "torch imported" in done.stderr
