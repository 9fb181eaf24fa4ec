"""Load user models and checkpoints without trusting them more than asked.

Models are named by a spec: ``package.module:callable``,
``path/to/file.py:callable``, ``hf:DIR`` (a local Hugging Face directory, see
:mod:`landscape.hf`), or the name of a built-in model from
:mod:`landscape.models`. Checkpoints are loaded with
``torch.load(weights_only=True)`` unless the user explicitly trusts the file;
safetensors files are read with :mod:`safetensors`.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.util
import pickle
import pickletools
import re
import sys
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from landscape.errors import LandscapeError, one_line
from landscape.params import ParamDict
from landscape.state_keys import match_prefix, restore_tied, strip_prefixes

STATE_DICT_KEYS = ("state_dict", "model_state_dict", "model", "net")
SAFE_GLOBALS: list[Any] = [argparse.Namespace]
"""Classes weights-only loading may build besides tensors and containers: torchvision's
reference scripts store their command line as an ``argparse.Namespace`` (``args``), which
only holds attributes and runs no code."""


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
        except (Exception, SystemExit) as exc:
            del sys.modules[name]
            raise LandscapeError(
                f"{what} spec {spec!r}: importing {path} failed ({type(exc).__name__}: {one_line(exc)})"
            ) from exc
    else:
        try:
            module = importlib.import_module(mod_name)
        except ModuleNotFoundError as exc:
            raise LandscapeError(
                f"{what} spec {spec!r}: cannot import module {mod_name!r} ({exc})"
            ) from exc
        except (Exception, SystemExit) as exc:
            raise LandscapeError(
                f"{what} spec {spec!r}: importing {mod_name!r} failed "
                f"({type(exc).__name__}: {one_line(exc)})"
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
        call_factory(factory, spec, what="model", **kwargs)
        if callable(factory) and not isinstance(factory, nn.Module)
        else factory
    )
    if not isinstance(model, nn.Module):
        raise LandscapeError(
            f"model spec {spec!r} returned {type(model).__name__}, expected torch.nn.Module"
        )
    return model


def call_factory(factory: Callable[..., Any], spec: str, *, what: str, **kwargs: Any) -> Any:
    """Call a user's factory, turning its failure (or its ``sys.exit``) into one line.

    >>> call_factory(dict, "builtins:dict", what="model", a=1)
    {'a': 1}

    Raises:
        LandscapeError: naming the spec and what the call raised.

    """
    try:
        return factory(**kwargs)
    except SystemExit as exc:
        raise LandscapeError(
            f"{what} spec {spec!r}: calling it exited the program (SystemExit: {exc.code}); "
            "expected a callable that returns the object"
        ) from None
    except Exception as exc:
        raise LandscapeError(
            f"{what} spec {spec!r}: calling it failed ({type(exc).__name__}: {one_line(exc)}); "
            f"expected a callable that takes {_arguments(kwargs)} and returns the object"
        ) from exc


def _arguments(kwargs: Mapping[str, Any]) -> str:
    return "no arguments" if not kwargs else "the keyword arguments " + ", ".join(kwargs)


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
    if path.suffix == ".safetensors":
        obj: Any = _load_safetensors(path)
    else:
        obj = load_torch_file(path, trust=trust)
    return extract_state_dict(obj, path)


def _load_safetensors(path: Path) -> dict[str, Tensor]:
    if not path.is_file():
        raise LandscapeError(f"checkpoint not found: {path}")
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except Exception as exc:
        raise LandscapeError(
            f"checkpoint {path}: not a readable safetensors file ({one_line(exc)})"
        ) from exc


def load_torch_file(
    path: str | Path,
    *,
    trust: bool = False,
    what: str = "checkpoint",
    trust_option: str | None = "--trust-checkpoint",
) -> Any:
    """``torch.load`` a file onto the CPU, every failure one line naming the file.

    Without ``trust`` only tensors and plain containers load
    (``weights_only=True``). A file that pickles a Python object is refused
    with the object's name and, where the command has one, the option that
    trusts it; a damaged file (truncated, empty, or bytes that make the
    unpickler fail in any way: ``EOFError``, ``IndexError``, ``struct.error``,
    ``AssertionError``, ...) is called not readable, without the hint.
    torch's warnings about odd pickle protocols are silenced: one line only.

    Args:
        path: the file.
        trust: allow full unpickling. This runs arbitrary code from the file.
        what: what the file is, for the message (``checkpoint``, ``optimizer state``).
        trust_option: the command-line option that sets ``trust``; ``None``
            where the command has none.

    Raises:
        LandscapeError: if the file is missing, empty, damaged or (without
            ``trust``) holds pickled Python objects.

    """
    path = Path(path)
    if not path.is_file():
        raise LandscapeError(f"{what} not found: {path}")
    if path.stat().st_size == 0:
        raise LandscapeError(f"{what} {path}: empty file; expected a file written by torch.save")
    try:
        with warnings.catch_warnings(), torch.serialization.safe_globals(SAFE_GLOBALS):
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=not trust)
    except pickle.UnpicklingError as exc:
        refused = None if trust else (_refused_global(exc) or _plain_pickle_global(path))
        if refused is not None:
            hint = (
                f"if you trust the file, pass {trust_option} (unsafe: it runs code from the file)"
                if trust_option
                else "this command loads tensors only"
            )
            raise LandscapeError(
                f"{what} {path}: refused to unpickle the Python object {refused} in it; {hint}"
            ) from exc
        raise LandscapeError(_unreadable(what, path, exc)) from exc
    except Exception as exc:
        raise LandscapeError(_unreadable(what, path, exc)) from exc


_GLOBAL = re.compile(r"Unsupported global: GLOBAL (\S+) was not an allowed global")
_DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


def _refused_global(exc: pickle.UnpicklingError) -> str | None:
    """The ``module.name`` weights-only loading refused, when it looks like a real name."""
    match = _GLOBAL.search(str(exc))
    return match.group(1) if match and _DOTTED.fullmatch(match.group(1)) else None


def _plain_pickle_global(path: Path) -> str | None:
    """The first global a file names when it is exactly one intact pickle (read, never run).

    ``pickle.dump`` files reach weights-only loading's opcode check before its
    global check; :mod:`pickletools` tells such a file from a damaged one.
    """
    strings: list[str] = []
    first = None
    with open(path, "rb") as f:
        try:
            for op, arg, _ in pickletools.genops(f):
                if op.name == "GLOBAL" and first is None:
                    first = str(arg).replace(" ", ".")
                elif op.name == "STACK_GLOBAL" and first is None and len(strings) >= 2:
                    first = f"{strings[-2]}.{strings[-1]}"
                elif isinstance(arg, str):
                    strings.append(arg)
        except Exception:
            return None
        at_end = f.read(1) == b""
    return first if at_end and first and _DOTTED.fullmatch(first) else None


def _unreadable(what: str, path: Path, exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if "WeightsUnpickler error:" in ln]
    reason = lines[0].split("error:", 1)[1].strip() if lines else one_line(exc)
    return (
        f"{what} {path}: not a readable PyTorch file (damaged or truncated? "
        f"{type(exc).__name__}: {reason[:160]})"
    )


def extract_state_dict(obj: Any, path: Path) -> dict[str, Tensor]:
    """The state dict inside a loaded checkpoint object, its keys' wrapper prefixes stripped.

    ``obj`` may be a state dict, a module, or a dict holding either under one of
    :data:`STATE_DICT_KEYS`.

    Raises:
        LandscapeError: when no state dict is found (``path`` names the file).

    """
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
    return {strip_prefixes(k): v for k, v in obj.items()}


def _is_state_dict(obj: Mapping[Any, Any]) -> bool:
    return len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, Tensor) for k, v in obj.items()
    )


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
    check_state_fits(model, state, source=source)
    expected = model.state_dict()
    param_names = [n for n, _ in model.named_parameters()]
    params = {n: state[n].detach().clone().to(expected[n].dtype) for n in param_names}
    for n, t in params.items():
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise LandscapeError(f"checkpoint {source}: parameter {n!r} holds NaN or infinity")
    buffers = {n: state[n].detach().clone() for n, _ in model.named_buffers() if n in state}
    return params, buffers


def check_state_fits(model: nn.Module, state: Mapping[str, Tensor], *, source: str) -> None:
    """Check that ``state`` has exactly the model's keys, shapes and kinds of tensor.

    Raises:
        LandscapeError: naming the first missing, unexpected or misshapen keys,
            or the first tensor :func:`check_tensor` refuses.

    """
    if not all(isinstance(v, Tensor) for v in state.values()):
        raise LandscapeError(
            f"checkpoint {source}: the state dict holds values that are not tensors"
        )
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
    for n in expected:
        check_tensor(state[n], expected[n], name=n, source=source)


FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
"""Floating dtypes a stored floating tensor may have (it is cast to the model's)."""


def check_tensor(stored: Tensor, expected: Tensor, *, name: str, source: str) -> None:
    """Refuse a stored tensor that cannot stand for ``expected`` without a silent change.

    A plain dense CPU tensor is required (not sparse, CSR, meta, quantized or
    nested), of the same kind: a floating entry must be float16, bfloat16,
    float32 or float64 (not float8, bool or an integer), a non-floating entry
    (an integer buffer such as ``num_batches_tracked``) the same dtype.

    >>> check_tensor(torch.zeros(2), torch.zeros(2), name="w", source="ck.pt")
    >>> check_tensor(torch.zeros(2, dtype=torch.int8), torch.zeros(2), name="w", source="c")
    Traceback (most recent call last):
    landscape.errors.LandscapeError: checkpoint c: 'w' is torch.int8; expected a floating dtype ...

    Raises:
        LandscapeError: naming the entry, what it is and what was expected.

    """
    kind = _unusual_kind(stored)
    if kind is not None:
        raise LandscapeError(
            f"checkpoint {source}: {name!r} is a {kind} tensor; expected a plain dense tensor"
        )
    if expected.is_floating_point():
        if stored.dtype not in FLOAT_DTYPES:
            raise LandscapeError(
                f"checkpoint {source}: {name!r} is {stored.dtype}; expected a floating dtype "
                f"(float16, bfloat16, float32 or float64) for {expected.dtype}"
            )
    elif stored.dtype != expected.dtype:
        raise LandscapeError(
            f"checkpoint {source}: {name!r} is {stored.dtype}; expected {expected.dtype}"
        )


def _unusual_kind(t: Tensor) -> str | None:
    if t.layout != torch.strided:
        return str(t.layout).removeprefix("torch.")
    if t.is_meta:
        return "meta (no data)"
    if t.is_quantized:
        return "quantized"
    if t.is_nested:
        return "nested"
    return None


def load_checkpoint(
    model: nn.Module, path: str | Path, *, trust: bool = False
) -> tuple[ParamDict, ParamDict]:
    """Load a checkpoint file for ``model``: ``(params, buffers)`` by name, model untouched.

    The state's keys may carry one extra leading component that the model's do not, as
    a Lightning ``.ckpt`` of a module holding the network as ``self.model`` (or ``net``,
    ...) does: see :func:`match_prefix`.
    """
    state = load_state_dict(path, trust=trust)
    return split_state(model, match_prefix(model, state), source=str(path))
