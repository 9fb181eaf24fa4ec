"""Option decorators shared by several subcommands (rasterio's ``options.py`` pattern)."""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
import os
import shlex
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from landscape.distributed import Context

F = TypeVar("F", bound=Callable[..., Any])

SEED = click.IntRange(-(2**63), 2**64 - 1)
"""The seeds torch's generators accept (a larger one overflowed inside torch)."""


def stack_options(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    """One decorator applying ``decorators`` as if written top to bottom above a function."""

    def apply(fn: F) -> F:
        for dec in reversed(decorators):
            fn = dec(fn)
        return fn

    return apply


def count_option(
    flag: str, default: int | None, help: str, *, minimum: int = 1, dest: str | None = None
) -> Callable[[F], F]:
    """An integer option of at least ``minimum``; its default is shown unless ``None``."""
    return click.option(
        flag,
        *([dest] if dest else []),
        type=click.IntRange(min=minimum),
        default=default,
        show_default=default is not None,
        help=help,
    )


def positive_option(
    flag: str, default: float | None, help: str, *, or_zero: bool = False
) -> Callable[[F], F]:
    """A number above 0 (``or_zero``: at least 0); its default is shown unless ``None``."""
    return click.option(
        flag,
        type=click.FloatRange(min=0, min_open=not or_zero),
        default=default,
        show_default=default is not None,
        help=help,
    )


def number_option(flag: str, default: float | None, help: str) -> Callable[[F], F]:
    """A real number of any sign; its default is shown unless ``None``."""
    return click.option(
        flag, type=float, default=default, show_default=default is not None, help=help
    )


def path_option(
    flag: str, help: str, *, folder: bool = False, required: bool = False
) -> Callable[[F], F]:
    """A file's path (``folder``: a directory's); ``None`` unless given or ``required``."""
    return click.option(
        flag,
        type=click.Path(file_okay=not folder, dir_okay=folder),
        required=required,
        help=help,
    )


def choice_option(
    flag: str, choices: Sequence[str], default: str | None, help: str
) -> Callable[[F], F]:
    """One of ``choices``; its default is shown unless ``None``."""
    return click.option(
        flag,
        type=click.Choice(list(choices)),
        default=default,
        show_default=default is not None,
        help=help,
    )


def overwrite_option(
    help: str = "Replace an output made with different settings.",
) -> Callable[[F], F]:
    """``--overwrite``: replace what an earlier run with other settings wrote."""
    return click.option("--overwrite", is_flag=True, help=help)


def seed_option(help: str) -> Callable[[F], F]:
    """``--seed`` (default 0) in the range torch's generators accept."""
    return click.option("--seed", type=SEED, default=0, show_default=True, help=help)


device_option = click.option(
    "--device",
    default="auto",
    show_default=True,
    help="'auto' (CUDA when present), 'cpu', 'cuda', 'cuda:1', ...",
)
"""``--device``."""


def loss_option(
    help: str = "torch.nn loss name (CrossEntropyLoss, MSELoss, ...), alias (cross_entropy, mse) "
    "or 'module:callable'.",
) -> Callable[[F], F]:
    """``--loss`` (default ``cross_entropy``)."""
    return click.option("--loss", default="cross_entropy", show_default=True, help=help)


SPLITS = ("train", "test", "both")
"""The choices of ``--split``."""

batch_size_option = count_option("--batch-size", 1000, "Samples per forward pass.")
"""``--batch-size`` of the evaluation passes."""

trust_checkpoint_option = click.option(
    "--trust-checkpoint",
    is_flag=True,
    help="UNSAFE: fully unpickle checkpoints, which runs any code inside them. "
    "Only for files you trust.",
)
"""``--trust-checkpoint``."""


def _checkpoint_given(ctx: click.Context, value: str | None) -> str | None:
    """``--checkpoint`` is required unless ``--model`` is ``hf:DIR`` (which has its own weights)."""
    model = ctx.params.get("model_spec")
    if value is None and not (isinstance(model, str) and model.startswith("hf:")):
        raise click.MissingParameter(ctx=ctx, param_hint="'--checkpoint'", param_type="option")
    return value


model_options = stack_options(
    click.option(
        "--model",
        "model_spec",
        required=True,
        help="Built-in model (mlp, cnn, resnet, resnet-noskip, ...), 'module:callable' / 'file.py:callable', "
        "or hf:DIR (a local Hugging Face save_pretrained directory; never downloaded).",
    ),
    click.option(
        "--checkpoint",
        type=click.Path(dir_okay=False),
        callback=lambda ctx, param, value: _checkpoint_given(ctx, value),
        help="Checkpoint: state dict (.pt/.pth) or .safetensors (optional for hf:DIR, "
        "whose own weights are used).",
    ),
    trust_checkpoint_option,
)
"""``--model``, ``--checkpoint``, ``--trust-checkpoint``."""

data_options = stack_options(
    click.option(
        "--data",
        "data_spec",
        default="mnist1d",
        show_default=True,
        help="'mnist1d' or 'module:callable' / 'file.py:callable' returning a Dataset, DataLoader, (X, y) or {'train','test'} dict.",
    ),
    choice_option("--split", SPLITS, "both", "Which data split(s) to evaluate."),
    count_option(
        "--max-samples", None, "Evaluate a fixed random subset of at most N samples per split."
    ),
    batch_size_option,
    loss_option(),
    device_option,
)
"""``--data``, ``--split``, ``--max-samples``, ``--batch-size``, ``--loss``, ``--device``."""

output_options = stack_options(
    path_option("--out", "Output HDF5 file.", required=True),
    overwrite_option(),
)
"""``--out``, ``--overwrite``."""


run_spec_options = stack_options(
    click.option(
        "--model",
        "model_spec",
        default=None,
        help="Model spec, overriding what the run stores [the run's, when it is a built-in].",
    ),
    click.option(
        "--data",
        "data_spec",
        default=None,
        help="Data spec, overriding what the run stores [the run's, when it is a built-in].",
    ),
    click.option(
        "--loss",
        default=None,
        help="Loss spec, overriding what the run stores [as trained, else cross_entropy].",
    ),
    click.option(
        "--trust-run-config",
        is_flag=True,
        help="UNSAFE: use the model, data and loss code that a run's stored configuration "
        "names, which imports and runs that code. Only for runs you trust.",
    ),
)
"""``--model``, ``--data``, ``--loss`` and ``--trust-run-config`` of commands that read runs.

A spec a run stores is used only when it names no code (:func:`landscape.setup.run_spec`).
"""


@contextlib.contextmanager
def rank_session(device: str) -> Iterator[Context]:
    """Join the job torchrun started (if any) for the command's duration; yield this rank's context.

    A no-op without torchrun. Ranks other than 0 log warnings only, whatever level
    the command sets (``logging.disable`` below WARNING for the session).
    """
    from landscape import distributed
    from landscape.devices import resolve_device

    with distributed.session(resolve_device(device)) as (context, _):
        if context.is_main:
            yield context
            return
        logging.disable(logging.INFO)
        try:
            yield context
        finally:
            logging.disable(logging.NOTSET)


def in_rank_session(command: click.Command, *, splits_work: bool) -> click.Command:
    """``command`` run inside the torchrun session: the one place every subcommand joins it.

    A command that splits its work over the ranks (``splits_work``) gets this rank's
    :class:`~landscape.distributed.Context` as the keyword argument ``context``, from
    :func:`rank_session` opened on its ``--device``. Any other command runs on rank 0
    alone under torchrun, which says so in one line, while the other ranks exit at
    once instead of repeating the work. Outside torchrun (no ``WORLD_SIZE``, or 1)
    nothing changes and torch is not imported for it.

    Returns:
        A copy of ``command`` with its callback wrapped (``command`` is unchanged).

    """
    callback = command.callback
    if callback is None:
        return command

    @functools.wraps(callback)
    def run(*args: Any, **kw: Any) -> Any:
        if splits_work:
            with rank_session(str(kw.get("device", "auto"))) as context:
                return callback(*args, context=context, **kw)
        if os.environ.get("WORLD_SIZE", "1") == "1":
            return callback(*args, **kw)
        from landscape.distributed import env_context

        ranks = env_context()
        if ranks is not None and not ranks.is_main:
            return None
        if ranks is not None:
            click.echo(
                f"{click.get_current_context().info_name}: runs in one process; under torchrun rank 0 does all the work "
                f"and the other {ranks.world_size - 1} rank(s) stop",
                err=True,
            )
        return callback(*args, **kw)

    wrapped = copy.copy(command)
    wrapped.callback = run
    return wrapped


def _record_verbosity(ctx: click.Context, param: click.Parameter, value: int | bool) -> None:
    """Add ``-v`` / ``-q`` to the root context's settings, wherever they were given."""
    settings = ctx.find_root().ensure_object(dict)
    if param.name == "verbose":
        settings["verbose"] = settings.get("verbose", 0) + int(value)
    else:
        settings["quiet"] = settings.get("quiet", False) or bool(value)


verbosity_options = stack_options(
    click.option(
        "-v",
        "--verbose",
        count=True,
        expose_value=False,
        callback=_record_verbosity,
        help="More log output (also before the subcommand).",
    ),
    click.option(
        "-q",
        "--quiet",
        is_flag=True,
        expose_value=False,
        callback=_record_verbosity,
        help="No progress bars or info lines (also before the subcommand).",
    ),
)
"""``-v``/``--verbose`` and ``-q``/``--quiet``: on the group and on every subcommand.

Both record into the root context's ``obj`` (``{"verbose": int, "quiet": bool}``),
so ``landscape -q plot ...`` and ``landscape plot ... -q`` mean the same.
"""


def quiet(ctx: click.Context) -> bool:
    """Whether the group's ``-q`` flag was given."""
    root = ctx.find_root()
    return bool(root.obj and root.obj.get("quiet"))


def command_line() -> str:
    """Rebuild the command line from what click parsed (for provenance).

    Taken from what click parsed rather than ``sys.argv``, so it is right
    however the command was invoked (console script, ``python -m``, torchrun,
    or click's test runner). Positional arguments come first, in their declared
    order; options follow as ``--flag=value``, and those left at their defaults
    are omitted.
    """
    ctx = click.get_current_context()
    words = ["landscape", str(ctx.info_name)]
    for param in ctx.command.params:
        value = ctx.params.get(param.name) if param.name else None
        if isinstance(param, click.Argument) and value not in (None, ()):
            words += [str(v) for v in (value if param.multiple or param.nargs != 1 else (value,))]
    for param in ctx.command.params:
        value = ctx.params.get(param.name) if param.name else None
        if not isinstance(param, click.Option) or value in (None, False, ()):
            continue
        flag = max(param.opts, key=len)
        if param.is_flag:
            # a boolean flag given, or one of several flags sharing a name (--quick/--full)
            if (value is True) if param.is_bool_flag else (value == param.flag_value):
                words.append(flag)
        elif value != param.get_default(ctx):
            words += [f"{flag}={v}" for v in (value if param.multiple else (value,))]
    return shlex.join(words)


task_options = stack_options(
    click.option(
        "--task",
        type=click.Choice(["classification", "regression", "lm", "mlm"]),
        default=None,
        help="What is scored: lm = next-token cross-entropy, mlm = cross-entropy at labelled "
        "tokens [default: from a Hugging Face model's class, else from --loss].",
    ),
    click.option(
        "--output",
        "output_key",
        default=None,
        help="Field of the model's output to score [default: the tensor itself, a tuple's "
        "first element, or 'logits' of a dict/ModelOutput].",
    ),
    click.option("--no-accuracy", is_flag=True, help="Score the loss only, no accuracy."),
)
"""``--task``, ``--output``, ``--no-accuracy``: how a model's output is scored."""


def task_arguments(kw: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of :class:`~landscape.objective.Objective` named by :data:`task_options`."""
    return {"task": kw["task"], "output": kw["output_key"], "accuracy": not kw["no_accuracy"]}


def forwarded(kw: dict[str, Any], names: str) -> dict[str, Any]:
    """The parsed options ``names`` (separated by spaces), to pass on under the same names.

    An option's parameter name is its pipeline argument's name (``--top-k`` is
    ``top_k``), so a command forwards them without restating each one; the names
    are one string, as :func:`collections.namedtuple` takes its fields.

    >>> forwarded({"top_k": 5, "tol": 1e-3, "out": "c.h5"}, "top_k tol")
    {'top_k': 5, 'tol': 0.001}
    """
    return {name: kw[name] for name in names.split()}
