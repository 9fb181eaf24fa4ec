"""Evaluation data: held as whole tensors, on the device, loaded once.

A data spec is ``mnist1d`` (the built-in MNIST-1D of Greydanus 2020, generated
locally by the ``mnist1d`` package and cached), or a user ``module:callable``
/ ``file.py:callable`` returning a ``Dataset``, a ``DataLoader``, an
``(X, y)`` pair of tensors (taken as the ``train`` split) or a dict
``{"train": ..., "test": ...}`` of those. Everything is materialized into
tensors in a fixed order, so every evaluation sees the same data.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from landscape.errors import LandscapeError
from landscape.loading import import_object

SplitChoice = Literal["train", "test", "both"]
SPLITS = ("train", "test")


@dataclass(frozen=True)
class Split:
    """Inputs ``x`` and targets ``y`` of one split, as tensors on one device."""

    x: Tensor
    y: Tensor

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def batches(self, batch_size: int) -> Iterator[tuple[Tensor, Tensor]]:
        """Yield consecutive ``(x, y)`` slices of at most ``batch_size`` rows (views, no copy)."""
        n = len(self)
        for i in range(0, n, batch_size):
            yield self.x[i : i + batch_size], self.y[i : i + batch_size]

    def to(self, device: torch.device | str) -> Split:
        """Return this split on ``device``."""
        return Split(self.x.to(device), self.y.to(device))

    def digest(self) -> str:
        """SHA-256 of the split's bytes (identity for provenance)."""
        h = hashlib.sha256()
        for t in (self.x, self.y):
            h.update(str(tuple(t.shape)).encode())
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()


@dataclass(frozen=True)
class Data:
    """Named splits of an evaluation data set and where they came from."""

    splits: dict[str, Split]
    source: str

    def to(self, device: torch.device | str) -> Data:
        """Return the data with every split moved to ``device``."""
        return Data({k: s.to(device) for k, s in self.splits.items()}, self.source)

    def digests(self) -> dict[str, str]:
        """Content hash of each split."""
        return {k: s.digest() for k, s in self.splits.items()}


def cache_dir() -> Path:
    """Directory for generated data sets (``$LANDSCAPE_CACHE`` or ``~/.cache/landscape``)."""
    return Path(os.environ.get("LANDSCAPE_CACHE", Path.home() / ".cache" / "landscape"))


def mnist1d() -> dict[str, Split]:
    """Return MNIST-1D (4000 train, 1000 test; 40 features, 10 classes), generated locally.

    The data set is built by ``mnist1d.data.make_dataset(get_dataset_args())``
    (Greydanus 2020) on first use and cached as ``.npz`` in :func:`cache_dir`.

    Raises:
        LandscapeError: if the ``mnist1d`` package is not installed.

    """
    path = cache_dir() / "mnist1d-default.npz"
    if not path.exists():
        try:
            from mnist1d.data import get_dataset_args, make_dataset
        except ImportError as exc:
            raise LandscapeError(
                "data 'mnist1d' needs the mnist1d package: pip install 'landscape[demo]'"
            ) from exc
        d = make_dataset(get_dataset_args())
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}.npz")
        np.savez(tmp, x=d["x"], y=d["y"], x_test=d["x_test"], y_test=d["y_test"])
        os.replace(tmp, path)
    with np.load(path) as d:
        return {
            "train": Split(torch.from_numpy(d["x"]).float(), torch.from_numpy(d["y"]).long()),
            "test": Split(
                torch.from_numpy(d["x_test"]).float(), torch.from_numpy(d["y_test"]).long()
            ),
        }


