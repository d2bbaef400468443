"""The whole engine on synthetic results: every claim's own code (``claims.evaluate``, the
design's families and their adjustment) on payloads in the sections' shape, where every
configuration has the same true value of every quantity and each seed adds noise.

In that world a comparison between configurations (a difference, a trend across widths, a
ratio against 1) has its true effect exactly on its boundary, so any "holds" or "does not
hold" it gets is an error; "no meaningful difference" is right (0 is inside ± its smallest
effect). Which claims are on their boundary is not listed by hand: a claim counts when every
part of its verdict on the noise-free world has an estimate on a finite boundary of its
region. Claims of the world that are not (thresholds, margins, shapes) are judged too, and
take part in their family's adjustment, but their outcomes are not errors here.
"""

import math

import numpy as np
from test_claims import World

from lslib.paper.verdicts import claims
from lslib.paper.verdicts.outcomes import FAILS, HOLDS

D = claims.DESIGN
KEEP = {"seeds", "width", "params", "status", "optimizer"}


def _noisy(value, rng, cv):
    """``value`` with every number times (1 + cv·z), z standard normal, one draw each."""
    if isinstance(value, dict):
        return {k: v if k in KEEP else _noisy(v, rng, cv) for k, v in value.items()}
    if isinstance(value, list):
        return [_noisy(v, rng, cv) for v in value]
    if isinstance(value, float) and value != 0.0:
        return value * (1.0 + cv * rng.standard_normal())
    return value


def _world(n: int, rng=None, cv: float = 0.0) -> dict:
    R = World(n).R
    return R if rng is None else {k: _noisy(v, rng, cv) for k, v in R.items()}


def _on_boundary(verdict) -> bool:
    """Every part has an estimate, and it lies on a finite boundary of its region."""
    parts = verdict.parts
    if not parts:
        return False
    for p in parts:
        if p.est is None or not math.isfinite(p.est.value):
            return False
        bounds = [b for b in p.region if math.isfinite(b)]
        if not any(abs(p.est.value - b) <= 1e-9 * max(1.0, abs(b)) for b in bounds):
            return False
    return True


def boundary_claims(n: int) -> dict:
    """{family: [claim ids on their boundary in the equal world]} for the design's families."""
    R = _world(n)
    out = {}
    for c in claims.CLAIMS:
        f = D.family_of(c.id)
        if f is None or c.id in D.untestable:
            continue
        try:
            v = c.verdict(R)
        except Exception:  # a claim the equal world leaves undefined is not on a boundary
            continue
        if _on_boundary(v):
            out.setdefault(f.name, []).append(c.id)
    return out


def family_errors(reps: int, n: int, cv: float, seed: int = 0) -> tuple[dict, dict]:
    """Per family, the share of experiments in which some claim on its boundary came out
    "holds", and the share in which some came out "does not hold", after adjustment."""
    on = boundary_claims(n)
    rng = np.random.default_rng(seed)
    errs = {f: np.zeros(2) for f in on}
    for _ in range(reps):
        rows = claims.evaluate(_world(n, rng, cv), None, D)
        for f, ids in on.items():
            got = {r["adjusted"] for r in rows if r["id"] in ids}
            errs[f] += [HOLDS in got, FAILS in got]
    return {f: e / reps for f, e in errs.items()}, on


def test_the_equal_world_puts_the_comparisons_on_their_boundary():
    """The classification is not empty and takes comparisons, not thresholds: the primary
    family's CNN-against-MLP epochs (1.1) and SGD against the others (2.1) are on their
    boundary; test accuracy above 99 % (3.12: 99.5 % in the world) is not."""
    on = boundary_claims(5)
    flat = {c for ids in on.values() for c in ids}
    assert {"1.1", "2.1"} <= flat and "3.12" not in flat
    assert sum(map(len, on.values())) >= 20, on


def test_every_family_errs_at_most_its_level_with_every_comparison_on_its_boundary():
    """5 seeds, 10 % noise per seed on every number: a false "holds" and a false "does not
    hold" each at most the design's level (2.5 %) per family, within 3 Monte-Carlo standard
    errors (120 experiments: SE ≈ 1.4 %, so ≤ 6.8 %)."""
    reps = 120
    errs, on = family_errors(reps, 5, 0.10)
    se = math.sqrt(D.level * (1 - D.level) / reps)
    print({f: (len(on[f]), [round(float(x), 4) for x in e]) for f, e in errs.items()})
    for f, (false_holds, false_fails) in errs.items():
        assert false_holds <= D.level + 3 * se, (f, errs)
        assert false_fails <= D.level + 3 * se, (f, errs)
