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

from lslib.paper import design_file
from lslib.paper.build.grid import jobs
from lslib.paper.profiles import section
from lslib.paper.verdicts import claims, outcomes

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(REPO.glob("notebooks/*.ipynb")) + sorted(REPO.glob("book/*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_in_git_carry_no_outputs_and_have_a_parameters_cell(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    assert any("parameters" in c.get("metadata", {}).get("tags", []) for c in code)


INVALID = [
    ("phase1", {"model": "resnet"}, "model"),
    ("phase1", {"profile": "huge"}, "profile"),
    ("phase1", {"widths": [32, -1]}, "widths"),
    ("phase1", {"widths": "32"}, "widths"),
    ("phase1", {"optimizer": "rmsprop"}, "optimizer"),
    ("phase1", {"widht": 3}, "unknown parameter"),
    ("phase1", {"span": -1}, "span"),
    ("phase1", {"span": float("nan")}, "span"),
    ("phase1", {"grid": 1}, "grid"),
    ("phase1", {"n_dirs": 0}, "n_dirs"),
    ("phase1", {"line_steps": 1}, "line_steps"),
    ("phase1", {"eval_size": 0}, "eval_size"),
    ("phase1", {"eval_size": 5000}, "eval_size"),  # more than the smoke profile's 1,000 images
    ("phase1", {"hessian_batches": 0}, "hessian_batches"),
    ("phase1", {"hessian_batch_size": 100_000}, "hessian_batch_size"),
    ("phase1", {"seeds": [0, 0]}, "seeds"),
    ("phase1", {"seeds": [1.5]}, "seeds"),
    ("phase1", {"subset": 10_000_000}, "subset"),
    ("phase2", {"optimizers": ["sgd", "lbfgs"]}, "optimizers"),
    ("phase2", {"epochs": 0}, "epochs"),
    ("phase3", {"points": 1}, "points"),
    ("phase3", {"bezier_epochs": 0}, "bezier_epochs"),
    ("phase3", {"trace_budget": 0}, "trace_budget"),
    ("phase3", {"pc1_span": -1}, "pc1_span"),
    ("phase3", {"seeds": [0]}, "seeds"),
    ("phase3", {"flat_batches": 100}, "flat_batches"),
]


@pytest.mark.parametrize("name, params, message", INVALID, ids=lambda v: str(v)[:30])
def test_section_parameters_are_validated_before_any_compute(name, params, message):
    with pytest.raises(ValueError, match=message):
        section(name, {"model": "mlp", "profile": "smoke"} | params)


def test_section_defaults_follow_the_report_under_paper():
    s = section("phase1", {"model": "cnn"})
    assert s.widths == [16, 32, 64] and s.optimizer == "momentum" and s.n_dirs == 10
    assert s.train(width=16).epochs is None  # until convergence
    s3 = section("phase3", {"model": "mlp"})
    assert s3.width == 128 and s3.epochs == 15 and s3.flat_batches == 20
    conf = design_file.read()["seeds"]["confirmatory"]["sections"]
    # the paper runs the design's confirmatory seeds, each section its own
    assert s.seeds == conf["phase1"] and s3.seeds == conf["phase3"]
    assert section("phase1", {"profile": "quick"}).seeds == [0, 1]


@pytest.mark.parametrize(
    "notebook, params, message",
    [
        ("phase1", {"widht": 3}, "unknown parameter.*widht"),
        ("phase2", {"span": -1}, "span"),
        ("phase3", {"hessian_batch_size": 100_000}, "hessian_batch_size"),
    ],
)
def test_a_bad_notebook_parameter_fails_fast_with_its_message(tmp_path, notebook, params, message):
    out = tmp_path / "out.ipynb"
    with pytest.raises(pm.PapermillExecutionError, match=message):
        pm.execute_notebook(
            str(REPO / f"notebooks/{notebook}.ipynb"),
            str(out),
            kernel_name="python3",
            parameters={"profile": "smoke"} | params,
            progress_bar=False,
        )
    executed = json.loads(out.read_text())
    # it failed in the validation cell, before any compute cell ran
    ran = [c for c in executed["cells"] if c["cell_type"] == "code" and c.get("execution_count")]
    assert "section(" in "".join(ran[-1]["source"])


BOOK_FILES = ["_config.yml", "_toc.yml", "book", "notebooks", "_static", "_ext"]


@pytest.fixture(scope="module")
def smoke_book(tmp_path_factory):
    """A copy of the book sources, built with the smoke profile (about two minutes)."""
    root = tmp_path_factory.mktemp("book")
    for name in BOOK_FILES:
        src = REPO / name
        if not src.exists():
            continue
        if src.is_dir():
            shutil.copytree(
                src, root / name, ignore=shutil.ignore_patterns("_executed", "_results")
            )
        else:
            shutil.copy(src, root / name)
    env = {"LSLIB_RESULTS": str(root / "book" / "_results")}
    grid = subprocess.run(
        [
            sys.executable,
            "-m",
            "lslib.paper",
            "book/grid.yml",
            "--profile",
            "smoke",
            "--root",
            str(root),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    assert grid.returncode == 0, grid.stdout + grid.stderr
    jb = shutil.which("jupyter-book", path=str(Path(sys.executable).parent))
    build = subprocess.run(
        [jb, "build", str(root), "-W", "-n", "--keep-going"], capture_output=True, text=True
    )
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
    assert "grid finished: 9 notebooks" in log
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
        "test accuracy (%)",
        "status",
        "λ1 batch std (within run)",
        "mean training loss",
        "barrier along the Bezier curve",
        "error barrier after alignment + REPAIR (%)",
        "ΔL, random unit direction",
        "PAC-Bayes σ′",
        "adaptive sharpness, average case",
    ):
        assert header in summary, header
    assert "epoch cap ×1" in summary  # every smoke run stops at its 2-epoch cap
    assert "<table" in (p1 := (html / "phase1-mlp.html").read_text()) and "test accuracy (%)" in p1
    assert "λ1 range over batches" in (html / "phase2-cnn.html").read_text()
    assert "ε-sharpness" in (html / "phase3-mlp.html").read_text()


def test_reproduction_page_lists_every_claim_with_its_quote_and_verdicts(smoke_book):
    root, _ = smoke_book
    page = (root / "_build" / "html" / "book" / "_executed" / "reproduction.html").read_text()
    text = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))
    assert "Not the paper" in text and "smoke" in text  # the profile is named
    assert 'profile = "smoke"' not in text  # papermill's injected cell is not rendered
    words = "|".join(outcomes.OUTCOMES)
    for c in claims.CLAIMS:
        i = text.find(c.text)
        assert i >= 0, c.text
        assert c.quote[:40] in text, c.id
        assert re.search(rf"({words})", text[i : i + 2000]), c.text
    # the checks are apart, and this reproduction's own claims are a family of their own
    mine = [c for c in claims.CLAIMS if not c.check]
    n_report = len([c for c in mine if claims.family(c) == outcomes.REPORT])
    n_beyond = len(mine) - n_report
    assert re.search(rf"Of the report.s {n_report} claims checked here, \d+ are not", text)
    assert re.search(rf"a family of their own \( ?{n_beyond} claims, \d+ decided ?\)", text)
    assert "Checks of this reproduction" in text


def test_readings_page_shows_every_reading_next_to_the_report(smoke_book):
    root, _ = smoke_book
    page = (root / "_build" / "html" / "book" / "_executed" / "readings.html").read_text()
    text = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))
    for heading in (
        "“Distance = 1.5”",
        "“1D sharpness”",
        "“Perturb. σ (×10⁻⁴)”",
        "The stopping rule",
        "loss and error barriers",
        "λ1 against the batch size",
        "matched training loss",
    ):
        assert heading.strip("“”") in text, heading
    for reading in (
        "curvature, gaussian",
        "rise, loss-landscapes, distance 1.5",
        "PAC-Bayes σ′, accuracy",
        "ε-sharpness, 1 step",
        "training loss ≤ 0.05",
        "uniform, one-sided, 1.5",
    ):
        assert reading in text, reading
    assert "26.6, 4.01e+04" in text  # the report's 1D sharpness next to ours
    assert text.count("<img") == 0 and page.count("<img") >= 2  # both figures rendered


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
    from lslib.paper.build import grid

    monkeypatch.setenv("LSLIB_RESULTS", str(tmp_path / "results"))
    (tmp_path / "nb").mkdir()
    _tiny_notebook(tmp_path / "nb" / "good.ipynb", "x = 1")
    _tiny_notebook(tmp_path / "nb" / "bad.ipynb", 'raise RuntimeError(f"boom for {model}")')
    _tiny_notebook(tmp_path / "nb" / "after.ipynb", "x = 2")
    (tmp_path / "grid.yml").write_text(
        "output: out\njobs:\n  - {notebook: nb/good.ipynb}\n"
        "  - {notebook: nb/bad.ipynb, models: [mlp, cnn]}\n  - {notebook: nb/after.ipynb}\n"
    )
    assert grid.run("grid.yml", "smoke", root=tmp_path) == 1
    err = capsys.readouterr().err
    assert "nb/bad.ipynb" in err and "'model': 'mlp'" in err and "boom for mlp" in err
    assert (tmp_path / "out" / "good.ipynb").is_file()  # finished before the failure: kept
    assert not (tmp_path / "out" / "bad-mlp.ipynb").exists()  # failed: no page to render
    assert (tmp_path / "out" / "bad-mlp.failed.ipynb").is_file()  # kept for debugging
    assert not (tmp_path / "out" / "bad-cnn.ipynb").exists()  # never started
    assert not (tmp_path / "out" / "after.ipynb").exists()  # the grid stopped before it


