"""Where a group of networks lives on the page: the ``#cell=`` link that opens its panel, and the
words a hover shows over a heatmap cell, a table row or a depth marker that stands for it.

A group is one activation x initializer x depth trained one way (optimizer and learning rate)
on one dataset, over its seeds. Recorded runs of your own model group the same way when their
labels name an activation and an initializer (else each run is its own group), and are linked
as ``#run=NAME`` (any of the group's runs). Its link names it by the labels the page shows:
``#cell=ACTIVATION/INITIALIZER/DEPTH``, each label percent-encoded; ``&optimizer=...`` and
``&data=...`` follow only when they differ from the run's primary study, so the links of the
matrix most sections show stay short (``#cell=sigmoid/glorot_uniform/4``) and a link without
them means the primary study.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote

from vanishing import fmt
from vanishing.aggregate import GroupSummary, Stat
from vanishing.reader import Run
from vanishing.recorded import RecordedRun
from vanishing.roles import training_label


class Hrefs(Protocol):
    """What a figure needs to link its marks: the link of the group a mark stands for."""

    def group_href(self, g: GroupSummary) -> str: ...


@dataclass(frozen=True)
class Links:
    """The page's rule for naming a group: the primary study's labels, and each dataset's."""

    primary_training: str  # training_label of the primary study; "" without one
    primary_data: str  # the primary dataset's label; "" without one
    data_labels: tuple[tuple[str, str], ...] = ()  # (dataset_id, label as the page shows it)

    def data_label(self, dataset_id: str) -> str:
        """How the page names a dataset; a cell with none (results older than the axis) is in
        the primary study, as reader.Study.holds has it."""
        if not dataset_id:
            return self.primary_data
        return dict(self.data_labels).get(dataset_id, dataset_id)

    def training_label(self, optimizer: str, learning_rate: float) -> str:
        """How the page names a training; a cell with no optimizer label is the primary study's."""
        return training_label(optimizer, learning_rate) if optimizer else self.primary_training

    def href(self, activation: str, initializer: str, depth: int, training: str = "",
             dataset_id: str = "") -> str:
        """``#cell=relu/he_normal/4``, then ``&optimizer=`` and ``&data=`` off the primary study."""
        parts = "/".join(quote(str(x), safe="") for x in (activation, initializer, depth))
        out = f"#cell={parts}"
        if training and training != self.primary_training:
            out += f"&optimizer={quote(training, safe='')}"
        data = self.data_label(dataset_id)
        if data and data != self.primary_data:
            out += f"&data={quote(data, safe='')}"
        return out

    def group_href(self, g: GroupSummary) -> str:
        return self.href(g.activation, g.initializer, g.depth, g.training, g.dataset_id)


def run_href(name: str) -> str:
    """``#run=NAME``: a recorded run's panel (the group it belongs to)."""
    return f"#run={quote(name, safe='')}"


def run_key(r: RecordedRun) -> tuple:
    """What groups recorded runs: their activation, initializer and depth labels, else the run."""
    return (r.activation, r.initializer, r.depth) if r.activation and r.initializer else (r.cell_id,)


@dataclass(frozen=True)
class RunLinks:
    """A heatmap of recorded runs links each cell to its group's first run."""

    first: tuple[tuple[tuple, str], ...]  # (run_key, the first run's name)

    @classmethod
    def of(cls, runs: Sequence[RecordedRun]) -> RunLinks:
        first: dict[tuple, str] = {}
        for r in runs:
            first.setdefault(run_key(r), r.cell_id)
        return cls(tuple(first.items()))

    def group_href(self, g: GroupSummary) -> str:
        return run_href(dict(self.first)[(g.activation, g.initializer, g.depth)])


def links_for(run: Run) -> Links:
    """The naming rule of this run. A dataset is named by its title (what the real-data section
    shows); two datasets with one title (circles at two noise levels) by their ids."""
    titles = {d.dataset_id: d.title for d in run.datasets}
    for dataset_id in {c.dataset_id for c in run.cells if c.dataset_id} - set(titles):
        titles[dataset_id] = dataset_id
    repeated = {t for t, n in Counter(titles.values()).items() if n > 1}
    labels = tuple((i, i if t in repeated else t) for i, t in titles.items())
    p = run.primary
    training = training_label(p.optimizer, p.learning_rate) if p and p.optimizer else ""
    data = dict(labels).get(p.dataset_id, p.dataset_id) if p else ""
    return Links(training, data, labels)


def group_words(g: GroupSummary) -> str:
    """'sigmoid · glorot_uniform · depth 4': a group as a hover's first line names it."""
    return f"{g.activation} · {g.initializer} · depth {g.depth}"


def seeds_words(g: GroupSummary) -> str:
    """'3 seeds, 1 diverged (seed 2 at epoch 12)' or '3 seeds, none diverged'."""
    seeds = fmt.plural(len(g.seeds), "seed")
    if not g.diverged:
        return f"{seeds}, none diverged"
    which = ", ".join(f"seed {s} at epoch {e}" for s, e in g.diverged)
    return f"{seeds}, {len(g.diverged)} diverged ({which})"


def stat_words(name: str, s: Stat, sign: bool = False) -> str:
    """'final accuracy 0.512 ± 0.004 (mean ± std over 3 seeds)'; one seed: its value."""
    if s.n == 0 or math.isnan(s.mean):
        return f"{name} {fmt.NO_NUMBER} (no seed that counts)"
    value = fmt.mean_std(s.mean, s.std, s.n, 3, sign=sign)
    over = f"mean ± std over {s.n} seeds" if s.n > 1 else "1 seed"
    return f"{name} {value} ({over})"


def hover(g: GroupSummary, name: str, s: Stat, sign: bool = False) -> str:
    """What a hover over a mark standing for group g says: which group, the value drawn as mean ±
    std over the seeds that count, how many seeds, which diverged."""
    training = f" · {g.training}" if g.training else ""
    return f"{group_words(g)}{training}\n{stat_words(name, s, sign)}\n{seeds_words(g)}"


OPENS = "\nClick, or Enter, for every seed's curves."  # what a mark with a link adds to its hover


def group_mark(g: GroupSummary, name: str, s: Stat, links: Hrefs | None, sign: bool = False
               ) -> tuple[str, str]:
    """(hover, href) of a figure's mark standing for group g (plotting.mark); with ``links``,
    the hover also says what choosing the mark opens."""
    words = hover(g, name, s, sign)
    return (words, "") if links is None else (words + OPENS, links.group_href(g))
