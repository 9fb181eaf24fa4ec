"""Top Hessian eigenvalues: our Lanczos vs PyHessian's power iteration (and scipy's ARPACK).

Same model, same data, same float64 precision, one run. For each method it
records the Hessian-vector products (HVPs) and wall time (a) when the method
stops by its own rule at tol=1e-3 and (b) when its estimate first comes
within 1e-3 relative of the exact answer (an oracle count), and the relative
error of what it returns. The exact answer is ``eigvalsh`` of the dense
Hessian (``torch.func.hessian``) for the small model; for the larger one it
is our Lanczos at tol=1e-10 (stated in the output).

    python scripts/bench_curvature.py [--seeds 5] [--quick]
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import time

import numpy as np
import torch
from scipy.sparse.linalg import eigsh
from torch.func import hessian

from landscape.curvature import HessianLinearOperator, lanczos
from landscape.curvature.lanczos import lanczos_steps, random_unit
from landscape.data import Split, mnist1d
from landscape.models import MLP
from landscape.objective import Objective
from landscape.params import flatten, model_params, unflatten

TOL = 1e-3
ph = importlib.import_module(
    "pyhessian.hessian"
)  # the module (the package re-exports a class of that name)


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
    model: torch.nn.Module, split: Split, k: int, seed: int, tol: float = TOL, max_iter: int = 1000
) -> tuple[np.ndarray, int, float, list[tuple[int, float]]]:
    torch.manual_seed(seed)
    counter = Counter()
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
            return state.num_hvps
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

            values, calls, el, _ = pyhessian_run(model, split, k, seed)
            err = float(np.max(np.abs(values - exact[:k]) / np.abs(exact[:k])))
            *_, quotients = pyhessian_run(model, split, k, seed, tol=1e-9, max_iter=300)
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="small model only")
    args = parser.parse_args()
    torch.set_default_dtype(torch.float64)  # PyHessian draws its vectors in the default dtype
    torch.set_num_threads(2)

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
