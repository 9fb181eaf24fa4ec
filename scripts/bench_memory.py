"""Peak memory of surfaces as the grid grows, and of trajectories and Hessian spectra as the model does.

``grid`` (default): each grid size runs ``landscape.surface`` in a fresh Python
process, which reports its peak resident set size (``ru_maxrss``) and the peak
of Python-level allocations (``tracemalloc``, which includes numpy arrays but
not torch's allocator). A 1x1 grid gives the fixed cost of imports, model and data.

``model``: MLPs of about 1M, 5M and 20M parameters (``--params``). For each,
the PCA plane and projection of a path of T checkpoints (``--checkpoints``,
written by a separate process, opened memory-mapped as ``landscape trajectory``
does: :func:`landscape.trajectory.pca_plane` and :func:`~landscape.trajectory.project`)
and the top-5 Hessian eigenpairs (Lanczos, ``--max-iter`` steps at most) each
run in a fresh process. Each prints peak RSS and the peak of anonymous memory
(``RssAnon`` sampled every 5 ms: RSS also counts the checkpoints' file pages,
which the kernel can drop), both over the model's float32 size, and the
anonymous memory above an idle process (imports, model built, nothing run)
over the model's size: the number of model copies the command itself holds.

Usage::

    python scripts/bench_memory.py                      # 1x1, 21x21, 51x51, 101x101
    python scripts/bench_memory.py --sizes 1 21 --tracemalloc
    python scripts/bench_memory.py --device cuda        # adds the CUDA allocator's peak
    python scripts/bench_memory.py model --params 1e6 5e6 2e7 --checkpoints 10 50
"""

from __future__ import annotations

import argparse
import json
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
from bench_memory import mlp_of, peak_anon
task, p, arg, folder = sys.argv[1], int(float(sys.argv[2])), int(sys.argv[3]), sys.argv[4]
torch.set_num_threads(1)
torch.manual_seed(0)
model = mlp_of(p)
n = sum(t.numel() for t in model.parameters())
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
if task == "trajectory":
    from pathlib import Path
    from landscape.checkpoint_mmap import open_checkpoint_lazily
    from landscape.trajectory import pca_plane, project
    points = [open_checkpoint_lazily(model, c)[0] for c in sorted(Path(folder).glob("c*.pt"))]
    plane = pca_plane(points, points[-1])
    project(points, points[-1], plane.directions)
elif task == "hessian":
    from landscape.curvature.hvp import HessianLinearOperator
    from landscape.curvature.lanczos import lanczos
    from landscape.objective import Objective
    from landscape.data import Split
    g = torch.Generator().manual_seed(0)
    split = Split(torch.randn(32, 64, generator=g), torch.randint(0, 10, (32,), generator=g))
    params = {{k: v.detach() for k, v in model.named_parameters()}}
    op = HessianLinearOperator(Objective(model, split), params)
    lanczos(op, 5, tol=1e-2, max_iter=arg)
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


def peak_anon(peak: list[int], stop: threading.Event) -> None:
    """Keep ``peak[0]`` at the largest ``RssAnon`` (KiB) of this process until ``stop``."""
    status = Path("/proc/self/status")
    while not stop.is_set():
        for line in status.read_text().splitlines():
            if line.startswith("RssAnon:"):
                peak[0] = max(peak[0], int(line.split()[1]))
        stop.wait(0.005)


def run_model_child(*args: str) -> dict[str, float]:
    """Run :data:`MODEL_CHILD` in a fresh process; its JSON line (``{}`` for ``write``)."""
    code = MODEL_CHILD.format(scripts=str(SCRIPT.parent))
    res = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
    )
    lines = res.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else {}


def model_rows(params: list[float], checkpoints: list[int], max_iter: int) -> None:
    """Print peak memory over model size for trajectories and Hessian top-5."""
    print(f"MLP 64-h-h-10, float32; hessian: 32 rows, top-5 Lanczos, at most {max_iter} steps")
    print(
        "command      params  checkpoints  seconds  peak RSS MiB  /model  peak anon MiB  /model"
        "  (anon - idle)/model"
    )
    for p in params:
        with tempfile.TemporaryDirectory() as tmp:
            idle = run_model_child("idle", str(p), "0", tmp)
            rows = [("hessian", "-", run_model_child("hessian", str(p), str(max_iter), tmp))]
            for t in checkpoints:
                for old in Path(tmp).glob("c*.pt"):
                    old.unlink()
                run_model_child("write", str(p), str(t), tmp)
                rows.append(("trajectory", t, run_model_child("trajectory", str(p), "0", tmp)))
        for name, t, r in rows:
            model_mib = r["params"] * 4 / 2**20
            print(
                f"{name:<10} {r['params']:>9} {t!s:>12} {r['seconds']:>8.1f} "
                f"{r['maxrss_mib']:>13.0f} {r['maxrss_mib'] / model_mib:>7.1f} "
                f"{r['anon_mib']:>14.0f} {r['anon_mib'] / model_mib:>7.1f} "
                f"{(r['anon_mib'] - idle['anon_mib']) / model_mib:>20.1f}"
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
    parser.add_argument("--params", type=float, nargs="+", default=[1e6, 5e6, 2e7])
    parser.add_argument("--checkpoints", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--max-iter", type=int, default=20, help="Lanczos steps at most")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 21, 51, 101])
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--tracemalloc", action="store_true", help="also trace Python allocations (slow)"
    )
    args = parser.parse_args()
    if args.what == "model":
        model_rows(args.params, args.checkpoints, args.max_iter)
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
