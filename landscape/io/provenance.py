"""The provenance a file carries at its root: versions, command, creation time (h5py only).

Every file the toolkit writes starts with :func:`landscape.store.root_attrs`; this reads
them back.
"""

from __future__ import annotations

import json
from pathlib import Path

from landscape import store
from landscape.records.provenance import FileOrigin


def read_origin(path: str | Path) -> FileOrigin:
    """The root provenance attributes of an HDF5 file (empty values where absent).

    Raises:
        LandscapeError: if the file cannot be read.

    """
    with store.open_read(path) as f:
        versions = f.attrs.get("package_versions")
        return FileOrigin(
            command=str(f.attrs.get("command", "")),
            created=str(f.attrs.get("created", "")),
            package_versions=json.loads(versions) if versions is not None else {},
        )
