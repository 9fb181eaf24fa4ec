"""Top Hessian eigenvalues: our Lanczos vs PyHessian's power iteration (and scipy's ARPACK).

Same model, same data, same float64 precision, one run. For each method it
records the Hessian-vector products (HVPs) and wall time (a) when the method
stops by its own rule at tol=1e-3 and (b) when its estimate first comes
within 1e-3 relative of the exact answer (an oracle count), and the relative
error of what it returns. The exact answer is ``eigvalsh`` of the dense
Hessian (``torch.func.hessian``) for the small model; for the larger one it
is our Lanczos at tol=1e-10 (stated in the output).

    python scripts/bench_curvature.py [--seeds 5] [--quick]

With ``--cost-ratio`` it instead prints what one matrix-vector product costs
against one full-data gradient (same batches, float32, the defaults of
``landscape hessian``), for an MLP, a 1-D CNN and a small transformer; that
mode needs no PyHessian.

    python scripts/bench_curvature.py --cost-ratio [--repeats 5]

With ``--peers`` it runs every available solver for the top-5 eigenvalues at
tol=1e-6 on the small model in one run, against the dense answer: ours,
ARPACK (``eigsh`` on a ``LinearOperator`` of our HVP), PyHessian and
curvlinops (``eigsh`` on its Hessian operator; it has no eigensolver of its
own), each where it imports, with HVP counts and wall-time ratios to ours.

    python scripts/bench_curvature.py --peers [--seeds 3]

With ``--slq`` it times the spectral density (10 runs x 20 steps) with the
runs one after the other (single products, double backward) against all
runs stepped together (one vmapped block of 10 per step), per model and
batch count.

    python scripts/bench_curvature.py --slq [--repeats 3]
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import statistics
import time

import numpy as np
import torch
from scipy.sparse.linalg import eigsh
from torch.func import hessian

from landscape.curvature import HessianLinearOperator, lanczos
from landscape.curvature.lanczos import lanczos_steps, random_unit
from landscape.data import Split, mnist1d
from landscape.models import MLP, CNN1d
from landscape.objective import Objective
from landscape.params import flatten, model_params, unflatten

TOL = 1e-3


def pyhessian_module():
    """``pyhessian.hessian``, the module (the package re-exports a class of that name)."""
    return importlib.import_module("pyhessian.hessian")


def trained_model(hidden: tuple[int, ...], n: int, seed: int = 0) -> tuple[torch.nn.Module, Split]:
    torch.manual_seed(seed)
    data = mnist1d()["train"]
    split = Split(data.x[:n].double(), data.y[:n])
    model = MLP(40, 10, hidden=hidden).double()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(300):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(split.x), split.y).backward()
        opt.step()
    return model, split


class Counter:
    """Wrap pyhessian's HVP and deflation: count HVPs, record Rayleigh quotients by phase."""

    def __init__(self) -> None:
        self.calls = 0
        self.phase = 0
        self.quotients: list[tuple[int, float]] = []
        ph = pyhessian_module()
        self.original = (ph.hessian_vector_product, ph.orthnormal)

    def hvp(self, grads, params, v):
        self.calls += 1
        hv = self.original[0](grads, params, v)
        self.quotients.append(
            (self.phase, float(sum((a * b).sum() for a, b in zip(hv, v, strict=True))))
        )
        return hv

    def orthnormal(self, w, v_list):
        self.phase = len(v_list)  # PyHessian deflates against the eigenvectors found so far
        return self.original[1](w, v_list)


def pyhessian_run(
    model: torch.nn.Module,
    split: Split,
    k: int,
    *,
    seed: int,
    tol: float = TOL,
    max_iter: int = 1000,
) -> tuple[np.ndarray, int, float, list[tuple[int, float]]]:
    torch.manual_seed(seed)
    counter = Counter()
    ph = pyhessian_module()
    ph.hessian_vector_product, ph.orthnormal = counter.hvp, counter.orthnormal
    try:
        # PyHessian's criterion is a batch mean; one batch = the whole split, as for ours.
        comp = ph.hessian(model, torch.nn.CrossEntropyLoss(), data=(split.x, split.y), cuda=False)
        t = time.perf_counter()
        values, _ = comp.eigenvalues(maxIter=max_iter, tol=tol, top_n=k)
        elapsed = time.perf_counter() - t
    finally:
        ph.hessian_vector_product, ph.orthnormal = counter.original
        for p in model.parameters():
            p.grad = None  # PyHessian's backward(create_graph=True) leaves graphs in .grad
    return np.sort(np.array(values))[::-1], counter.calls, elapsed, counter.quotients


