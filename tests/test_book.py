"""The executable paper: notebooks stored clean, parameters validated, and a smoke-profile
book built end to end (grid -> papermill -> jupyter-book)."""

import html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import papermill as pm
import pytest
import yaml

from lslib import report
from lslib.config import section

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(REPO.glob("notebooks/*.ipynb")) + sorted(REPO.glob("book/*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_in_git_carry_no_outputs_and_have_a_parameters_cell(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    assert any("parameters" in c.get("metadata", {}).get("tags", []) for c in code)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"model": "resnet"}, "model"),
        ({"profile": "huge"}, "profile"),
        ({"widths": [32, -1]}, "widths"),
        ({"widths": "32"}, "widths"),
        ({"optimizer": "rmsprop"}, "optimizer"),
        ({"widht": 3}, "unknown parameter"),
    ],
)
def test_section_parameters_are_validated(params, message):
    with pytest.raises(ValueError, match=message):
        section("phase1", {"model": "mlp", "profile": "smoke"} | params)


def test_section_defaults_follow_the_report_under_paper():
    s = section("phase1", {"model": "cnn"})
    assert s.widths == [16, 32, 64] and s.optimizer == "momentum" and s.n_dirs == 10
    assert s.train(width=16).epochs is None  # until convergence
    s3 = section("phase3", {"model": "mlp"})
    assert s3.width == 128 and s3.epochs == 15 and s3.flat_batches == 20
    with pytest.raises(ValueError, match="optimizers"):
        section("phase2", {"optimizers": ["sgd", "lbfgs"]})


def test_a_bad_notebook_parameter_fails_fast_with_its_message(tmp_path):
    out = tmp_path / "out.ipynb"
    with pytest.raises(pm.PapermillExecutionError, match="unknown parameter.*widht"):
        pm.execute_notebook(str(REPO / "notebooks/phase1.ipynb"), str(out), kernel_name="python3",
                            parameters={"profile": "smoke", "widht": 3}, progress_bar=False)  # fmt: skip
    executed = json.loads(out.read_text())
    # it failed in the validation cell, before any compute cell ran
    ran = [c for c in executed["cells"] if c["cell_type"] == "code" and c.get("execution_count")]
    assert "section(" in "".join(ran[-1]["source"])


BOOK_FILES = ["_config.yml", "_toc.yml", "book", "notebooks"]


@pytest.fixture(scope="module")
def smoke_book(tmp_path_factory):
    """A copy of the book sources, built with the smoke profile (about two minutes)."""
    root = tmp_path_factory.mktemp("book")
    for name in BOOK_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(
                src, root / name, ignore=shutil.ignore_patterns("_executed", "_results")
            )
        else:
            shutil.copy(src, root / name)
    env = {"LSLIB_RESULTS": str(root / "book" / "_results")}
    grid = subprocess.run([sys.executable, "-m", "lslib.grid", "book/grid.yml", "--profile", "smoke",
                           "--root", str(root)], capture_output=True, text=True,
                          env={**os.environ, **env})  # fmt: skip
    assert grid.returncode == 0, grid.stdout + grid.stderr
    jb = shutil.which("jupyter-book", path=str(Path(sys.executable).parent))
    build = subprocess.run([jb, "build", str(root), "-W", "-n", "--keep-going"],
                           capture_output=True, text=True)  # fmt: skip
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return root, grid.stdout


def _pages(root):
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [toc["root"]]
    for ch in toc["chapters"]:
        files.append(ch["file"])
        files += [s["file"] for s in ch.get("sections", [])]
    return files


def test_every_page_exists_and_every_image_is_there(smoke_book):
    root, log = smoke_book
    assert "grid finished: 8 notebooks" in log and "[8/8]" in log
    html = root / "_build" / "html"
    for page in _pages(root):
        path = html / f"{page}.html"
        assert path.is_file(), page
        for src in re.findall(r'<img[^>]+src="([^"]+)"', path.read_text()):
            img = (path.parent / src).resolve()
            assert img.is_file() and img.stat().st_size > 1000, (page, src)


def test_regenerated_tables_are_in_their_pages(smoke_book):
    root, _ = smoke_book
    html = root / "_build" / "html" / "book" / "_executed"
    summary = (html / "summary.html").read_text()
    for model in ("MLP-16", "MLP-32", "SimpleCNN-4", "SimpleCNN-8"):  # the smoke widths
        assert summary.count(model) >= 2, model  # Table 1 and Tables 2-4
    for header in (
        "test accuracy",
        "λ1 range",
        "final test accuracy",
        "Bezier barrier",
        "PAC-Bayes σ'",
    ):
        assert header in summary, header
    assert "dataframe" in (html / "phase1-mlp.html").read_text()
    assert "λ1 range" in (html / "phase2-cnn.html").read_text()
    assert "ε-sharpness" in (html / "phase3-mlp.html").read_text()


def test_reproduction_page_lists_every_claim_with_a_verdict(smoke_book):
    root, _ = smoke_book
    page = (root / "_build" / "html" / "book" / "_executed" / "reproduction.html").read_text()
    text = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))
    for _, _, claim, _ in report.CLAIMS:
        i = text.find(claim)
        assert i >= 0, claim
        assert re.search(r"(holds|does not hold|not evaluated)", text[i : i + 600]), claim
    # the smoke grid produces every result the claims need
    assert re.search(r"do not hold, and 0 could not be evaluated", text)


def _tiny_notebook(path, body):
    import nbformat

    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "paper"\nmodel = "mlp"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, str(path))


def test_grid_stops_at_a_failure_names_it_and_keeps_finished_notebooks(
    tmp_path, capsys, monkeypatch
):
    from lslib import grid

    monkeypatch.setenv("LSLIB_RESULTS", str(tmp_path / "results"))
    (tmp_path / "nb").mkdir()
    _tiny_notebook(tmp_path / "nb" / "good.ipynb", "x = 1")
    _tiny_notebook(tmp_path / "nb" / "bad.ipynb", 'raise RuntimeError(f"boom for {model}")')
    (tmp_path / "grid.yml").write_text(
        "output: out\njobs:\n  - {notebook: nb/good.ipynb}\n"
        "  - {notebook: nb/bad.ipynb, models: [mlp, cnn]}\n  - {notebook: nb/good.ipynb}\n"
    )
    assert grid.run("grid.yml", "smoke", root=tmp_path) == 1
    err = capsys.readouterr().err
    assert "nb/bad.ipynb" in err and "'model': 'mlp'" in err and "boom for mlp" in err
    assert (tmp_path / "out" / "good.ipynb").is_file()  # finished before the failure: kept
    assert not (tmp_path / "out" / "bad-cnn.ipynb").exists()  # never started
