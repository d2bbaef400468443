"""How the book shows verdicts and where its numbers come from: badges, the claims' grid
and list, the categories, and the provenance notes of a page."""

import html
import subprocess

import numpy as np
import pandas as pd

from lslib.paper.names import NAMES, label
from lslib.paper.pages.tables import frame
from lslib.paths import REPO

BADGES = {
    "holds": ("✓", "#1a7f37"),
    "does not hold": ("✗", "#cf222e"),
    "no meaningful difference": ("≈", "#0969da"),
    "inconclusive": ("~", "#9a6700"),
    "not evaluable": ("–", "#57606a"),
    "not testable with this design": ("∅", "#8250df"),
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


GRID_READINGS = 5  # verdict columns per table: five badges and the claims fit the text column


def verdict_grid(df: pd.DataFrame, per_table: int = GRID_READINGS):
    """Claims (rows) by readings (columns) with a verdict badge in every cell.

    More readings than ``per_table`` are shown in several tables of at most ``per_table``
    readings each, in their order, every table with the claims; a single claim is shown
    as one column instead, a row per reading.
    """
    from IPython.display import HTML

    if df.empty:
        return HTML("<p>No claim's evidence depends on this choice.</p>")
    claim, readings = df.columns[0], list(df.columns[1:])
    if len(df) == 1 and len(readings) > per_table:
        row = df.iloc[0]
        return frame([{"reading": c, row[claim]: badge(row[c])} for c in readings])
    shown = df.copy()
    for col in readings:
        shown[col] = shown[col].map(badge)
    if len(readings) <= per_table:
        return frame(shown.to_dict("records"))
    n = -(-len(readings) // per_table)  # tables of as equal a size as can be, larger first
    parts = [[readings[i] for i in idx] for idx in np.array_split(range(len(readings)), n)]
    return HTML("".join(frame(shown[[claim, *p]].to_dict("records")).to_html() for p in parts))


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


# ---------------------------------------------------------------- the reproduction page

SEEDS_HOW = 'papermill notebooks/{section}.ipynb out.ipynb -p model mlp -y "seeds: [{seeds}]"'


def forest_figure(rows: list):
    """The page's opening figure: every claim of the report (checks apart) on the
    standardized axis of ``forest``, coloured by its Holm-adjusted verdict; an id reads
    "1.8 (raw ✓)" where the raw verdict differs."""
    from lslib.paper.pages import forest

    rows = [r for r in rows if not r.get("check")]
    ids, cols, outs = [], [], []
    for r in rows:
        raw = "" if r["verdict"] == r["adjusted"] else f" (raw {BADGES[r['verdict']][0]})"
        ids.append(r["id"] + raw)
        p = r.get("position")
        cols.append((p.x, p.lo, p.hi, p.report) if p else (float("nan"),) * 4)
        outs.append(r["adjusted"])
    x, lo, hi, rep = zip(*cols, strict=True) if cols else ((), (), (), ())
    return forest.forest(ids, x, lo, hi, rep, outs)


def _p(p: float) -> str:
    if not p == p:  # NaN
        return "—"
    return "&lt; 0.001" if p < 0.001 else f"{p:.2g}"


def seeds_text(r: dict) -> str:
    """The seeds needed, with how to run them (the section notebooks' ``seeds`` parameter)."""
    need = r.get("seeds needed")
    if need is None:  # set only for a raw verdict the seeds leave undecided
        return "—"
    if isinstance(need, int):
        cmd = SEEDS_HOW.format(section=r["section"], seeds=", ".join(map(str, range(need))))
        return f'<span title="{html.escape(cmd)}">{need} per group</span>'
    return html.escape(str(need))


def verdict_table(rows: list):
    """The report's claims (checks apart): raw and Holm-adjusted verdicts with their p, the
    seeds that would decide an undecided claim, the smallest effect that matters (hover: the
    rule), and whether the report's value lies inside our 95 % interval."""
    e = html.escape
    out = [
        {
            "claim": r["id"],
            "verdict (raw)": badge(r["verdict"]),
            "p": _p(r["p"]),
            "verdict (Holm)": badge(r["adjusted"]),
            "p (Holm)": _p(r["p (Holm)"]),
            "seeds needed (80 % power)": seeds_text(r),
            "smallest effect that matters": f'<span title="rule: {e(r["rule"])}">'
            f"{e(r['smallest'])}</span>",
            "report's value in our 95 % interval?": e(r.get("report vs ours", "—")),
        }
        for r in rows
        if not r.get("check")
    ]
    return frame(out)


def discordant(rows: list) -> list:
    """Claims our seeds leave undecided (Holm-adjusted) although the report's own value lies
    outside our 95 % interval: the reproduction disagrees with the report's number."""
    return [
        r
        for r in rows
        if not r.get("check")
        and r["adjusted"] == "inconclusive"
        and str(r.get("report vs ours", "")).startswith("outside")
    ]


def discordant_note(rows: list):
    """The plain statement of ``discordant`` as a box (or a line saying there are none)."""
    from IPython.display import HTML

    e = html.escape
    d = discordant(rows)
    if not d:
        return HTML(
            "<p>No claim is undecided here while the report's own value lies outside our "
            "95 % interval.</p>"
        )
    items = "".join(
        f"<li><b>{e(r['id'])}</b> {e(r['claim'])}: {e(r['report vs ours'])}.</li>" for r in d
    )
    return HTML(
        '<div class="admonition important"><p class="admonition-title">Undecided, yet the '
        "report's number is not ours</p><p>For these claims our seeds do not decide the "
        "claim, but the value the report prints lies <b>outside</b> our 95 % interval: "
        "whatever the claim's fate, this reproduction does not reproduce the report's "
        f"number.</p><ul>{items}</ul></div>"
    )


def checks_table(rows: list):
    """The checks of this reproduction (its controls and setup), judged but not counted."""
    return frame(
        [
            {"check": r["id"], "what": r["claim"], "verdict": badge(r["verdict"])}
            for r in rows
            if r.get("check")
        ]
    )
