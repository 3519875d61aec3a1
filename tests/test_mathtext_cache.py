"""mathtext_cache.py: one layout per math string for all renderers, the same figures."""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
from matplotlib.font_manager import FontProperties
from matplotlib.mathtext import MathTextParser

from vanishing import mathtext_cache, plotting


def _log_figure_svg() -> bytes:
    with plt.rc_context(plotting.STYLE):
        fig, ax = plt.subplots(figsize=(3, 2))
        ax.plot([1, 2, 3], [1e-5, 1e-2, 1.0])
        ax.set_yscale("log")  # tick labels in math text
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
    plt.close(fig)
    return buf.getvalue()


def test_parsers_share_one_layout_per_string_within_and_only_within(monkeypatch):
    original = MathTextParser.__dict__["_parse_cached"]
    calls = []
    monkeypatch.setattr(original, "__wrapped__", lambda self, s, *args: calls.append(s) or (s, args))
    prop = FontProperties(size=9)
    with mathtext_cache.shared():
        one, two = MathTextParser("path"), MathTextParser("path")
        assert one.parse("$10^{-3}$", 72, prop) == two.parse("$10^{-3}$", 72, prop)
        assert calls == ["$10^{-3}$"]
        MathTextParser("agg").parse("$10^{-3}$", 72, prop)  # a raster layout is another layout
        assert len(calls) == 2
    assert MathTextParser.__dict__["_parse_cached"] is original


def test_a_figure_draws_the_same_with_the_shared_layouts():
    alone = _log_figure_svg()
    with mathtext_cache.shared():
        assert _log_figure_svg() == alone
        assert _log_figure_svg() == alone  # from the cache this time
