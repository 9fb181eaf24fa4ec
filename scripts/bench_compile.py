"""Does ``torch.compile`` of the evaluated model pay for surfaces on the CPU? Side by side.

For each model (the demo's MLP 40-100-100-10, the built-in CNN1d, a small transformer
encoder) the loss of one batch is evaluated in ``torch.inference_mode`` the way a surface
point evaluates it: eager, and through ``torch.compile(model)`` (inductor, default mode).
Printed: the load average, the eager time per batch, the compiled time per batch (compile
excluded), the first compiled call (compile included), and the number of batches after which
compiling has paid for itself (``inf`` when the compiled call is not faster). Each timing is
the median of ``--repeats`` runs of ``--calls`` calls. Usage::

    python scripts/bench_compile.py [--threads 1] [--calls 50] [--repeats 5]
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from landscape.models import MLP, CNN1d


class SmallTransformer(nn.Module):
    """Token embedding, two encoder layers (d = 64, 4 heads), mean pooling, a linear head."""

    def __init__(self, vocab: int = 100, d: int = 64, classes: int = 10):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        layer = nn.TransformerEncoderLayer(d, 4, 4 * d, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(d, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(x)).mean(dim=1))


def cases() -> dict[str, tuple[nn.Module, torch.Tensor, torch.Tensor]]:
    """Model, one batch of inputs and labels, per case."""
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 10, (1000,), generator=g)
    return {
        "MLP 40-100-100-10, batch 1000": (MLP(), torch.randn(1000, 40, generator=g), y),
        "CNN1d, batch 1000": (CNN1d(), torch.randn(1000, 40, generator=g), y),
        "transformer 2x64, 32 tokens, batch 250": (
            SmallTransformer(),
            torch.randint(0, 100, (250, 32), generator=g),
            y[:250],
        ),
    }


def batch_loss(
    model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """The summed loss of one batch, as a surface point evaluates it."""
    return F.cross_entropy(model(x), y, reduction="sum")


def per_call(fn: Callable[[], torch.Tensor], calls: int, repeats: int) -> float:
    """Median seconds per call over ``repeats`` runs of ``calls`` calls."""
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        runs.append((time.perf_counter() - start) / calls)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), load {os.getloadavg()[0]:.2f}")
    for name, (model, x, y) in cases().items():
        model.eval()
        compiled = torch.compile(model)
        eager = functools.partial(batch_loss, model, x, y)
        fast = functools.partial(batch_loss, compiled, x, y)
        with torch.inference_mode():
            eager()  # warm-up of the eager kernels
            start = time.perf_counter()
            first = fast()
            compile_s = time.perf_counter() - start
            assert math.isclose(float(first), float(eager()), rel_tol=1e-4)
            t_eager, t_fast = (per_call(f, args.calls, args.repeats) for f in (eager, fast))
        gain = t_eager - t_fast
        even = compile_s / gain if gain > 0 else math.inf
        print(
            f"{name}: eager {t_eager * 1e3:.3f} ms/batch, compiled {t_fast * 1e3:.3f} ms/batch "
            f"({t_eager / t_fast:.2f}x), first compiled call {compile_s:.1f} s, "
            f"pays after {even:.0f} batches"
        )
    print(f"load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
