"""Saturation: how much of each hidden layer sits on the flat part of its activation, and which
of two slope effects shrinks the back-propagated gradient at initialisation: the activation's
largest slope (sigmoid's is 1/4, whatever the weights), or units working below their steepest
point (saturation, relu's zero side). The decomposition tells them apart on the run's numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure as MplFigure

from vanishing import fmt
from vanishing.aggregate import Comparison, comparison
from vanishing.plotting import STYLE, Figure, band, finish, layer_colours, layer_label, stack
from vanishing.reader import CellStats, Run
from vanishing.roles import RELU_LIKE, SATURATION_ACTIVATIONS, STANDARD_INITIALIZERS, TUTORIAL_DEPTH, short
from vanishing.sections.activation_histograms import histogram_figure
from vanishing.stats import rms

EMPTY = ("This run recorded no activation statistics for sigmoid, tanh or relu networks (results "
         "from before they were recorded, or no such networks). The smoke, tutorial, default and "
         "full presets train and record them.")

# The slope f'(z) as a function of the unit's OUTPUT h = f(z) (what the results keep), and the
# activation's largest slope: sigmoid' = h(1-h) <= 1/4 at z = 0; tanh' = 1-h^2 <= 1 at z = 0;
# relu' = 1 for z > 0 (h > 0), else 0. Only activations whose slope the output determines.
SLOPES: dict[str, tuple[float, str, Callable[[np.ndarray], np.ndarray]]] = {
    "sigmoid": (0.25, "¼", lambda h: h * (1.0 - h)),
    "tanh": (1.0, "1", lambda h: 1.0 - h * h),
    "relu": (1.0, "1", lambda h: (h > 0).astype(np.float64)),
}
TERMS = ("slope ceiling", "units below their steepest slope", "weights' gain and the rest")
TERM_COLOURS = ("#8172b3", "#dd8452", "#9a9a9a")


@dataclass(frozen=True)
class Decomposition:
    """log10 of RMS δ (d loss_i / d z per example) of hidden layer 1 over hidden layer `depth`, at
    initialisation, mean over seeds, as measured = ceiling + below_steepest + rest (exactly)."""

    activation: str
    initializer: str
    seeds: int
    depth: int
    measured: float
    ceiling: float  # (depth - 1) x log10(largest slope)
    below_steepest: float  # sum over layers 1..depth-1 of log10(RMS slope / largest slope)
    rest: float  # measured - ceiling - below_steepest: the weights' gain and everything else
    saturated: tuple[float, ...]  # per hidden layer, of (unit, sample) pairs, epoch 0, seed mean


@dataclass(frozen=True)
class SaturationPart:
    note: str
    saturation_sentences: tuple[str, ...]
    saturation_figures: tuple[Figure, ...]
    decompositions: tuple[Decomposition, ...]
    decomposition_sentences: tuple[str, ...]
    decomposition_figures: tuple[Figure, ...]
    histogram_figures: tuple[Figure, ...]

    @property
    def figures(self) -> tuple[Figure, ...]:
        return self.saturation_figures + self.decomposition_figures + self.histogram_figures

    @property
    def sentences(self) -> tuple[str, ...]:
        return self.saturation_sentences + self.decomposition_sentences


def build(run: Run) -> SaturationPart | None:
    comparisons = saturation_comparisons(run.primary_cells())
    undefined = undefined_sentence(run.cells)
    if not comparisons:  # nothing to draw, but networks with no "saturated" still get their sentence
        return SaturationPart("", (undefined,), (), (), (), (), ()) if undefined else None
    # Between the first and the last hidden layer there must be a layer to pass through.
    rows = [(cmp.activation, init, cells) for cmp in comparisons if cmp.depth >= 2
            for (init, _), cells in zip(cmp.initializers, cmp.cells) if cells]
    decompositions = tuple(d for d in (decompose(*row) for row in rows) if d)
    return SaturationPart(
        note=note(comparisons),
        saturation_sentences=tuple(s for s in (*saturation_sentences(comparisons), undefined) if s),
        saturation_figures=(saturation_figure(comparisons),),
        decompositions=decompositions,
        decomposition_sentences=decomposition_sentences(rows, decompositions),
        decomposition_figures=(decomposition_figure(decompositions),) if decompositions else (),
        histogram_figures=tuple(f for f in map(histogram_figure, comparisons) if f is not None),
    )


def saturation_comparisons(cells: Sequence[CellStats]) -> tuple[Comparison, ...]:
    """sigmoid, tanh, relu at the tutorial's depth (else their most common depth), with
    activation statistics recorded; initializers by roles.compared_initializers."""
    recorded = [c for c in cells if c.act_saturated_frac is not None and c.act_values and not c.diverged]
    mine = [c for c in recorded if c.activation in SATURATION_ACTIVATIONS]
    if not mine:
        return ()
    depths = [c.depth for c in mine]
    depth = TUTORIAL_DEPTH if TUTORIAL_DEPTH in depths else max(set(depths), key=depths.count)
    out = (comparison(mine, act, depth) for act in SATURATION_ACTIVATIONS)
    return tuple(c for c in out if c is not None)


def note(comparisons: Sequence[Comparison]) -> str:
    inits = dict.fromkeys(f"{i} ({role})" if role else i for c in comparisons for i, role in c.initializers)
    standard = any("standard" in role for c in comparisons for _, role in c.initializers)
    return (f"Networks: {fmt.listing([c.activation for c in comparisons])}, {comparisons[0].depth} "
            f"hidden layers, initializers {', '.join(inits)}."
            + (f" “Standard” is the first of {', '.join(STANDARD_INITIALIZERS)} run for that "
               "activation at this depth." if standard else ""))


# --- sentences ---------------------------------------------------------------------------------

def saturation_sentences(comparisons: Sequence[Comparison]) -> tuple[str, ...]:
    """Per activation and initializer, the hidden layer that is most saturated (most dead for
    relu-like activations), at initialisation and after the last epoch, mean over seeds."""
    out = []
    for cmp in comparisons:
        dead = cmp.activation in RELU_LIKE
        parts = []
        for (init, _), cells in zip(cmp.initializers, cmp.cells):
            series = stack(cells, "act_dead_frac" if dead else "act_saturated_frac") if cells else None
            if series is None or np.isnan(series).all():
                continue
            with np.errstate(all="ignore"):
                start, end = np.nanmean(series[:, 0], axis=0), np.nanmean(series[:, -1], axis=0)
            noun, state = ("units", "dead") if dead else ("(unit, sample) pairs", "saturated")
            if np.nanmax(np.fmax(start, end)) == 0:
                parts.append(f"with {init}, no hidden layer has {state} {noun} at initialisation or "
                             "after training")
                continue
            layer = int(np.nanargmax(np.fmax(start, end)))
            parts.append(f"with {init}, {fmt.percent(start[layer])} of layer {layer + 1}'s {noun} are "
                         f"{state}{' (output 0 on every sample)' if dead else ''} at initialisation and "
                         f"{fmt.percent(end[layer])} after training")
        if parts:
            out.append(f"{cmp.activation}: " + "; ".join(parts) + ".")
    return tuple(out)


def undefined_sentence(cells: Sequence[CellStats]) -> str:
    """Networks whose activation has no largest slope: the engine writes NaN, not a fraction."""
    acts = sorted({c.activation for c in cells
                   if c.act_saturated_frac is not None and c.act_saturated_frac.size
                   and np.isfinite(c.loss[0]) and np.isnan(c.act_saturated_frac[0]).all()})
    if not acts:
        return ""
    return (f"This run also holds {fmt.listing(acts)} networks: "
            f"{'that activation’s slope has' if len(acts) == 1 else 'those activations’ slopes have'} "
            "no largest value, so “saturated” (a slope below 10 % of the largest) is undefined for "
            "them and they have no saturated fraction.")


def cell_terms(cell: CellStats) -> tuple[float, float, float] | None:
    """(measured, ceiling, below_steepest) of one network at initialisation, in decades.

    δ_l = f'(z_l) ⊙ (W_(l+1) δ_(l+1)): between the last hidden layer and the first, the
    gradient is multiplied by the slopes of layers 1..depth-1 and by the weights of layers
    2..depth. The slopes are taken on the same samples as δ when delta_values exist.
    """
    if cell.activation not in SLOPES or cell.depth < 2 or 0 not in cell.act_snapshot_epochs:
        return None
    largest, _, slope = SLOPES[cell.activation]
    s = cell.act_snapshot_epochs.index(0)
    if cell.delta_values:
        delta = [rms(cell.delta_values[layer][s]) for layer in range(cell.depth)]
    elif cell.delta_rms is not None:
        delta = list(cell.delta_rms[0, : cell.depth])
    else:
        return None
    with np.errstate(all="ignore"):
        slopes = [rms(slope(np.asarray(cell.act_values[layer][s], np.float64))) / largest
                  for layer in range(cell.depth - 1)]
        measured = math.log10(delta[0]) - math.log10(delta[-1]) if min(delta) > 0 else math.nan
        below = float(np.sum(np.log10(slopes)))
    if not (math.isfinite(measured) and math.isfinite(below)):
        return None  # a layer passed back nothing finite and nonzero: no decades to share out
    return measured, (cell.depth - 1) * math.log10(largest), below


def decompose(activation: str, initializer: str, cells: Sequence[CellStats]) -> Decomposition | None:
    """The terms' mean over the seeds that have them: the mean of sums is the sum of means."""
    terms = {c.cell_id: t for c in cells if (t := cell_terms(c)) is not None}
    if not terms:
        return None
    measured, ceiling, below = (float(np.mean(column)) for column in zip(*terms.values()))
    with np.errstate(all="ignore"):
        saturated = np.nanmean(stack([c for c in cells if c.cell_id in terms], "act_saturated_frac")[:, 0], 0)
    return Decomposition(activation, initializer, len(terms), cells[0].depth, measured, ceiling, below,
                         measured - ceiling - below, tuple(float(x) for x in saturated))


