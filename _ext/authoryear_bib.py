"""Author-year labels for the bibliography (sphinxcontrib-bibtex, pybtex).

The text cites author-year ({cite}`key` with ``bibtex_reference_style: author_year``);
pybtex's default ``alpha`` style would label the entries [Pea94]. The ``authoryear``
style registered here labels them like the citations (Pearlmutter 1994, Li et al. 2018,
Bonett & Wright 2000) and sorts them by author, year and title. Enabled by
``bibtex_default_style: authoryear`` in ``_config.yml``.
"""

from collections import Counter

from pybtex.plugin import register_plugin
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle
from pybtex.style.sorting.author_year_title import SortingStyle


def _last_names(person) -> str:
    return " ".join(
        part.replace("{", "").replace("}", "") for part in person.prelast_names + person.last_names
    )


class AuthorYearLabelStyle(BaseLabelStyle):
    """``Surname Year``, ``A & B Year``, ``A et al. Year``; ``a``/``b`` break ties."""

    def format_label(self, entry) -> str:
        persons = entry.persons.get("author") or entry.persons.get("editor") or []
        names = [_last_names(p) for p in persons]
        if not names:
            who = entry.key
        elif len(names) == 1:
            who = names[0]
        elif len(names) == 2:
            who = f"{names[0]} & {names[1]}"
        else:
            who = f"{names[0]} et al."
        year = entry.fields.get("year", "")
        return f"{who} {year}".strip()

    def format_labels(self, sorted_entries):
        labels = [self.format_label(entry) for entry in sorted_entries]
        count = Counter(labels)
        seen = Counter()
        for label in labels:
            if count[label] == 1:
                yield label
            else:
                yield label + chr(ord("a") + seen[label])
                seen[label] += 1


class AuthorYearStyle(UnsrtStyle):
    default_label_style = AuthorYearLabelStyle
    default_sorting_style = SortingStyle


def setup(app):
    register_plugin("pybtex.style.labels", "authoryear", AuthorYearLabelStyle)
    register_plugin("pybtex.style.formatting", "authoryear", AuthorYearStyle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
