"""``book/design.yml`` as read, and the confirmatory seeds the paper profile runs.

`lslib.paper.verdicts.design` parses and checks the whole file (families, smallest effects,
seeds); this leaf only reads it, so the profiles, which sit below the verdicts, can take the
seeds the design chose (``seeds.confirmatory.sections``, written by
``scripts/choose_seeds.py``).
"""

from pathlib import Path

import yaml

from lslib.paths import BOOK

PATH = BOOK / "design.yml"


def read(path: Path | None = None) -> dict:
    """The design file's mapping, as YAML reads it (no checks: `verdicts.design.parse`)."""
    return yaml.safe_load(Path(path or PATH).read_text())


def confirmatory_seeds(section: str, path: Path | None = None) -> list[int]:
    """The seeds the design chose for ``section``; ValueError naming the field when the
    design has none for it."""
    try:
        seeds = read(path)["seeds"]["confirmatory"]["sections"][section]
    except (KeyError, TypeError) as e:
        raise ValueError(
            f"{PATH.name}: seeds.confirmatory.sections has no seeds for {section!r} "
            "(scripts/choose_seeds.py --write writes them)"
        ) from e
    if not isinstance(seeds, list) or not all(type(s) is int and s >= 0 for s in seeds):
        raise ValueError(
            f"{PATH.name}: seeds.confirmatory.sections.{section}: expected a list of "
            f"non-negative integers, got {seeds!r}"
        )
    return list(seeds)
