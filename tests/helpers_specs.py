"""Importable model/data specs for CLI tests (``tests.helpers_specs:tiny_net``)."""

from tests.conftest import tiny_data, tiny_net

__all__ = ["tiny_data", "tiny_net"]