def decomposition_sentence(d: Decomposition) -> str:
    _, largest, _ = SLOPES[d.activation]
    ceiling, below = abs(d.ceiling), abs(d.below_steepest)
    verdict = ("the slope ceiling costs more than units below their steepest slope" if ceiling > below else
               "units below their steepest slope cost more than the slope ceiling" if below > ceiling else
               "the slope ceiling and units below their steepest slope cost the same")
    if below > ceiling == 0:
        verdict += f" (a largest slope of {largest} costs nothing)"
    lo, hi = fmt.percent(min(d.saturated)), fmt.percent(max(d.saturated))
    saturated = lo if lo == hi else f"{lo}–{hi}"
    return (f"{d.activation} with {d.initializer} ({fmt.plural(d.seeds, 'seed')}): at initialisation "
            f"the RMS back-propagated gradient changes by {fmt.signed(d.measured)} decades from hidden "
            f"layer {d.depth} to layer 1 = {fmt.signed(d.ceiling)} slope ceiling ({d.depth - 1} × "
            f"log10 {largest}) {fmt.signed(d.below_steepest)} units below their steepest slope "
            f"{fmt.signed(d.rest)} weights' gain and the rest; {verdict}. {saturated} of each hidden "
            "layer's (unit, sample) pairs are saturated.")


