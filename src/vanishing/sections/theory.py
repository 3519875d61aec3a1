"""Theory beside measurement: what Glorot & Bengio's linear regime and the mean-field recursion
predict for the gradient at initialisation, against what each example's gradient measured."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure as MplFigure

from vanishing import fmt
from vanishing.plotting import CATEGORY_COLOURS, STYLE, Figure, band, colour_layer_ticks, finish
from vanishing.reader import CellStats, Run
from vanishing.roles import ordered, short
from vanishing.sections.tutorial import tutorial_cells
from vanishing.stats import layer_attenuation

EMPTY = ("Theory predictions are not in this results directory (no theory_glorot_grad_rms / "
         "theory_meanfield_grad_rms arrays in the cells): train it again with a vanishing that "
         "records them.")
THEORIES = (("glorot", "Glorot & Bengio, linear regime", "o"), ("meanfield", "mean field", "^"))


@dataclass(frozen=True)
class TheoryPoint:
    """One network at initialisation: attenuation of the gradient RMS, measured and predicted.

    ``measured`` is of the per-example gradients, which is what theory predicts;
    ``measured_dataset`` of the whole-dataset gradient that trains the network.
    """

    cell: CellStats
    measured: float
    measured_dataset: float
    glorot: float
    meanfield: float


@dataclass(frozen=True)
class TheoryPart:
    widths: str  # the hidden widths of the networks shown, e.g. "5"
    figures: tuple[Figure, ...]
    sentences: tuple[str, ...]


def build(run: Run) -> TheoryPart | None:
    points = theory_points(run.cells)
    if not points:
        return None
    figures = [scatter_figure(points)]
    tutorial = {a: [c for c in cells if c.theory_glorot_grad_rms is not None]
                for a, cells in tutorial_cells(run.primary_cells()).items()}
    tutorial = {a: cells for a, cells in tutorial.items() if cells}
    if tutorial:
        figures.append(layers_figure(tutorial))
    widths = fmt.listing([str(w) for w in sorted({p.cell.width for p in points})])
    return TheoryPart(widths, tuple(figures), theory_statements(points))


def theory_points(cells: Sequence[CellStats]) -> tuple[TheoryPoint, ...]:
    """Every network with theory predictions, once per initial weights (an optimizer axis
    trains the same initial network several times: it counts once)."""
    seen: set[tuple[str, str, int, int, int, str]] = set()
    out = []
    for c in cells:
        key = (c.activation, c.initializer, c.depth, c.width, c.seed, c.dataset_id)
        rms = (c.grad_sample_rms_init, c.grad_rms_init, c.theory_glorot_grad_rms, c.theory_meanfield_grad_rms)
        if key in seen or any(r is None for r in rms):
            continue
        seen.add(key)
        out.append(TheoryPoint(c, *(float(layer_attenuation(r, c.depth)) for r in rms)))
    return tuple(out)


def theory_statements(points: Sequence[TheoryPoint]) -> tuple[str, ...]:
    """Where each theory is close and where it is not: median |predicted − measured| attenuation
    in decades, per activation; and how far the whole-dataset gradient sits from the per-example one."""
    sentences = [
        "Median |predicted − measured| attenuation per activation, measured on each example's own "
        "gradient; and how far the whole-dataset gradient's attenuation sits from the per-example "
        "one (negative: it vanishes further, because examples' gradients cancel in the mean)."]
    for act in ordered(p.cell.activation for p in points):
        mine = [p for p in points if p.cell.activation == act]
        errors = []
        for theory, _, _ in THEORIES:
            diffs = [abs(getattr(p, theory) - p.measured) for p in mine
                     if math.isfinite(getattr(p, theory)) and math.isfinite(p.measured)]
            errors.append(float(np.median(diffs)) if diffs else math.nan)
        cancel = [p.measured_dataset - p.measured for p in mine
                  if math.isfinite(p.measured_dataset) and math.isfinite(p.measured)]
        shift = f"; whole dataset {fmt.signed(float(np.median(cancel)))} decades" if cancel else ""
        sentences.append(f"{act} ({fmt.plural(len(mine), 'network')}): linear regime off by "
                         f"{fmt.decades(errors[0], 2)}, mean field by {fmt.decades(errors[1], 2)}{shift}.")
    return tuple(sentences)


def draw_scatter(points: Sequence[TheoryPoint]) -> MplFigure:
    """Predicted (x) against measured (y) attenuation at initialisation, one panel per theory."""
    acts = ordered(p.cell.activation for p in points)
    colour = {a: CATEGORY_COLOURS[k % len(CATEGORY_COLOURS)] for k, a in enumerate(acts)}
    values = np.array([[p.glorot, p.meanfield, p.measured] for p in points], dtype=np.float64)
    finite = values[np.isfinite(values)]
    lo = max(float(np.floor(finite.min())) - 0.5 if finite.size else -1.0, -20.0)
    hi = min(float(np.ceil(finite.max())) + 0.5 if finite.size else 1.0, 20.0)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 2, sharex=True, sharey=True, figsize=(8.6, 4.0))
        for ax, (theory, name, marker) in zip(axes, THEORIES):
            ax.plot([lo, hi], [lo, hi], color="#888", linewidth=1.0, linestyle="--",
                    label="identity: theory = measurement")
            for act in acts:
                mine = [p for p in points if p.cell.activation == act]
                x = np.clip([getattr(p, theory) for p in mine], lo, hi)
                y = np.clip([p.measured for p in mine], lo, hi)
                ax.scatter(x, y, s=16, marker=marker, facecolors="none", edgecolors=colour[act],
                           linewidths=1.0, alpha=0.8, label=act)
            ax.set_xlim(lo, hi)
            ax.set_ylim(lo, hi)
            ax.set_aspect("equal")
            ax.set_title(name, loc="left")
            ax.set_xlabel("predicted attenuation (decades)")
        axes[0].set_ylabel("measured attenuation (decades)")
        axes[1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.tight_layout()
    return fig


def scatter_figure(points: Sequence[TheoryPoint]) -> Figure:
    caption = (f"Every network at initialisation ({len(points)} points per panel): attenuation "
               "of the gradient RMS, log10(first hidden layer / last hidden layer), as predicted "
               "(x) and as measured on each example's own gradient (y), which is what both "
               "theories predict. Attenuation is already a logarithm, so these linear "
               "axes in decades are a log-log plot of the ratios. Points on the dashed identity "
               "line are predicted exactly; points below it vanish more than the theory says. "
               "Left: Glorot & Bengio's linear regime (o); right: the mean-field recursion (△).")
    alt = ("Two scatter plots of predicted against measured gradient attenuation at "
           "initialisation, one per theory, coloured by activation, with the identity line.")
    fmt_ = "png" if len(points) > 300 else "svg"  # hundreds of markers: a PNG is smaller
    return finish(draw_scatter(points), caption, alt, fmt=fmt_)


LAYER_LINES = (("grad_sample_rms_init", "#222", "-", "o", "measured, per example"),
               ("grad_rms_init", "#999", "-", ".", "measured, whole dataset"),
               ("theory_glorot_grad_rms", "#c44e52", "--", "s", "linear regime (Glorot)"),
               ("theory_meanfield_grad_rms", "#4c72b0", ":", "^", "mean field"))


def draw_layers(tutorial: dict[str, list[CellStats]]) -> MplFigure:
    """Per layer at initialisation: measured gradient RMS against both predictions, one panel
    per activation."""
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(tutorial), squeeze=False, figsize=(3.5 * len(tutorial) + 1.4, 3.3))
        for ax, (act, cells) in zip(axes[0], tutorial.items()):
            n_layers = cells[0].depth + 1
            x = np.arange(1, n_layers + 1)
            for attr, colour, style, marker, label in LAYER_LINES:
                band(ax, x, np.stack([getattr(c, attr) for c in cells]), colour, label, log=True)
                ax.lines[-1].set_linestyle(style)
                ax.lines[-1].set_marker(marker)
                ax.lines[-1].set_markersize(4)
            ax.set_yscale("log")
            colour_layer_ticks(ax, n_layers)
            ax.set_title(f"{act} · {short(cells[0].initializer)}", loc="left")
        axes[0, 0].set_ylabel("gradient RMS at initialisation")
        axes[0, -1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.tight_layout()
    return fig


def layers_figure(tutorial: dict[str, list[CellStats]]) -> Figure:
    caption = ("The tutorial's networks before training: the RMS of each layer's kernel gradient, "
               "measured per example (black; what the theories predict), measured on the whole "
               "dataset (grey; what trains the network), and as each theory predicts it (scaled so "
               "the output layer matches; lines: geometric mean over seeds, bands: range). Where a "
               "prediction falls as steeply as the black line from the output (right) to the input "
               "(left), the theory explains the vanishing; where the grey line falls further, "
               "examples' gradients cancel in the mean.")
    alt = (f"Line charts, log scale, one per activation ({', '.join(tutorial)}): measured and "
           "predicted gradient RMS per layer at initialisation.")
    return finish(draw_layers(tutorial), caption, alt)
