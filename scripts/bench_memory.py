"""Peak memory of ``landscape.surface`` as the grid grows (streamed writes keep it flat).

Each grid size runs in a fresh Python process, which reports its peak resident
set size (``ru_maxrss``) and the peak of Python-level allocations
(``tracemalloc``, which includes numpy arrays but not torch's allocator). A
1x1 grid gives the fixed cost of imports, model and data.

Usage::

    python scripts/bench_memory.py                      # 1x1, 21x21, 51x51, 101x101
    python scripts/bench_memory.py --sizes 1 21 --tracemalloc
    python scripts/bench_memory.py --device cuda        # adds the CUDA allocator's peak
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from torch import nn

SCRIPT = Path(__file__).resolve()

CHILD = """
import json, resource, sys, time, tracemalloc
sys.path.insert(0, {scripts!r})
if sys.argv[4] == "1":
    tracemalloc.start()
import torch
import landscape
from bench_memory import tiny_data, tiny_net
n, out, device = int(sys.argv[1]), sys.argv[2], sys.argv[3]
start = time.perf_counter()
s = landscape.surface(tiny_net(), data=tiny_data(), x=f"-1:1:{{n}}", y=f"-1:1:{{n}}", out=out,
                      device=device, progress=False, points_per_pass=16)
seconds = time.perf_counter() - start
peak = tracemalloc.get_traced_memory()[1] if tracemalloc.is_tracing() else float("nan")
cuda = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
print(json.dumps({{"points": int(s.done.sum()), "seconds": seconds,
                   "tracemalloc_peak_mib": peak / 2**20,
                   "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                   "cuda_peak_mib": cuda}}))
"""


def tiny_net() -> nn.Module:
    """A small MLP (40 -> 64 -> 10), about 3k parameters."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(40, 64), nn.ReLU(), nn.Linear(64, 10))


def tiny_data() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """256 train and 256 test rows of fixed random data."""
    g = torch.Generator().manual_seed(0)
    return {
        split: (torch.randn(256, 40, generator=g), torch.randint(0, 10, (256,), generator=g))
        for split in ("train", "test")
    }


def measure(n: int, device: str, work: Path, trace: bool) -> dict[str, float]:
    """Run an ``n x n`` surface in a fresh process and return its measurements."""
    out = work / f"s{n}.h5"
    code = CHILD.format(scripts=str(SCRIPT.parent))
    res = subprocess.run(
        [sys.executable, "-c", code, str(n), str(out), device, str(int(trace))],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(res.stdout.strip().splitlines()[-1])
    result["file_kib"] = out.stat().st_size / 1024
    return result


def main() -> None:
    """Print one row per grid size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 21, 51, 101])
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--tracemalloc", action="store_true", help="also trace Python allocations (slow)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [(n, measure(n, args.device, Path(tmp), args.tracemalloc)) for n in args.sizes]
    base = rows[0][1]
    print(
        f"device: {args.device}; model: MLP 40-64-10 "
        f"({sum(p.numel() for p in tiny_net().parameters())} "
        "parameters); 256 train + 256 test rows; points per pass 16"
    )
    print(
        "grid      points  seconds  peak RSS MiB  (vs first)  tracemalloc peak MiB  file KiB"
        + ("  CUDA peak MiB" if base["cuda_peak_mib"] is not None else "")
    )
    for n, r in rows:
        line = (
            f"{n:>3}x{n:<3} {r['points']:>8} {r['seconds']:>8.2f} {r['maxrss_mib']:>13.1f} "
            f"{r['maxrss_mib'] / base['maxrss_mib']:>11.3f} {r['tracemalloc_peak_mib']:>21.2f} "
            f"{r['file_kib']:>9.0f}"
        )
        if r["cuda_peak_mib"] is not None:
            line += f" {r['cuda_peak_mib']:>14.1f}"
        print(line)


if __name__ == "__main__":
    main()
