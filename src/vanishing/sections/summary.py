"""Summary: the activation x initializer heatmaps and the sentences of what this run found."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vanishing import fmt
from vanishing.aggregate import DepthCurve, Grid, GroupSummary, depth_curves, main_grid, summarize
from vanishing.heatmaps import WHAT, draw_heatmap
from vanishing.links import Links, links_for
from vanishing.plotting import Figure, finish
from vanishing.reader import Run
from vanishing.roles import (
    CHANCE_MARGIN,
    LEARNED_ACCURACY,
    NOTABLE_ATTENUATION,
    task_words,
)
from vanishing.sections.words import FACTORY_DEFINITION, MLP, LayerWords, words_for

EMPTY = ("No activation × initializer grid in this run: nothing to summarise. The default "
         "preset trains one (10 activations × 10 initializers).")
# A depth trend smaller than this (in decades) is "little change".
DEPTH_TREND = 0.5


@dataclass(frozen=True)
class SummaryPart:
    task: str  # what the primary study's networks learn, in words
    networks: str  # '26 networks': how many the summary is about
    primary_note: str
    findings: tuple[str, ...]
    figures: tuple[Figure, ...]
    first: str = MLP.first  # attenuation's numerator and denominator, for its definition
    last: str = MLP.last
    definition: str = ""  # what those are, for a factory's networks


def build(run: Run) -> SummaryPart | None:
    primary = run.primary_cells()
    summaries = summarize(primary)
    grid = main_grid(run.matrices, summaries)
    if grid is None:
        return None
    epochs = max((c.epochs for c in primary), default=None)
    name = _dataset_name(run)
    chance = chance_accuracy(run)
    words = words_for(primary)
    findings = (learned_sentence(grid, epochs, "the circles" if name == "circles" else f"the {name} task",
                                 chance, words),
                *attenuation_sentences(grid, words), stuck_sentence(grid, chance, words),
                depth_sentence(depth_curves(summaries), words),
                *casualty_sentences(sum(c.diverged for c in run.cells), len(run.missing)))
    return SummaryPart(task=task_words(name), networks=fmt.plural(len(primary), "network"),
                       primary_note=primary_note(run, words), findings=tuple(s for s in findings if s),
                       figures=tuple(heatmap(grid, what, words, chance_words(run), links_for(run))
                                     for what in WHAT),
                       first=words.first, last=words.last,
                       definition=FACTORY_DEFINITION if words.factory else "")


def chance_accuracy(run: Run) -> float:
    """Below this mean final accuracy a network 'stayed near chance': a margin above always
    answering the larger class (0.5 + margin on balanced data)."""
    d = run.dataset(run.primary.dataset_id) if run.primary else None
    known = d is not None and d.positive_fraction is not None
    majority = max(d.positive_fraction, 1 - d.positive_fraction) if known else 1 / _classes(run)
    return majority + CHANCE_MARGIN


def _classes(run: Run) -> int:
    """The primary dataset's number of classes (2 unless the manifest says more)."""
    d = run.dataset(run.primary.dataset_id) if run.primary else None
    return d.n_classes if d is not None and d.n_classes and d.n_classes > 2 else 2


def chance_words(run: Run) -> str:
    """What chance is on the primary dataset, for the accuracy heatmap's caption."""
    k = _classes(run)
    return "0.5 on balanced data" if k == 2 else f"1/{k} = {fmt.fixed(1 / k, 2)} on balanced {k}-class data"


def _dataset_name(run: Run) -> str:
    d = run.dataset(run.primary.dataset_id) if run.primary else None
    return d.title if d else "circles"


def primary_note(run: Run, words: LayerWords = MLP) -> str:
    """Said only when the run mixes studies: which cells the first sections use."""
    primary = run.primary_cells()
    if run.primary is None or len(primary) == len(run.cells):
        return ""
    if words.factory:  # a factory's page has no tutorial, saturation, Glorot, theory or boundary section
        return (f"The summary, depth, matrix and network-by-network sections use the {len(primary)} "
                f"networks of the primary study, {run.describe_primary()}. The other "
                f"{len(run.cells) - len(primary)} (other optimizers, other datasets) appear in the "
                "learning-speed, optimizer and real-data sections.")
    return (f"The summary, tutorial, saturation, Glorot, depth, matrix and decision-region "
            f"sections use the {len(primary)} networks of the primary study, "
            f"{run.describe_primary()}. The other {len(run.cells) - len(primary)} (other optimizers, "
            "other datasets) appear in the learning-speed, optimizer, theory and real-data sections.")


# --- the findings, each computed from the numbers it states ---------------------------------

