"""Hugging Face models from local ``save_pretrained`` directories (``--model hf:DIR``).

The directory's ``config.json`` names the architecture (``GPT2LMHeadModel``,
``BertForSequenceClassification``, ...); ``transformers`` builds that class and
loads the directory's weights (safetensors or ``.bin``, sharded or not) with
``local_files_only=True``, so nothing is ever downloaded. Tied weights (an
``lm_head`` sharing the input embedding, which ``save_pretrained`` stores once)
come back tied. The task follows from the class: causal LM, masked LM or
sequence classification (regression for one label).

``transformers`` is optional (``pip install 'landscape[hf]'``); it is imported
only when a ``hf:`` model is asked for.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from torch import nn

from landscape.errors import LandscapeError, one_line

PREFIX = "hf:"
"""Model specs starting with this name a local Hugging Face directory."""

CLASS_TASKS = (
    ("ForCausalLM", "lm"),
    ("LMHeadModel", "lm"),
    ("ForMaskedLM", "mlm"),
    ("ForSequenceClassification", "classification"),
)
"""Endings of Hugging Face model class names and the task each implies."""


def is_hf_spec(spec: str) -> bool:
    """Whether a model spec names a Hugging Face directory.

    >>> is_hf_spec("hf:runs/gpt2-tiny"), is_hf_spec("mlp")
    (True, False)
    """
    return spec.startswith(PREFIX)


def import_transformers(spec: str) -> ModuleType:
    """Import ``transformers`` or refuse in one line naming the extra to install.

    Raises:
        LandscapeError: when the package cannot be imported.

    """
    try:
        return importlib.import_module("transformers")
    except ImportError:
        raise LandscapeError(
            f"model {spec!r} needs the transformers package: pip install 'landscape[hf]'"
        ) from None


def load_pretrained(spec: str) -> nn.Module:
    """Build the model of a local ``save_pretrained`` directory, with its own weights.

    Args:
        spec: ``hf:DIR``, where ``DIR`` holds ``config.json`` and the weights.

    Returns:
        The model in eval mode, with ``use_cache`` off (no key/value caches are
        built: every evaluation is one full forward pass).

    Raises:
        LandscapeError: for a name that is not a local directory (a hub name:
            nothing is downloaded), a directory without ``config.json``, a
            config naming no architecture ``transformers`` knows, or weights
            that do not load.

    """
    directory = Path(spec[len(PREFIX) :])
    if not directory.is_dir():
        raise LandscapeError(
            f"model {spec!r}: {str(directory)!r} is not a local directory; landscape never "
            "downloads models: save one with save_pretrained(DIR) and pass hf:DIR"
        )
    if not (directory / "config.json").is_file():
        raise LandscapeError(
            f"model {spec!r}: no config.json in {directory}; expected a save_pretrained directory"
        )
    transformers = import_transformers(spec)
    try:
        config = transformers.AutoConfig.from_pretrained(directory, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise LandscapeError(
            f"model {spec!r}: config.json does not load ({one_line(exc)})"
        ) from exc
    names = list(getattr(config, "architectures", None) or [])
    cls = getattr(transformers, names[0], None) if names else None
    if not isinstance(cls, type):
        raise LandscapeError(
            f"model {spec!r}: config.json names architectures {names}, none of them a transformers "
            "class; save the model with its head class (e.g. GPT2LMHeadModel)"
        )
    try:
        with _quiet(transformers):
            model = cls.from_pretrained(directory, local_files_only=True)
    except (OSError, ValueError, RuntimeError) as exc:
        raise LandscapeError(f"model {spec!r}: weights do not load ({one_line(exc)})") from exc
    model.config.use_cache = False
    return model.eval()


def model_task(model: nn.Module) -> str | None:
    """The task a Hugging Face model's class implies, ``None`` for any other model.

    ``...ForCausalLM`` / ``...LMHeadModel``: ``lm``; ``...ForMaskedLM``: ``mlm``;
    ``...ForSequenceClassification``: ``classification``, or ``regression`` when
    the config says so (``problem_type``, or one label without one).

    >>> model_task(nn.Linear(1, 1)) is None
    True
    """
    config = getattr(model, "config", None)
    if config is None or not hasattr(config, "model_type"):
        return None
    name = type(model).__name__
    task = next((t for suffix, t in CLASS_TASKS if name.endswith(suffix)), None)
    if task == "classification":
        problem = getattr(config, "problem_type", None)
        if problem == "regression" or (problem is None and getattr(config, "num_labels", 2) == 1):
            return "regression"
        if problem == "multi_label_classification":
            return None
    return task


@contextlib.contextmanager
def _quiet(transformers: ModuleType) -> Iterator[None]:
    """Silence transformers' loading bars and notices (errors still raise), then restore them."""
    logs = transformers.utils.logging
    verbosity, bars = logs.get_verbosity(), logs.is_progress_bar_enabled()
    logs.set_verbosity_error()
    logs.disable_progress_bar()
    try:
        yield
    finally:
        logs.set_verbosity(verbosity)
        if bars:
            logs.enable_progress_bar()
