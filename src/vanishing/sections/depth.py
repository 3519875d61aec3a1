"""Depth: attenuation against the number of hidden layers, before and after training."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure as MplFigure
from matplotlib.lines import Line2D

from vanishing import fmt
from vanishing.aggregate import DepthCurve, depth_curves, summarize
from vanishing.links import Links, group_mark, links_for
from vanishing.plotting import CATEGORY_COLOURS, STYLE, Figure, finish, mark
from vanishing.reader import Run
from vanishing.roles import ordered, short
from vanishing.sections.words import MLP, LayerWords, words_for

EMPTY = ("This run trained every activation × initializer at a single depth: no depth sweep to show. "
         "The default preset adds one (depths 2 to 32).")


FACTORY_NOTE = ("A factory's network may be more than a plain stack of layers (skip connections, "
                "normalisation, convolutions), so its gradient need not follow that product: depth is "
                "what the factory makes of it, and the curves show what its networks did.")


@dataclass(frozen=True)
class DepthPart:
    shallowest: int
    deepest: int
    figure: Figure
    span: str = ""  # 'networks of <span>': '2 to 32 hidden layers' / 'depth 2 to 32'
    note: str = ""


def build(run: Run) -> DepthPart | None:
    primary = run.primary_cells()
    curves = depth_curves(summarize(primary))
    if not curves:
        return None
    words = words_for(primary)
    depths = sorted({d for c in curves for d in c.depths})
    return DepthPart(depths[0], depths[-1], depth_figure(curves, words, links_for(run)),
                     words.span(depths[0], depths[-1]), FACTORY_NOTE if words.factory else "")


def draw_depth(curves: Sequence[DepthCurve], words: LayerWords = MLP,
               links: Links | None = None) -> MplFigure:
    """One panel per activation, one colour per initializer; solid at init, dashed after training.
    Each point is a mark: its hover gives the group's numbers, its link (with links) its panel."""
    acts, inits = ordered(c.activation for c in curves), ordered(c.initializer for c in curves)
    colour = {i: CATEGORY_COLOURS[k % len(CATEGORY_COLOURS)] for k, i in enumerate(inits)}
    finite = [s.mean for c in curves for s in (*c.attenuation_init, *c.attenuation_end)
              if math.isfinite(s.mean)]
    floor = min(finite, default=-1.0) - 0.5
    depths = sorted({d for c in curves for d in c.depths})
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(acts), figsize=(max(4.0, 3.5 * len(acts)), 3.4),
                                 sharey=True, squeeze=False)
        for ax, act in zip(axes[0], acts):
            ax.axhline(0, color="#999", linewidth=0.8)
            for c in (c for c in curves if c.activation == act):
                for stats, style, label in ((c.attenuation_init, "-", short(c.initializer)),
                                            (c.attenuation_end, "--", None)):
                    mean = np.array([max(s.mean, floor) if not math.isnan(s.mean) else np.nan for s in stats])
                    std = np.array([s.std if math.isfinite(s.std) else 0.0 for s in stats])
                    ax.errorbar(c.depths, mean, yerr=std, color=colour[c.initializer], linestyle=style,
                                capsize=2, label=label, linewidth=1.8 if style == "-" else 1.1)
                    _points(ax, c, mean, colour[c.initializer], style == "-", links)
                    # No gradient at all reached the hidden layers (0/0): show it, do not drop it.
                    dead = [d for d, s in zip(c.depths, stats) if s.n and math.isnan(s.mean)]
                    ax.plot(dead, [floor] * len(dead), linestyle="none", marker="x",
                            color=colour[c.initializer], markersize=6)
            ax.set_xscale("log", base=2)
            ax.set_xticks(depths, [str(d) for d in depths])
            ax.minorticks_off()
            ax.set_xlabel(words.axis)
            ax.set_title(act, loc="left")
        axes[0, 0].set_ylabel(f"attenuation, {words.label}" if words.factory
                              else "attenuation, log10(first / last)")
        handles, labels = axes[0, 0].get_legend_handles_labels()
        handles += [Line2D([], [], color="#555", linestyle="-"), Line2D([], [], color="#555", linestyle="--")]
        labels += ["at initialisation", "after training"]
        fig.legend(handles, labels, loc="upper center", ncol=min(len(labels), 5), bbox_to_anchor=(0.5, 1.1))
        fig.tight_layout()
    return fig


def _points(ax, c: DepthCurve, mean: np.ndarray, colour: str, at_init: bool, links: Links | None) -> None:
    """One marker per depth, each a mark standing for that depth's group."""
    name = "attenuation at init" if at_init else "attenuation after training"
    for depth, y, g, s in zip(c.depths, mean, c.groups, c.attenuation_init if at_init else c.attenuation_end):
        if not np.isfinite(y):
            continue
        # above every line, so that no line takes the pointer from it
        (point,) = ax.plot([depth], [y], linestyle="none", marker="o", markersize=4, color=colour, zorder=5)
        mark(point, *group_mark(g, name, s, links, sign=True))


def depth_figure(curves: Sequence[DepthCurve], words: LayerWords = MLP, links: Links | None = None) -> Figure:
    depths = fmt.listing([str(d) for d in sorted({d for c in curves for d in c.depths})])
    if words.factory:
        against = f"depth as the factory defines it ({depths}; log2 axis)"
        slope = "every step in depth divides the first weight matrix's gradient further"
        cross = ("no attenuation to tell: neither matrix got any gradient (0/0), or a network had fewer "
                 "than three weight matrices")
    else:
        against = f"the number of hidden layers ({depths}; log2 axis)"
        slope = "every extra layer divides the first layer's gradient further"
        cross = "no gradient reached the hidden layers at all (dead units)"
    caption = (f"Attenuation ({words.ratio}) against {against}, one panel per activation, one colour "
               "per initializer; solid at initialisation, dashed after training (error bars: std over "
               f"seeds). A line sloping down means {slope}. × at the bottom: {cross}.")
    acts = ", ".join(ordered(c.activation for c in curves))
    alt = f"Line charts of gradient attenuation against depth for {acts}, one line per initializer."
    return finish(draw_depth(curves, words, links), caption, alt)
