"""Serve plotly.js from the book itself: the installed plotly package's bundle is copied
once into the build's _static folder and loaded on every page, so the interactive
surfaces work offline and nothing is fetched from a CDN."""

import shutil
from pathlib import Path

FILE = "plotly.min.js"


def _copy(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    import plotly

    src = Path(plotly.__file__).parent / "package_data" / FILE
    dst = Path(app.outdir) / "_static" / FILE
    dst.parent.mkdir(parents=True, exist_ok=True)
    if not dst.exists() or dst.stat().st_size != src.stat().st_size:
        shutil.copyfile(src, dst)


def setup(app):
    app.add_js_file(FILE)
    app.connect("build-finished", _copy)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
