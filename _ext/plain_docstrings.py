"""Render lslib's plain-text docstrings on the API page as they are written.

The docstrings write absolute values and norms as |x| (plain-text mathematics). In
reStructuredText |name| is a substitution reference, undefined here, so Sphinx would fail
on every one of them. Before autodoc renders a docstring, every "|" outside ``literals``
is escaped, so |theta_i| reads as it is written.
"""

import re

_LITERAL = re.compile(r"(``.*?``)")


def escape_bars(line: str) -> str:
    parts = _LITERAL.split(line)  # odd items are ``literals``: kept as they are
    return "".join(p if i % 2 else p.replace("|", r"\|") for i, p in enumerate(parts))


def _process(app, what, name, obj, options, lines) -> None:
    lines[:] = [escape_bars(line) for line in lines]


def setup(app):
    app.connect("autodoc-process-docstring", _process)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