def pyhessian_oracle(quotients: list[tuple[int, float]], exact: np.ndarray, k: int) -> int:
    """HVPs PyHessian would need if each deflation phase stopped as soon as it was within TOL.

    From a run with a tight tolerance; -1 if some phase never got there.
    """
    total = 0
    for i in range(k):
        phase = [q for ph_i, q in quotients if ph_i == i]
        hits = [j for j, q in enumerate(phase) if abs(q - exact[i]) <= TOL * abs(exact[i])]
        if not hits:
            return -1
        total += hits[0] + 1
    return total


def lanczos_oracle(op: HessianLinearOperator, exact: np.ndarray, k: int, seed: int) -> int:
    """Steps until the top-k Ritz values are all within TOL of the exact ones."""
    state = None
    n = op.shape[0]
    for steps in range(k, n + 1):
        state = lanczos_steps(op, steps, v0=random_unit(n, seed=seed), seed=seed, state=state)
        theta = np.sort(state.ritz()[0])[::-1][:k]
        if len(theta) == k and np.all(np.abs(theta - exact[:k]) <= TOL * np.abs(exact[:k])):
            return state.num_matvecs
    return n


def bench(name: str, model: torch.nn.Module, split: Split, exact: np.ndarray, seeds: int) -> None:
    obj = Objective(model, split)
    params = model_params(model)
    n = sum(v.numel() for v in params.values())
    print(f"\n## {name}: {n} parameters, {len(split)} samples, float64")
    print(f"exact top-5: {', '.join(f'{v:.6g}' for v in exact[:5])}")
    for k in (1, 5):
        rows: dict[str, list[tuple[int, float, float, int]]] = {
            "ours (Lanczos)": [],
            "ours (Lanczos, tol=1e-2)": [],
            "PyHessian (power)": [],
            "scipy eigsh (ARPACK)": [],
        }
        for seed in range(seeds):
            op = HessianLinearOperator(obj, params, check=False)
            t = time.perf_counter()
            res = lanczos(op, k, tol=TOL, seed=seed)
            el = time.perf_counter() - t
            err = float(np.max(np.abs(res.eigenvalues - exact[:k]) / np.abs(exact[:k])))
            oracle = lanczos_oracle(HessianLinearOperator(obj, params, check=False), exact, k, seed)
            rows["ours (Lanczos)"].append((res.num_matvecs, el, err, oracle))

            op = HessianLinearOperator(obj, params, check=False)
            t = time.perf_counter()
            res = lanczos(op, k, tol=1e-2, seed=seed)
            el = time.perf_counter() - t
            err = float(np.max(np.abs(res.eigenvalues - exact[:k]) / np.abs(exact[:k])))
            rows["ours (Lanczos, tol=1e-2)"].append((res.num_matvecs, el, err, oracle))

            values, calls, el, _ = pyhessian_run(model, split, k, seed=seed)
            err = float(np.max(np.abs(values - exact[:k]) / np.abs(exact[:k])))
            *_, quotients = pyhessian_run(model, split, k, seed=seed, tol=1e-9, max_iter=300)
            oracle = pyhessian_oracle(quotients, exact, k)
            rows["PyHessian (power)"].append((calls, el, err, oracle))

            op = HessianLinearOperator(obj, params, check=False)
            t = time.perf_counter()
            vals = eigsh(
                op.to_scipy(),
                k=k,
                which="LA",
                tol=TOL,
                v0=random_unit(n, seed=seed).numpy(),
                return_eigenvectors=False,
            )
            el = time.perf_counter() - t
            err = float(np.max(np.abs(np.sort(vals)[::-1] - exact[:k]) / np.abs(exact[:k])))
            rows["scipy eigsh (ARPACK)"].append((op.num_matvecs, el, err, -1))
        print(f"\n### top-{k} (median over {seeds} seeds; own stopping rule at tol={TOL})")
        print(
            "| method | HVPs | time [s] | ms/HVP | max rel. error | HVPs to reach 1e-3 (oracle) |"
        )
        print("|---|---|---|---|---|---|")
        med = {m: [statistics.median(c) for c in zip(*r, strict=True)] for m, r in rows.items()}
        for m, (hv, el, err, orc) in med.items():
            if m.startswith("scipy"):
                orc_s = "n/a"
            elif "tol=1e-2" in m:
                orc_s = "as above"
            else:
                orc_s = "not within 300/phase" if orc < 0 else f"{orc:.0f}"
            print(f"| {m} | {hv:.0f} | {el:.3f} | {1000 * el / hv:.1f} | {err:.1e} | {orc_s} |")
        ours, base = med["ours (Lanczos)"], med["PyHessian (power)"]
        print(
            f"\nratios ours/PyHessian: HVPs {ours[0] / base[0]:.2f}, time {ours[1] / base[1]:.2f}, "
            f"error {ours[2] / base[2]:.2g}"
            + (f", oracle HVPs {ours[3] / base[3]:.2f}" if base[3] > 0 else "")
        )


