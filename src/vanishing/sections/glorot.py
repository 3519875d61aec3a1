"""Standard vs. Glorot initialisation: the gradients at initialisation layer by layer, for a
standard and the normalised initializer, as Glorot & Bengio (2010) compare them.

Two different gradients are shown, each named for what it is. The back-propagated gradient
δ_l = d loss_i / d z_l (per example, w.r.t. each layer's pre-activation) is what their fig. 7
shows and what normalised initialisation keeps the same size in every layer. The kernel
gradient d loss / d W_l = h_(l-1)^T δ_l also carries the layer's input h_(l-1); Glorot & Bengio
(section 4.2.2) report that its variance is about the same in every layer even with the
standard initialisation, so the two can tell different stories.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure as MplFigure

from vanishing import fmt
from vanishing.aggregate import main_grid, summarize
from vanishing.plotting import (
    CATEGORY_COLOURS,
    STYLE,
    Figure,
    band,
    colour_layer_ticks,
    finish,
    layer_colours,
    layer_label,
)
from vanishing.reader import CellStats, Run
from vanishing.roles import normalised_initializer, ordered, short, standard_initializer
from vanishing.sections.base import Part

EMPTY = ("This run has no normalised initializer (glorot_uniform or glorot_normal) to compare with. "
         "The smoke, tutorial, default and full presets train glorot_uniform.")
# Spans of the layers' medians that differ by less than this (decades) are told as alike.
ALIKE_DECADES = 0.3
DELTA = "back-propagated gradient δ"
KERNEL = "kernel gradient"


@dataclass(frozen=True)
class GlorotComparison:
    """The cells Glorot & Bengio's comparison needs: one activation, at one depth."""

    activation: str
    depth: int
    standard: str | None
    normalised: str
    by_initializer: tuple[tuple[str, tuple[CellStats, ...]], ...]  # every initializer run there

    def cells(self, initializer: str) -> tuple[CellStats, ...]:
        return dict(self.by_initializer).get(initializer, ())

    @property
    def compared(self) -> tuple[tuple[str, str], ...]:
        """(initializer, role) of the standard (if run) and the normalised initializer."""
        pairs = ((self.standard, "standard"), (self.normalised, "normalised"))
        return tuple((i, role) for i, role in pairs if i is not None)


@dataclass(frozen=True)
class Spread:
    """How far apart the hidden layers' typical |gradient| lie at initialisation, seeds pooled."""

    quantity: str  # DELTA or KERNEL
    initializer: str
    role: str
    log10_median: tuple[float, ...]  # per hidden layer 1..depth, of |values| != 0
    zeros_left_out: bool

    @property
    def span(self) -> float:
        return max(self.log10_median) - min(self.log10_median)

    @property
    def smallest_layer(self) -> int:
        return int(np.argmin(self.log10_median)) + 1


@dataclass(frozen=True)
class GlorotPart(Part):
    spreads: tuple[Spread, ...] = ()


def build(run: Run) -> GlorotPart | None:
    primary = run.primary_cells()
    grid = main_grid(run.matrices, summarize(primary))
    cmp = glorot_comparison(primary, grid.depth if grid else None)
    if cmp is None:
        return None
    spreads = tuple(s for quantity in (DELTA, KERNEL) for s in spreads_of(cmp, quantity))
    sentences = [spread_sentence(cmp, [s for s in spreads if s.quantity == q], q) for q in (DELTA, KERNEL)]
    if not any(s.quantity == DELTA for s in spreads):
        sentences.append("These results hold no back-propagated gradients (delta_values, written by newer "
                         "versions of vanishing), so Glorot & Bengio's fig. 7 is not drawn; only the kernel "
                         "gradients are. Train again to see it.")
    figures = (delta_figure(cmp), kernel_figure(cmp), scale_figure(cmp))
    return GlorotPart(figures=tuple(f for f in figures if f is not None),
                      sentences=tuple(s for s in sentences if s), note=note(cmp), spreads=spreads)


def glorot_comparison(cells: Sequence[CellStats], depth: int | None) -> GlorotComparison | None:
    """tanh (the paper's activation) when run, else the first activation with a normalised
    initializer; at the given depth (the summary's grid) when a normalised initializer was run
    there, else at that activation's most common depth that has one."""
    acts = ordered(c.activation for c in cells)
    for act in ("tanh", *acts):
        mine = [c for c in cells if c.activation == act]
        with_normalised = [c.depth for c in mine if normalised_initializer([c.initializer])]
        if not with_normalised:
            continue
        at = depth if depth in with_normalised else max(set(with_normalised), key=with_normalised.count)
        mine = [c for c in mine if c.depth == at]
        inits = ordered(c.initializer for c in mine)
        normalised = normalised_initializer(inits)
        if normalised is None:
            continue
        by_init = tuple((i, tuple(sorted((c for c in mine if c.initializer == i), key=lambda c: c.seed)))
                        for i in inits)
        return GlorotComparison(act, at, standard_initializer(inits), normalised, by_init)
    return None


