"""The paper: what knows the original report (its settings, numbers, claims and sections).

The rest of ``lslib`` is a general library; this package turns it into the book. Its parts,
lowest first (a module imports only from its own part or a lower one):

- ``names`` (model names and labels), ``profiles`` (section parameters and the
  smoke/quick/paper profiles, validated before any compute), ``results`` (saved section
  results with their provenance);
- ``sections``: each section's work, declared once, and its payload;
- ``verdicts``: statistics (one module, ``inference``), error control and the report's claims;
- ``pages``: tables, figures and page elements;
- ``build``: the papermill grid, its plan and executors.
"""
