"""Check the built book as a reader meets it: `make check-book`.

Two layers:

- ``structural_problems(html_root)``: checks that need no browser (standard library only):
  images exist on disk, internal links and their ``#anchors`` resolve, no ``NaN`` in a
  table cell, no literal ``{glue``, no visible code input cell (a ``.cell_input`` outside a
  collapsed ``<details>``), no parameter cell shown (``profile = "``), no stderr output or
  warning in a cell output.
- ``browser_problems(html_root)``: serves ``html_root`` on 127.0.0.1 and opens every page in
  headless Chromium (playwright, driving the system Chromium: ``/usr/bin/chromium`` or
  ``$CHROMIUM``) at 1,400 px and 390 px. Checks: console errors, failed requests and any
  request to a host other than 127.0.0.1, images that do not load, horizontal page
  overflow at 390 px, tables wider than the text column at 1,400 px, the primary sidebar
  toggle (opens the table of contents), more than one visible search field. Screenshots of the intro, the first phase page and the
  reproduction page at both widths go to ``_build/screenshots/``.

Every problem is printed as ``[check] page @ width: detail``; the exit status is 0 when
there are none, 1 when there are, 2 when Chromium or playwright is missing (with how to
get them; nothing is installed here).

    python scripts/check_book.py [_build/html] [--structural-only] [--screenshots DIR]
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import re
import shutil
import sys
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

WIDTHS = (1400, 390)
HEIGHT = 900
SCREENSHOT_PAGES = (
    "book/intro.html",
    "book/_executed/phase1-mlp.html",
    "book/_executed/reproduction.html",
)
SKIP_DIRS = {"_static", "_sources", "_images", "_downloads"}
VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "param",
    "source",
    "track",
    "wbr",
}
NAN = re.compile(r"(?<![A-Za-z])nan(?![A-Za-z])", re.IGNORECASE)
WARNING = re.compile(r"\b\w*Warning:")
INSTALL_HELP = """\
The browser checks need Chromium and the playwright package (its own browsers are not used):
  Chromium:   apt-get update && apt-get install -y chromium   (as root; or set CHROMIUM=/path/to/chromium)
  playwright: .venv/bin/pip install -r requirements-check.txt  (or: pip install playwright)
