"""Every input is checked against its real limits before any compute: the sections'
parameters (a trace budget against its method and the model's size, widths against
memory) and the grid file. Hypothesis draws values for every parameter and grid files of
every shape; each is refused at once with one line naming it and what is allowed, or
accepted and valid.
"""

import math

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lslib import hessian as H
from lslib.config import TRACE_METHODS
from lslib.models import MODEL_NAMES, build_model, count_params, n_params
from lslib.paper import gridfile
from lslib.paper.limits import MEMORY_COPIES, max_width
from lslib.paper.profiles import PROFILES, SECTION_DEFAULTS, section
from lslib.paper.sections import declared as sections

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.parametrize("model", MODEL_NAMES)
@pytest.mark.parametrize("width", [1, 3, 16, 33])
def test_parameters_counted_without_a_model_are_the_models(model, width):
    assert count_params(model, width) == n_params(build_model(model, width))


@pytest.mark.parametrize("method", ["xtrace", "hutchpp"])
def test_a_trace_budget_below_four_is_refused_before_training(method):
    with pytest.raises(ValueError, match=r"^phase3: parameter trace_budget=3 .*\[4, "):
        section("phase3", dict(profile="smoke", trace_method=method, trace_budget=3))
    assert section("phase3", dict(profile="smoke", trace_method=method, trace_budget=4))


@pytest.mark.parametrize("method, per", [("xtrace", 2), ("hutchpp", 3)])
def test_a_trace_budget_past_the_models_size_is_refused_before_training(method, per):
    n = n_params(build_model("mlp", 2))  # 1600 parameters
    top = per * n - 1  # the budget's sketch must stay below n (the QR needs it)
    ok = dict(profile="smoke", width=2, trace_method=method, trace_budget=top)
    assert section("phase3", ok).trace_budget == top
    with pytest.raises(ValueError, match=rf"trace_budget={top + 1} .*\[4, {top}\].*mlp-2"):
        section("phase3", ok | dict(trace_budget=top + 1))
    assert H.budget_limits(method, n) == (4, top)


def test_a_width_past_memory_is_refused_naming_the_limit():
    memory = 8 * 2**30
    widest = max_width("mlp", memory)
    assert count_params("mlp", widest) * 4 * MEMORY_COPIES <= memory
    assert count_params("mlp", widest + 1) * 4 * MEMORY_COPIES > memory
    with pytest.raises(ValueError, match=r"parameter widths=\[100000000\].*widths up to \d+"):
        section("phase1", dict(profile="smoke", widths=[100_000_000]))


# ---------------------------------------------------------------- every section parameter

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(["mlp", "cnn", "sgd", "adam", "momentum", "train", "test", "xtrace"]),
    st.lists(st.integers(min_value=-5, max_value=10**9), max_size=4),
    st.lists(st.sampled_from(["sgd", "momentum", "adam", "x"]), max_size=4),
)
params = st.sampled_from(
    sorted({(name, key) for name, d in SECTION_DEFAULTS.items() for key in d})
    + [(name, key) for name in SECTION_DEFAULTS for key in ("model", "profile")]
)


def _valid(S) -> None:
    """What an accepted section must satisfy, checked independently of the validation."""
    for w in getattr(S, "widths", None) or [getattr(S, "width", 1)]:
        assert count_params(S.model, w) * 4 * MEMORY_COPIES <= _memory()
    if S.name == "phase3":
        n = count_params(S.model, S.width)
        per = {"hutchinson": None, "hutchpp": 3, "xtrace": 2}[S.trace_method]
        assert S.trace_budget >= (2 if per is None else 4)
        assert per is None or S.trace_budget // per < n
        assert len(S.seeds) >= 2
    for seed in S.seeds:
        assert isinstance(seed, int) and seed >= 0
    sections.declared(S)  # every config of the section's work constructs (each validates)


def _memory() -> int:
    import os

    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


@SETTINGS
@given(params, values, st.sampled_from(PROFILES), st.sampled_from(MODEL_NAMES))
def test_every_section_parameter_is_refused_in_one_line_or_valid(param, value, profile, model):
    name, key = param
    given_ = {"profile": profile, "model": model, key: value}
    try:
        S = section(name, given_)
    except ValueError as e:
        msg = str(e)
        assert "\n" not in msg and key in msg and "allowed" in msg, msg
        return
    _valid(S)


