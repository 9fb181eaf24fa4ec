"""The one exception type that carries a user-facing message.

Every error a user can cause (a bad path, a wrong model for a checkpoint, a
malformed grid) is raised as :class:`LandscapeError` with a single line that
says what was wrong and what was expected. The CLI prints that line and exits
non-zero without a traceback; library users can catch it.
"""

from __future__ import annotations


class LandscapeError(ValueError):
    """A problem with the user's input, described in one line.

    >>> str(LandscapeError("grid: expected START:STOP:NUM (got '1:2')"))
    "grid: expected START:STOP:NUM (got '1:2')"
    """
