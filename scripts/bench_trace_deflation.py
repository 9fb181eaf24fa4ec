"""Trace with and without the top-k eigenvectors deflated: error and standard error per product.

Same model, data, float64 and products in one run: ``hutchpp_trace``,
``hutchinson_trace`` and ``xtrace`` with ``m`` products, against the same
estimator on ``PHP`` after the top-``k`` Lanczos stage (``deflated_trace``;
the ``k`` eigenpairs are what ``landscape hessian --top-k k`` already spent,
the trace spends the same ``m``). The exact trace is that of the dense
Hessian (``torch.func.hessian``).

    python scripts/bench_trace_deflation.py [--seeds 20] [--hvps 99] [--top-k 5]
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch
from bench_curvature import trained_model
from torch.func import hessian

from landscape.curvature import HessianLinearOperator, lanczos
from landscape.curvature.deflation import deflated_trace
from landscape.curvature.trace import hutchinson_trace, hutchpp_trace, xtrace
from landscape.objective import Objective
from landscape.params import flatten, model_params, unflatten


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--hvps", type=int, default=99)
    parser.add_argument("--top-k", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(2)
    model, split = trained_model((16,), 1000)
    obj = Objective(model, split)
    params = model_params(model)
    exact = float(hessian(lambda f: obj.loss(unflatten(f, params)))(flatten(params)).trace())
    op = HessianLinearOperator(obj, params)
    top = lanczos(op, args.top_k, tol=1e-3)
    print(f"MLP 40-16-10, {len(split)} rows, float64; exact trace {exact:.6g}")
    print(
        f"top-{args.top_k} stage: {top.num_matvecs} HVPs; trace: {args.hvps} HVPs; "
        f"{args.seeds} seeds; load average {os.getloadavg()[0]:.1f}"
    )
    print("| estimator | RMS error | RMS error, deflated | mean SE | mean SE, deflated |")
    print("|---|---|---|---|---|")
    for estimator in (hutchinson_trace, hutchpp_trace, xtrace):
        plain = [estimator(op, args.hvps, seed=s) for s in range(args.seeds)]
        deflated = [
            deflated_trace(
                estimator,
                op,
                args.hvps,
                vectors=top.eigenvectors,
                ritz_values=top.eigenvalues,
                seed=s,
            )
            for s in range(args.seeds)
        ]
        rms = [
            float(np.sqrt(np.mean([(t.estimate - exact) ** 2 for t in runs])))
            for runs in (plain, deflated)
        ]
        se = [float(np.mean([t.std_error for t in runs])) for runs in (plain, deflated)]
        print(f"| {plain[0].method} | {rms[0]:.3g} | {rms[1]:.3g} | {se[0]:.3g} | {se[1]:.3g} |")


if __name__ == "__main__":
    main()
