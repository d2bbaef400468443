"""The paper: what knows the original report (its settings, numbers, claims and sections).

The rest of ``lslib`` is a general library; this package turns it into the book. Its parts,
lowest first (a module imports only from its own part or a lower one):

- the base: ``names`` (model names and labels), ``profiles`` (section parameters and the
  smoke/quick/paper profiles), ``limits`` (their validation before any compute),
  ``settings`` (a section's validated ``Section``), ``reading_names`` (the names of the
  readings), ``results`` (saved section results with their provenance), ``gridfile`` (the
  validated grid file);
- ``sections``: each section's work, declared once, and its payload;
- ``verdicts``: statistics (``inference``, with ``claim_tests`` and ``formatting`` on it),
  error control and the report's claims;
- ``pages``: tables, figures and page elements;
- ``build``: the papermill grid, its plan and executors.
"""
