"""Logging set-up shared by the subcommands: info lines on stderr unless ``-q``."""

from __future__ import annotations

import logging

import click


def configure(ctx: click.Context) -> bool:
    """Route ``landscape.*`` log records to stderr; return whether progress bars should show."""
    root = ctx.find_root()
    quiet = bool(root.obj and root.obj.get("quiet"))
    verbose = int(root.obj.get("verbose", 0)) if root.obj else 0
    logger = logging.getLogger("landscape")
    level = logging.WARNING if quiet else (logging.DEBUG if verbose else logging.INFO)
    logger.setLevel(level)
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(
            logging.Formatter("%(levelname)s %(message)s" if verbose else "%(message)s")
        )
        logger.addHandler(handler)
    logger.propagate = False
    return not quiet