def learned_sentence(grid: Grid, epochs: int | None, task: str, chance: float,
                     words: LayerWords = MLP) -> str:
    present = grid.present()
    learned = [g for g in present if g.final_accuracy.mean >= LEARNED_ACCURACY]
    failed = [g for g in present if g.final_accuracy.n and g.final_accuracy.mean < chance]
    after = f" after {epochs} epochs" if epochs else ""
    return (f"{len(learned)} of {len(present)} activation × initializer pairs with "
            f"{words.depth(grid.depth)} learned {task}{after} (mean final accuracy ≥ {LEARNED_ACCURACY:g}); "
            f"{len(failed)} stayed near chance (< {fmt.fixed(chance, 2)}).")


def attenuation_sentences(grid: Grid, words: LayerWords = MLP) -> tuple[str, ...]:
    """The strongest vanishing, the activations that vanish on average, the exploding pairs,
    and the balanced pairs that learned: at initialisation."""
    finite = [g for g in grid.present() if g.attenuation_init.n and not math.isnan(g.attenuation_init.mean)]
    if not finite:
        return ()
    out = []
    worst = min(finite, key=lambda g: g.attenuation_init.mean)
    if worst.attenuation_init.mean <= -NOTABLE_ATTENUATION:
        acc = worst.final_accuracy
        out.append(f"With {words.depth(grid.depth)}, the strongest vanishing at initialisation is "
                   f"{worst.activation} with "
                   f"{worst.initializer}: {words.first}'s mean |gradient| is smaller than "
                   f"{words.last}'s by {fmt.orders(worst.attenuation_init.mean)} (final "
                   f"accuracy {fmt.mean_std(acc.mean, acc.std, acc.n, 2)}).")
    per_act: dict[str, list[float]] = defaultdict(list)
    for g in finite:
        per_act[g.activation].append(g.attenuation_init.mean)
    vanish = sorted((float(np.mean(v)), a) for a, v in per_act.items() if np.mean(v) <= -NOTABLE_ATTENUATION)
    if vanish:
        listed = ", ".join(f"{a} ({fmt.signed(m, 1)})" for m, a in vanish)
        out.append(f"Averaged over initializers, gradients vanish by more than an order of "
                   f"magnitude {words.across(grid.depth)} at initialisation for: {listed}.")
    explode = [g for g in finite if g.attenuation_init.mean >= NOTABLE_ATTENUATION]
    if explode:
        listed = ", ".join(f"{g.activation} with {g.initializer}" for g in explode[:4])
        more = f" and {len(explode) - 4} more" if len(explode) > 4 else ""
        out.append(f"The opposite, gradients growing towards the input by an order of magnitude "
                   f"or more, happens for {listed}{more}.")
    balanced = [g for g in finite if abs(g.attenuation_init.mean) < 0.5
                and g.final_accuracy.mean >= LEARNED_ACCURACY]
    if balanced:
        inits = Counter(g.initializer for g in balanced)
        out.append(f"{fmt.plural(len(balanced), 'pair')} started within half an order of magnitude and "
                   "learned, "
                   f"spread over {fmt.plural(len(inits), 'initializer')} "
                   f"({inits.most_common(1)[0][0]} most often).")
    return tuple(out)


def _first_layer_grad(groups: Sequence[GroupSummary]) -> float:
    return float(np.median([g.grad_abs_mean_init[0].mean for g in groups]))


def _weight_scale(groups: Sequence[GroupSummary]) -> float:
    """Median over the groups of their median weight std over layers, at initialisation."""
    return float(np.median([np.median([s.mean for s in g.weight_std_init]) for g in groups]))


def _per_layer(groups: Sequence[GroupSummary], attr: str) -> np.ndarray:
    """Median over the groups of each layer's value at initialisation (groups of one depth)."""
    return np.median([[s.mean for s in getattr(g, attr)] for g in groups], axis=0)


def everywhere_small(failed: Sequence[GroupSummary], learned: Sequence[GroupSummary]) -> bool:
    """Every layer's initial weights under half, and its gradient under a tenth, of the learners'.
    Not told when the groups hold different numbers of weight matrices (a factory may build
    them so at one depth): their layers do not pair up."""
    if len({len(g.weight_std_init) for g in (*failed, *learned)}) > 1:
        return False
    with np.errstate(all="ignore"):
        weights = _per_layer(failed, "weight_std_init") < _per_layer(learned, "weight_std_init") / 2
        grads = _per_layer(failed, "grad_abs_mean_init") < _per_layer(learned, "grad_abs_mean_init") / 10
    return bool(np.all(weights) and np.all(grads))