def decomposition_sentences(rows: Sequence[tuple[str, str, Sequence[CellStats]]],
                            decompositions: Sequence[Decomposition]) -> tuple[str, ...]:
    """One per decomposition, then the activation x initializers that could not be decomposed."""
    done = {(d.activation, d.initializer) for d in decompositions}
    lacking = [f"{act} with {init}" for act, init, cells in rows
               if not any(c.delta_values or c.delta_rms is not None for c in cells)]
    silent = [f"{act} with {init}" for act, init, _ in rows
              if (act, init) not in done and f"{act} with {init}" not in lacking]
    out = [decomposition_sentence(d) for d in decompositions]
    why = "hold no back-propagated gradients (delta_values, delta_rms; written by newer vanishing versions)"
    if lacking and len(lacking) == len(rows):
        out.append(f"These results {why}, so the attenuation is not decomposed here. Train again to see it.")
    elif lacking:
        out.append(f"Not decomposed, because their results {why}: {fmt.listing(lacking)}.")
    if silent:
        out.append(f"Not decomposed: {fmt.listing(silent)}, where in every seed some hidden layer passes "
                   "back no finite, nonzero gradient at initialisation: no decades to share out.")
    return tuple(out)


# --- figures -----------------------------------------------------------------------------------

def draw_saturation(comparisons: Sequence[Comparison]) -> MplFigure:
    """Per hidden layer over epochs: saturated (unit, sample) pairs (solid band: seeds) and, for
    relu-like activations, dead units (dotted). Rows: activations; columns: initializers."""
    n_cols = max(len(c.initializers) for c in comparisons)
    depth = comparisons[0].depth
    colours = layer_colours(depth + 1)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(len(comparisons), n_cols, sharex=True, sharey=True, squeeze=False,
                                 figsize=(3.3 * n_cols + 0.6, 2.25 * len(comparisons) + 0.5))
        for ax in axes.flat:  # shown only where a panel has cells
            ax.set_visible(False)
        for r, cmp in enumerate(comparisons):
            dead = cmp.activation in RELU_LIKE
            for k, ((init, role), cells) in enumerate(zip(cmp.initializers, cmp.cells)):
                if not cells:
                    continue
                ax = axes[r, k]
                ax.set_visible(True)
                sat = stack(cells, "act_saturated_frac")
                x = np.arange(sat.shape[1])
                for layer in range(cmp.depth):
                    band(ax, x, sat[:, :, layer], colours[layer],
                         layer_label(layer + 1, cmp.depth + 1) if r == 0 and k == 0 else None)
                    if dead:
                        with np.errstate(all="ignore"):
                            d = np.nanmean(stack(cells, "act_dead_frac")[:, :, layer], axis=0)
                        ax.plot(x, d, color=colours[layer], linestyle=":", linewidth=1.6)
                ax.set_ylim(-0.03, 1.03)
                title = f"{cmp.activation} · {short(init)}" + (f" ({role})" if role else "")
                ax.set_title(title, loc="left", fontsize=8.5)
                if k == 0:
                    dotted = ";\ndead units (dotted)" if dead else ""
                    ax.set_ylabel("saturated (unit, sample)\npairs" + dotted)
                if r == len(comparisons) - 1:
                    ax.set_xlabel("epoch")
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="upper center", ncol=max(1, len(labels)), bbox_to_anchor=(0.5, 1.03))
        fig.tight_layout()
    return fig


