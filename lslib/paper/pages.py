"""How the book shows verdicts and where its numbers come from: badges, the claims' grid
and list, the categories, and the provenance notes of a page."""

import html
import subprocess

import pandas as pd

from lslib.paper.sections import NAMES, label
from lslib.paper.tables import frame
from lslib.paths import REPO

BADGES = {
    "holds": ("✓", "#1a7f37"),
    "does not hold": ("✗", "#cf222e"),
    "inconclusive": ("~", "#9a6700"),
    "not evaluable": ("–", "#57606a"),
}


def badge(outcome: str) -> str:
    """A verdict as a coloured badge with its symbol and word (readable without colour)."""
    symbol, color = BADGES[outcome]
    return (
        f'<span style="background:{color};color:#fff;border-radius:0.6em;padding:0 0.5em;'
        f'white-space:nowrap;font-size:0.9em">{symbol} {outcome}</span>'
    )


def _flag(cid: str, flips: dict | None) -> str:
    """⚑ with a tooltip for a claim whose verdict depends on how a quantity is read."""
    if not flips or cid not in flips:
        return ""
    what = ", ".join(flips[cid])
    return (
        f' <span title="verdict depends on the reading of: {html.escape(what)}" '
        f'aria-label="verdict depends on the reading of {html.escape(what)}">⚑</span>'
    )


def verdict_grid(df: pd.DataFrame):
    """Claims (rows) by readings (columns) with a verdict badge in every cell."""
    from IPython.display import HTML

    if df.empty:
        return HTML("<p>No claim's evidence depends on this choice.</p>")
    shown = df.copy()
    for col in shown.columns[1:]:
        shown[col] = shown[col].map(badge)
    return frame(shown.to_dict("records"))


def claims_html(rows: list, flips: dict | None = None):
    """Every claim as one line to scan (id, both verdicts, the claim) that opens onto the
    report's words, the rule and the evidence on both sides."""
    from IPython.display import HTML

    e = html.escape
    out = []
    for r in rows:
        out.append(
            f"<details><summary><b>{e(r['id'])}</b>{_flag(r['id'], flips)} {badge(r['verdict'])} "
            f"<small>report:</small> {badge(r['report verdict'])} {e(r['claim'])}</summary>"
            f"<blockquote>“{e(r['quote'])}” ({e(r['where'])})</blockquote>"
            f"<p><b>Rule:</b> {e(r['rule'])}.</p>"
            f"<p><b>Here:</b> {e(r['evidence'])}</p>"
            f"<p><b>On the report's numbers:</b> {e(r['report evidence'])}</p>"
            f"<p><b>Category:</b> {e(r['category'])}.</p></details>"
        )
    return HTML("\n".join(out))


def commit() -> str:
    """The repository's commit (short), '+ changes' when the tree differs, or 'unknown'."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            text=True,
            capture_output=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            text=True,
            capture_output=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" + uncommitted changes" if dirty else "")


def made_with(S):
    """The one-line provenance note at the top of an executed section page."""
    from IPython.display import HTML

    model = label(S.model, S.width) if hasattr(S, "width") else NAMES[S.model]
    return HTML(
        f'<p style="font-size:0.9em;opacity:0.8">Made with: profile <b>{S.profile}</b>, '
        f"seeds {', '.join(map(str, S.seeds))}, model {model}, commit {commit()}.</p>"
    )


def categories(rows: list):
    """Claim ids per category (holds in both, contradicted by the report's numbers, ...)."""
    cats = dict.fromkeys(r["category"] for r in rows)
    return frame(
        [
            {"category": c, "claims": ", ".join(r["id"] for r in rows if r["category"] == c)}
            for c in cats
        ]
    )


def provenance(results: dict):
    """Which profile, seeds and time each section's results come from."""
    return frame(
        [
            {
                "section": s,
                "model": m,
                "profile": r["meta"]["profile"],
                "seeds": ", ".join(map(str, r["meta"]["seeds"])),
                "made": r["meta"]["created"],
            }
            for (s, m), r in results.items()
        ]
    )


def banner(profile: str, results: dict):
    """A warning box for a page that judges a build other than the paper's (else None)."""
    from IPython.display import HTML

    if profile == "paper":
        return None
    n = sorted({len(r["meta"]["seeds"]) for r in results.values()})
    return HTML(
        '<div class="admonition warning"><p class="admonition-title">Not the paper</p>'
        f"<p>This page judges a <strong>{profile}</strong> build ({' to '.join(map(str, n))} "
        "seeds per model), not the paper: its models are trained on fewer images for fewer "
        "epochs, so its verdicts say whether the pipeline works, not whether the report's "
        "claims hold. <code>make book</code> builds the paper.</p></div>"
    )
