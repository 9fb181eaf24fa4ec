"""Evaluation data: held as whole tensors, on the device, loaded once.

A data spec is ``mnist1d`` (the built-in MNIST-1D of Greydanus 2020, generated
locally by the ``mnist1d`` package and cached), or a user ``module:callable``
/ ``file.py:callable`` returning a ``Dataset``, a ``DataLoader``, an
``(X, y)`` pair of tensors (taken as the ``train`` split) or a dict
``{"train": ..., "test": ...}`` of those. Inputs may also be dicts of tensors
(``input_ids``, ``attention_mask``, ...: the keyword arguments of the model, as
Hugging Face models take them), given as a dict, a ``(dict, y)`` pair, or a
Dataset/DataLoader yielding either; a dict's ``labels`` entry is the target, and
without one the targets are the ``input_ids`` with padding (``attention_mask``
0) set to :data:`IGNORE_INDEX`, as Hugging Face language models take
``labels=input_ids``. Everything is materialized into tensors in a fixed order,
so every evaluation sees the same data.
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
from landscape.store import private_temporary

SplitChoice = Literal["train", "test", "both"]
SPLITS = ("train", "test")
IGNORE_INDEX = -100
"""Target value of positions that are not scored (padding), as in PyTorch and Hugging Face."""

Inputs = Tensor | dict[str, Tensor]
"""Model inputs of a batch: one tensor (``model(x)``) or keyword tensors (``model(**x)``)."""


def num_rows(x: Inputs) -> int:
    """Number of rows (samples) of a tensor or of every tensor of a dict.

    >>> num_rows({"input_ids": torch.zeros(3, 5)})
    3
    """
    return int(next(iter(x.values())).shape[0] if isinstance(x, dict) else x.shape[0])


def take_rows(x: Inputs, index: slice | Tensor) -> Inputs:
    """Rows ``index`` of a tensor, or of each tensor of a dict (slices are views).

    >>> take_rows({"input_ids": torch.arange(4)}, slice(1, 3))["input_ids"].tolist()
    [1, 2]
    """
    if isinstance(x, dict):
        return {k: v[index] for k, v in x.items()}
    return x[index]


def inputs_to(x: Inputs, device: torch.device | str) -> Inputs:
    """Move a tensor or each tensor of a dict to ``device``."""
    if isinstance(x, dict):
        return {k: v.to(device) for k, v in x.items()}
    return x.to(device)


def default_labels(inputs: Mapping[str, Tensor]) -> Tensor:
    """Targets of keyword inputs without ``labels``: ``input_ids``, padding ignored.

    Positions whose ``attention_mask`` is 0 get :data:`IGNORE_INDEX`, so they
    are not scored; Hugging Face language models take ``labels=input_ids`` the
    same way (the one-token shift is the loss's job).

    >>> default_labels({"input_ids": torch.tensor([[5, 6, 7]]),
    ...                 "attention_mask": torch.tensor([[1, 1, 0]])}).tolist()
    [[5, 6, -100]]
    """
    labels = inputs["input_ids"].clone()
    mask = inputs.get("attention_mask")
    if mask is not None:
        labels[mask == 0] = IGNORE_INDEX
    return labels


@dataclass(frozen=True)
class Split:
    """Inputs ``x`` (a tensor or a dict of tensors) and targets ``y`` of one split, on one device."""

    x: Inputs
    y: Tensor

    def __len__(self) -> int:
        return num_rows(self.x)

    def batches(self, batch_size: int) -> Iterator[tuple[Inputs, Tensor]]:
        """Yield consecutive ``(x, y)`` slices of at most ``batch_size`` rows (views, no copy)."""
        n = len(self)
        for i in range(0, n, batch_size):
            rows = slice(i, i + batch_size)
            yield take_rows(self.x, rows), self.y[rows]

    def take(self, index: slice | Tensor) -> Split:
        """Return the rows ``index`` of this split.

        >>> len(Split(torch.zeros(5, 2), torch.zeros(5)).take(slice(0, 3)))
        3
        """
        return Split(take_rows(self.x, index), self.y[index])

    def to(self, device: torch.device | str) -> Split:
        """Return this split on ``device``."""
        return Split(inputs_to(self.x, device), self.y.to(device))

    def digest(self) -> str:
        """SHA-256 of the split's bytes (identity for provenance); dict inputs by sorted key."""
        h = hashlib.sha256()
        named = sorted(self.x.items()) if isinstance(self.x, dict) else [(None, self.x)]
        for key, t in [*named, (None, self.y)]:
            if key is not None:
                h.update(key.encode())
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
        with private_temporary(path) as tmp:
            np.savez(tmp, x=d["x"], y=d["y"], x_test=d["x_test"], y_test=d["y_test"])
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
    return s.take(idx)


def as_splits(obj: Any, *, source: str, keep_float64: bool = False) -> dict[str, Split]:
    """Turn a Dataset, DataLoader, ``(X, y)`` pair or dict of those into named splits.

    A single object (a dict of input tensors included) becomes the ``train`` split;
    ``keep_float64`` as in :func:`as_split`.

    Raises:
        LandscapeError: for any other type.

    """
    if isinstance(obj, Mapping) and not _is_tensor_dict(obj):
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
    if _is_tensor_dict(obj):
        return _keyword_split(obj, None, source=source)
    if isinstance(obj, (tuple, list)) and len(obj) == 2 and _is_tensor_dict(obj[0]):
        return _keyword_split(obj[0], torch.as_tensor(obj[1]), source=source)
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
        return _loader_split(obj, source=source)
    raise LandscapeError(
        f"data {source!r}: got {type(obj).__name__}; expected a Dataset, DataLoader, (X, y) tensors, "
        "a dict of input tensors, or a dict {'train': ..., 'test': ...} of those"
    )


def _is_tensor_dict(obj: Any) -> bool:
    """A non-empty mapping of string keys to tensors (keyword inputs of a model)."""
    return (
        isinstance(obj, Mapping)
        and len(obj) > 0
        and all(isinstance(k, str) and isinstance(v, (Tensor, np.ndarray)) for k, v in obj.items())
    )


def _keyword_split(inputs: Mapping[str, Any], y: Tensor | None, *, source: str) -> Split:
    """A split of keyword inputs; targets from ``y``, else ``labels``, else :func:`default_labels`."""
    x = {k: torch.as_tensor(v) for k, v in inputs.items()}
    labels = x.pop("labels", None)
    if y is None:
        y = labels
    if y is None:
        if "input_ids" not in x:
            raise LandscapeError(
                f"data {source!r}: dict inputs {sorted(x)} hold no 'labels' and no 'input_ids' "
                "to take them from; add 'labels' or give (inputs, y)"
            )
        y = default_labels(x)
    if not x:
        raise LandscapeError(f"data {source!r}: the dict holds labels but no inputs")
    rows = {k: int(v.shape[0]) for k, v in x.items() if v.dim() > 0}
    if len(rows) != len(x) or len(set(rows.values())) != 1 or int(y.shape[0]) not in rows.values():
        shapes = {k: tuple(v.shape) for k, v in x.items()}
        raise LandscapeError(
            f"data {source!r}: every input and the labels must have the same number of rows "
            f"(inputs {shapes}, labels {tuple(y.shape)})"
        )
    return Split(x, y)


def _loader_split(loader: DataLoader, *, source: str) -> Split:
    """Concatenate a loader's ``(x, y)``, ``(dict, y)`` or ``dict`` batches in order."""
    parts = []
    for batch in loader:
        if _is_tensor_dict(batch):
            parts.append(_keyword_split(batch, None, source=source))
        elif isinstance(batch, (tuple, list)) and len(batch) >= 2 and _is_tensor_dict(batch[0]):
            parts.append(_keyword_split(batch[0], torch.as_tensor(batch[1]), source=source))
        elif isinstance(batch, (tuple, list)) and len(batch) >= 2:
            parts.append(Split(torch.as_tensor(batch[0]), torch.as_tensor(batch[1])))
        else:
            raise LandscapeError(
                f"data {source!r}: batches must be (inputs, targets) pairs or dicts of tensors"
            )
    if not parts:
        raise LandscapeError(f"data {source!r}: the loader yields no batches")
    y = torch.cat([p.y for p in parts])
    if isinstance(parts[0].x, dict):
        keys = parts[0].x.keys()
        if any(not isinstance(p.x, dict) or p.x.keys() != keys for p in parts):
            raise LandscapeError(f"data {source!r}: batches hold different input keys")
        return Split({k: torch.cat([p.x[k] for p in parts]) for k in keys}, y)  # type: ignore[index]
    return Split(torch.cat([p.x for p in parts]), y)  # type: ignore[misc]
