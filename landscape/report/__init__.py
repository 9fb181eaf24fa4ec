"""Explain, in a report, why training runs converged differently; reads files, never torch.

:func:`~landscape.pipelines.compare.compare` measures (``compare.h5``),
:mod:`~landscape.report.explain` turns the numbers into sentences,
:mod:`~landscape.report.figures` draws them and
:func:`~landscape.report.document.write_report` writes ``index.html`` and
``report.md``.
"""