def test_a_killed_kernel_is_reported_like_any_failure_and_leaves_no_page(
    tmp_path, capsys, monkeypatch
):
    from lslib.paper.build import grid

    monkeypatch.setenv("LSLIB_RESULTS", str(tmp_path / "results"))
    (tmp_path / "nb").mkdir()
    _tiny_notebook(
        tmp_path / "nb" / "dies.ipynb", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"
    )
    (tmp_path / "grid.yml").write_text("output: out\njobs:\n  - {notebook: nb/dies.ipynb}\n")
    assert grid.run("grid.yml", "smoke", root=tmp_path) == 1
    err = capsys.readouterr().err
    assert "FAILED: nb/dies.ipynb" in err and "kernel died" in err
    assert len(err.strip().splitlines()) == 1  # one line, not a traceback
    assert not (tmp_path / "out" / "dies.ipynb").exists()
    assert not list((tmp_path / "out").glob(".*running*"))


@pytest.mark.parametrize("given, seen", [(None, "0"), ("1", "1"), ("auto", "auto")])
def test_a_build_leaves_the_compiled_kernel_out_unless_told(tmp_path, monkeypatch, given, seen):
    """The grid sets LSLIB_FUSED=0 where it is unset (its MLP surfaces never pay back the
    kernel's build), and the notebooks' kernels inherit it; a value the caller set wins."""
    from lslib.paper.build import grid

    if given is None:
        monkeypatch.delenv("LSLIB_FUSED", raising=False)
    else:
        monkeypatch.setenv("LSLIB_FUSED", given)
    monkeypatch.setenv("LSLIB_RESULTS", str(tmp_path / "results"))
    (tmp_path / "nb").mkdir()
    seen_at = tmp_path / "seen.txt"
    body = f"import os\nopen({str(seen_at)!r}, 'w').write(os.environ['LSLIB_FUSED'])"
    _tiny_notebook(tmp_path / "nb" / "env.ipynb", body)
    (tmp_path / "grid.yml").write_text("output: out\njobs:\n  - {notebook: nb/env.ipynb}\n")
    assert grid.run("grid.yml", "smoke", root=tmp_path) == 0
    assert seen_at.read_text() == seen


