"""Peak memory of surfaces as the grid grows, and of trajectories and Hessian spectra as the model does.

``grid`` (default): each grid size runs ``landscape.surface`` in a fresh Python
process, which reports its peak resident set size (``ru_maxrss``) and the peak
of Python-level allocations (``tracemalloc``, which includes numpy arrays but
not torch's allocator). A 1x1 grid gives the fixed cost of imports, model and data.

``model``: MLPs of about 1M, 5M, 20M and 50M parameters (``--params``). For
each, in a fresh process per case: the top-5 Hessian eigenpairs (Lanczos,
``--max-iter`` steps at most), the Hutch++ trace (``--trace-hvps`` products),
the same two with their basis or sketches memory-mapped in a folder
(``hessian-disk``, ``trace-disk``: ``--basis-on-disk``; not run by default),
a small surface (``landscape.surface``, ``--grid`` squared points, written to
a file) and, for each T in ``--checkpoints``, the PCA plane and projection of
a path of T checkpoints (written by a separate process, opened memory-mapped as
``landscape trajectory`` does: :func:`landscape.trajectory.pca_plane` and
:func:`~landscape.trajectory.project`). Each prints its peak RSS and peak
anonymous memory (``RssAnon`` sampled every 5 ms: RSS also counts the
checkpoints' file pages, which the kernel can drop) above those of an idle
process measured the same way (the same imports, the model built, nothing run),
over the model's float32 size: the number of model copies the command holds.

The child processes run ``python -c``, which puts the current directory first
on ``sys.path``: run the script from the checkout whose ``landscape`` is to be
measured (``cd OTHER && PYTHONPATH=OTHER python THIS/scripts/bench_memory.py``).

Usage::

    python scripts/bench_memory.py                      # 1x1, 21x21, 51x51, 101x101
    python scripts/bench_memory.py --sizes 1 21 --tracemalloc
    python scripts/bench_memory.py --device cuda        # adds the CUDA allocator's peak
    python scripts/bench_memory.py model --params 1e6 5e6 --checkpoints 10 50 200
    python scripts/bench_memory.py model --params 5e6 --commands hessian hessian-disk trace trace-disk
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
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


MODEL_CHILD = """
import json, resource, sys, threading, time
sys.path.insert(0, {scripts!r})
import torch
from pathlib import Path
from bench_memory import mlp_of, peak_anon
import landscape
from landscape.checkpoint_mmap import open_checkpoint_lazily
from landscape.curvature.hvp import HessianLinearOperator
from landscape.curvature.lanczos import lanczos
from landscape.curvature.trace import hutchpp_trace
from landscape.data import Split
from landscape.objective import Objective
from landscape.trajectory import pca_plane, project
task, p, arg, folder = sys.argv[1], int(float(sys.argv[2])), int(sys.argv[3]), sys.argv[4]
torch.set_num_threads(1)
torch.manual_seed(0)
model = mlp_of(p)
n = sum(t.numel() for t in model.parameters())
g = torch.Generator().manual_seed(0)
rows = (torch.randn(32, 64, generator=g), torch.randint(0, 10, (32,), generator=g))
if task == "write":
    base = {{k: v.detach().clone() for k, v in model.state_dict().items()}}
    g = torch.Generator().manual_seed(1)
    drift = {{k: torch.randn(v.shape, generator=g) for k, v in base.items()}}
    side = {{k: torch.randn(v.shape, generator=g) for k, v in base.items()}}
    for i in range(arg):
        s = i / max(arg - 1, 1)
        torch.save({{k: base[k] + (1 - s) * drift[k] + s * (1 - s) * side[k] for k in base}},
                   f"{{folder}}/c{{i:04d}}.pt")
    sys.exit(0)
peak = [0]
stop = threading.Event()
threading.Thread(target=peak_anon, args=(peak, stop), daemon=True).start()
start = time.perf_counter()
params = {{k: v.detach() for k, v in model.named_parameters()}}
if task == "trajectory":
    points = [open_checkpoint_lazily(model, c)[0] for c in sorted(Path(folder).glob("c*.pt"))]
    plane = pca_plane(points, points[-1])
    project(points, points[-1], plane.directions)
elif task in ("hessian", "hessian-disk"):
    op = HessianLinearOperator(Objective(model, Split(*rows)), params)
    disk = {{"basis_dir": folder}} if task == "hessian-disk" else {{}}
    lanczos(op, 5, tol=1e-2, max_iter=arg, **disk)
elif task in ("trace", "trace-disk"):
    disk = {{"directory": folder}} if task == "trace-disk" else {{}}
    hutchpp_trace(HessianLinearOperator(Objective(model, Split(*rows)), params), arg, **disk)
elif task == "surface":
    landscape.surface(model, data={{"train": rows}}, x=f"-1:1:{{arg}}", y=f"-1:1:{{arg}}",
                      split="train", device="cpu", out=f"{{folder}}/s.h5", progress=False)
