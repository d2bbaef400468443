"""scripts/check_book.py (`make check-book`): the structural checker on tiny hand-written
HTML trees, and the browser checks on tiny pages when Chromium and playwright are there."""

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _check_book():
    spec = importlib.util.spec_from_file_location("check_book", REPO / "scripts" / "check_book.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("check_book", module)
    spec.loader.exec_module(module)
    return module


check_book = _check_book()

PAGE = """<!DOCTYPE html>
<html><head><title>t</title><script>var x = "{{glue in a script is not text}}";</script></head>
<body><main>
<section id="top"><h1>Title</h1>
<p>See <a href="other.html#results">results</a>, <a href="#top">top</a>,
<a href="https://example.org/">elsewhere</a> and <a href="sub/">a folder</a>.</p>
<img src="_images/fig.png" alt="a figure"/>
<table><tr><th>model</th><th>loss</th></tr><tr><td>MLP-32</td><td>0.123</td></tr>
<tr><td>finance</td><td>nanometre</td></tr></table>
<div class="cell tag_hide-input docutils container">
<details class="admonition hide above-input"><summary>Show code cell source</summary>
<div class="cell_input docutils container"><pre>fig = figures.plane(...)</pre></div>
</details>
<div class="cell_output docutils container"><div class="output text_plain">ok</div></div>
</div>
BODY
</section></main></body></html>
"""


def _tree(tmp_path, body=""):
    root = tmp_path / "html"
    (root / "_images").mkdir(parents=True)
    (root / "_images" / "fig.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (root / "sub").mkdir()
    (root / "sub" / "index.html").write_text("<html><body><p>folder</p></body></html>")
    (root / "index.html").write_text(PAGE.replace("BODY", body))
    (root / "other.html").write_text(
        '<html><body><section id="results"><p>Results</p></section>'
        '<a href="index.html#top">back</a></body></html>'
    )
    (root / "_static").mkdir()
    (root / "_static" / "broken.html").write_text('<a href="nowhere.html">theme file</a>')
    return root


def test_a_clean_tree_has_no_problems(tmp_path):
    assert check_book.structural_problems(_tree(tmp_path)) == []


@pytest.mark.parametrize(
    "body, check, detail",
    [
        ('<a href="missing.html">gone</a>', "[link]", "dead link: missing.html"),
        (
            '<a href="other.html#nothing-here">x</a>',
            "[anchor]",
            "missing anchor: other.html#nothing-here",
        ),
        ('<a href="#nowhere">x</a>', "[anchor]", "missing anchor: #nowhere"),
        (
            '<img src="_images/missing.png" alt="x"/>',
            "[image]",
            "image file missing: _images/missing.png",
        ),
        ('<img src="https://example.org/a.png" alt="x"/>', "[image]", "image from another host"),
        ("<table><tr><td>MLP</td><td>NaN</td></tr></table>", "[nan]", "NaN in a table cell: 'NaN'"),
        (
            "<table><tr><td><p>0.5 ± <em>nan</em></p></td></tr></table>",
            "[nan]",
            "NaN in a table cell",
        ),
        ("<p>The barrier is {glue:text}`barrier`.</p>", "[glue]", "literal glue role"),
        (
            '<div class="cell docutils container"><div class="cell_input docutils container">'
            "<pre>x = 1</pre></div></div>",
            "[code-input]",
            "1 visible code input cell(s)",
        ),
        (
            '<details><div class="cell_input"><pre><span class="n">profile</span> <span class="o">=</span> '
            '<span class="s2">&quot;paper&quot;</span></pre></div></details>',
            "[parameters]",
            'profile = "',
        ),
        (
            '<div class="cell_output"><div class="output stderr"><pre>100%|###| 3/3</pre></div></div>',
            "[stderr]",
            "stderr in a cell output: '100%|###| 3/3'",
        ),
        (
            '<div class="cell_output"><div class="output stream"><pre>x.py:3: UserWarning: careful'
            "</pre></div></div>",
            "[stderr]",
            "warning in a cell output",
        ),
    ],
)
def test_each_structural_problem_is_reported_with_its_page(tmp_path, body, check, detail):
    problems = check_book.structural_problems(_tree(tmp_path, body))
    assert len(problems) >= 1, body
    assert all(p.startswith(check) for p in problems), problems
    assert any(p.startswith(f"{check} index.html: ") and detail in p for p in problems), problems


def test_every_problem_of_a_page_is_listed_not_only_the_first(tmp_path):
    body = '<a href="a.html">a</a><a href="b.html">b</a><table><tr><td>NaN</td></tr></table>'
    problems = check_book.structural_problems(_tree(tmp_path, body))
    assert len(problems) == 3
    assert {p.split("]")[0] + "]" for p in problems} == {"[link]", "[nan]"}


def test_without_a_browser_the_script_says_how_to_get_one_and_exits_2(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("CHROMIUM", str(tmp_path / "no-chromium-here"))
    monkeypatch.setattr(check_book.shutil, "which", lambda *_: None)
    assert check_book.main([str(_tree(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert "apt-get install -y chromium" in err and "playwright" in err


def test_structural_only_passes_on_a_clean_tree_and_fails_on_a_dead_link(tmp_path):
    assert check_book.main([str(_tree(tmp_path)), "--structural-only"]) == 0
    assert (
        check_book.main([str(_tree(tmp_path / "b", '<a href="x.html">x</a>')), "--structural-only"])
        == 1
    )


def _need_browser():
    ok, why = check_book.browser_available()
    if not ok:
        pytest.skip(
            f"{why}; install with `apt-get update && apt-get install -y chromium` (as root) "
            "and `pip install -r requirements-check.txt`"
        )


SIDEBAR_PAGE = """<!DOCTYPE html><html><head><meta name="viewport" content="width=device-width">
<style>#pst-primary-sidebar {{ display: none; width: 300px; height: 600px; }}
#pst-primary-sidebar.open {{ display: block; }}</style></head>
<body><button class="primary-toggle" {onclick}>menu</button>
<div id="pst-primary-sidebar" class="bd-sidebar-primary"><nav><a href="index.html">Home</a></nav></div>
<p>text</p><img src="missing.png" alt="x">{extra}</body></html>"""


def test_the_browser_checks_catch_a_dead_toggle_overflow_errors_and_foreign_requests(tmp_path):
    _need_browser()
    root = tmp_path / "html"
    root.mkdir()
    (root / "index.html").write_text(
        SIDEBAR_PAGE.format(
            onclick="onclick=\"document.getElementById('pst-primary-sidebar').classList.add('open')\"",
            extra="",
        )
    )
    (root / "broken.html").write_text(
        SIDEBAR_PAGE.format(
            onclick="",
            extra='<div style="width:900px">wide</div><script>undefinedThing();</script>'
            '<img src="https://example.org/x.png" alt="y">',
        )
    )
    problems = check_book.browser_problems(root, tmp_path / "shots", log=lambda *_: None)
    broken = [p for p in problems if p.split("]", 1)[1].startswith(" broken.html @ 390px")]
    index = [p for p in problems if " index.html @ 390px" in p]
    assert any(p.startswith("[sidebar]") and "does not open" in p for p in broken), broken
    assert any(p.startswith("[overflow]") and "div" in p for p in broken), broken
    assert any(p.startswith("[console]") and "undefinedThing" in p for p in broken), broken
    assert any(p.startswith("[request]") and "example.org" in p for p in broken), broken
    assert any(p.startswith("[image]") for p in broken), broken
    assert not any(p.startswith("[sidebar]") or p.startswith("[overflow]") for p in index), index


def test_a_table_wider_than_the_text_column_is_reported_at_desktop_width(tmp_path):
    """At 1,400 px a table that sticks out of the article column, or scrolls inside it, is
    a problem; a table that fits is not."""
    _need_browser()
    root = tmp_path / "html"
    root.mkdir()
    cells = "".join(f"<td>column {i} with a long heading</td>" for i in range(14))
    (root / "index.html").write_text(
        '<!DOCTYPE html><html><body><article class="bd-article" style="width:700px">'
        '<section id="fits"><table><tr><td>a</td><td>b</td></tr></table></section>'
        f'<section id="cut"><table style="width:1200px"><tr>{cells}</tr></table></section>'
        f'<section id="scrolls"><div style="overflow-x:auto"><table><tr>{cells}</tr></table>'
        "</div></section></article></body></html>"
    )
    problems = check_book.browser_problems(root, None, log=lambda *_: None)
    wide = [p for p in problems if p.startswith("[table]") and "@ 1400px" in p]
    assert any("#cut" in p for p in wide) and any("#scrolls" in p for p in wide), problems
    assert not any("#fits" in p for p in wide), problems
