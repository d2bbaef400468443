"""Saved section results: bound to the parameters and code that made them, verified on read.

The faults are the ones a hostile tester served through the book before: an ad hoc
papermill run overwriting the book's results, an edited number, a stray or deleted file,
results of other parameters. Each now stops the pages with a message naming the file and
what is wrong. Everything happens in temporary folders, never the repository's.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

from lslib import cache, codeid
from lslib.paper import results
from lslib.paper.profiles import section
from lslib.paths import BOOK, REPO

SECTIONS = [(s, m) for s in ("phase1", "phase2", "phase3") for m in ("mlp", "cnn")]


def save_all(profile="smoke", over=None, folder=None):
    """Tiny payloads for every section of the grid, saved as the notebooks save them."""
    for s, m in SECTIONS:
        S = section(s, {"profile": profile, "model": m, **(over or {}).get((s, m), {})})
        results.save(S, {"rows": [{"width": 8, "test_loss": [0.25, 0.5]}]}, folder)


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("LSLIB_RESULTS", str(tmp_path / "results"))  # as a user sets it
    return tmp_path / "results"


def test_the_folder_and_grid_passed_are_used_not_the_environment(tmp_path, monkeypatch):
    """What the grid does: pass its results folder and grid file (the notebooks'
    ``results_dir`` and ``grid_file``) as arguments; nothing goes through the environment."""
    monkeypatch.delenv("LSLIB_RESULTS", raising=False)
    monkeypatch.chdir(tmp_path)
    given = tmp_path / "given"
    save_all(folder=given)
    assert not (tmp_path / "lslib-results").exists()
    assert set(results.load_all("smoke", given, BOOK / "grid.yml")) == set(SECTIONS)
    with pytest.raises(results.StaleResults, match="results missing in"):
        results.load_all("smoke")  # the default folder holds none
    small = tmp_path / "grid.yml"  # a grid of one section: the others are strays to it
    small.write_text("jobs:\n  - {notebook: notebooks/phase1.ipynb, models: [mlp]}\n")
    with pytest.raises(results.StaleResults, match=r"not the grid's.*phase2-cnn\.json"):
        results.load_all("smoke", given, small)


def test_a_complete_intact_set_is_read_with_its_parameters(folder):
    save_all()
    R = results.load_all("smoke")
    assert set(R) == set(SECTIONS)
    meta = R[("phase1", "mlp")]["meta"]
    assert meta["params"]["widths"] == section("phase1", {"profile": "smoke"}).widths
    assert meta["seeds"] == meta["params"]["seeds"] and meta["code"] == results.code_fingerprint()
    assert R[("phase1", "mlp")]["rows"][0]["test_loss"] == [0.25, 0.5]


def test_an_edited_number_is_refused(folder):
    save_all()
    path = folder / "phase3-cnn.json"
    path.write_text(path.read_text().replace("0.25", "0.35"))
    with pytest.raises(results.StaleResults, match="phase3-cnn.json does not match its digest"):
        results.load_all("smoke")


def test_a_stray_file_is_refused_not_read(folder):
    save_all()
    shutil.copy(folder / "phase3-cnn.json", folder / "phase3-cnn.old.json")
    with pytest.raises(results.StaleResults, match=r"not the grid's.*phase3-cnn\.old\.json"):
        results.load_all("smoke")


def test_a_deleted_file_stops_the_pages(folder):
    save_all()
    (folder / "phase2-mlp.json").unlink()
    with pytest.raises(results.StaleResults, match=r"missing.*phase2-mlp\.json.*PROFILE=smoke"):
        results.load_all("smoke")


def test_a_file_under_another_name_is_refused(folder):
    save_all()
    shutil.copy(folder / "phase1-mlp.json", folder / "phase1-cnn.json")
    with pytest.raises(
        results.StaleResults, match="phase1-cnn.json holds the results of phase1-mlp"
    ):
        results.load_all("smoke")


def test_results_of_other_parameters_or_profiles_are_refused_naming_the_parameter(folder):
    save_all(over={("phase1", "mlp"): {"widths": [16, 24]}})
    with pytest.raises(results.StaleResults, match=r"phase1-mlp.json.*widths = \[16, 24\]"):
        results.load_all("smoke")
    save_all()
    with pytest.raises(results.StaleResults, match=r"other parameters.*quick profile"):
        results.load_all("quick")


def test_results_of_other_code_are_refused(folder, monkeypatch):
    save_all()
    monkeypatch.setattr(results, "code_fingerprint", lambda: "0" * 16)
    with pytest.raises(results.StaleResults, match="made by other code"):
        results.load_all("smoke")


def test_an_older_or_unreadable_file_is_refused(folder):
    save_all()
    path = folder / "phase2-mlp.json"
    data = json.loads(path.read_text())
    path.write_text(json.dumps({k: v for k, v in data.items() if k != "digest"}))
    with pytest.raises(results.StaleResults, match="no provenance or digest"):
        results.load_all("smoke")
    path.write_text('{"meta": ')  # truncated
    with pytest.raises(results.StaleResults, match="phase2-mlp.json is unreadable"):
        results.load_all("smoke")


def test_save_refuses_when_the_code_that_made_it_changed_on_disk(folder, monkeypatch):
    monkeypatch.setattr(codeid, "changed", lambda *m: ["lslib/paper/sections/declared.py"])
    with pytest.raises(codeid.StaleCode, match="declared.py changed on disk"):
        results.save(section("phase1", {"profile": "smoke"}), {"rows": []})
    assert not folder.exists() or not list(folder.iterdir())


def test_unwritable_result_and_cache_folders_are_named(tmp_path, monkeypatch):
    afile = tmp_path / "a-file"
    afile.write_text("")
    monkeypatch.setenv("LSLIB_RESULTS", str(afile))
    with pytest.raises(ValueError, match=r"LSLIB_RESULTS=.*a-file is not a folder"):
        results.save(section("phase1", {"profile": "smoke"}), {"rows": []})
    monkeypatch.setenv("LSLIB_CACHE", str(afile))
    with pytest.raises(ValueError, match=r"LSLIB_CACHE=.*a-file is not a folder"):
        cache.cached("store", {"case": "unwritable"}, lambda: 1, "lslib.config")
    monkeypatch.setenv("LSLIB_CACHE", str(afile / "below"))
    with pytest.raises(ValueError, match=r"LSLIB_CACHE=.*below is not writable"):
        cache.cached("store", {"case": "unwritable"}, lambda: 1, "lslib.config")


@pytest.mark.book
def test_the_readmes_papermill_example_leaves_the_books_results_untouched(tmp_path, monkeypatch):
    """The README's example (phase1, other widths), run as a reader runs it: its results
    go to lslib-results/ where it ran, the book's folder is not touched, and the book
    would refuse the file if it were copied there."""
    book_results = BOOK / "_results"
    before = (
        {p.name: p.stat().st_mtime_ns for p in book_results.glob("*")}
        if book_results.is_dir()
        else {}
    )
    env = {k: v for k, v in os.environ.items() if k not in ("LSLIB_RESULTS", "LSLIB_GRID")}
    notebook = str(REPO / "notebooks" / "phase1.ipynb")
    args = ["-p", "profile", "smoke", "-p", "model", "mlp", "-y", "widths: [6, 10]"]
    run = subprocess.run(
        [sys.executable, "-m", "papermill", notebook, "out.ipynb", *args, "--no-progress-bar"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    after = (
        {p.name: p.stat().st_mtime_ns for p in book_results.glob("*")}
        if book_results.is_dir()
        else {}
    )
    assert after == before
    made = tmp_path / "lslib-results" / "phase1-mlp.json"
    assert json.loads(made.read_text())["meta"]["params"]["widths"] == [6, 10]
    book = tmp_path / "book-results"  # a complete book, then the ad hoc file copied in
    monkeypatch.setenv("LSLIB_RESULTS", str(book))
    save_all()
    assert set(results.load_all("smoke")) == set(SECTIONS)
    shutil.copy(made, book)
    with pytest.raises(results.StaleResults, match=r"phase1-mlp.json.*widths = \[6, 10\]"):
        results.load_all("smoke")