def test_the_grid_passes_its_results_folder_and_grid_file_as_parameters(tmp_path, monkeypatch):
    """A notebook whose parameters cell declares ``results_dir`` and ``grid_file`` is passed
    the grid's; one that does not is passed neither; the environment carries nothing."""
    import nbformat

    from lslib.paper.build import grid

    monkeypatch.delenv("LSLIB_RESULTS", raising=False)
    monkeypatch.delenv("LSLIB_GRID", raising=False)
    (tmp_path / "nb").mkdir()
    seen = tmp_path / "seen.json"
    body = (
        "import json, os\n"
        f"open({str(seen)!r}, 'w').write(json.dumps([results_dir, grid_file, "
        "os.environ.get('LSLIB_RESULTS'), os.environ.get('LSLIB_GRID')]))"
    )
    _tiny_notebook(tmp_path / "nb" / "asks.ipynb", body)
    nb = nbformat.read(str(tmp_path / "nb" / "asks.ipynb"), as_version=4)
    nb.cells[0].source += "\nresults_dir = None\ngrid_file = None"
    nbformat.write(nb, str(tmp_path / "nb" / "asks.ipynb"))
    _tiny_notebook(tmp_path / "nb" / "not.ipynb", "assert 'results_dir' not in globals()")
    (tmp_path / "grid.yml").write_text(
        "output: out\njobs:\n  - {notebook: nb/asks.ipynb}\n  - {notebook: nb/not.ipynb}\n"
    )
    assert grid.run("grid.yml", "smoke", root=tmp_path) == 0
    folder, grid_file, env_results, env_grid = json.loads(seen.read_text())
    assert (
        folder == str(tmp_path / "book" / "_results") and (tmp_path / "book" / "_results").is_dir()
    )
    assert grid_file == str(tmp_path / "grid.yml")
    assert env_results is None and env_grid is None
    assert "LSLIB_RESULTS" not in os.environ and "LSLIB_GRID" not in os.environ