class TinyTransformer(torch.nn.Module):
    """A 2-block pre-norm transformer classifier on the 40-sample signal as 10 tokens of 4.

    Attention written with plain ops, so every ``torch.func`` transform applies.
    """

    def __init__(self, width: int = 32, heads: int = 4, blocks: int = 2):
        super().__init__()
        self.heads = heads
        self.embed = torch.nn.Linear(4, width)
        self.position = torch.nn.Parameter(0.02 * torch.randn(10, width))
        self.layers = torch.nn.ModuleList(
            torch.nn.ModuleDict(
                {
                    "norm1": torch.nn.LayerNorm(width),
                    "qkv": torch.nn.Linear(width, 3 * width),
                    "proj": torch.nn.Linear(width, width),
                    "norm2": torch.nn.LayerNorm(width),
                    "mlp": torch.nn.Sequential(
                        torch.nn.Linear(width, 2 * width),
                        torch.nn.GELU(),
                        torch.nn.Linear(2 * width, width),
                    ),
                }
            )
            for _ in range(blocks)
        )
        self.head = torch.nn.Linear(width, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x.reshape(x.shape[0], 10, 4)) + self.position
        b, t, w = h.shape
        for layer in self.layers:
            q, k, v = layer["qkv"](layer["norm1"](h)).chunk(3, dim=-1)
            q, k, v = (a.reshape(b, t, self.heads, -1).transpose(1, 2) for a in (q, k, v))
            att = (q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5).softmax(-1) @ v
            h = h + layer["proj"](att.transpose(1, 2).reshape(b, t, w))
            h = h + layer["mlp"](layer["norm2"](h))
        return self.head(h.mean(1))