# ---------------------------------------------------------------- the grid file


@pytest.mark.parametrize(
    "text, says",
    [
        ("", "is empty"),
        ("jobs:\n  - {notebook: notebooks/phase1.ipynb, model: [mlp]}\n", "unknown key 'model'"),
        ("jobs:\n  - {notebook: notebooks/phase1.ipynb}\njobs: []\n", "'jobs' is given twice"),
        ("jobs:\n  - {notebook: notebooks/phase1.ipynb, models: cnn}\n", "models='cnn' is a str"),
        ("jobs:\n  - {notebook: notebooks/phase1.ipynb, models: [mlp, mlp]}\n", "model twice"),
        ("jobs:\n  - {notebook: notebooks/phase1.ipynb, models: []}\n", "non-empty list"),
        ("jobs:\n  - {models: [mlp]}\n", "key 'notebook' is missing"),
        ("jobs: {notebook: notebooks/phase1.ipynb}\n", "jobs=.* is a dict; allowed: list"),
        ("jobs: []\n", "jobs is empty"),
        ("output: x\n", "key 'jobs' is missing"),
        ("jobs:\n  - {notebook: notebooks/nope.ipynb}\n", "is not a notebook file"),
        ("jobs:\n  - {notebook: book/summary.ipynb, alongside: yes please}\n", "alongside="),
        ("job:\n  - {notebook: notebooks/phase1.ipynb}\n", "unknown key 'job'"),
        ("jobs:\n  - notebooks/phase1.ipynb\n", "job 1 is a str"),
        ("jobs: [\n", "while parsing"),
    ],
)
def test_a_bad_grid_file_is_refused_in_one_line_before_anything_runs(tmp_path, text, says):
    path = tmp_path / "grid.yml"
    path.write_text(text)
    with pytest.raises(ValueError, match=says) as e:
        gridfile.load(path, gridfile_root())
    assert "\n" not in str(e.value) and str(path) in str(e.value)


def gridfile_root():
    from lslib.paths import REPO

    return REPO


def test_the_books_grid_file_is_valid():
    grid = gridfile.load(gridfile_root() / "book" / "grid.yml", gridfile_root())
    assert [j["notebook"] for j in grid["jobs"]][:3] == [
        f"notebooks/phase{i}.ipynb" for i in (1, 2, 3)
    ]


notebooks = st.sampled_from(
    ["notebooks/phase1.ipynb", "notebooks/phase2.ipynb", "book/summary.ipynb", "nope.ipynb", 3]
)
jobs = st.lists(
    st.dictionaries(
        st.sampled_from(["notebook", "models", "alongside", "model", "notebok"]),
        st.one_of(
            notebooks,
            st.lists(st.sampled_from(["mlp", "cnn", "c", 1]), max_size=3),
            st.booleans(),
            st.text(max_size=4),
        ),
        max_size=4,
    ),
    max_size=4,
)
grids = st.one_of(
    st.none(),
    st.integers(),
    jobs,
    st.dictionaries(
        st.sampled_from(["jobs", "output", "extra"]),
        st.one_of(jobs, st.text(max_size=5), st.dictionaries(st.text(max_size=3), st.integers())),
        max_size=3,
    ),
)


@SETTINGS
@given(grids)
def test_every_grid_file_is_refused_in_one_line_or_valid(tmp_path_factory, grid):
    path = tmp_path_factory.mktemp("grid") / "grid.yml"
    path.write_text(yaml.safe_dump(grid))
    root = gridfile_root()
    try:
        loaded = gridfile.load(path, root)
    except ValueError as e:
        assert "\n" not in str(e) and str(path) in str(e)
        return
    assert loaded == grid and set(grid) <= {"jobs", "output"} and grid["jobs"]
    seen = []
    for job in grid["jobs"]:
        assert set(job) <= {"notebook", "models", "alongside"}
        assert (root / job["notebook"]).is_file()
        models = job.get("models", [None])
        assert models and all(m in MODEL_NAMES or m is None for m in models)
        seen += [(job["notebook"], m) for m in models]
        assert isinstance(job.get("alongside", False), bool)
    assert len(seen) == len(set(seen))  # no notebook runs twice for one model
    assert math.isfinite(len(seen))


def test_trace_methods_all_have_limits():
    for method in TRACE_METHODS:
        lo, hi = H.budget_limits(method, 100)
        assert 2 <= lo < hi
