import pytest


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Each test session writes to its own run store, never the repository's."""
    root = tmp_path_factory.getbasetemp() / "lslib-cache"
    monkeypatch.setenv("LSLIB_CACHE", str(root))
    monkeypatch.setenv("LSLIB_DEVICE", "cpu")
    # The compiled kernel where it is built, unmeasured: a calibration timed under the
    # suite's load would be kept beside the build and decide later builds.
    monkeypatch.setenv("LSLIB_FUSED", "1")
    # Nor the plan's calibration of the reference rates (tests/test_calibration.py fakes it).
    monkeypatch.setenv("LSLIB_CALIBRATE", "0")
    yield
