"""activation x initializer heatmaps: the summary's three maps and the panels the optimizer
and real-data sections put side by side (one colour scale per row, so panels compare)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure as MplFigure
from matplotlib.patches import Rectangle

from vanishing import fmt
from vanishing.aggregate import Grid, Stat
from vanishing.links import Hrefs, group_mark
from vanishing.plotting import STYLE, mark
from vanishing.roles import short

DIVERGING = "RdBu"  # red: gradients shrink towards the input; blue: they grow
WHAT = ("accuracy", "attenuation_init", "attenuation_end")
TITLES = {"accuracy": "Final accuracy (mean over seeds)",
          "attenuation_init": "Gradient attenuation at initialisation",
          "attenuation_end": "Gradient attenuation after training"}
ATTENUATION_LABEL = "log10(first / last hidden layer)"  # the built-in MLP's; a factory's names matrices
ROW_TITLES = {"accuracy": "final accuracy", "attenuation_init": "attenuation at init",
              "attenuation_end": "attenuation after training"}


def value_of(g, what: str) -> Stat:
    return {"accuracy": g.final_accuracy, "attenuation_init": g.attenuation_init,
            "attenuation_end": g.attenuation_end}[what]


def scale(grids: Sequence[Grid], what: str, label: str = ATTENUATION_LABEL):
    """(cmap, norm, colourbar label): one scale for every panel that shows the same thing."""
    if what == "accuracy":
        return plt.get_cmap("viridis").with_extremes(bad="#f0f0f0"), plt.Normalize(0.5, 1.0), \
            "final accuracy"
    # One scale for both attenuation maps, so before and after compare cell by cell.
    both = np.array([s.mean for grid in grids for g in grid.present()
                     for s in (g.attenuation_init, g.attenuation_end)])
    finite = both[np.isfinite(both)]
    lim = max(1.0, float(np.ceil(np.abs(finite).max()))) if finite.size else 1.0
    lim = min(lim, 8.0)
    return (plt.get_cmap(DIVERGING).with_extremes(bad="#f0f0f0"), TwoSlopeNorm(0.0, -lim, lim), label)


def cell_text(v: float, what: str) -> str:
    if math.isnan(v) or math.isinf(v):
        return fmt.signed(v)
    if what == "accuracy":
        return fmt.fixed(v, 2)
    return "0.0" if abs(v) < 0.05 else fmt.signed(v, 1)


def _dark(rgba: Sequence[float]) -> bool:
    r, g, b = rgba[:3]
    return 0.299 * r + 0.587 * g + 0.114 * b < 0.5


def panel(ax, grid: Grid, what: str, cmap, norm, row_labels: bool = True, fontsize: float = 8,
          links: Hrefs | None = None):
    """One heatmap on ax; diverged seeds marked with *, cells not run say so. Every cell run is a
    mark (plotting.mark): its own rectangle, whose hover gives mean ± std, seeds and the diverged,
    and whose link (with ``links``) opens its group's panel."""
    n_a, n_i = len(grid.activations), len(grid.initializers)
    values = np.full((n_a, n_i), np.nan)
    notes: dict[tuple[int, int], str] = {}
    for r, row in enumerate(grid.cells):
        for c, g in enumerate(row):
            if g is None:
                notes[(r, c)] = "not run"
                continue
            values[r, c] = value_of(g, what).mean
            if what != "attenuation_init" and g.diverged:
                notes[(r, c)] = f"{len(g.diverged)}/{len(g.seeds)} div."
    shown = values if what == "accuracy" else np.clip(values, norm.vmin, norm.vmax)
    _cells(ax, grid, what, cmap(norm(np.ma.masked_invalid(shown))), links)
    ax.set_xlim(-0.5, n_i - 0.5)
    ax.set_ylim(n_a - 0.5, -0.5)
    ax.set_xticks(range(n_i), [short(i) for i in grid.initializers], rotation=40, ha="right")
    ax.set_yticks(range(n_a), grid.activations if row_labels else [""] * n_a)
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    for r in range(n_a):
        for c in range(n_i):
            v = values[r, c]
            if (r, c) in notes and not np.isfinite(v):
                text, colour = notes[(r, c)], "#555"
            else:
                text = cell_text(v, what)
                rgba = cmap(norm(shown[r, c])) if np.isfinite(shown[r, c]) else (1, 1, 1, 1)
                colour = "white" if _dark(rgba) else "#111"
                if (r, c) in notes:
                    text += "*"
            ax.text(c, r, text, ha="center", va="center", fontsize=fontsize, color=colour)
    return ScalarMappable(norm=norm, cmap=cmap)


def _cells(ax, grid: Grid, what: str, colours: np.ndarray, links: Hrefs | None) -> None:
    """One rectangle per cell run, each a mark; cells with no number in the colour of 'bad'."""
    name = ROW_TITLES[what]
    for r, row in enumerate(grid.cells):
        for c, g in enumerate(row):
            if g is None:
                continue
            cell = Rectangle((c - 0.5, r - 0.5), 1, 1, facecolor=colours[r, c], edgecolor="none")
            ax.add_patch(cell)
            mark(cell, *group_mark(g, name, value_of(g, what), links, sign=what != "accuracy"))


def draw_heatmap(grid: Grid, what: str, label: str = ATTENUATION_LABEL,
                 links: Hrefs | None = None) -> MplFigure:
    """One activation x initializer heatmap of 'accuracy', 'attenuation_init' or 'attenuation_end'."""
    with plt.rc_context(STYLE):
        n_a, n_i = len(grid.activations), len(grid.initializers)
        fig, ax = plt.subplots(figsize=(max(4.2, 0.5 * n_i + 1.9), max(2.4, 0.36 * n_a + 1.3)))
        cmap, norm, bar = scale([grid], what, label)
        im = panel(ax, grid, what, cmap, norm, links=links)
        cb = fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02)
        cb.set_label(bar, fontsize=8)
        cb.outline.set_visible(False)
        ax.set_title(TITLES[what], loc="left")
    return fig


def draw_panels(grids: Sequence[Grid], whats: Sequence[str], column_titles: Sequence[str],
                label: str = ATTENUATION_LABEL, links: Hrefs | None = None) -> MplFigure:
    """Rows: what is shown; columns: one grid each (an optimizer, a depth)."""
    n_a = max(len(g.activations) for g in grids)
    n_i = max(len(g.initializers) for g in grids)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(len(whats), len(grids), squeeze=False, layout="constrained",
                                 figsize=(max(1.3, 0.62 * n_i) * len(grids) + 2.0,
                                          (0.34 * n_a + 1.25) * len(whats)))
        for r, what in enumerate(whats):
            cmap, norm, bar = scale(grids, what, label)
            im = None
            for c, (grid, title) in enumerate(zip(grids, column_titles)):
                ax = axes[r, c]
                im = panel(ax, grid, what, cmap, norm, row_labels=c == 0, fontsize=7.5, links=links)
                if r == 0:
                    ax.set_title(title, loc="left")
                if r < len(whats) - 1:
                    ax.set_xticklabels([])
            cb = fig.colorbar(im, ax=list(axes[r]), fraction=0.03, pad=0.01)
            cb.set_label(ROW_TITLES[what] + ("" if what == "accuracy" else f"\n{bar}"),
                         fontsize=7.5)
            cb.outline.set_visible(False)
    return fig
