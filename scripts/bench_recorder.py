"""Recorder overhead per training step: a bare loop vs the same loop with a Recorder.

All variants train the same model (MLP on MNIST-1D by default) in the same
process; every trial runs one epoch of each variant back to back, so machine
load affects them alike. The order is shuffled in every trial (seeded): what
ran just before changes an epoch's time (its own model still in the cache, or
the file writes of the last variant, made an identical copy of the bare loop
2-3% faster in fixed orders), so every variant must follow every other
equally often. A second bare loop is the control: its ratio shows what noise
and order alone give. A trial's
time for a recorded variant includes its ``rec.step`` calls and the
end-of-epoch ``rec.epoch()`` (per-epoch statistics, checkpoints, run.h5
writes). Reported per variant: median time per step, the median of the
per-trial (paired) ratios to the bare loop, and the same ratio with the time
of the run.h5 writes subtracted.

Writes are throttled by the recorder's clock (``write_share``: 0.5% of the run
by default). Each variant's recorder is given a clock (``Recorder(clock=...)``)
that runs only during its own epochs, as if it trained alone; with the wall
clock, the other variants' epochs would count as its elapsed time and it would
write several times as often as in a real run.

With ``--eval``, every variant also evaluates the loss and accuracy on the
training and validation splits after each epoch, as ``landscape train`` and
most training loops do; the recorded variants pass them to ``rec.epoch``.

With ``--alone N``, a default Recorder instead trains alone for N epochs on
the real clock, and the script prints its writes: when, how long, and their
share of the run (the budget is ``write_share``, 0.5%).

With ``--percentiles N``, the script times the per-epoch effective step-size
percentiles of the benchmark's model over N epochs of Adam state, as the
Recorder computes them (order statistics of one sort per layer) and with
``np.percentile`` of every layer's step sizes, fresh state each epoch.

    python scripts/bench_recorder.py [--trials 150] [--batch-size 128] [--model mlp] [--eval]
    python scripts/bench_recorder.py --alone 1200
    python scripts/bench_recorder.py --percentiles 200
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from landscape.data import load_data
from landscape.dynamics.epoch_stats import STEP_SIZE_QUANTILES
from landscape.dynamics.recorder import Recorder
from landscape.dynamics.step_sizes import sample_positions, step_size_percentiles
from landscape.loading import build_model


class TimedRecorder(Recorder):
    """A Recorder that logs its run.h5 writes: ``(start, duration)`` each."""

    def __init__(self, *args, **kwargs) -> None:
        self.writes: list[tuple[float, float]] = []
        super().__init__(*args, **kwargs)

    @property
    def write_time(self) -> float:
        return sum(d for _, d in self.writes)

    def flush(self) -> None:
        start = time.perf_counter()
        super().flush()
        self.writes.append((start, time.perf_counter() - start))


def new_model(args: argparse.Namespace) -> tuple[nn.Module, torch.optim.Optimizer]:
    """The benchmark's model and optimizer, the same for every variant."""
    torch.manual_seed(0)
    model = build_model(args.model)
    cls = torch.optim.Adam if args.optimizer == "adam" else torch.optim.SGD
    return model, cls(model.parameters(), lr=1e-3)


class OwnClock:
    """A recorder's clock (:meth:`monotonic`) that runs only inside :meth:`running`."""

    def __init__(self) -> None:
        self.elapsed = 0.0
        self.since: float | None = None

    def monotonic(self) -> float:
        running = time.perf_counter() - self.since if self.since is not None else 0.0
        return self.elapsed + running

    @contextlib.contextmanager
    def running(self):
        self.since = time.perf_counter()
        try:
            yield
        finally:
            self.elapsed = self.monotonic()
            self.since = None


Metrics = dict[str, tuple[float, float]]


