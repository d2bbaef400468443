"""A section's validated settings (``Section``): what a notebook's validation cell returns.

``profiles.section`` builds one after checking every value; the sections read their sizes,
seeds and readings from it, and ``Section.train`` turns it into one run's ``TrainConfig``.
"""

import json

from lslib.cache import canonical
from lslib.config import EvalSet, TrainConfig


class Section:
    """A notebook's validated settings: ``S.widths``, ``S.seeds``, ``S.train(width=...)``.

    Frozen: its values are set once, by the constructor, and an assignment raises, so a
    section validated once (``profiles.section``) stays valid and can key a cache. Two
    sections of the same name and values are equal and hash alike. ``vars(S)`` is its
    values, with its name.
    """

    def __init__(self, name: str, values: dict):
        self.__dict__["name"] = name
        self.__dict__.update(values)

    def __setattr__(self, key, value):
        raise AttributeError(
            f"Section {self.name} is frozen: {key} cannot be set; make another with "
            "profiles.section (or Section(name, values))"
        )

    def __delattr__(self, key):
        raise AttributeError(f"Section {self.name} is frozen: {key} cannot be deleted")

    def key(self) -> str:
        """Its name and values in canonical JSON: equal for equal sections."""
        return json.dumps(canonical(self.__dict__), sort_keys=True)

    def __eq__(self, other) -> bool:
        return isinstance(other, Section) and self.key() == other.key()

    def __hash__(self) -> int:
        return hash(self.key())

    def __repr__(self) -> str:
        items = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items() if k != "name")
        return f"Section({self.name}: {items})"

    def train(self, **over) -> TrainConfig:
        """The training config of one run of this section (``over`` sets width, seed, ...)."""
        base = dict(
            model=self.model,
            optimizer=getattr(self, "optimizer", "momentum"),
            subset=self.subset,
            eval_subset=self.eval_subset,
            seed=self.seeds[0],
            patience=self.patience,
            rel_tol=self.rel_tol,
        )
        if getattr(self, "epochs", None) is not None:
            base["epochs"] = self.epochs
        if getattr(self, "max_epochs", None) is not None:
            base["max_epochs"] = self.max_epochs
        if "width" in self.__dict__:
            base["width"] = self.width
        return TrainConfig(**(base | over))

    @property
    def eval_set(self) -> EvalSet:
        """The data the section's lines and planes are evaluated on."""
        return EvalSet(getattr(self, "eval_source", "train"), self.eval_size, self.eval_sample)
