"""Rerun the demo and copy its key figures (PNG for the README, PDF beside them) into figures/.

    python scripts/make_figures.py                 # default demo (a few minutes on 2 CPU cores)
    python scripts/make_figures.py --size quick    # a smoke test
    python scripts/make_figures.py --out demo/ --figures figures/

The demo resumes, so a second run only redraws. Figure files are byte-stable
for the same numbers (the style writes PDFs without time stamps).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from landscape.pipelines.demo import SIZES, run_demo

KEY_FIGURES = ("convergence", "stability", "profiles", "paths", "lr_sweep", "sharpness_gd")
"""The figures the README shows, in its order."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("demo"), help="demo folder (reused)")
    parser.add_argument("--figures", type=Path, default=Path("figures"), help="where the copies go")
    parser.add_argument("--size", choices=SIZES, default="default", help="demo size")
    parser.add_argument("--device", default="auto", help="torch device")
    args = parser.parse_args()
    result = run_demo(args.out, size=args.size, device=args.device)
    source = result.report.html.parent / "figures"
    args.figures.mkdir(parents=True, exist_ok=True)
    for name in KEY_FIGURES:
        for ext in ("png", "pdf"):
            target = args.figures / f"demo_{name}.{ext}"
            shutil.copyfile(source / f"{name}.{ext}", target)
            print(target)
    print(f"report: {result.report.html}")


if __name__ == "__main__":
    main()
