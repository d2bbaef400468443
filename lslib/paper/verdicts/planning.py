"""Planning the confirmatory seeds: how many claims a design decides, and the seeds per
section that would decide each claim at its own level.

`predict_decided` draws each claim's t statistic from its sampling distribution (a normal
numerator over a chi-square spread, n - 1 dof) and applies each family's control, fully
vectorised; tests/test_design_sim.py checks it against per-seed data run through the
engine. `seeds_for_sections` is what ``scripts/choose_seeds.py`` writes into the design.
"""

import itertools
import math

import numpy as np
from scipy import stats as st


def _adjusted(p: np.ndarray, control: str) -> np.ndarray:
    """Row-wise Holm or BY adjusted p-values of a (reps, m) array (`inference.holm`,
    `inference.by` on each row)."""
    m = p.shape[1]
    order = np.argsort(p, axis=1, kind="stable")
    ps = np.take_along_axis(p, order, axis=1)
    if control == "by":
        c = float(np.sum(1 / np.arange(1, m + 1)))
        raw = ps * m * c / np.arange(1, m + 1)
        adj = np.minimum.accumulate(raw[:, ::-1], axis=1)[:, ::-1]
    else:
        adj = np.maximum.accumulate(ps * (m - np.arange(m)), axis=1)
    out = np.empty_like(p)
    np.put_along_axis(out, order, np.minimum(adj, 1.0), axis=1)
    return out


def predict_decided(
    effects, sds, n: int, families, level: float = 0.025, reps: int = 4000, seed: int = 0
) -> float:
    """The expected number of claims decided (adjusted: holds or does not hold) if the
    observed effects and spreads were true.

    Args:
        effects: each claim's distance from its boundary, on the statistic's scale.
        sds: each claim's per-seed standard deviation of the statistic (the difference's,
            for a paired claim; sqrt(2)·σ for two groups of σ, read as one sample).
        n: seeds.
        families: [(control, [claim indices])], control "holm" or "by".
        level: the one-sided level of every family.
    Returns:
        The mean count over ``reps`` simulated experiments.
    """
    rng = np.random.default_rng(seed)
    d = np.asarray(effects, float) / np.asarray(sds, float) * math.sqrt(n)
    z = rng.standard_normal((reps, len(d))) + d
    s = np.sqrt(rng.chisquare(n - 1, (reps, len(d))) / (n - 1))
    p = st.t.sf(np.abs(z / s), n - 1)  # the p of the decision the sign takes
    total = 0.0
    for control, idx in families:
        total += float((_adjusted(p[:, idx], control) < level).sum(axis=1).mean())
    return total


def seeds_for_sections(needs: dict, cap: int, first: int, least: int = 3) -> dict:
    """Seeds per section: the fewest that give every claim of the section whose need is at
    most ``cap`` its 80 % power (``needs``: {section: [need per claim, int or None]}), at
    least ``least``; numbered from ``first`` on (disjoint from the pilot's)."""
    out = {}
    for section, ns in needs.items():
        ok = [n for n in ns if isinstance(n, int) and n <= cap]
        k = max([least, *ok])
        out[section] = list(range(first, first + k))
    return out


def decided_at(needs: list, k: int) -> int:
    """Claims with at least 80 % power at ``k`` seeds."""
    return sum(isinstance(n, int) and n <= k for n in needs)


def seeds_within(
    needs: dict, cost, budget_s: float, cap: int, first: int, least: int = 3
) -> tuple[dict, float]:
    """Seeds per section that give the most claims 80 % power within a compute budget.

    Every combination of ``least``..``cap`` seeds per section is tried (a few sections, so
    exhaustively): the most claims with 80 % power at their seeds (`decided_at`), then the
    fewest predicted seconds. ``cost(section, k)``: the build's predicted seconds for that
    section at k seeds (the plan's); ``budget_s`` bounds their sum. Returns ({section:
    seeds numbered from ``first``}, predicted seconds); ValueError when even ``least`` seeds
    everywhere exceed the budget, naming their cost.
    """
    names = sorted(needs)
    ks = range(least, cap + 1)
    table = {(s, k): cost(s, k) for s in names for k in ks}
    floor = sum(table[(s, least)] for s in names)
    if floor > budget_s:
        raise ValueError(
            f"budget: {least} seeds in every section are predicted to take {floor:.0f} s, "
            f"over the budget of {budget_s:.0f} s"
        )
    best = None
    for combo in itertools.product(ks, repeat=len(names)):
        seconds = sum(table[(s, k)] for s, k in zip(names, combo, strict=True))
        if seconds > budget_s:
            continue
        decided = sum(decided_at(needs[s], k) for s, k in zip(names, combo, strict=True))
        key = (-decided, seconds)
        if best is None or key < best[0]:
            best = (key, combo)
    (_, seconds), combo = best
    return {s: list(range(first, first + k)) for s, k in zip(names, combo, strict=True)}, seconds