seconds = time.perf_counter() - start
stop.set()
time.sleep(0.02)
print(json.dumps({{"params": n, "seconds": seconds, "anon_mib": peak[0] / 1024,
                   "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def mlp_of(params: int) -> nn.Module:
    """An MLP 64 -> h -> h -> 10 with about ``params`` parameters (``h^2 + 76 h + 10``)."""
    h = int((-76 + (76**2 + 4 * max(params - 10, 1)) ** 0.5) / 2)
    return nn.Sequential(nn.Linear(64, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, 10))


def rss_anon_kib() -> int:
    """``RssAnon`` of this process (KiB): its anonymous memory, not its file pages."""
    lines = Path("/proc/self/status").read_text().splitlines()
    return next(int(line.split()[1]) for line in lines if line.startswith("RssAnon:"))


def peak_anon(peak: list[int], stop: threading.Event) -> None:
    """Keep ``peak[0]`` at the largest :func:`rss_anon_kib` of this process until ``stop``."""
    while not stop.is_set():
        peak[0] = max(peak[0], rss_anon_kib())
        stop.wait(0.005)


def available_mib() -> float:
    """``MemAvailable`` of the machine, MiB."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_model_child(*args: str) -> dict[str, float]:
    """Run :data:`MODEL_CHILD` in a fresh process; its JSON line (``{}`` for ``write``)."""
    code = MODEL_CHILD.format(scripts=str(SCRIPT.parent))
    res = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
    )
    lines = res.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else {}


def model_cases(
    p: float, checkpoints: list[int], args: argparse.Namespace
) -> list[tuple[str, str, str]]:
    """``(command, label, argument)`` of every case run for a model of ``p`` parameters."""
    cases = [
        ("hessian", f"top-5, {args.max_iter} steps", str(args.max_iter)),
        ("hessian-disk", f"top-5, {args.max_iter}, on disk", str(args.max_iter)),
        ("trace", f"hutch++, {args.trace_hvps} HVPs", str(args.trace_hvps)),
        ("trace-disk", f"hutch++, {args.trace_hvps}, on disk", str(args.trace_hvps)),
        ("surface", f"{args.grid}x{args.grid} grid", str(args.grid)),
    ]
    cases += [("trajectory", f"T={t}", str(t)) for t in checkpoints]
    return [c for c in cases if c[0] in args.commands]


def model_rows(params: list[float], checkpoints: list[int], args: argparse.Namespace) -> None:
    """Print peak memory above an idle process over the model's size, one case per process.

    The idle process imports what every case imports and builds the model, then
    stops; its peaks are subtracted from each case's, measured the same way.
    A case is skipped, with a line saying so, when the machine's available
    memory is under ``--min-free`` GiB plus 60 model copies, or when its
    checkpoints would take more than ``--max-disk`` GiB.
    """
    print(
        "MLP 64-h-h-10, float32, one torch thread; 32 rows of data; peaks above an idle "
        "process (same imports, model built) over the float32 model"
    )
    print(
        "command       params  case                 seconds  model MiB  RSS-idle MiB  /model"
        "  anon-idle MiB  /model"
    )
    for p in params:
        model_mib = p * 4 / 2**20
        with tempfile.TemporaryDirectory() as tmp:
            idle = run_model_child("idle", str(p), "0", tmp)
            for name, label, arg in model_cases(p, checkpoints, args):
                if available_mib() < args.min_free * 1024 + 60 * model_mib:
                    print(
                        f"{name:<12} {p:>8.0f}  {label:<20} skipped: {available_mib():.0f} "
                        "MiB available"
                    )
                    continue
                if name == "trajectory":
                    if int(arg) * model_mib > args.max_disk * 1024:
                        print(
                            f"{name:<12} {p:>8.0f}  {label:<20} skipped: checkpoints over "
                            f"{args.max_disk} GiB"
                        )
                        continue
                    for old in Path(tmp).glob("c*.pt"):
                        old.unlink()
                    run_model_child("write", str(p), arg, tmp)
                r = run_model_child(name, str(p), arg, tmp)
                mib = r["params"] * 4 / 2**20
                rss = r["maxrss_mib"] - idle["maxrss_mib"]
                anon = r["anon_mib"] - idle["anon_mib"]
                print(
                    f"{name:<12} {r['params']:>8}  {label:<20} {r['seconds']:>7.1f} "
                    f"{mib:>10.1f} {rss:>13.0f} {rss / mib:>7.1f} {anon:>14.0f} {anon / mib:>7.1f}",
                    flush=True,
                )


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
    parser.add_argument("what", nargs="?", choices=("grid", "model"), default="grid")
    parser.add_argument("--params", type=float, nargs="+", default=[1e6, 5e6, 2e7, 5e7])
    parser.add_argument("--checkpoints", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--max-iter", type=int, default=10, help="Lanczos steps at most")
    parser.add_argument("--trace-hvps", type=int, default=12, help="Hutch++ products")
    parser.add_argument("--grid", type=int, default=3, help="surface grid side")
    parser.add_argument(
        "--commands",
        nargs="+",
        choices=("hessian", "hessian-disk", "trace", "trace-disk", "surface", "trajectory"),
        default=["hessian", "trace", "surface", "trajectory"],
        help="cases of the model benchmark to run",
    )
    parser.add_argument(
        "--min-free", type=float, default=3.0, help="GiB left free (plus 60 models) per case"
    )
    parser.add_argument(
        "--max-disk", type=float, default=4.0, help="GiB of checkpoints at most per case"
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 21, 51, 101])
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--tracemalloc", action="store_true", help="also trace Python allocations (slow)"
    )
    args = parser.parse_args()
    if args.what == "model":
        print(f"load average before: {os.getloadavg()}")
        model_rows(args.params, args.checkpoints, args)
        print(f"load average after: {os.getloadavg()}")
        return
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