Run with --structural-only to do only the checks that need no browser."""


def book_pages(html_root: Path) -> list[Path]:
    """Every HTML page of the built book (not the theme's static files or sources)."""
    html_root = Path(html_root)
    return sorted(
        p
        for p in html_root.rglob("*.html")
        if not SKIP_DIRS.intersection(p.relative_to(html_root).parts[:-1])
    )


class _Page(HTMLParser):
    """One page: its ids, links, images, table cells, text, code inputs and stderr outputs."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, set[str]]] = []
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.images: list[str] = []
        self.cells: list[str] = []
        self.text: list[str] = []
        self.visible_inputs = 0
        self.stderr: list[str] = []
        self.outputs: list[str] = []
        self._cell: list[str] | None = None
        self._stderr: list[str] | None = None
        self._output: list[str] | None = None
        self._depth = {"cell": 0, "stderr": 0, "output": 0}

    def _inside(self, tag: str) -> bool:
        return any(t == tag for t, _ in self.stack)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = set((a.get("class") or "").split())
        for key in ("id",) + (("name",) if tag == "a" else ()):
            if a.get(key):
                self.ids.add(a[key])
        if tag == "a" and a.get("href") is not None:
            self.links.append(a["href"])
        if tag == "img" and a.get("src"):
            self.images.append(a["src"])
        if "cell_input" in classes and not self._inside("details"):
            self.visible_inputs += 1
        if tag in VOID:
            return
        self.stack.append((tag, classes))
        if tag in ("td", "th") and self._cell is None:
            self._cell, self._depth["cell"] = [], len(self.stack)
        if {"output", "stderr"} <= classes and self._stderr is None:
            self._stderr, self._depth["stderr"] = [], len(self.stack)
        if "cell_output" in classes and self._output is None:
            self._output, self._depth["output"] = [], len(self.stack)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if not any(t == tag for t, _ in self.stack):
            return
        while self.stack:
            top, _ = self.stack.pop()
            depth = len(self.stack) + 1
            if self._cell is not None and depth == self._depth["cell"]:
                self.cells.append(" ".join("".join(self._cell).split()))
                self._cell = None
            if self._stderr is not None and depth == self._depth["stderr"]:
                self.stderr.append(" ".join("".join(self._stderr).split()))
                self._stderr = None
            if self._output is not None and depth == self._depth["output"]:
                self.outputs.append("".join(self._output))
                self._output = None
            if top == tag:
                break

    def handle_data(self, data):
        if self._inside("script") or self._inside("style"):
            return
        self.text.append(data)
        for part in (self._cell, self._stderr, self._output):
            if part is not None:
                part.append(data)


@functools.cache
def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8", errors="replace"))
    page.close()
    return page


def _local_target(html_root: Path, page: Path, url: str) -> tuple[Path | None, str] | None:
    """(file, fragment) a local link points to; None for external or special links."""
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or url.startswith("//"):
        return None
    path = unquote(parts.path)
    if not path:
        target = page
    elif path.startswith("/"):
        target = html_root / path.lstrip("/")
    else:
        target = page.parent / path
    if path.endswith("/") or target.is_dir():
        target = target / "index.html"
    target = Path(os.path.normpath(target))
    try:
        target.relative_to(html_root)
    except ValueError:
        return (None, parts.fragment)
    return (target, unquote(parts.fragment))


def _short(text: str, n: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def structural_problems(html_root) -> list[str]:
    """Problems found in the built HTML without a browser, one line each."""
    html_root = Path(html_root).resolve()
    _parse.cache_clear()
    problems: list[str] = []
    for path in book_pages(html_root):
        name = path.relative_to(html_root).as_posix()
        page = _parse(path)

        def report(check: str, detail: str, name=name) -> None:
            problems.append(f"[{check}] {name}: {detail}")

        for src in page.images:
            if src.startswith("data:"):
                continue
            parts = urlsplit(src)
            if parts.scheme or parts.netloc:
                report("image", f"image from another host: {src}")
                continue
            file = Path(os.path.normpath(path.parent / unquote(parts.path)))
            if not file.is_file():
                report("image", f"image file missing: {src}")
        for href in dict.fromkeys(page.links):
            if href.startswith(("mailto:", "javascript:", "tel:", "data:")):
                continue
            target = _local_target(html_root, path, href)
            if target is None:
                continue
            file, fragment = target
            if file is None or not file.is_file():
                report("link", f"dead link: {href}")
            elif fragment and file.suffix == ".html" and fragment not in _parse(file).ids:
                report("anchor", f"missing anchor: {href}")
        for cell in page.cells:
            if NAN.search(cell):
                report("nan", f"NaN in a table cell: {_short(cell)!r}")
        text = "".join(page.text)
        for m in re.finditer(r"\{glue", text):
            report(
                "glue",
                f"literal glue role in the text: {_short(text[m.start() : m.start() + 80])!r}",
            )
        if 'profile = "' in text:
            report("parameters", 'a parameter cell is shown (text `profile = "`)')
        if page.visible_inputs:
            report(
                "code-input",
                f"{page.visible_inputs} visible code input cell(s) (.cell_input outside <details>)",
            )
        for out in page.stderr:
            report("stderr", f"stderr in a cell output: {_short(out)!r}")
        for out in page.outputs:
            for m in WARNING.finditer(out):
                report(
                    "stderr",
                    f"warning in a cell output: {_short(out[m.start() : m.start() + 120])!r}",
                )
    return problems


# --- browser -----------------------------------------------------------------------------


def chromium_path() -> str | None:
    path = os.environ.get("CHROMIUM") or "/usr/bin/chromium"
    return path if Path(path).is_file() and os.access(path, os.X_OK) else shutil.which(path)


def browser_available() -> tuple[bool, str]:
    """(True, "") when Chromium and playwright are there, else (False, what is missing)."""
    missing = []
    if chromium_path() is None:
        missing.append(f"Chromium not found at {os.environ.get('CHROMIUM') or '/usr/bin/chromium'}")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the Python package playwright is not installed")
    return (not missing, "; ".join(missing))


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(html_root: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """Serve html_root on 127.0.0.1 (a free port) in a thread; returns (server, base URL)."""
    handler = functools.partial(_Quiet, directory=str(html_root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


_SIDEBAR_VISIBLE = """() => {
  const visible = (el) => {
    if (!el) return false;
    const r = el.getBoundingClientRect(), s = getComputedStyle(el);
    return r.width > 50 && r.height > 50 && r.right > 10 && r.left < innerWidth - 10
      && s.visibility !== 'hidden' && s.display !== 'none' && Number(s.opacity) > 0.1;
  };
  const modal = document.querySelector('#pst-primary-sidebar-modal');
  if (modal && modal.open && visible(modal)) return true;
  const side = document.querySelector('#pst-primary-sidebar');
  if (!visible(side)) return false;
  const link = side.querySelector('nav a, .bd-links a');
  return !link || visible(link.closest('nav') || link) || link.getBoundingClientRect().width > 0;
}"""

_OVERFLOW = """() => {
  const vw = innerWidth, sw = document.scrollingElement.scrollWidth;
  if (sw <= vw + 1) return null;
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.right <= vw + 1) continue;
    const p = el.parentElement, pr = p ? p.getBoundingClientRect() : null;
    if (pr && pr.right > vw + 1) continue;
    let label = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
      + (el.classList.length ? '.' + [...el.classList].slice(0, 3).join('.') : '');
    const sec = el.closest('section[id]');
    if (sec) label += ' in #' + sec.id;
    out.push(label + ' (right edge ' + Math.round(r.right) + ' px)');
    if (out.length >= 5) break;
  }
  return {scrollWidth: sw, innerWidth: vw, culprits: out};
}"""

# Tables wider than the text column at a desktop width: cut at its edge or scrolled sideways.
_WIDE_TABLES = """() => {
  const col = document.querySelector('.bd-article') || document.querySelector('main');
  if (!col) return [];
  const edge = col.getBoundingClientRect().right;
  const out = [];
  for (const t of col.querySelectorAll('table')) {
    const r = t.getBoundingClientRect();
    if (r.width === 0) continue;
    const p = t.parentElement, ps = p ? getComputedStyle(p).overflowX : '';
    const scrolls = p && (ps === 'auto' || ps === 'scroll') && p.clientWidth > 0
      && p.scrollWidth > p.clientWidth + 1 && t.getBoundingClientRect().width > p.clientWidth + 1;
    if (r.right > edge + 1 || t.scrollWidth > t.clientWidth + 1 || scrolls) {
      const sec = t.closest('section[id]');
      out.push((sec ? '#' + sec.id : 'table') + ' (' + Math.round(Math.max(r.width, t.scrollWidth))
        + ' px in a ' + Math.round(col.getBoundingClientRect().width) + ' px column)');
    }
  }
  return out;
}"""

_BROKEN_IMAGES = """async () => {
  const imgs = [...document.images];
  for (const i of imgs) i.loading = 'eager';
  await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => {
    i.addEventListener('load', r); i.addEventListener('error', r); setTimeout(r, 5000); })));
  return imgs.filter(i => i.naturalWidth === 0).map(i => i.getAttribute('src'));
}"""

_SEARCH_FIELDS = """() => [...document.querySelectorAll('.search-button-field, form.bd-search')]
  .filter(el => { const r = el.getBoundingClientRect(), s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden'
      && !el.closest('dialog:not([open]), main, article'); }).length"""


def _toggle(page):
    """The visible primary sidebar toggle, or None."""
    for button in page.query_selector_all(".primary-toggle"):
        if button.is_visible():
            return button
    return None


def _sidebar_becomes(page, visible: bool) -> bool:
    """Wait up to 1.5 s for the primary sidebar to be shown (or hidden)."""
    want = "true" if visible else "false"
    try:
        page.wait_for_function(
            f"() => ({_SIDEBAR_VISIBLE})() === {want}", timeout=1500, polling=100
        )
        return True
    except Exception:
        return False


def _sidebar_problem(page, width: int) -> str | None:
    """None when the primary sidebar toggle opens (and on wide screens also closes) it."""
    button = _toggle(page)
    if button is None:
        return "no visible primary sidebar toggle (.primary-toggle)"
    if page.evaluate(_SIDEBAR_VISIBLE):  # wide screens: open by default; close, then reopen
        button.click()
        if not _sidebar_becomes(page, False):
            return "the sidebar toggle does not close the sidebar"
        button.click()
        if not _sidebar_becomes(page, True):
            return "the sidebar toggle does not reopen the sidebar"
        return None
    button.click()
    if not _sidebar_becomes(page, True):
        return "the sidebar does not open when its toggle is clicked"
    page.wait_for_timeout(300)  # let the opening transition finish (for the screenshot)
    return None


def browser_problems(html_root, screenshots: Path | None = None, log=print) -> list[str]:
    """Problems seen in headless Chromium at each width in WIDTHS, one line each."""
    from playwright.sync_api import sync_playwright

    html_root = Path(html_root).resolve()
    pages = [p.relative_to(html_root).as_posix() for p in book_pages(html_root)]
    problems: list[str] = []
    server, base = serve(html_root)
    if screenshots is not None:
        Path(screenshots).mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=chromium_path(),
                headless=True,
                args=["--headless", "--no-sandbox", "--disable-gpu"],
            )
            try:
                for width in WIDTHS:
                    context = browser.new_context(viewport={"width": width, "height": HEIGHT})
                    for name in pages:
                        problems += _check_page(context, base, name, width, screenshots, log)
                    context.close()
            finally:
                browser.close()
    finally:
        server.shutdown()
        server.server_close()
    return problems


def _check_page(context, base: str, name: str, width: int, screenshots, log) -> list[str]:
    found: list[str] = []

    def report(check: str, detail: str) -> None:
        found.append(f"[{check}] {name} @ {width}px: {detail}")

    page = context.new_page()

    def route(r):
        host = urlsplit(r.request.url).hostname
        if r.request.url.startswith(("data:", "blob:")) or host == "127.0.0.1":
            r.continue_()
        else:
            report("request", f"request to another host (blocked): {r.request.url}")
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: m.type == "error" and report("console", _short(m.text, 200)))
    page.on("pageerror", lambda e: report("console", _short(f"uncaught {e}", 200)))
    page.on(
        "requestfailed",
        lambda r: (
            urlsplit(r.url).hostname == "127.0.0.1"
            and report("request", f"failed: {r.url} ({r.failure})")
        ),
    )
    page.on(
        "response", lambda r: r.status >= 400 and report("request", f"HTTP {r.status}: {r.url}")
    )
    try:
        page.goto(base + name, wait_until="load", timeout=30000)
        try:
            page.wait_for_load_state("networkidle", timeout=5000)
        except Exception:
            pass
        page.wait_for_timeout(200)
        for src in page.evaluate(_BROKEN_IMAGES):
            report("image", f"image does not load: {src}")
        if width < 600:
            over = page.evaluate(_OVERFLOW)
            if over:
                report(
                    "overflow",
                    f"page is {over['scrollWidth']} px wide in a {over['innerWidth']} px window; "
                    f"sticking out: {'; '.join(over['culprits']) or 'unknown'}",
                )
        if width >= 1000:
            for table in page.evaluate(_WIDE_TABLES):
                report("table", f"table wider than the text column: {table}")
            n = page.evaluate(_SEARCH_FIELDS)
            if n > 1:
                report("search", f"{n} visible search fields")
        shot = None
        if screenshots is not None and name in SCREENSHOT_PAGES:
            shot = Path(screenshots) / f"{Path(name).stem}-{width}.png"
            page.screenshot(path=str(shot), full_page=True)
        if not name.endswith(("genindex.html", "search.html")) and page.query_selector(
            "#pst-primary-sidebar"
        ):
            problem = _sidebar_problem(page, width)
            if problem:
                report("sidebar", problem)
            elif shot is not None and width < 600:
                page.screenshot(path=str(shot.with_name(f"{shot.stem}-sidebar.png")))
    except Exception as exc:  # a page that cannot be loaded or clicked is a problem, not a crash
        report("load", _short(f"{type(exc).__name__}: {exc}", 300))
    finally:
        page.close()
    log(f"  {width:>4} px  {name}: {len(found)} problem(s)")
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html_root", nargs="?", default="_build/html")
    parser.add_argument("--structural-only", action="store_true", help="skip the browser checks")
    parser.add_argument(
        "--screenshots", default="_build/screenshots", help="folder for screenshots"
    )
    args = parser.parse_args(argv)
    root = Path(args.html_root)
    if not (root / "index.html").is_file():
        print(f"no built book at {root} (run `make book` first)", file=sys.stderr)
        return 2
    problems = structural_problems(root)
    print(f"structural checks: {len(book_pages(root))} pages, {len(problems)} problem(s)")
    if not args.structural_only:
        ok, why = browser_available()
        if not ok:
            for p in problems:
                print(p)
            print(f"\nbrowser checks not run: {why}.\n{INSTALL_HELP}", file=sys.stderr)
            return 2
        print(
            f"browser checks at {', '.join(f'{w} px' for w in WIDTHS)} (Chromium: {chromium_path()})"
        )
        problems += browser_problems(root, Path(args.screenshots))
        print(f"screenshots in {args.screenshots}/")
    if problems:
        print(f"\n{len(problems)} problem(s):")
        for p in problems:
            print(p)
        return 1
    print("no problems")
    return 0


if __name__ == "__main__":
    sys.exit(main())
