"""Optimizers: the same networks from the same initial weights, trained several ways."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np

from vanishing import fmt
from vanishing.aggregate import Grid, grid_of, summarize
from vanishing.heatmaps import draw_panels
from vanishing.links import links_for
from vanishing.plotting import finish
from vanishing.reader import CellStats, Run
from vanishing.roles import LEARNED_ACCURACY, TUTORIAL_DEPTH, ordered, training_label, training_order
from vanishing.sections.base import Part
from vanishing.sections.words import words_for

EMPTY = ("This run trained every network with one optimizer. The optimizers and full presets add "
         "an optimizer axis (sgd, momentum, rmsprop, adam).")


@dataclass(frozen=True)
class OptimizerStudy:
    """Activation x initializer cells trained with several optimizers on the primary dataset."""

    dataset_id: str
    depth: int
    trainings: tuple[tuple[str, float], ...]  # (optimizer, learning rate), display order
    grids: tuple[Grid, ...]  # per training
    cells: tuple[CellStats, ...]


def optimizer_study(run: Run) -> OptimizerStudy | None:
    """The cells on the primary dataset whose activation x initializer x depth was trained in
    two or more ways; None when the run has no optimizer axis."""
    dataset = run.primary.dataset_id if run.primary else None
    on_data = [c for c in run.cells if dataset is None or not c.dataset_id or c.dataset_id == dataset]
    ways: dict[tuple[str, str, int], set[tuple[str, float]]] = defaultdict(set)
    for c in on_data:
        ways[(c.activation, c.initializer, c.depth)].add(c.training)
    keys = {k for k, v in ways.items() if len(v) >= 2}
    if not keys:
        return None
    depths = Counter(d for _, _, d in keys)
    depth = max(depths, key=lambda d: (depths[d], d == TUTORIAL_DEPTH))
    cells = [c for c in on_data if (c.activation, c.initializer, c.depth) in keys and c.depth == depth]
    trainings = tuple(sorted({c.training for c in cells}, key=training_order))
    acts, inits = ordered(c.activation for c in cells), ordered(c.initializer for c in cells)
    grids = tuple(grid_of(training_label(*t), depth, summarize([c for c in cells if c.training == t]),
                          acts, inits) for t in trainings)
    return OptimizerStudy(dataset or cells[0].dataset_id, depth, trainings, grids, tuple(cells))


def build(run: Run) -> Part | None:
    study = optimizer_study(run)
    if study is None:
        return None
    labels = [g.name for g in study.grids]
    data = run.dataset(study.dataset_id)
    words = words_for(study.cells)
    caption = (f"Each optimizer side by side ({words.depth(study.depth)}, "
               f"{data.title if data else study.dataset_id}; mean over seeds). Top: final accuracy "
               "(yellow learned, purple chance). Bottom: attenuation after training, log10 of the "
               f"first over {words.last}'s mean |gradient| (red vanishing, blue exploding). "
               "At initialisation every optimizer starts from the same weights, so only training "
               "can make them differ. * marks pairs where some seeds diverged: they are left out of "
               "the mean; “n/m div.” where all did.")
    alt = (f"Heatmaps, one column per optimizer ({', '.join(labels)}): final accuracy and "
           "attenuation after training for each activation × initializer.")
    figure = finish(draw_panels(study.grids, ("accuracy", "attenuation_end"), labels, words.label,
                                links_for(run)),
                    caption, alt)
    diverged = [c for c in study.cells if c.diverged]
    note = ""
    if diverged:
        note = (f"{len(diverged)} of {len(study.cells)} networks diverged: "
                + ", ".join(f"{c.cell_id} ({training_label(*c.training)}, epoch {c.diverged_epoch})"
                            for c in diverged) + ".")
    return Part(figures=(figure,), sentences=optimizer_sentences(study), note=note)


def optimizer_sentences(study: OptimizerStudy) -> tuple[str, ...]:
    """Per optimizer: how many pairs learned, and the median attenuation after training."""
    out = []
    for grid in study.grids:
        present = [g for g in grid.present() if g.final_accuracy.n]
        learned = sum(g.final_accuracy.mean >= LEARNED_ACCURACY for g in present)
        # −∞ (a first layer with no gradient at all) counts: np.median orders it; NaN has no place.
        ends = [g.attenuation_end.mean for g in present if not math.isnan(g.attenuation_end.mean)]
        median = fmt.signed(float(np.median(ends)), 1) if ends else fmt.NO_NUMBER
        out.append(f"{grid.name}: {learned} of {len(grid.present())} activation × initializer "
                   f"pairs learned (mean accuracy ≥ {LEARNED_ACCURACY:g}); median attenuation after "
                   f"training {median}.")
    return tuple(out)