def evaluate(model: nn.Module, splits: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> Metrics:
    """Loss and accuracy of ``model`` on each split, in one batch each."""
    with torch.no_grad():
        out = {}
        for name, (x, y) in splits.items():
            logits = model(x)
            loss = nn.functional.cross_entropy(logits, y)
            out[name] = (float(loss), float((logits.argmax(1) == y).double().mean()))
    return out


def epoch(
    model, opt, x, y, *, batch_size, order, rec: TimedRecorder | None, eval_splits
) -> tuple[float, float]:
    before = rec.write_time if rec is not None else 0.0
    start = time.perf_counter()
    for i in range(0, len(order), batch_size):
        idx = order[i : i + batch_size]
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
        if rec is not None:
            rec.step(loss)
    metrics = evaluate(model, eval_splits) if eval_splits else {}
    if rec is not None:
        rec.epoch(**metrics)
    elapsed = time.perf_counter() - start
    return elapsed, (rec.write_time - before if rec is not None else 0.0)


def alone(args: argparse.Namespace, x: torch.Tensor, y: torch.Tensor) -> None:
    """Train with a default Recorder for ``args.alone`` epochs; print its writes."""
    model, opt = new_model(args)
    g = torch.Generator().manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        with TimedRecorder(Path(tmp) / "run", model, opt) as rec:
            rec.epoch()
            for _ in range(args.alone):
                epoch(
                    model,
                    opt,
                    x,
                    y,
                    batch_size=args.batch_size,
                    order=torch.randperm(len(x), generator=g),
                    rec=rec,
                    eval_splits={},
                )
            total = time.perf_counter() - start
    writes = rec.writes
    spent = sum(d for _, d in writes[:-1])  # the last one is close()'s
    print(
        f"{args.alone} epochs in {total:.1f} s; {len(writes) - 1} writes before close(), "
        f"{1e3 * spent:.0f} ms = {100 * spent / total:.2f}% of the run"
    )
    print("at s:", [round(t - start, 1) for t, _ in writes[:-1]])
    print("ms:  ", [round(1e3 * d) for _, d in writes[:-1]])


def percentiles_with_numpy(
    opt: torch.optim.Adam, params: list[nn.Parameter], sample: int | None
) -> np.ndarray:
    """The Recorder's step-size percentiles by ``np.percentile`` of each layer's step sizes.

    The step sizes ``lr / (sqrt(v_hat) + eps)`` of Adam, in float64 as the Recorder's.
    """
    group = opt.param_groups[0]
    out = np.full((len(STEP_SIZE_QUANTILES), len(params)), np.nan)
    for i, p in enumerate(params):
        state = opt.state[p]
        v = state["exp_avg_sq"].detach().reshape(-1)
        if sample is not None and v.numel() > sample:
            v = v[sample_positions(v.numel(), sample, v.device)]
        v_hat = v.double().cpu().numpy() / (1 - group["betas"][1] ** float(state["step"]))
        steps = group["lr"] / (np.sqrt(v_hat) + group["eps"])
        out[:, i] = np.percentile(steps, [100 * q for q in STEP_SIZE_QUANTILES])
    return out


def percentiles(args: argparse.Namespace) -> None:
    """Time the step-size percentiles both ways over ``args.percentiles`` epochs of Adam state."""
    model, _ = new_model(args)
    params = list(model.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    g = torch.Generator().manual_seed(0)
    print(f"model={args.model} layers={[p.numel() for p in params]}")
    for sample in (4096, None):
        times: dict[str, list[float]] = {"order statistics": [], "np.percentile": []}
        largest = 0.0
        for _ in range(args.percentiles):
            for p in params:
                p.grad = torch.randn(p.shape, generator=g)
            opt.step()
            start = time.perf_counter()
            ours = step_size_percentiles(opt, params, STEP_SIZE_QUANTILES, sample=sample)
            middle = time.perf_counter()
            theirs = percentiles_with_numpy(opt, params, sample)
            times["order statistics"].append(middle - start)
            times["np.percentile"].append(time.perf_counter() - middle)
            largest = max(largest, float(np.max(np.abs(ours - theirs) / np.abs(theirs))))
        medians = {k: 1e6 * statistics.median(v) for k, v in times.items()}
        print(
            f"step_size_sample={sample}: "
            + ", ".join(f"{k} {v:.0f} us" for k, v in medians.items())
            + f" per epoch (median of {args.percentiles}); largest relative difference {largest:.1e}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--optimizer", choices=["sgd", "adam"], default="adam")
    parser.add_argument("--threads", type=int, default=None, help="torch threads [torch default]")
    parser.add_argument("--eval", action="store_true", help="evaluate train and val every epoch")
    parser.add_argument("--alone", type=int, default=0, help="epochs of a default Recorder alone")
    parser.add_argument(
        "--percentiles", type=int, default=0, help="epochs of step-size percentile timing"
    )
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.percentiles:
        percentiles(args)
        return
    data = load_data("mnist1d", split="both").splits
    x, y = data["train"].x, data["train"].y
    eval_splits = {"train": (x, y), "val": (data["test"].x, data["test"].y)} if args.eval else {}
    steps = -(-len(x) // args.batch_size)
    if args.alone:
        alone(args, x, y)
        return
    variants = {
        "bare loop": None,
        "bare loop (control)": None,
        "recorder (defaults)": {},
        "grad norms every step": {"grad_every": 1},
        "as landscape train": {"checkpoint_every": 1, "write_share": 1.0, "grad_every": 1},
    }
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in variants}
    clocks = {k: OwnClock() for k in variants}
    with tempfile.TemporaryDirectory() as tmp:
        states = {}
        for i, (name, kwargs) in enumerate(variants.items()):
            model, opt = new_model(args)
            rec = None
            if kwargs is not None:
                with clocks[name].running():
                    rec = TimedRecorder(
                        Path(tmp) / f"run{i}", model, opt, clock=clocks[name].monotonic, **kwargs
                    )
                    rec.epoch()
            states[name] = (model, opt, rec)
        g = torch.Generator().manual_seed(0)
        for trial in range(args.trials + len(states)):  # the first len(states) are warm-up
            order = torch.randperm(len(x), generator=g)
            names = [list(states)[i] for i in torch.randperm(len(states), generator=g)]
            for name in names:
                model, opt, rec = states[name]
                with clocks[name].running():
                    result = epoch(
                        model,
                        opt,
                        x,
                        y,
                        batch_size=args.batch_size,
                        order=order,
                        rec=rec,
                        eval_splits=eval_splits,
                    )
                if trial >= len(states):
                    times[name].append(result)
        for _, _, rec in states.values():
            if rec is not None:
                rec.close()
    bare = [t for t, _ in times["bare loop"]]
    print(
        f"model={args.model} optimizer={args.optimizer} batch={args.batch_size} "
        f"steps/epoch={steps} trials={args.trials} threads={torch.get_num_threads()} "
        f"eval={args.eval}"
    )
    for name, rows in times.items():
        per_step = statistics.median(t for t, _ in rows) / steps
        no_write = statistics.median((t - w) / b for (t, w), b in zip(rows, bare, strict=True))
        writes = sum(w for _, w in rows) / sum(bare)
        print(
            f"{name:<22} {1e6 * per_step:8.1f} us/step   paired ratio without writes "
            f"{no_write:.3f}   writes +{writes:.3f} ({sum(w > 0 for _, w in rows)} epochs)   "
            f"overhead ratio {no_write + writes:.3f}"
        )


if __name__ == "__main__":
    main()
