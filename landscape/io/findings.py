"""The ``findings`` group of ``compare.h5``: one row per claim the report makes.

Datasets, all of length n (one row per claim): ``statement``, ``quantity`` and ``evidence``
(UTF-8 strings), ``runs`` (n x 2 UTF-8 strings, the contenders a claim concerns; the second
is empty for an estimate), ``estimate``, ``ci_low``, ``ci_high`` and ``p_value`` (float64;
NaN where unknown), ``significant`` (bool). The group's attributes state the test.
"""

from __future__ import annotations

from collections.abc import Sequence

import h5py
import numpy as np

from landscape.records import Claim

GROUP = "findings"
TEST = "Welch t-test over seeds, Holm-controlled over all pairwise comparisons"

_STRING = h5py.string_dtype("utf-8")
_FLOATS = ("estimate", "ci_low", "ci_high", "p_value")


def write_findings(f: h5py.File, claims: Sequence[Claim], *, alpha: float, level: float) -> None:
    """Replace the ``findings`` group of an open file with ``claims``.

    Args:
        f: The file, open for writing.
        claims: The claims, in report order.
        alpha: The family-wise error rate of the significance test.
        level: The confidence level of the intervals.
    """
    if GROUP in f:
        del f[GROUP]
    g = f.create_group(GROUP)
    g.attrs["test"] = TEST
    g.attrs["alpha"] = alpha
    g.attrs["level"] = level
    for name in ("statement", "quantity", "evidence"):
        g.create_dataset(name, data=[getattr(c, name) for c in claims], dtype=_STRING)
    runs = [(*c.runs, "")[:2] for c in claims]
    g.create_dataset("runs", data=np.array(runs, dtype=object).reshape(-1, 2), dtype=_STRING)
    for name in _FLOATS:
        g.create_dataset(name, data=np.array([getattr(c, name) for c in claims], np.float64))
    g.create_dataset("significant", data=np.array([c.significant for c in claims], bool))


def read_findings(f: h5py.File) -> list[Claim]:
    """The claims stored in an open file's ``findings`` group (empty when there is none)."""
    if GROUP not in f:
        return []
    g = f[GROUP]
    strings = {n: [s.decode() for s in g[n][()]] for n in ("statement", "quantity", "evidence")}
    runs = [tuple(r.decode() for r in row if r) for row in g["runs"][()]]
    floats = {n: g[n][()].tolist() for n in _FLOATS}
    significant = g["significant"][()].tolist()
    return [
        Claim(
            statement=strings["statement"][i],
            quantity=strings["quantity"][i],
            runs=runs[i],
            estimate=floats["estimate"][i],
            ci_low=floats["ci_low"][i],
            ci_high=floats["ci_high"][i],
            significant=bool(significant[i]),
            evidence=strings["evidence"][i],
            p_value=floats["p_value"][i],
        )
        for i in range(len(significant))
    ]
