"""Which code, which threads, which torch: the provenance of results and store entries.

A notebook edited to save other numbers makes its results stale; results and entries
record the torch threads, torch version and surface-kernel path; and a training run is
never resumed under another thread count than the one it started with.
"""

import json
import shutil

import pytest
import torch
from test_results import SECTIONS, save_all  # noqa: F401  (the same tiny payloads)

from lslib import cache
from lslib.config import TrainConfig
from lslib.paper import results
from lslib.paper.profiles import section
from lslib.paths import REPO
from lslib.train import path_of, train, train_or_load


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("LSLIB_RESULTS", str(tmp_path / "results"))
    return tmp_path / "results"


@pytest.fixture
def notebooks(tmp_path, monkeypatch):
    """A copy of the repository's notebooks that the results module reads instead."""
    root = tmp_path / "repo"
    shutil.copytree(REPO / "notebooks", root / "notebooks")
    monkeypatch.setattr(results, "REPO", root)
    return root / "notebooks"


def edit(nb_path, cell_type: str, text: str) -> None:
    nb = json.loads(nb_path.read_text())
    cell = next(c for c in nb["cells"] if c["cell_type"] == cell_type)
    cell["source"] = text
    nb_path.write_text(json.dumps(nb))


def test_results_of_an_edited_notebook_are_stale(folder, notebooks):
    save_all()
    assert results.load_all("smoke")
    edit(notebooks / "phase2.ipynb", "markdown", "Prose only.")  # not code: still good
    assert results.load_all("smoke")
    edit(notebooks / "phase2.ipynb", "code", "payload['rows'] = []")
    with pytest.raises(results.StaleResults, match=r"phase2-mlp.json \(notebook phase2.ipynb"):
        results.load_all("smoke")


def test_results_record_threads_torch_and_kernel_path(folder):
    S = section("phase1", {"profile": "smoke"})
    meta = json.loads(results.save(S, {"rows": []}).read_text())["meta"]
    assert meta["threads"] == torch.get_num_threads() and meta["torch"] == torch.__version__
    assert meta["kernel"]["setting"] == "1"  # conftest sets LSLIB_FUSED=1
    assert len(meta["notebook"]) == 16


def test_store_entries_record_the_kernel_path():
    cache.cached("store", {"case": "kernel"}, lambda: 1, "lslib.config")
    meta = cache.meta("store", {"case": "kernel"}, "lslib.config")
    assert meta["kernel"]["setting"] == "1" and meta["torch"] == torch.__version__


def test_a_run_is_resumed_at_the_thread_count_it_started_with():
    small = dict(model="mlp", width=16, optimizer="adam", subset=512, eval_subset=256)
    small |= dict(batch_size=64, seed=11)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        ref = train(TrainConfig(epochs=3, **small))  # straight through at 1 thread
        train_or_load(TrainConfig(epochs=1, **small))  # started at 1 thread
        torch.set_num_threads(2)
        r = train_or_load(TrainConfig(epochs=3, **small))  # resumed by a 2-thread process
        assert torch.get_num_threads() == 2  # given back
    finally:
        torch.set_num_threads(threads)
    run = path_of(TrainConfig(epochs=3, **small))
    recorded = [
        cache.meta("epoch", {"run": run, "epoch": e}, "lslib.train")["threads"] for e in (1, 2, 3)
    ]
    assert recorded == [1, 1, 1]
    assert all(torch.equal(ref.state[k], r.state[k]) for k in ref.state)
