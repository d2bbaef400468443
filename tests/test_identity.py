"""Code identity: a stored result is filed under the code that computed it, never another.

Each test works on a throw-away copy of the package (``lslib`` copied, ``data`` linked) in
subprocesses, edits the copy's files the way a user does while a kernel or a worker keeps
running, and checks what the store does.
"""

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lslib import cache, codeid
from lslib.paths import REPO


@pytest.fixture
def clone(tmp_path):
    root = tmp_path / "repo"
    shutil.copytree(REPO / "lslib", root / "lslib", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "data").symlink_to(REPO / "data")
    return root


def run(root: Path, code: str, store: Path) -> subprocess.CompletedProcess:
    env = os.environ | {"PYTHONPATH": str(root), "LSLIB_CACHE": str(store)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )


TRAIN = """
    import lslib, os
    from lslib.config import TrainConfig
    from lslib.train import train_or_load
    assert lslib.__file__.startswith(os.environ["PYTHONPATH"])  # the copy, not the repository
    c = TrainConfig(model="mlp", width=8, subset=256, eval_subset=128, epochs=1, batch_size=64)
    r = train_or_load(c, progress=False)
    print("LOSS", r.history[-1]["train_loss"])
"""


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} is not in {path}"
    path.write_text(text.replace(old, new))


def test_code_edited_after_import_is_refused_not_stored(clone, tmp_path):
    store = tmp_path / "store"
    # Import the training code, then change the loss on disk before training.
    code = textwrap.dedent("""
        import lslib.train as T
        from pathlib import Path
        p = Path(T.__file__)
        p.write_text(p.read_text().replace("F.cross_entropy(", "2.0 * F.cross_entropy("))
    """) + textwrap.dedent(TRAIN)
    out = run(clone, code, store)
    assert out.returncode != 0
    assert "StaleCode" in out.stderr and "lslib/train.py changed on disk" in out.stderr
    assert not list(store.rglob("*.pt")), "an entry computed by the old code was stored"
    # A fresh process runs the new code and stores it; a third serves exactly that.
    new = run(clone, TRAIN, store)
    again = run(clone, TRAIN, store)
    assert new.returncode == 0, new.stderr
    assert new.stdout == again.stdout
    edit(clone / "lslib" / "train.py", "2.0 * F.cross_entropy(", "F.cross_entropy(")
    old = run(clone, TRAIN, store)
    assert old.returncode == 0 and old.stdout != new.stdout  # the old code, its own entry


def test_fingerprint_follows_imports_of_imports(clone, tmp_path):
    """A new module imported by models.py is part of the training code's fingerprint."""
    (clone / "lslib" / "init_scale.py").write_text("SCALE = 1.0\n")
    edit(
        clone / "lslib" / "models.py",
        "import torch\n",
        "import torch\n\nfrom lslib import init_scale  # noqa: F401\n",
    )
    show = "from lslib import codeid; import lslib.train as T; print(codeid.fingerprint(T.__name__), sorted(codeid.closure(T.__name__)))"
    before = run(clone, show, tmp_path / "s")
    assert before.returncode == 0, before.stderr
    assert "'lslib.init_scale'" in before.stdout
    (clone / "lslib" / "init_scale.py").write_text("SCALE = 2.0\n")
    after = run(clone, show, tmp_path / "s")
    assert after.stdout.split()[0] != before.stdout.split()[0]
    (clone / "lslib" / "init_scale.py").write_text("# a comment\nSCALE = 1.0  # same code\n")
    same = run(clone, show, tmp_path / "s")
    assert same.stdout.split()[0] == before.stdout.split()[0]  # comments do not count


def test_the_fingerprint_is_of_the_loaded_source_not_the_file():
    import lslib.train as T

    before = cache.fingerprint(T.__name__)
    assert codeid.source(T.__name__) == Path(T.__file__).read_bytes()
    assert codeid.changed(T.__name__) == []
    assert {"lslib.train", "lslib.models", "lslib.params", "lslib.data"} <= codeid.closure(
        T.__name__
    )
    assert cache.fingerprint(T.__name__) == before


def test_every_module_of_the_package_is_recorded_as_loaded():
    import lslib.paper.sections.analyses  # noqa: F401

    loaded = {
        n for n, m in sys.modules.items() if n.startswith("lslib") and getattr(m, "__file__", None)
    }
    assert loaded <= set(codeid._SOURCES)


def test_the_saved_results_fingerprint_covers_the_paper_wing():
    """What makes a results file: the section code and everything it imports (the payload
    arithmetic, the declarations, the profiles), not only the analyses."""
    from lslib.paper import results

    made_by = set().union(*(codeid.closure(m) for m in results.MAKERS))
    sections = {"declared", "phase1", "phase2", "phase3", "common", "measures", "work", "calls"}
    sections |= {"analyses", "beyond"}
    assert {f"lslib.paper.sections.{m}" for m in sections} <= made_by
    assert {"lslib.paper.profiles", "lslib.paper.results"} <= made_by
    assert {"lslib.train", "lslib.landscape", "lslib.hessian"} <= made_by
