"""The paper's model names and labels: a leaf that imports nothing, so tables, pages and
the notebook runner can name models without importing the compute stack."""

NAMES = {"mlp": "MLP", "cnn": "SimpleCNN"}


def label(model: str, width) -> str:
    """A model's label in the book, e.g. ``label("cnn", 32)`` is ``"SimpleCNN-32"``."""
    return f"{NAMES[model]}-{width}"