def note(cmp: GlorotComparison) -> str:
    if cmp.standard is None:
        return (f"Network: {cmp.activation}, {cmp.depth} hidden layers. This run has no standard "
                f"(unnormalised) initializer for it; only {cmp.normalised} is shown.")
    widened = (", the paper's U(−1/√fan_in, 1/√fan_in) widened by √3"
               if cmp.standard == "lecun_uniform" else "")
    return (f"Network: {cmp.activation}, {cmp.depth} hidden layers, all seeds pooled. Standard stands "
            f"for {cmp.standard}{widened}; normalised is {cmp.normalised}, variance 2 / (fan_in + fan_out).")


# --- numbers and sentences ---------------------------------------------------------------------

def layer_values(cmp: GlorotComparison, initializer: str, quantity: str) -> list[np.ndarray] | None:
    """Per hidden layer, every value at initialisation over the seeds (None: not recorded)."""
    cells = cmp.cells(initializer)
    if quantity == KERNEL:
        return [np.concatenate([c.grad_init[layer] for c in cells]) for layer in range(cmp.depth)]
    cells = tuple(c for c in cells if c.delta_values and 0 in c.act_snapshot_epochs)
    if not cells:
        return None
    return [np.concatenate([np.ravel(c.delta_values[layer][c.act_snapshot_epochs.index(0)]) for c in cells])
            for layer in range(cmp.depth)]


def log_magnitudes(values: np.ndarray) -> np.ndarray:
    """log10 |x| of the finite, nonzero entries (a log axis has no place for 0)."""
    v = np.abs(np.asarray(values, np.float64))
    return np.log10(v[np.isfinite(v) & (v > 0)])


def spreads_of(cmp: GlorotComparison, quantity: str) -> tuple[Spread, ...]:
    out = []
    for init, role in cmp.compared:
        values = layer_values(cmp, init, quantity)
        if values is None:
            continue
        logs = [log_magnitudes(v) for v in values]
        if any(x.size == 0 for x in logs):
            continue  # a layer with no nonzero gradient has no median to place
        zeros = any(np.count_nonzero(np.asarray(v) == 0) for v in values)
        out.append(Spread(quantity, init, role, tuple(float(np.median(x)) for x in logs), zeros))
    return tuple(out)


def spread_sentence(cmp: GlorotComparison, spreads: Sequence[Spread], quantity: str) -> str:
    if not spreads:
        return ""
    symbol = "|δ|" if quantity == DELTA else "|∂L/∂W|"
    told = " and ".join(f"{fmt.decades(s.span, 2)} with {s.initializer} ({s.role}; smallest in layer "
                        f"{s.smallest_layer})" for s in spreads)
    zeros = " (exact zeros left out)" if any(s.zeros_left_out for s in spreads) else ""
    what = ("Back-propagated gradients δ = d loss_i / d z_l (per example)" if quantity == DELTA
            else "Kernel gradients d loss / d W_l (whole dataset)")
    sentence = (f"{what} at initialisation, {cmp.activation} with {cmp.depth} hidden layers: the "
                f"hidden layers' median {symbol}{zeros} spans {told}")
    if len(spreads) < 2:
        return sentence + ("; no standard initializer was run to compare with." if cmp.standard is None
                           else "; the other initializer has a layer with no nonzero gradient, or no "
                           "such values recorded, so it has no spread to compare.")
    gap = spreads[0].span - spreads[1].span
    if abs(gap) < ALIKE_DECADES:
        verdict = f"the two spread about alike (within {ALIKE_DECADES:g} decades)"
    else:
        which = "standard" if gap > 0 else "normalised"
        verdict = f"the {which} initialisation spreads the layers further apart"
    return f"{sentence}: {verdict}."


# --- figures -----------------------------------------------------------------------------------

