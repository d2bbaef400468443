"""A section's validated settings (``Section``): what a notebook's validation cell returns.

``profiles.section`` builds one after checking every value; the sections read their sizes,
seeds and readings from it, and ``Section.train`` turns it into one run's ``TrainConfig``.
"""

from lslib.config import EvalSet, TrainConfig


class Section:
    """A notebook's validated settings: ``S.widths``, ``S.seeds``, ``S.train(width=...)``."""

    def __init__(self, name: str, values: dict):
        self.name = name
        self.__dict__.update(values)

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
