"""Torch-free records of where results come from: a file's origin, the machine's settings."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FileOrigin:
    """The root provenance of a file written by the toolkit.

    Attributes:
        command: The command line that wrote it.
        created: When (ISO 8601, UTC).
        package_versions: Package name -> version (python, landscape, torch, numpy, ...).
    """

    command: str
    created: str
    package_versions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Environment:
    """What a run of the demo ran on and with, beyond what the run files store.

    Attributes:
        device: The torch device (``cpu``, ``cuda:0``, ...).
        threads: Torch CPU threads (``None``: torch's default).
        rows: Rows per split of the training data, e.g. ``{"train": 4000, "validation": 1000}``.
    """

    device: str
    threads: int | None
    rows: dict[str, int] = field(default_factory=dict)
