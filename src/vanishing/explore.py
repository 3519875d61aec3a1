"""What the page's panel shows for each group of networks, as one compact JSON block.

A group (links.py) is one activation x initializer x depth trained one way on one dataset, or
recorded runs of your own model sharing those labels; its panel has every seed's (run's)
curves over the epochs (each layer's mean |gradient| and update ratio, the saturated and dead
fractions, loss, accuracy) and a table of its numbers.

The numbers a panel prints are formatted here (fmt.sig: three significant digits), from the
same arrays metrics.csv is written from, so the page prints what the file holds. The curves
only need to be drawn: each series is sent as one byte per value, 0..254 across that series' own
range (in log10 for the magnitudes), 255 for no number. A panel's chart spans at least its
series' range in under 255 pixels, so a byte is below a pixel. The default preset's 1.29
million curve values take 1.7 MB of the page this way; as float32 they would take 6.9 MB, more
than the page's budget leaves.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from vanishing import fmt
from vanishing.aggregate import Stat, summarize
from vanishing.links import Links, links_for, run_href, run_key
from vanishing.plotting import layer_colours, layer_keys
from vanishing.reader import FACTORY, MATRIX, CellStats, Run
from vanishing.recorded import KERAS, RecordedRun
from vanishing.roles import ordered, training_label

MISSING = 255  # the byte for "no number" (diverged, not measured, or not positive on a log axis)
LEVELS = 254


@dataclass(frozen=True)
class Series:
    """One chart of the panel: a per-epoch array of every seed, its columns drawn as lines."""

    name: str  # the array (metrics.csv's column)
    title: str
    log: bool
    columns: str  # "layers" (every weight matrix), "hidden" (the hidden layers) or "one"


SERIES = (Series("grad_abs_mean", "Mean |gradient| per layer", True, "layers"),
          Series("update_ratio", "Update ratio ‖ΔW‖/‖W‖ per layer", True, "layers"),
          Series("act_saturated_frac", "Saturated fraction per hidden layer", False, "hidden"),
          Series("act_dead_frac", "Dead units per hidden layer", False, "hidden"),
          Series("loss", "Loss", True, "one"),
          Series("accuracy", "Accuracy", False, "one"))


@dataclass(frozen=True)
class SeedView:
    name: str  # the seed, or a recorded run's name
    status: str  # "ok" or "diverged at epoch 12"
    numbers: tuple[str, ...]  # final loss, final accuracy, attenuation at init, after training
    layers: tuple[tuple[str, ...], ...]  # per weight matrix: |g| at epoch 0 and last, update ratio,
    #                                      saturated and dead fractions at the last epoch
    curves: tuple[tuple[str, tuple[float, float, str]], ...]  # (series, (low, high, base64 bytes))


@dataclass(frozen=True)
class GroupView:
    href: str  # the group's link, as every mark standing for it has it
    activation: str
    initializer: str
    depth: int
    training: str
    data: str
    title: str
    epochs: int
    layers: tuple[str, ...]  # the weight matrices' labels, input side first
    colours: tuple[str, ...]
    hidden: int  # how many of the layers have saturated and dead fractions (0: not measured)
    mean: tuple[str, ...]  # numbers as mean ± std over the seeds that count
    seeds: tuple[SeedView, ...]
    runs: tuple[str, ...] = ()  # recorded runs: the names a #run= link may give


def pack(values: np.ndarray, log: bool) -> tuple[float, float, str]:
    """(low, high, base64) of a series, epoch-major, one byte per value."""
    v = np.asarray(values, np.float64)
    with np.errstate(all="ignore"):
        if log:
            v = np.where(v > 0, np.log10(v), np.nan)
    finite = np.isfinite(v)
    q = np.full(v.shape, MISSING, np.uint8)
    if not finite.any():
        return 0.0, 0.0, base64.b64encode(q.tobytes()).decode("ascii")
    lo, hi = float(v[finite].min()), float(v[finite].max())
    q[finite] = np.rint((v[finite] - lo) / ((hi - lo) or 1.0) * LEVELS).astype(np.uint8)
    return round(lo, 6), round(hi, 6), base64.b64encode(q.tobytes()).decode("ascii")


def _at(a: np.ndarray | None, epoch: int, i: int) -> str:
    return fmt.sig(float(a[epoch, i])) if a is not None and i < a.shape[1] else fmt.NO_NUMBER


def series(network: CellStats | RecordedRun, name: str) -> np.ndarray | None:
    """One of SERIES of a matrix cell or a recorded run (whose per-matrix numbers are in stats)."""
    if isinstance(network, RecordedRun) and name not in ("loss", "accuracy"):
        return network.stats.get(name)
    return getattr(network, name)


def seed_view(c: CellStats | RecordedRun, name: str) -> SeedView:
    """One network's numbers and curves. Its end numbers are the last epoch's, as the matrix
    table's are; a recorded run's that diverged, the last epoch's before (as the table of your
    runs has them), and its status says which epoch that is."""
    end = c.end if isinstance(c, RecordedRun) else c.epochs
    status = "ok" if not c.diverged else (
        f"diverged at epoch {c.diverged_epoch}" if c.diverged_epoch is not None else "diverged")
    if end != c.epochs:
        status += f" (end numbers: epoch {end})"
    numbers = (fmt.sig(float(c.loss[end])), fmt.sig(float(c.accuracy[end])),
               fmt.signed(float(c.attenuation[0])), fmt.signed(float(c.attenuation[end])))
    grad = series(c, "grad_abs_mean")
    at_end = [series(c, s) for s in ("update_ratio", "act_saturated_frac", "act_dead_frac")]
    layers = tuple((fmt.sig(float(grad[0, i])), fmt.sig(float(grad[end, i])),
                    *(_at(a, end, i) for a in at_end)) for i in range(grad.shape[1]))
    curves = []
    for s in SERIES:
        a = series(c, s.name)
        if a is not None and np.isfinite(a).any():
            curves.append((s.name, pack(a, s.log)))
    return SeedView(name, status, numbers, layers, tuple(curves))


def _means(loss: Stat, accuracy: Stat, at_init: Stat, at_end: Stat) -> tuple[str, ...]:
    """The seeds table's last row: mean ± std over the seeds that count (the end numbers leave
    the diverged out, as the matrix table does)."""
    return (fmt.mean_std(loss.mean, loss.std, loss.n), fmt.mean_std(accuracy.mean, accuracy.std, accuracy.n),
            fmt.mean_std(at_init.mean, at_init.std, at_init.n, 2, True),
            fmt.mean_std(at_end.mean, at_end.std, at_end.n, 2, True))


def group_view(cells: Sequence[CellStats], links: Links) -> GroupView:
    first = cells[0]
    training = links.training_label(*first.training)
    data = links.data_label(first.dataset_id)
    n = max(c.layers for c in cells)
    if first.kind == FACTORY:
        names: tuple[str, ...] = tuple(f"M{i + 1}" for i in range(n))
    else:
        names = tuple(k.label for k in layer_keys(n, short=True))
    hidden = max((c.act_saturated_frac.shape[1] for c in cells if c.act_saturated_frac is not None),
                 default=0)
    g = summarize(cells)[0]
    mean = _means(g.final_loss, g.final_accuracy, g.attenuation_init, g.attenuation_end)
    title = " · ".join(x for x in (first.activation, first.initializer, f"depth {first.depth}",
                                   training, data) if x)
    return GroupView(
        href=links.href(first.activation, first.initializer, first.depth, training, first.dataset_id),
        activation=first.activation, initializer=first.initializer, depth=first.depth,
        training=training, data=data, title=title, epochs=max(c.epochs for c in cells),
        layers=names, colours=layer_colours(n), hidden=hidden, mean=mean,
        seeds=tuple(seed_view(c, str(c.seed)) for c in sorted(cells, key=lambda c: c.seed)))


def run_view(runs: Sequence[RecordedRun]) -> GroupView:
    """Recorded runs of one group (links.run_key), each a 'seed' named by the run."""
    first = runs[0]
    n = max(len(r.layers) for r in runs)
    # the reader fills the activation statistics a recording lacks with NaN
    measured = [r.stats[k] for r in runs for k in ("act_saturated_frac", "act_dead_frac") if k in r.stats]
    hidden = n if any(np.isfinite(a).any() for a in measured) else 0
    ok = [r for r in runs if not r.diverged]
    mean = _means(Stat.of(r.loss[-1] for r in ok), Stat.of(r.accuracy[-1] for r in ok),
                  Stat.of(r.attenuation[0] for r in runs), Stat.of(r.attenuation[-1] for r in ok))
    labelled = len(run_key(first)) == 3
    title = (" · ".join((first.activation, first.initializer, f"depth {first.depth}", "recorded"))
             if labelled else first.cell_id)
    return GroupView(
        href=run_href(first.cell_id), activation=first.activation, initializer=first.initializer,
        depth=first.depth, training=training_label(first.optimizer, first.learning_rate), data="",
        title=title, epochs=max(r.epochs for r in runs), layers=tuple(f"M{i + 1}" for i in range(n)),
        colours=layer_colours(n), hidden=hidden, mean=mean,
        seeds=tuple(seed_view(r, r.cell_id) for r in runs), runs=tuple(r.cell_id for r in runs))


def groups(run: Run, links: Links | None = None) -> tuple[GroupView, ...]:
    """Every group of the run's matrix networks (the built-in MLP's and a factory's), then of its
    recorded runs."""
    links = links or links_for(run)
    by_key: dict[tuple, list[CellStats]] = {}
    for c in run.cells:
        if c.kind in (MATRIX, FACTORY):
            # by the labels the page names it with: a cell without an optimizer or dataset
            # label is the primary study's, as every section takes it
            key = (c.kind, c.activation, c.initializer, c.depth, links.training_label(*c.training),
                   links.data_label(c.dataset_id))
            by_key.setdefault(key, []).append(c)
    recorded: dict[tuple, list[RecordedRun]] = {}
    for r in run.recorded:
        if r.kind == KERAS:
            recorded.setdefault(run_key(r), []).append(r)
    return (tuple(group_view(by_key[k], links) for k in ordered(by_key))
            + tuple(run_view(members) for members in recorded.values()))


def explore_json(run: Run) -> str:
    """The panel's data as JSON that is safe inside a <script> element: no '<', '>' or '&'
    survives as itself, so no label can end the block (``</script``) or open a comment."""
    links = links_for(run)
    data = {"primary": {"training": links.primary_training, "data": links.primary_data},
            "series": [asdict(s) for s in SERIES],
            "missing": MISSING, "levels": LEVELS,
            "groups": [asdict(g) for g in groups(run, links)]}
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))