def best_seconds(fn, repeats: int) -> float:
    """Shortest wall time of ``fn()`` over ``repeats`` calls after a warm-up (robust to load)."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def product_costs(obj: Objective, params: dict, repeats: int) -> tuple[float, ...]:
    """Seconds of a gradient, then HVP, HVP per column of a block of 8, and GGN product."""
    from landscape.curvature.ggn import GGNLinearOperator
    from landscape.curvature.hvp import loss_and_gradient

    n = sum(v.numel() for v in params.values())
    hess = HessianLinearOperator(obj, params, check=False)
    ggn = GGNLinearOperator(obj, params, check=False)
    v = torch.randn(n, generator=torch.Generator().manual_seed(0))
    block = torch.randn(n, 8, generator=torch.Generator().manual_seed(1))
    return (
        best_seconds(lambda: loss_and_gradient(obj, params), repeats),
        best_seconds(lambda: hess @ v, repeats),
        best_seconds(lambda: hess @ block, repeats) / 8,
        best_seconds(lambda: ggn @ v, repeats),
    )


def three_models() -> tuple[Split, dict[str, torch.nn.Module]]:
    """1000 MNIST-1D training rows and the MLP, CNN and transformer the ratios are measured on."""
    data = mnist1d()["train"]
    split = Split(data.x[:1000], data.y[:1000])
    torch.manual_seed(0)
    models = {
        "MLP 40-100-100-10": MLP(40, 10, hidden=(100, 100)),
        "CNN1d (16 channels)": CNN1d(length=40, num_classes=10, channels=16),
        "transformer (2 blocks, width 32)": TinyTransformer(),
    }
    return split, models


def cost_ratios(repeats: int) -> None:
    """Print the cost of one product (Hessian, GGN; 1 vector and a block of 8) per gradient."""
    split, models = three_models()
    print(f"1000 MNIST-1D rows, float32, {torch.get_num_threads()} threads, best of {repeats}")
    print(
        "| model | params | batches | gradient [ms] | HVP / grad | HVP x8 / (8 grad) | GGN / grad |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, model in models.items():
        params = model_params(model)
        n = sum(v.numel() for v in params.values())
        for batch in (1000, 250):
            obj = Objective(model, split, batch_size=batch)
            grad_s, hvp_s, block_s, ggn_s = product_costs(obj, params, repeats)
            print(
                f"| {name} | {n} | {1000 // batch} | {1000 * grad_s:.1f} | {hvp_s / grad_s:.2f} "
                f"| {block_s / grad_s:.2f} | {ggn_s / grad_s:.2f} |"
            )


class CountedScipy:
    """A scipy ``LinearOperator`` of a curvlinops operator that counts its products."""

    def __init__(self, op: object) -> None:
        self.inner = op.to_scipy()
        self.calls = 0

    def matvec(self, v: np.ndarray) -> np.ndarray:
        self.calls += 1 if v.ndim == 1 or v.shape[1] == 1 else v.shape[1]
        return self.inner @ v

    def operator(self) -> object:
        from scipy.sparse.linalg import LinearOperator

        return LinearOperator(self.inner.shape, matvec=self.matvec, dtype=np.float64)


def peer_solvers(model: torch.nn.Module, split: Split, k: int, tol: float) -> dict:
    """``name -> run(seed) -> (top-k values, HVPs, seconds)`` for every solver that imports."""
    obj = Objective(model, split)
    params = model_params(model)
    n = sum(v.numel() for v in params.values())

    def ours(seed: int) -> tuple[np.ndarray, int, float]:
        op = HessianLinearOperator(obj, params, check=False)
        t = time.perf_counter()
        res = lanczos(op, k, tol=tol, seed=seed)
        return res.eigenvalues, res.num_matvecs, time.perf_counter() - t

    def arpack(seed: int) -> tuple[np.ndarray, int, float]:
        op = HessianLinearOperator(obj, params, check=False)
        v0 = random_unit(n, seed=seed).numpy()
        t = time.perf_counter()
        vals = eigsh(op.to_scipy(), k=k, which="LA", tol=tol, v0=v0, return_eigenvectors=False)
        return np.sort(vals)[::-1], op.num_matvecs, time.perf_counter() - t

    solvers = {"ours (Lanczos)": ours, "ARPACK (eigsh on our HVP)": arpack}
    if importlib.util.find_spec("pyhessian") is not None:
        solvers["PyHessian (power)"] = lambda seed: pyhessian_run(
            model, split, k, seed=seed, tol=tol, max_iter=1000
        )[:3]
    if importlib.util.find_spec("curvlinops") is not None:
        import curvlinops

        def curvlinops_eigsh(seed: int) -> tuple[np.ndarray, int, float]:
            net = model.requires_grad_(True)
            peer = curvlinops.HessianLinearOperator(
                net,
                torch.nn.CrossEntropyLoss(),
                list(net.parameters()),
                [(split.x, split.y)],
                check_deterministic=False,
            )
            counted = CountedScipy(peer)
            v0 = random_unit(n, seed=seed).numpy()
            t = time.perf_counter()
            vals = eigsh(counted.operator(), k=k, which="LA", tol=tol, v0=v0)[0]
            return np.sort(vals)[::-1], counted.calls, time.perf_counter() - t

        solvers["curvlinops (eigsh on its HVP)"] = curvlinops_eigsh
    return solvers


def peers(seeds: int, k: int = 5, tol: float = 1e-6) -> None:
    """Top-``k`` at ``tol`` by every available solver, one run, against dense eigvalsh."""
    model, split = trained_model((16,), 1000)
    obj = Objective(model, split)
    params = model_params(model)
    dense = hessian(lambda f: obj.loss(unflatten(f, params)))(flatten(params))
    exact = np.linalg.eigvalsh(dense.numpy())[::-1][:k]
    solvers = peer_solvers(model, split, k, tol)
    print(f"MLP 40-16-10, {len(split)} MNIST-1D rows, float64, top-{k} at tol={tol}")
    print(f"load average {os.getloadavg()[0]:.1f}; median over {seeds} seeds; rounds rotate")
    runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in solvers}
    names = list(solvers)
    for seed in range(seeds):
        for name in names[seed % len(names) :] + names[: seed % len(names)]:
            values, hvps, seconds = solvers[name](seed)
            err = float(np.max(np.abs(values[:k] - exact) / np.abs(exact)))
            runs[name].append((hvps, seconds, err))
    med = {m: [statistics.median(c) for c in zip(*r, strict=True)] for m, r in runs.items()}
    base = med["ours (Lanczos)"]
    print("| method | HVPs | time [s] | max rel. error | HVPs / ours | time / ours |")
    print("|---|---|---|---|---|---|")
    for m, (hv, el, err) in med.items():
        print(
            f"| {m} | {hv:.0f} | {el:.3f} | {err:.1e} | {hv / base[0]:.2f} | {el / base[1]:.2f} |"
        )
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


def slq_together(repeats: int) -> None:
    """Seconds of SLQ with runs in turn vs together (one block product per step)."""
    from landscape.curvature.density import slq_density

    split, models = three_models()
    print(f"load average {os.getloadavg()[0]:.1f}; {torch.get_num_threads()} threads")
    print(f"SLQ 10 runs x 20 steps, 1000 MNIST-1D rows, float32, best of {repeats}")
    print("| model | batches | in turn [s] | together [s] | together / in turn |")
    print("|---|---|---|---|---|")
    for name, model in models.items():
        params = model_params(model)
        for batch in (1000, 250):
            op = HessianLinearOperator(Objective(model, split, batch_size=batch), params)
            times = {}
            for together in (False, True):
                times[together] = best_seconds(
                    lambda t=together, op=op: slq_density(
                        op, num_runs=10, num_steps=20, together=t
                    ),
                    repeats,
                )
            print(
                f"| {name} | {1000 // batch} | {times[False]:.2f} | {times[True]:.2f} "
                f"| {times[True] / times[False]:.2f} |"
            )
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="small model only")
    parser.add_argument("--cost-ratio", action="store_true", help="HVP / gradient cost only")
    parser.add_argument("--repeats", type=int, default=7, help="timings per cost (best of)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for --cost-ratio")
    parser.add_argument("--peers", action="store_true", help="top-5 at 1e-6 against every peer")
    parser.add_argument("--slq", action="store_true", help="SLQ runs in turn vs together")
    args = parser.parse_args()
    if args.slq:
        torch.set_num_threads(args.threads)
        slq_together(args.repeats)
        return
    if args.cost_ratio:
        torch.set_num_threads(args.threads)
        cost_ratios(args.repeats)
        return
    torch.set_default_dtype(torch.float64)  # PyHessian draws its vectors in the default dtype
    torch.set_num_threads(2)
    if args.peers:
        peers(args.seeds)
        return

    model, split = trained_model((16,), 1000)
    obj = Objective(model, split)
    params = model_params(model)
    dense = hessian(lambda f: obj.loss(unflatten(f, params)))(flatten(params))
    exact = np.linalg.eigvalsh(dense.numpy())[::-1]
    bench("MLP 40-16-10 (exact: dense eigvalsh)", model, split, exact, args.seeds)

    if not args.quick:
        model, split = trained_model((100, 100), 1000)
        obj = Objective(model, split)
        ref = lanczos(HessianLinearOperator(obj, model_params(model)), 5, tol=1e-10, max_iter=400)
        bench(
            "MLP 40-100-100-10 (exact: our Lanczos at tol=1e-10)",
            model,
            split,
            ref.eigenvalues,
            args.seeds,
        )


if __name__ == "__main__":
    main()
