"""Real data: the same grids on datasets with more than two features, at each depth run."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from vanishing import fmt
from vanishing.aggregate import depth_curves, grid_of, summarize
from vanishing.heatmaps import draw_panels
from vanishing.links import links_for
from vanishing.plotting import Figure, finish
from vanishing.reader import CellStats, Dataset, Run
from vanishing.roles import ordered, training_label
from vanishing.sections.depth import depth_figure
from vanishing.sections.words import words_for

EMPTY = ("This run trained only on two-feature data. The realdata and full presets add "
         "breast_cancer and digits.")


@dataclass(frozen=True)
class DatasetBlock:
    name: str
    facts: str
    depths: tuple[int, ...]
    figures: tuple[Figure, ...]


@dataclass(frozen=True)
class RealDataPart:
    setting: str  # which datasets and depths this run has
    blocks: tuple[DatasetBlock, ...]


def build(run: Run) -> RealDataPart | None:
    blocks = tuple(dataset_block(run, d, cells) for d, cells in real_datasets(run))
    if not blocks:
        return None
    depths = sorted({d for b in blocks for d in b.depths})
    words = words_for(run.cells)
    return RealDataPart(f"This run: {fmt.listing([b.name for b in blocks])}, with "
                        f"{words.depths(depths)}.", blocks)


def _has_two_features(dataset: Dataset | None, cells: list[CellStats]) -> bool:
    if dataset is not None and dataset.n_features is not None:
        return dataset.n_features == 2
    return all(c.boundary is not None for c in cells)


def real_datasets(run: Run) -> list[tuple[Dataset, list[CellStats]]]:
    """Every dataset other than a 2-feature one, with its cells trained as the primary study
    was (or, when none of its cells was, the way most of them were)."""
    out = []
    for dataset_id in ordered(c.dataset_id for c in run.cells if c.dataset_id):
        mine = [c for c in run.cells if c.dataset_id == dataset_id]
        dataset = run.dataset(dataset_id)
        if _has_two_features(dataset, mine):
            continue
        wanted = (run.primary.optimizer, run.primary.learning_rate) if run.primary else None
        trainings = Counter(c.training for c in mine)
        training = next((t for t in trainings if wanted and t[0] == wanted[0]
                         and math.isclose(t[1], wanted[1])), None) or trainings.most_common(1)[0][0]
        out.append((dataset or Dataset(dataset_id, dataset_id), [c for c in mine if c.training == training]))
    return out


def dataset_block(run: Run, dataset: Dataset, cells: list[CellStats]) -> DatasetBlock:
    summaries = summarize(cells)
    words = words_for(cells)
    depths = tuple(sorted({c.depth for c in cells}))
    grids = tuple(grid_of(f"depth {d}", d, summaries) for d in depths)
    majority = ""
    if dataset.positive_fraction is not None:
        majority = (" Always answering the larger class scores "
                    f"{fmt.fixed(max(dataset.positive_fraction, 1 - dataset.positive_fraction), 2)}.")
    caption = (f"{dataset.title}: each activation × initializer at each depth run (columns: "
               f"{words.depths(depths)}), mean over seeds. Rows: final "
               "accuracy, attenuation before training and after it (log10 of the first over "
               f"{words.last}'s mean |gradient|; red vanishing, blue exploding)." + majority)
    alt = (f"Heatmaps for {dataset.title}: final accuracy and gradient attenuation per activation and "
           "initializer, one column per depth.")
    figures = [finish(draw_panels(grids, ("accuracy", "attenuation_init", "attenuation_end"),
                                  [words.depth(d) for d in depths], words.label, links_for(run)),
                      caption, alt)]
    curves = depth_curves(summaries)
    if curves:
        figures.append(depth_figure(curves, words, links_for(run)))
    facts = ", ".join(x for x in (
        f"{dataset.n_samples} samples" if dataset.n_samples else "",
        f"{dataset.n_features} features" if dataset.n_features else "",
        f"{dataset.n_classes} classes" if dataset.n_classes and dataset.n_classes > 2 else "",
        f"each sample {'×'.join(map(str, dataset.shape))}" if len(dataset.shape) > 1 else "",
        f"{fmt.percent(dataset.positive_fraction)} positive" if dataset.positive_fraction is not None else "",
        f"trained with {training_label(*cells[0].training)}",
        fmt.plural(len(cells), "network")) if x)
    return DatasetBlock(dataset.title, facts, depths, tuple(figures))
