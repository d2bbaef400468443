"""The names of the readings: how each 1D line, sharpness and perturbation number is read.

A reading is a named way to read one quantity (direction law, one- or two-sided, distance for
the lines; curvature or rise for Table 5's sharpness; ΔL at a sigma, sigma at a ΔL or a
PAC-Bayes sigma for its perturbation). The sections compute every reading, the settings name
the adopted one, and the validation refuses a name not in these lists.
"""

from lslib.config import DISTS, PAC_CRITERIA, SIDES

SIGMA_LEVEL = 0.01  # the loss increase at which sigma* is read off the perturbation curves
PERTURB_READ = (1e-4, 1e-3, 1e-2)  # the sigmas at which Delta L is shown as a reading


def reading(dist: str, sided: str, span: float) -> str:
    """The name of a reading of the 1D lines: direction law, one- or two-sided, distance."""
    return f"{dist}, {'one-sided' if sided == 'one' else 'two-sided'}, {span:g}"


def ll_reading(span: float) -> str:
    """The loss-landscapes package's own reading of ``distance = span`` (its random_line)."""
    return f"loss-landscapes, distance {span:g}"


def parse_reading(name: str) -> tuple[str, str, float] | None:
    """(dist, sided, span) of an lslib reading's name; None for the loss-landscapes one."""
    if name.startswith("loss-landscapes"):
        return None
    dist, sided, span = name.split(", ")
    return dist, "one" if sided == "one-sided" else "both", float(span)


def line_names(S) -> list[str]:
    """Every reading of the lines a section computes."""
    return [reading(d, sd, sp) for d in DISTS for sp in spans(S) for sd in SIDES] + [
        ll_reading(S.span)
    ]


def spans(S) -> list:
    """The distances read: 1.0 (the book's former span) and the section's span."""
    return sorted({min(1.0, S.span), S.span})


def adopted(S) -> str:
    """The section's adopted reading of the lines."""
    return S.line_reading


def sharpness_names(S) -> list[str]:
    """Every reading of Table 5's "1D sharpness" (see ``measures.sharpness_readings``)."""
    return [f"curvature, {d}" for d in DISTS] + [f"rise, {r}" for r in line_names(S)]


def perturb_names() -> list[str]:
    """Every reading of Table 5's "Perturb. sigma" (see ``measures.perturb_readings``)."""
    out = []
    for kind in ("relative", "absolute"):
        out += [f"ΔL at {kind} σ of {s:g}" for s in PERTURB_READ]
        out.append(f"σ at ΔL = {SIGMA_LEVEL:g}, {kind}")
    return out + [f"PAC-Bayes σ′, {c}" for c in PAC_CRITERIA]
