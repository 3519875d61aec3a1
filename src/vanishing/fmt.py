"""How numbers read on the page, in one place: every section formats through these.

A true minus sign (−), "–" for no number, ±∞ spelled out.
"""

from __future__ import annotations

import math
from typing import Any

NO_NUMBER = "–"


def signed(x: float, digits: int = 2) -> str:
    """+0.25, −1.30; ±∞ and – for no number."""
    if math.isnan(x):
        return NO_NUMBER
    if math.isinf(x):
        return "−∞" if x < 0 else "+∞"
    return f"{x:+.{digits}f}".replace("-", "−")


def fixed(x: float, digits: int = 3) -> str:
    """0.512; – for no number."""
    if math.isnan(x):
        return NO_NUMBER
    if math.isinf(x):
        return "−∞" if x < 0 else "∞"
    return f"{x:.{digits}f}".replace("-", "−")


def mean_std(mean: float, std: float, n: int, digits: int = 3, sign: bool = False) -> str:
    """'mean ± std' over n seeds; the mean alone for one seed; – for none."""
    if n == 0 or math.isnan(mean):
        return NO_NUMBER
    text = signed(mean, digits) if sign else fixed(mean, digits)
    if n > 1 and math.isfinite(std):
        text += f" ± {std:.{digits}f}"
    return text


def sci(x: float) -> str:
    """A magnitude in compact scientific notation: 3.1e−4."""
    if math.isnan(x):
        return NO_NUMBER
    if math.isinf(x):
        return "∞"
    if x == 0:
        return "0"
    mantissa, exponent = f"{x:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}".replace("-", "−")


def sig(x: float, digits: int = 3) -> str:
    """A number to ``digits`` significant digits, trailing zeros kept (they are digits too):
    0.512, 0.100, 1.23e−5, 1.50e3, 150; 0 for zero; – for no number."""
    if math.isnan(x):
        return NO_NUMBER
    if math.isinf(x):
        return "−∞" if x < 0 else "∞"
    if x == 0:
        return "0"
    mantissa, _, exponent = f"{x:#.{digits}g}".partition("e")
    text = mantissa.rstrip(".") + (f"e{int(exponent)}" if exponent else "")
    return text.replace("-", "−")


def percent(x: float) -> str:
    """0.123 -> '12 %'."""
    return NO_NUMBER if math.isnan(x) else f"{100 * x:.0f} %"


def decades(x: float, digits: int = 1) -> str:
    """A log10 ratio in words: '2.1 decades', '1.0 decade'."""
    if math.isnan(x):
        return NO_NUMBER
    if math.isinf(x):
        return "infinitely many decades"
    n = abs(x)
    return f"{n:.{digits}f} decade{'' if round(n, digits) == 1 else 's'}"


def orders(x: float) -> str:
    """A log10 ratio as orders of magnitude."""
    if math.isinf(x):
        return "entirely (a first hidden layer got exactly zero gradient)"
    n = abs(x)
    return f"{n:.1f} order{'s' if round(n, 1) != 1.0 else ''} of magnitude"


def times(log10_ratio: float, less: str, more: str, same: str) -> str:
    """A comparison ready to be followed by its object: -2 -> '100× less than',
    0.3 -> '2.0× more than', ~0 -> 'about as much as' (same='as much')."""
    if math.isnan(log10_ratio):
        return f"{NO_NUMBER} (no number) than"
    if math.isinf(log10_ratio):
        return f"incomparably {less if log10_ratio < 0 else more} than"
    if abs(log10_ratio) < 0.05:
        return f"about {same} as"
    factor = 10 ** abs(log10_ratio)
    size = f"{factor:.0f}×" if factor >= 10 else f"{factor:.1f}×"
    return f"{size} {less if log10_ratio < 0 else more} than"


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 network', '3 networks'."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def listing(items: list[str] | tuple[str, ...]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def seconds(x: Any) -> str:
    try:
        s = float(x)
    except (TypeError, ValueError):
        return ""
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"
