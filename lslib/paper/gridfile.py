"""The grid file (``book/grid.yml``), read and validated like a config before anything runs.

    output: book/_executed          # optional, a folder relative to the root
    jobs:                           # a non-empty list, in the order they run
      - {notebook: notebooks/phase1.ipynb, models: [mlp, cnn]}
      - {notebook: book/summary.ipynb, alongside: true}

A misspelt or unknown key, a key given twice, a value of the wrong type, an empty list, a
model named twice or a notebook missing is refused with one line naming the key and what
is allowed (ValueError), never silently dropped.
"""

from pathlib import Path

import yaml

from lslib.models import MODEL_NAMES

TOP = {"output": str, "jobs": list}
JOB = {"notebook": str, "models": list, "alongside": bool}


class _Loader(yaml.SafeLoader):
    """YAML that refuses a key given twice in one mapping (PyYAML keeps the last)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, list | dict) or key in seen:
                raise ValueError(
                    f"key {key!r} is given twice (line {key_node.start_mark.line + 1})"
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def load(path: Path, root: Path | None = None) -> dict:
    """The grid in ``path``, validated; ``root``: the folder its paths are relative to,
    where each notebook must exist (None: not checked)."""
    path = Path(path)
    try:
        grid = yaml.load(path.read_text(), Loader=_Loader)  # noqa: S506 (a SafeLoader)
    except (yaml.YAMLError, ValueError) as e:
        raise ValueError(f"grid file {path}: {_one_line(e)}") from None
    try:
        check(grid, root)
    except ValueError as e:
        raise ValueError(f"grid file {path}: {e}") from None
    return grid


def check(grid, root: Path | None) -> None:
    """ValueError naming the first key of ``grid`` that is not allowed."""
    if not isinstance(grid, dict):
        raise ValueError(f"is {_kind(grid)}; allowed: a mapping with keys {sorted(TOP)}")
    _keys(grid, TOP, "the top level", required=("jobs",))
    if not isinstance(grid.get("output", ""), str) or grid.get("output") == "":
        raise ValueError(f"output={grid['output']!r}; allowed: a folder path")
    jobs = grid["jobs"]
    if not jobs:
        raise ValueError("jobs is empty; allowed: a list of {notebook, models, alongside}")
    seen = set()
    for i, job in enumerate(jobs, 1):
        if not isinstance(job, dict):
            raise ValueError(f"job {i} is {_kind(job)}; allowed: a mapping with keys {sorted(JOB)}")
        where = f"job {i} ({job.get('notebook', 'no notebook')})"
        _keys(job, JOB, where, required=("notebook",))
        nb = Path(job["notebook"])
        if nb.suffix != ".ipynb" or root is not None and not (root / nb).is_file():
            raise ValueError(f"{where}: notebook {job['notebook']!r} is not a notebook file")
        models = job.get("models", [None])
        if "models" in job:
            bad = [m for m in models if m not in MODEL_NAMES]
            if not models or bad:
                raise ValueError(
                    f"{where}: models={models!r}; allowed: a non-empty list of {MODEL_NAMES}"
                )
            if len(set(models)) < len(models):
                raise ValueError(f"{where}: models={models!r} names a model twice")
        for m in models:
            if (nb.stem, m) in seen:
                raise ValueError(f"{where}: {nb.stem} runs twice for model {m}")
            seen.add((nb.stem, m))


def _keys(d: dict, allowed: dict, where: str, required: tuple) -> None:
    for k, v in d.items():
        if k not in allowed:
            raise ValueError(f"{where}: unknown key {k!r}; allowed: {sorted(allowed)}")
        if not isinstance(v, allowed[k]):
            raise ValueError(
                f"{where}: {k}={v!r} is {_kind(v)}; allowed: {allowed[k].__name__}"
                + (f" of {MODEL_NAMES}" if k == "models" else "")
            )
    for k in required:
        if k not in d:
            raise ValueError(f"{where}: key {k!r} is missing")


def _kind(v) -> str:
    return "empty" if v is None else f"a {type(v).__name__}"


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())