def test_alongside_pages_run_side_by_side_and_a_failure_among_them_is_reported(
    tmp_path, capsys, monkeypatch
):
    from lslib.paper.build import grid

    monkeypatch.setenv("LSLIB_RESULTS", str(tmp_path / "results"))
    monkeypatch.setattr(grid, "cores", lambda: 2)  # two at a time, even on one core
    (tmp_path / "nb").mkdir()
    # each page waits (up to 60 s) until the other has started: only side by side do both end
    for me, other in (("a", "b"), ("b", "a")):
        body = (
            f"import pathlib, time\nd = pathlib.Path({str(tmp_path)!r})\n"
            f"(d / '{me}.started').touch()\nt = time.time()\n"
            f"while not (d / '{other}.started').exists() and time.time() - t < 60:\n"
            "    time.sleep(0.05)\n"
            f"assert (d / '{other}.started').exists()"
        )
        _tiny_notebook(tmp_path / "nb" / f"{me}.ipynb", body)
    _tiny_notebook(tmp_path / "nb" / "bad.ipynb", 'raise RuntimeError("boom")')
    jobs_ = (
        "  - {notebook: nb/a.ipynb, alongside: true}\n  - {notebook: nb/b.ipynb, alongside: true}\n"
    )
    (tmp_path / "grid.yml").write_text("output: out\njobs:\n" + jobs_)
    assert grid.run("grid.yml", "smoke", root=tmp_path) == 0
    assert (tmp_path / "out" / "a.ipynb").is_file() and (tmp_path / "out" / "b.ipynb").is_file()

    bad = "  - {notebook: nb/bad.ipynb, alongside: true}\n"
    (tmp_path / "grid.yml").write_text("output: out\njobs:\n" + bad + jobs_)
    assert grid.run("grid.yml", "smoke", root=tmp_path) == 1
    assert "FAILED: nb/bad.ipynb" in capsys.readouterr().err
    assert not (tmp_path / "out" / "bad.ipynb").exists()

    (tmp_path / "grid.yml").write_text(
        "output: out\njobs:\n  - {notebook: nb/a.ipynb, alongside: 2}\n"
    )
    with pytest.raises(
        ValueError, match=r"job 1 \(nb/a.ipynb\): alongside=2 is a int; allowed: bool"
    ):
        grid.run("grid.yml", "smoke", root=tmp_path)


