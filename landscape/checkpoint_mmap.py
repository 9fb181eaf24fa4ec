"""Checkpoints opened lazily: parameters memory-mapped from the file, read only when used.

Long runs (50-200 checkpoints) of large models do not fit in memory as copies;
:func:`open_checkpoint_lazily` checks a checkpoint as :func:`landscape.loading.load_checkpoint`
does but leaves its parameters in the file (``torch.load(mmap=True)``, safetensors
byte views), so a trajectory holds file pages the kernel can drop instead.
"""

from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path

import torch
from torch import Tensor, nn

from landscape.errors import LandscapeError, one_line
from landscape.loading import (
    check_state_fits,
    extract_state_dict,
    load_checkpoint,
    restore_tied,
)
from landscape.params import ParamDict


def open_checkpoint_lazily(
    model: nn.Module, path: str | Path, *, trust: bool = False
) -> tuple[ParamDict, ParamDict]:
    """Like :func:`load_checkpoint`, but the parameters stay in the file until read.

    ``torch.save`` zip files are opened with ``torch.load(mmap=True)`` and
    ``.safetensors`` files with ``safetensors.safe_open``: parameters whose dtype
    is the model's are memory-mapped views, so holding many checkpoints costs
    file pages the kernel can drop, not a copy of each. Other files (the legacy
    pickle format) are read whole, as :func:`load_checkpoint` does.

    Raises:
        LandscapeError: as :func:`load_checkpoint`.

    """
    path = Path(path)
    if not path.is_file():
        raise LandscapeError(f"checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        state = _open_safetensors(path)
    elif zipfile.is_zipfile(path):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                obj = torch.load(path, map_location="cpu", mmap=True, weights_only=not trust)
        except Exception:
            return load_checkpoint(model, path, trust=trust)  # the one place errors are worded
        state = extract_state_dict(obj, path)
    else:
        return load_checkpoint(model, path, trust=trust)
    source = str(path)
    check_state_fits(model, state, source=source)
    state = restore_tied(model, state)
    expected = model.state_dict()
    params = {n: state[n].detach().to(expected[n].dtype) for n, _ in model.named_parameters()}
    for n, t in params.items():
        if t.is_floating_point() and not all_finite(t):
            raise LandscapeError(f"checkpoint {source}: parameter {n!r} holds NaN or infinity")
    buffers = {n: state[n].detach().clone() for n, _ in model.named_buffers() if n in state}
    return params, buffers


FINITE_SLICE = 2**16
"""Entries per slice when a parameter whose sum is not finite is checked entry by entry."""


def all_finite(t: Tensor) -> bool:
    """Whether every entry of ``t`` is finite, without a temporary the size of ``t``.

    A NaN or an infinity makes any sum of the entries NaN or infinite, so a
    finite ``t.sum()`` (a reduction in ``t``'s dtype, which allocates only its
    scalar) proves every entry finite. Only when the sum is not finite (a
    non-finite entry, or finite entries whose sum overflows) are the entries
    checked, :data:`FINITE_SLICE` at a time. One ``torch.isfinite`` of a whole
    large tensor per opened checkpoint left the process about 0.1 model copies
    larger per checkpoint at 5M parameters (the allocator kept it); the 64 Ki
    slices' temporaries, freed between the small objects each opened
    checkpoint keeps, still left freed heap that grew with the number of
    checkpoints (BENCHMARKS.md, issue 16).

    >>> all_finite(torch.arange(5.0)), all_finite(torch.tensor([1.0, float("nan")]))
    (True, False)
    >>> all_finite(torch.tensor([3e38, 3e38]))  # the sum overflows, the entries are finite
    True
    """
    if bool(torch.isfinite(t.sum())):
        return True
    flat = t.reshape(-1)
    return all(
        bool(torch.isfinite(flat[i : i + FINITE_SLICE]).all())
        for i in range(0, flat.numel(), FINITE_SLICE)
    )


def _open_safetensors(path: Path) -> dict[str, Tensor]:
    """Every tensor of a safetensors file as a view of its memory-mapped bytes.

    ``safe_open`` checks the file and lists its tensors; the bytes themselves are
    mapped once (``UntypedStorage.from_file``, copy-on-write) and viewed at each
    tensor's offsets (``header length + 8 + data_offsets``, the safetensors layout).
    """
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            shapes = {n: f.get_slice(n).get_shape() for n in f.keys()}  # noqa: SIM118
        with path.open("rb") as f:
            size = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(size))
        storage = torch.UntypedStorage.from_file(
            str(path), shared=False, nbytes=path.stat().st_size
        )
        raw = torch.empty(0, dtype=torch.uint8).set_(storage)
        state = {}
        for name, shape in shapes.items():
            start, end = header[name]["data_offsets"]
            dtype = _SAFETENSORS_DTYPES[header[name]["dtype"]]
            view = raw[8 + size + start : 8 + size + end]
            state[name] = (view if dtype == torch.uint8 else view.view(dtype)).reshape(shape)
    except Exception as exc:
        raise LandscapeError(
            f"checkpoint {path}: not a readable safetensors file ({one_line(exc)})"
        ) from exc
    return state


_SAFETENSORS_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
