"""One cache of matplotlib's math-text layouts for all renderers, while the page's figures are drawn.

A log axis labels its ticks in math text (``$\\mathdefault{10^{-3}}$``), and matplotlib lays out
such a string anew for each renderer: its cache (``MathTextParser._parse_cached``) belongs to the
renderer's parser, and every tight_layout and savefig makes renderers of its own. The default
preset's figures lay out a few dozen strings some 200 times that way (about 0.5 s of CPU). A
layout depends only on the parser's kind (vector or raster) and the call's arguments (string,
dpi, font, flags), so within ``shared()`` every parser reads and fills one cache. Where
matplotlib has no such method (another version), figures are drawn as they are.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from matplotlib.mathtext import MathTextParser

_NAME = "_parse_cached"


@contextmanager
def shared() -> Iterator[None]:
    """Within: every MathTextParser's layouts in one cache, emptied on the way out."""
    original = MathTextParser.__dict__.get(_NAME)
    parse = getattr(original, "__wrapped__", None)  # the uncached function under its lru_cache
    if parse is None:
        yield
        return
    layouts: dict[tuple, Any] = {}

    def cached(self: MathTextParser, s: str, *args: Any) -> Any:
        key = (self._output_type, s, *args)
        if key not in layouts:
            layouts[key] = parse(self, s, *args)
        return layouts[key]

    setattr(MathTextParser, _NAME, cached)
    try:
        yield
    finally:
        setattr(MathTextParser, _NAME, original)