def test_only_consecutive_alongside_notebooks_are_grouped():
    from lslib.paper.build.plan import side_by_side
    from lslib.paper.build.schedule import groups

    todo = [(n, None, None) for n in "abcdef"]
    assert groups(todo, {"b", "c", "e"}) == [[0], [1, 2], [3], [4], [5]]
    assert groups(todo, set()) == [[i] for i in range(6)]
    # the plan: b, c, d side by side on 2 slots (b then d on one, c on the other) take
    # max(4 + 2, 6) = 6 s for their 12 s, shared out in proportion; a and e stay alone
    nbs = [(5.0, ["k"]), (4.0, []), (6.0, []), (2.0, []), (3.0, [])]
    got = side_by_side(todo[:5], nbs, {"b", "c", "d"}, 2)
    assert [s for s, _ in got] == [5.0, 2.0, 3.0, 1.0, 3.0] and got[0][1] == ["k"]
    assert side_by_side(todo[:5], nbs, {"b", "c", "d"}, 1) == nbs  # one slot: one by one


def test_unknown_only_names_are_an_error_listing_the_known_ones():
    grid = yaml.safe_load((REPO / "book" / "grid.yml").read_text())
    with pytest.raises(ValueError, match=r"phase4.*known.*phase1"):
        jobs(grid, "smoke", ["phase1", "phase4"])
    with pytest.raises(ValueError, match="sumary"):
        jobs(grid, "smoke", ["phase1", "sumary"])
    assert len(jobs(grid, "smoke", ["phase1"])) == 2


def test_a_killed_grid_leaves_no_page_the_book_would_render(tmp_path):
    import signal
    import time

    (tmp_path / "nb").mkdir()
    _tiny_notebook(tmp_path / "nb" / "slow.ipynb", "import time\ntime.sleep(60)")
    (tmp_path / "grid.yml").write_text("output: out\njobs:\n  - {notebook: nb/slow.ipynb}\n")
    env = {**os.environ, "LSLIB_RESULTS": str(tmp_path / "results")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lslib.paper",
            "grid.yml",
            "--profile",
            "smoke",
            "--root",
            str(tmp_path),
        ],
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.time() + 60
    while time.time() < deadline and not list((tmp_path / "out").glob(".*running*")):
        time.sleep(0.2)
    assert list((tmp_path / "out").glob(".slow.running.ipynb")), "the notebook never started"
    os.killpg(proc.pid, signal.SIGKILL)  # the runner and its kernel, as a crash would
    proc.wait(timeout=30)
    assert not (tmp_path / "out" / "slow.ipynb").exists()


def test_the_book_build_fails_on_a_missing_glue_key(smoke_book, tmp_path):
    """The flags `make book` passes to Jupyter Book turn a glue key that no executed notebook
    provides (a half-finished or stale grid) into a failed build, not a warning."""
    root, _ = smoke_book
    copy = tmp_path / "book"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("_build"))
    page = copy / "book" / "bibliography.md"
    page.write_text(
        page.read_text().replace("# References", "# References\n\n{glue:text}`no_such_key`")
    )
    flags = (
        re.search(r"jupyter-book build \. (.*)", (REPO / "Makefile").read_text()).group(1).split()
    )
    jb = shutil.which("jupyter-book", path=str(Path(sys.executable).parent))
    build = subprocess.run([jb, "build", str(copy), *flags], capture_output=True, text=True)
    assert build.returncode != 0 and "no_such_key" in build.stdout + build.stderr


def _check_book_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("check_book", REPO / "scripts" / "check_book.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_smoke_book_passes_the_structural_checks(smoke_book):
    """scripts/check_book.py without a browser: images on disk, internal links and anchors,
    no NaN in a table cell, no literal {glue, no visible code input, no parameter cell, no
    stderr or warning in a cell output."""
    root, _ = smoke_book
    problems = _check_book_module().structural_problems(root / "_build" / "html")
    assert problems == [], "\n".join(problems)


def test_the_smoke_book_in_a_browser(smoke_book, tmp_path):
    """`make check-book` on the smoke book: every page at 1,400 and 390 px in headless
    Chromium (skipped where Chromium or playwright is missing, as on CI)."""
    check_book = _check_book_module()
    ok, why = check_book.browser_available()
    if not ok:
        pytest.skip(
            f"{why}; install with `apt-get update && apt-get install -y chromium` (as root) "
            "and `pip install -r requirements-check.txt`"
        )
    root, _ = smoke_book
    problems = check_book.browser_problems(
        root / "_build" / "html", tmp_path / "screenshots", log=lambda *_: None
    )
    assert problems == [], "\n".join(problems)