def stuck_sentence(grid: Grid, chance: float, words: LayerWords = MLP) -> str:
    """Initializers with which most activations stay at chance, and how small their weights and
    gradients are beside those of the pairs that learned.

    Tiny initial weights shrink the forward signal as much as the backward one, so the
    attenuation ratio stays near 0 while every layer's gradient is minute: that is said
    only for the initializers whose weights AND gradients are measured small in every layer.
    """
    learned = [g for g in grid.present() if g.final_accuracy.mean >= LEARNED_ACCURACY]
    if not learned:
        return ""
    typical_grad, typical_weight = _first_layer_grad(learned), _weight_scale(learned)
    stuck, tiny = [], []
    for j, init in enumerate(grid.initializers):
        column = [row[j] for row in grid.cells if row[j] is not None and row[j].final_accuracy.n]
        failed = [g for g in column if g.final_accuracy.mean < chance]
        if column and len(failed) * 2 > len(column):
            stuck.append((init, len(failed), len(column), _first_layer_grad(failed), _weight_scale(failed)))
            if everywhere_small(failed, learned):
                tiny.append(init)
    if not stuck:
        return ""
    listed = "; ".join(f"{init} ({n} of {total} activations, {words.first_adjective} mean |gradient| "
                       f"{fmt.sci(grad)}, weight std {fmt.sci(weight)})"
                       for init, n, total, grad, weight in stuck)
    sentence = (f"Some initializers leave most activations at chance: {listed}. In the pairs that "
                f"learned the {words.first_adjective} mean |gradient| is typically "
                f"{fmt.sci(typical_grad)} and the weight std {fmt.sci(typical_weight)}.")
    if tiny:
        sentence += (f" With {fmt.listing(tiny)} {words.every} starts with small weights and the "
                     "gradient is minute everywhere, even where the ratio between layers looks "
                     "balanced.")
    return sentence


def depth_sentence(curves: Sequence[DepthCurve], words: LayerWords = MLP) -> str:
    """How the attenuation at initialisation changes from the shallowest to the deepest network,
    for the activation x initializer that ends most vanishing; NaN (0/0) curves are not told."""
    told = [(c, c.attenuation_init[0].mean, c.attenuation_init[-1].mean) for c in curves]
    told = [t for t in told if not math.isnan(t[2] - t[1])]  # NaN, or −∞ at both ends: no change to tell
    if not told:
        return ""
    curve, a0, a1 = min(told, key=lambda t: t[2])
    change = a1 - a0
    if change < -DEPTH_TREND:
        trend = "With depth it gets worse"
    elif change > DEPTH_TREND:
        trend = ("With depth the gradient grows towards the input" if a1 > 0 else
                 f"With depth the gap between {words.pair} narrows")
    else:
        trend = "Depth changes little here"
    return (f"{trend}: at initialisation {curve.activation} with {curve.initializer} goes from "
            f"{fmt.signed(a0, 1)} at depth {curve.depths[0]} to {fmt.signed(a1, 1)} at depth "
            f"{curve.depths[-1]} ({words.ratio}).")


def casualty_sentences(n_diverged: int, n_missing: int) -> tuple[str, ...]:
    out = []
    if n_diverged:
        out.append(f"{fmt.plural(n_diverged, 'cell')} diverged (loss became NaN or infinite); "
                   + ("it is" if n_diverged == 1 else "they are")
                   + " marked and left out of every end-of-training average.")
    if n_missing:
        out.append(f"{fmt.plural(n_missing, 'cell')} listed in the manifest "
                   + ("has no results file and is left out." if n_missing == 1 else
                      "have no results file and are left out."))
    return tuple(out)


# --- the heatmaps ------------------------------------------------------------------------------

def heatmap(grid: Grid, what: str, words: LayerWords = MLP, chance: str = "0.5 on balanced data",
            links: Links | None = None) -> Figure:
    if what == "accuracy":
        caption = (f"Final accuracy of each activation × initializer ({words.depth(grid.depth)}), "
                   "mean over seeds. Yellow learned the task; dark purple stayed near chance "
                   f"({chance}). * marks pairs where some seeds diverged; they are "
                   "left out of the mean.")
        alt = "Heatmap of final accuracy, activations as rows and initializers as columns."
    else:
        when = "before any training" if what == "attenuation_init" else "after the last epoch"
        first = "layer" if not words.factory else "matrix"
        caption = (f"Gradient attenuation {when} ({words.depth(grid.depth)}): log10 of {words.first}'s "
                   f"mean |gradient| over {words.last}'s. Red cells are "
                   f"vanishing (−2 means the first {first} gets a hundred times less gradient), blue "
                   "cells exploding, white balanced.")
        alt = (f"Heatmap of gradient attenuation {when}, activations as rows, initializers as "
               "columns, diverging colours centred on zero.")
    return finish(draw_heatmap(grid, what, words.label, links), caption, alt)