def draw_log_histograms(cmp: GlorotComparison, quantity: str) -> MplFigure | None:
    """Step histograms of log10 |value| at initialisation, one panel per compared initializer,
    the hidden layers overlaid in the layer colours; None when nothing was recorded."""
    panels = [(init, role, layer_values(cmp, init, quantity)) for init, role in cmp.compared]
    panels = [(init, role, [log_magnitudes(v) for v in values]) for init, role, values in panels if values]
    if not panels:
        return None
    everything = np.concatenate([x for _, _, logs in panels for x in logs])
    lo, hi = (math.floor(everything.min()), math.ceil(everything.max())) if everything.size else (-1, 1)
    bins = np.linspace(lo, hi if hi > lo else lo + 1, 36)
    colours = layer_colours(cmp.depth + 1)  # the output layer keeps its colour elsewhere
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.0), sharey=True, squeeze=False)
        for ax, (init, role, logs) in zip(axes[0], panels):
            ax.set_title(f"{short(init)} — {role}", loc="left")
            for layer, x in enumerate(logs):  # normalised: layers of different sizes compare
                ax.hist(x, bins=bins, weights=np.full(x.size, 1 / max(x.size, 1)), histtype="step",
                        color=colours[layer], linewidth=1.6, label=layer_label(layer + 1, cmp.depth + 1))
            ax.set_xlabel(f"log10 |{'δ' if quantity == DELTA else 'd loss / d W'}| at initialisation")
        axes[0, 0].set_ylabel("fraction of the layer's values")
        axes[0, -1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.tight_layout()
    return fig


def delta_figure(cmp: GlorotComparison) -> Figure | None:
    fig = draw_log_histograms(cmp, DELTA)
    if fig is None:
        return None
    caption = (f"Back-propagated gradients at initialisation in the {cmp.activation} networks, as in "
               "Glorot & Bengio (2010, fig. 7): for each hidden layer, the histogram (summing to 1) of "
               "log10 |δ|, where δ is each example's gradient of its loss with respect to the layer's "
               "pre-activations, on the recorded samples of every seed. Histograms that lie apart mean the "
               "layers receive gradients of different sizes (further left: smaller; layer 1 dark blue); "
               "histograms on top of each other mean every layer receives about the same.")
    alt = (f"Step histograms of log10 absolute back-propagated gradient per hidden layer for "
           f"{cmp.activation}, one panel per initializer: {', '.join(i for i, _ in cmp.compared)}.")
    return finish(fig, caption, alt)


def kernel_figure(cmp: GlorotComparison) -> Figure | None:
    fig = draw_log_histograms(cmp, KERNEL)
    if fig is None:
        return None
    caption = (f"Kernel (weight) gradients at initialisation in the {cmp.activation} networks: for each "
               "hidden layer, the histogram (summing to 1) of log10 |d loss / d W| over its kernel's "
               "entries, the loss taken over the whole dataset, every seed. Each entry is a layer input "
               "times δ, averaged over examples, so it need not spread like δ: Glorot & Bengio (§4.2.2) "
               "report these about the same size in every layer even with the standard initialisation.")
    alt = (f"Step histograms of log10 absolute kernel gradient per hidden layer for {cmp.activation}, "
           f"one panel per initializer: {', '.join(i for i, _ in cmp.compared)}.")
    return finish(fig, caption, alt)


def draw_scale(cmp: GlorotComparison) -> MplFigure:
    """Mean |kernel gradient| at initialisation against layer, one line per initializer."""
    n_layers = cmp.depth + 1
    x = np.arange(1, n_layers + 1)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(6.4, 3.4))
        for k, (init, cells) in enumerate(cmp.by_initializer):
            data = np.stack([c.grad_abs_mean[0] for c in cells])  # [seeds, layers]
            band(ax, x, data, CATEGORY_COLOURS[k % len(CATEGORY_COLOURS)], short(init), log=True)
            ax.lines[-1].set_linewidth(2.4 if init in (cmp.standard, cmp.normalised) else 1.2)
            ax.lines[-1].set_marker("o")
            ax.lines[-1].set_markersize(3.5)
        ax.set_yscale("log")
        colour_layer_ticks(ax, n_layers)
        ax.set_ylabel("mean |d loss / d W| at init")
        ax.set_title(f"Kernel gradient scale per layer, {cmp.activation}, before training", loc="left")
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.tight_layout()
    return fig


def scale_figure(cmp: GlorotComparison) -> Figure:
    caption = (f"Mean |kernel gradient| of each layer of the {cmp.activation} networks before any training, "
               "one line per initializer run at this depth (geometric mean over seeds, band: the seeds' "
               "range; thick: the standard and normalised ones). A flat line means every layer starts "
               "learning at the same pace; a line rising to the right means the input-side layers get less.")
    alt = (f"Line chart, log scale: mean absolute kernel gradient per layer at initialisation for "
           f"{cmp.activation}, one line per initializer.")
    return finish(draw_scale(cmp), caption, alt)
