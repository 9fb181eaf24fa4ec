"""Load user models and checkpoints without trusting them more than asked.

Models are named by a spec: ``package.module:callable``,
``path/to/file.py:callable``, ``hf:DIR`` (a local Hugging Face directory, see
:mod:`landscape.hf`), or the name of a built-in model from
:mod:`landscape.models`. Checkpoints are loaded with
``torch.load(weights_only=True)`` unless the user explicitly trusts the file;
safetensors files are read with :mod:`safetensors`.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import pickle
import sys
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from landscape.errors import LandscapeError
from landscape.params import ParamDict

STATE_DICT_KEYS = ("state_dict", "model_state_dict", "model", "net")
PREFIXES = ("module.", "_orig_mod.")


def import_object(spec: str, *, what: str = "object") -> Any:
    """Import ``module:attr`` or ``path/file.py:attr`` and return the attribute.

    Only the module the user names is imported.

    Raises:
        LandscapeError: if the spec is malformed, the module is missing or the
            attribute does not exist.

    """
    if ":" not in spec:
        raise LandscapeError(
            f"{what} spec: expected 'module:callable' or 'file.py:callable' (got {spec!r})"
        )
    mod_name, _, attr = spec.rpartition(":")
    if not mod_name or not attr:
        raise LandscapeError(
            f"{what} spec: expected 'module:callable' or 'file.py:callable' (got {spec!r})"
        )
    if mod_name.endswith(".py"):
        path = Path(mod_name)
        if not path.is_file():
            raise LandscapeError(f"{what} spec: file not found: {path}")
        name = f"_landscape_user_{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        assert module_spec is not None and module_spec.loader is not None
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[name]
            raise LandscapeError(
                f"{what} spec {spec!r}: importing {path} failed ({type(exc).__name__}: {_one_line(exc)})"
            ) from exc
    else:
        try:
            module = importlib.import_module(mod_name)
        except ModuleNotFoundError as exc:
            raise LandscapeError(
                f"{what} spec {spec!r}: cannot import module {mod_name!r} ({exc})"
            ) from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise LandscapeError(
            f"{what} spec {spec!r}: module {mod_name!r} has no attribute {attr!r}"
        ) from None


def build_model(spec: str, **kwargs: Any) -> nn.Module:
    """Build a model from a built-in name (see :data:`landscape.models.MODELS`) or a spec.

    Raises:
        LandscapeError: if the spec does not produce an ``nn.Module``.

    """
    from landscape.hf import is_hf_spec, load_pretrained
    from landscape.models import MODELS

    if is_hf_spec(spec):
        return load_pretrained(spec)
    if ":" not in spec:
        if spec not in MODELS:
            raise LandscapeError(
                f"model: unknown built-in {spec!r}; expected one of {sorted(MODELS)} "
                "or 'module:callable' / 'file.py:callable'"
            )
        factory: Callable[..., Any] = MODELS[spec]
    else:
        factory = import_object(spec, what="model")
    model = (
        factory(**kwargs) if callable(factory) and not isinstance(factory, nn.Module) else factory
    )
    if not isinstance(model, nn.Module):
        raise LandscapeError(
            f"model spec {spec!r} returned {type(model).__name__}, expected torch.nn.Module"
        )
    return model


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's content, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_state_dict(path: str | Path, *, trust: bool = False) -> dict[str, Tensor]:
    """Read a checkpoint file and return its model state dict.

    Accepts a raw state dict, or a dict holding one under ``state_dict``,
    ``model_state_dict``, ``model`` or ``net``; ``module.`` (DataParallel/DDP)
    and ``_orig_mod.`` (torch.compile) prefixes are stripped. ``.safetensors``
    files are read with safetensors.

    Args:
        path: the checkpoint file.
        trust: allow full unpickling. This runs arbitrary code from the file.

    Raises:
        LandscapeError: if the file is missing, corrupt, unsafe to unpickle
            (without ``trust``) or holds no state dict.

    """
    path = Path(path)
    if not path.is_file():
        raise LandscapeError(f"checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            obj: Any = load_file(str(path))
        except (SafetensorError, OSError) as exc:
            raise LandscapeError(
                f"checkpoint {path}: not a readable safetensors file ({exc})"
            ) from exc
    else:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=not trust)
        except pickle.UnpicklingError as exc:
            if trust or not _looks_like_torch_file(path):
                raise LandscapeError(
                    f"checkpoint {path}: not a readable PyTorch file ({_one_line(exc)})"
                ) from exc
            raise LandscapeError(
                f"checkpoint {path}: refused to unpickle Python objects in it; if you trust the file, "
                "pass --trust-checkpoint (unsafe: it runs code from the file)"
            ) from exc
        except (RuntimeError, EOFError, OSError, ValueError) as exc:
            raise LandscapeError(
                f"checkpoint {path}: not a readable PyTorch file ({_one_line(exc)})"
            ) from exc
    return _extract_state_dict(obj, path)


def _looks_like_torch_file(path: Path) -> bool:
    """A zip archive (``torch.save``) or a pickle stream (protocol >= 2 starts with 0x80)."""
    with open(path, "rb") as f:
        head = f.read(2)
    return zipfile.is_zipfile(path) or head[:1] == b"\x80"


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def _extract_state_dict(obj: Any, path: Path) -> dict[str, Tensor]:
    if isinstance(obj, nn.Module):
        obj = obj.state_dict()
    if isinstance(obj, Mapping) and not _is_state_dict(obj):
        for key in STATE_DICT_KEYS:
            inner = obj.get(key)
            if isinstance(inner, nn.Module):
                inner = inner.state_dict()
            if isinstance(inner, Mapping) and _is_state_dict(inner):
                obj = inner
                break
    if not isinstance(obj, Mapping) or not _is_state_dict(obj):
        raise LandscapeError(
            f"checkpoint {path}: no state dict found; expected a state dict or a dict with one of "
            f"{list(STATE_DICT_KEYS)}"
        )
    return {_strip_prefixes(k): v for k, v in obj.items()}


def _is_state_dict(obj: Mapping[Any, Any]) -> bool:
    return len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, Tensor) for k, v in obj.items()
    )


def _strip_prefixes(key: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix) :]
                changed = True
    return key


def split_state(
    model: nn.Module, state: Mapping[str, Tensor], *, source: str
) -> tuple[ParamDict, ParamDict]:
    """Check ``state`` against ``model`` and split it into parameters and buffers.

    The model is not modified.

    Returns:
        ``(params, buffers)``, both keyed by the model's names.

    Raises:
        LandscapeError: naming the first missing, unexpected or misshapen keys,
            or the first parameter holding NaN or infinity.

    """
    expected = model.state_dict()
    state = restore_tied(model, state)
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}"
        for k in expected
        if k in state and state[k].shape != expected[k].shape
    ]
    problems = []
    if missing:
        problems.append("missing keys " + ", ".join(missing[:3]))
    if unexpected:
        problems.append("unexpected keys " + ", ".join(unexpected[:3]))
    if shapes:
        problems.append("shape mismatch " + ", ".join(shapes[:3]))
    if problems:
        raise LandscapeError(f"checkpoint {source} does not fit the model: " + "; ".join(problems))
    param_names = [n for n, _ in model.named_parameters()]
    params = {n: state[n].detach().clone().to(expected[n].dtype) for n in param_names}
    for n, t in params.items():
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise LandscapeError(f"checkpoint {source}: parameter {n!r} holds NaN or infinity")
    buffers = {n: state[n].detach().clone() for n, _ in model.named_buffers() if n in state}
    return params, buffers


def restore_tied(model: nn.Module, state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Fill the names of tied parameters missing from ``state`` from their partner.

    A model whose modules share one parameter (an LM head tied to the input
    embedding) lists it under every name in its state dict, but Hugging Face's
    ``save_pretrained`` stores it once.

    >>> m = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    >>> m[1].weight = m[0].weight
    >>> sorted(restore_tied(m, {"0.weight": torch.ones(2, 2)}))
    ['0.weight', '1.weight']
    """
    names_of: dict[int, list[str]] = {}
    for name, t in model.state_dict(keep_vars=True).items():
        names_of.setdefault(id(t), []).append(name)
    out = dict(state)
    for names in names_of.values():
        stored = [n for n in names if n in out]
        for n in names if stored else []:
            out.setdefault(n, out[stored[0]])
    return out


def load_checkpoint(
    model: nn.Module, path: str | Path, *, trust: bool = False
) -> tuple[ParamDict, ParamDict]:
    """Load a checkpoint file for ``model``: ``(params, buffers)`` by name, model untouched."""
    return split_state(model, load_state_dict(path, trust=trust), source=str(path))
