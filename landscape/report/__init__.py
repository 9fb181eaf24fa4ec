"""Compare training runs and explain, in a report, why they converged differently.

:func:`~landscape.report.compare.compare` measures (``compare.h5``),
:mod:`~landscape.report.explain` turns the numbers into sentences,
:mod:`~landscape.report.figures` draws them and
:func:`~landscape.report.document.write_report` writes ``index.html`` and
``report.md``.
"""
