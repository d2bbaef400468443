import pytest


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Each test session writes to its own run store, never the repository's."""
    root = tmp_path_factory.getbasetemp() / "lslib-cache"
    monkeypatch.setenv("LSLIB_CACHE", str(root))
    monkeypatch.setenv("LSLIB_DEVICE", "cpu")
    yield