def saturation_figure(comparisons: Sequence[Comparison]) -> Figure:
    relu = [c.activation for c in comparisons if c.activation in RELU_LIKE]
    caption = ("Saturation per hidden layer over the epochs: the fraction of (unit, sample) pairs whose "
               "slope is below 10 % of the activation's largest slope, so that they pass back less than a "
               "tenth of what the steepest slope would (solid; lines: mean over seeds, bands: seeds' range)"
               + (f"; for {fmt.listing(relu)}, the fraction of dead units, which output 0 on every "
                  "sample (dotted)" if relu else "")
               + ". One colour per layer, input side blue.")
    alt = ("Grid of line charts: saturated fraction of (unit, sample) pairs per hidden layer over epochs, "
           f"rows {', '.join(c.activation for c in comparisons)}, one column per initializer.")
    return finish(draw_saturation(comparisons), caption, alt)


def draw_decomposition(decompositions: Sequence[Decomposition]) -> MplFigure:
    """One row per activation x initializer: the three terms as bars stacked from 0 (negative
    terms to the left, positive to the right) and a black mark at the measured total."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(8.0, 0.42 * len(decompositions) + 1.5))
        for y, d in enumerate(decompositions):
            left = {True: 0.0, False: 0.0}  # the running end of the negative and positive stacks
            for term, value, colour in zip(TERMS, (d.ceiling, d.below_steepest, d.rest), TERM_COLOURS):
                ax.barh(y, value, left=left[value < 0], color=colour, height=0.6,
                        label=term if y == 0 else None)
                left[value < 0] += value
            ax.plot([d.measured], [y], marker="D", color="black", linestyle="none",
                    label="measured" if y == 0 else None)
        ax.axvline(0, color="#444", linewidth=0.8)
        ax.set_axisbelow(True)  # the grid behind the bars, not across them
        ax.set_yticks(range(len(decompositions)),
                      [f"{d.activation} · {short(d.initializer)}" for d in decompositions])
        ax.invert_yaxis()
        ax.set_xlabel("log10(RMS δ of hidden layer 1 / RMS δ of the last hidden layer), decades")
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=4)
        fig.tight_layout()
    return fig


def decomposition_figure(decompositions: Sequence[Decomposition]) -> Figure:
    caption = ("How the back-propagated gradient δ (each example's d loss / d pre-activation) changes "
               "from the last hidden layer to the first, at initialisation (mean over seeds): the "
               "measured change (black diamond) is the sum of the bars. Purple: the ceiling of the "
               "activation's slope; orange: units working below their steepest slope (saturation, "
               "relu's zero side); grey: the weights' gain and everything else. Bars left of 0 shrink "
               "the gradient towards the input, bars right of 0 grow it.")
    alt = ("Horizontal stacked bars, one row per activation and initializer: slope ceiling, units below "
           "their steepest slope, and the rest, with the measured log10 change of the gradient.")
    return finish(draw_decomposition(decompositions), caption, alt)
