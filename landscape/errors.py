"""The one exception type that carries a user-facing message, and the translations into it.

Every error a user can cause (a bad path, a wrong model for a checkpoint, a
malformed grid) is raised as :class:`LandscapeError` with a single line that
says what was wrong and what was expected. The CLI prints that line and exits
non-zero without a traceback; library users can catch it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path


class LandscapeError(ValueError):
    """A problem with the user's input, described in one line.

    >>> str(LandscapeError("grid: expected START:STOP:NUM (got '1:2')"))
    "grid: expected START:STOP:NUM (got '1:2')"
    """


def one_line(exc: BaseException) -> str:
    r"""The first line of ``exc``'s message (at most 200 characters), else its type's name.

    >>> one_line(RuntimeError("shape mismatch\n  at layer 3")), one_line(KeyError())
    ('shape mismatch', 'KeyError')
    """
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


@contextlib.contextmanager
def reraised(message: Callable[[str], str], *types: type[Exception]) -> Iterator[None]:
    """Re-raise an exception of ``types`` as a :class:`LandscapeError` saying ``message(reason)``.

    ``reason`` is :func:`one_line` of the exception, which stays chained as the cause;
    a :class:`LandscapeError` passes through unchanged.

    >>> with reraised(lambda r: f"data: unreadable ({r})", OSError):
    ...     raise OSError("disk gone")
    Traceback (most recent call last):
    landscape.errors.LandscapeError: data: unreadable (disk gone)
    """
    try:
        yield
    except LandscapeError:
        raise
    except types as exc:
        raise LandscapeError(message(one_line(exc))) from exc


HDF5_ERRORS: tuple[type[Exception], ...] = (OSError, KeyError, ValueError, TypeError, RuntimeError)
"""What h5py raises on a damaged file's content."""


def damaged_file_errors(path: str | Path, kind: str) -> contextlib.AbstractContextManager[None]:
    """h5py's errors about a damaged ``kind`` file's content, as one line naming the way out."""
    return reraised(
        lambda reason: (
            f"{path}: damaged {kind} file ({reason}); pass --overwrite to start it again"
        ),
        *HDF5_ERRORS,
    )


def model_errors(split: str) -> contextlib.AbstractContextManager[None]:
    """The model's failure on a data split (shape or dtype mismatch), as one line."""
    return reraised(
        lambda reason: (
            f"data split {split!r} does not fit the model ({reason}); "
            "expected inputs and targets the model and loss accept"
        ),
        RuntimeError,
        IndexError,
        ValueError,
        TypeError,
    )
