"""The paper: what knows the original report (its settings, numbers, claims and sections).

The rest of ``lslib`` is a general library; this package turns it into the book:
``profiles`` (section parameters and the smoke/quick/paper profiles, validated before any
compute), ``analyses`` (cached analyses of trained runs), ``sections`` (one payload per
notebook), ``results`` (saved section results with their provenance), ``inference``
(seed intervals, p-values and the verdicts' inference), ``tables``, ``claims`` (the report's claims and their verdicts) and
``grid`` (the papermill runner).
"""