def load_data(
    spec: str,
    *,
    split: SplitChoice = "both",
    max_samples: int | None = None,
    seed: int = 0,
    device: torch.device | str = "cpu",
    keep_float64: bool = False,
) -> Data:
    """Resolve a data spec into tensors on ``device``.

    Args:
        spec: ``mnist1d`` or a ``module:callable`` / ``file.py:callable``.
        split: which splits to keep; ``both`` keeps whichever exist.
        max_samples: keep a random subset of at most this many rows per split,
            drawn with ``seed`` (the same rows every time).
        seed: seed of the subset draw.
        device: where the tensors live for the whole run.
        keep_float64: keep float64 ``(X, y)`` tensors as they are (see :func:`as_split`).

    Raises:
        LandscapeError: for an unknown spec, an unsupported return type, an
            empty split or a requested split that does not exist.

    """
    if split not in ("train", "test", "both"):
        raise LandscapeError(f"split: expected train, test or both (got {split!r})")
    if max_samples is not None and max_samples < 1:
        raise LandscapeError(f"max-samples: expected a positive integer (got {max_samples})")
    if spec == "mnist1d":
        splits = mnist1d()
    else:
        obj = import_object(spec, what="data")
        if callable(obj) and not isinstance(obj, (Dataset, DataLoader, Tensor)):
            obj = obj()
        splits = as_splits(obj, source=spec, keep_float64=keep_float64)
    wanted = SPLITS if split == "both" else (split,)
    kept = {k: v for k, v in splits.items() if k in wanted}
    if not kept or (split != "both" and split not in kept):
        raise LandscapeError(f"data {spec!r} has no {split!r} split (it has {sorted(splits)})")
    for name, s in kept.items():
        if len(s) == 0:
            raise LandscapeError(f"data {spec!r}: split {name!r} is empty")
    if max_samples is not None:
        kept = {k: subset(s, max_samples, seed) for k, s in kept.items()}
    return Data(kept, spec).to(device)


def subset(s: Split, n: int, seed: int) -> Split:
    """At most ``n`` rows of ``s``, drawn with ``seed`` and kept in their order (all when fewer)."""
    if len(s) <= n:
        return s
    idx = torch.randperm(len(s), generator=torch.Generator().manual_seed(seed))[:n].sort().values
    return Split(s.x[idx], s.y[idx])


def as_splits(obj: Any, *, source: str, keep_float64: bool = False) -> dict[str, Split]:
    """Turn a Dataset, DataLoader, ``(X, y)`` pair or dict of those into named splits.

    A single object becomes the ``train`` split; ``keep_float64`` as in :func:`as_split`.

    Raises:
        LandscapeError: for any other type.

    """
    if isinstance(obj, Mapping):
        unknown = [k for k in obj if k not in SPLITS]
        if unknown:
            raise LandscapeError(
                f"data {source!r}: unknown split names {unknown}; expected 'train' and/or 'test'"
            )
        return {
            k: as_split(v, source=f"{source}[{k}]", keep_float64=keep_float64)
            for k, v in obj.items()
        }
    return {"train": as_split(obj, source=source, keep_float64=keep_float64)}


def as_split(obj: Any, *, source: str, keep_float64: bool = False) -> Split:
    """Materialize one split into tensors, in the order the object yields them.

    Float64 ``(X, y)`` inputs (numpy's default) become float32 unless
    ``keep_float64`` (for float64 curvature, exact to ~1e-12).
    """
    if (
        isinstance(obj, (tuple, list))
        and len(obj) == 2
        and all(isinstance(t, (Tensor, np.ndarray)) for t in obj)
    ):
        x, y = (torch.as_tensor(t) for t in obj)
        if x.shape[0] != y.shape[0]:
            raise LandscapeError(f"data {source!r}: X has {x.shape[0]} rows but y has {y.shape[0]}")
        return Split(x.float() if x.dtype == torch.float64 and not keep_float64 else x, y)
    if isinstance(obj, Dataset):
        obj = DataLoader(obj, batch_size=1024, shuffle=False)
    if isinstance(obj, DataLoader):
        xs, ys = [], []
        for batch in obj:
            if not isinstance(batch, (tuple, list)) or len(batch) < 2:
                raise LandscapeError(f"data {source!r}: batches must be (inputs, targets) pairs")
            xs.append(torch.as_tensor(batch[0]))
            ys.append(torch.as_tensor(batch[1]))
        if not xs:
            raise LandscapeError(f"data {source!r}: the loader yields no batches")
        return Split(torch.cat(xs), torch.cat(ys))
    raise LandscapeError(
        f"data {source!r}: got {type(obj).__name__}; expected a Dataset, DataLoader, (X, y) tensors "
        "or a dict {'train': ..., 'test': ...} of those"
    )
