"""Numbers as text: an interval for reading, the report's printed numbers, and rounding.

``fmt`` writes an interval as "mean ± half-width"; ``reported`` reads a number the report
prints as the interval of its rounding; ``fmt_pm`` rounds an estimate to the precision of
its interval.
"""

import math
from decimal import Decimal, InvalidOperation

from lslib.paper.verdicts.inference import Interval


def fmt(i: Interval, digits: int = 4, scale: float = 1.0) -> str:
    """'mean ± half-width' (the mean alone for exact values, '—' for a missing one)."""
    if not math.isfinite(i.value):
        return "—"
    m = i.value * scale
    if i.lo == i.hi:
        return f"{m:.{digits}g}"
    if not math.isfinite(i.half):
        return f"{m:.{digits}g} (1 seed)"
    return f"{m:.{digits}g} ± {i.half * scale:.2g}"


# ---------------------------------------------------------------- the report's numbers and readable ones


def reported(text: str) -> Interval:
    """A number as the report prints it, as the interval of its rounding.

    "15.72" stands for anything in [15.715, 15.725]: ± half a unit of the last printed
    digit ("0.0008" → ±0.00005, "1.2e-3" → ±0.00005, "98.1" → ±0.05, "15" → ±0.5).
    Trailing zeros count as printed ("1.50" → ±0.005).

    Args:
        text: the number as printed (a Unicode minus and thousands commas are accepted).
    Returns:
        ``Interval(value, value - ulp/2, value + ulp/2, 1)``.
    """
    s = text.strip().replace("−", "-").replace(",", "")
    try:
        d = Decimal(s)
    except InvalidOperation as err:
        raise ValueError(f"not a printed number: {text!r}") from err
    if not d.is_finite():
        raise ValueError(f"not a finite printed number: {text!r}")
    half = Decimal(1).scaleb(d.as_tuple().exponent) / 2
    return Interval(float(d), float(d - half), float(d + half), 1)


_SUP = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _fixed(v: float, decimals: int) -> str:
    s = f"{round(v, decimals) + 0.0:.{max(decimals, 0)}f}"  # + 0.0: no "-0"
    return s[1:] if s.startswith("-") and float(s) == 0 else s


def fmt_pm(value: float, half: float) -> str:
    """An estimate rounded to the precision of its interval: "175 ± 270", "0.0123 ± 0.0021".

    The half-width keeps 2 significant digits and the estimate is rounded to the same
    decimal place (but never coarser than units: 174.8 ± 270 → "175 ± 270"). Outside 10⁻³ ≤
    |x| < 10⁶ a common factor is taken out: "(1.23 ± 0.21) × 10⁻⁵". An exact value
    (half 0) keeps 4 significant digits; an unknown spread (half ∞) reads "± ∞".

    Args:
        value: the estimate.
        half: the interval's half-width (≥ 0).
    Returns:
        The text, without exponent notation for ordinary magnitudes.
    """
    if not math.isfinite(value) or math.isnan(half):
        return "—"
    if math.isinf(half):
        return f"{fmt_pm(value, 0.0)} ± ∞"
    big = max(abs(value), half)
    if big == 0:
        return "0"
    mag = math.floor(math.log10(big))
    if mag < -3 or mag >= 6:
        inner = fmt_pm(value / 10.0**mag, half / 10.0**mag)
        return f"{inner if half == 0 else f'({inner})'} × 10{str(mag).translate(_SUP)}"
    if half == 0:
        return _fixed(value, 3 - mag)
    d = 1 - math.floor(math.log10(half))
    if round(half, d) >= 10.0 ** (2 - d):  # 0.0996 rounds up to 0.10: one digit fewer
        d -= 1
    return f"{_fixed(value, max(d, 0))} ± {_fixed(round(half, d), d)}"
