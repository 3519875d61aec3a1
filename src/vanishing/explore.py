"""What the page's panel shows for each group of networks, as one compact JSON block.

A group (links.py) is one activation x initializer x depth trained one way on one dataset; its
panel has every seed's curves over the epochs (each layer's mean |gradient| and update ratio,
the hidden layers' saturated and dead fractions, loss, accuracy) and a table of its numbers.

The numbers a panel prints are formatted here (fmt.sig: three significant digits), from the
same arrays metrics.csv is written from, so the page prints what the file holds. The curves
only need to be drawn: each series is sent as one byte per value, 0..254 across that series' own
range (in log10 for the magnitudes), 255 for no number. A panel's chart spans at least its
series' range in under 255 pixels, so a byte is below a pixel; the default preset's curves
take 1.3 MB instead of the 5 MB that float32 would.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from vanishing import fmt
from vanishing.aggregate import summarize
from vanishing.links import Links, links_for
from vanishing.plotting import layer_colours, layer_keys
from vanishing.reader import FACTORY, MATRIX, CellStats, Run
from vanishing.roles import ordered, training_label

MISSING = 255  # the byte for "no number" (diverged, not measured, or not positive on a log axis)
LEVELS = 254
# (series, logarithmic): what each seed's curves hold, in the order the panel draws them
SERIES = (("grad_abs_mean", True), ("update_ratio", True), ("act_saturated_frac", False),
          ("act_dead_frac", False), ("loss", True), ("accuracy", False))


@dataclass(frozen=True)
class SeedView:
    seed: int
    status: str  # "ok" or "diverged at epoch 12"
    numbers: tuple[str, ...]  # final loss, final accuracy, attenuation at init, after training
    layers: tuple[tuple[str, ...], ...]  # per weight matrix: |g| at epoch 0 and last, update ratio,
    #                                      saturated and dead fractions at the last epoch
    curves: dict[str, tuple[float, float, str]]  # series -> (low, high, base64 bytes)


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


def _last(a: np.ndarray | None, i: int) -> str:
    return fmt.sig(float(a[-1, i])) if a is not None and i < a.shape[1] else fmt.NO_NUMBER


def seed_view(c: CellStats) -> SeedView:
    status = "ok" if not c.diverged else (
        f"diverged at epoch {c.diverged_epoch}" if c.diverged_epoch is not None else "diverged")
    numbers = (fmt.sig(float(c.loss[-1])), fmt.sig(float(c.accuracy[-1])),
               fmt.signed(float(c.attenuation[0])), fmt.signed(float(c.attenuation[-1])))
    layers = tuple((fmt.sig(float(c.grad_abs_mean[0, i])), fmt.sig(float(c.grad_abs_mean[-1, i])),
                    _last(c.update_ratio, i), _last(c.act_saturated_frac, i), _last(c.act_dead_frac, i))
                   for i in range(c.layers))
    curves = {}
    for name, log in SERIES:
        a = getattr(c, name)
        if a is not None and np.isfinite(a).any():
            curves[name] = pack(a, log)
    return SeedView(c.seed, status, numbers, layers, curves)


def group_view(cells: Sequence[CellStats], links: Links) -> GroupView:
    first = cells[0]
    training = training_label(*first.training) if first.optimizer else ""
    data = links.data_label(first.dataset_id) if first.dataset_id else ""
    n = max(c.layers for c in cells)
    if first.kind == FACTORY:
        names: tuple[str, ...] = tuple(f"M{i + 1}" for i in range(n))
    else:
        names = tuple(k.label for k in layer_keys(n, short=True))
    hidden = max((c.act_saturated_frac.shape[1] for c in cells if c.act_saturated_frac is not None),
                 default=0)
    g = summarize(cells)[0]
    mean = (fmt.mean_std(g.final_loss.mean, g.final_loss.std, g.final_loss.n),
            fmt.mean_std(g.final_accuracy.mean, g.final_accuracy.std, g.final_accuracy.n),
            fmt.mean_std(g.attenuation_init.mean, g.attenuation_init.std, g.attenuation_init.n, 2, True),
            fmt.mean_std(g.attenuation_end.mean, g.attenuation_end.std, g.attenuation_end.n, 2, True))
    title = " · ".join(x for x in (first.activation, first.initializer, f"depth {first.depth}",
                                   training, data) if x)
    return GroupView(
        href=links.href(first.activation, first.initializer, first.depth, training, first.dataset_id),
        activation=first.activation, initializer=first.initializer, depth=first.depth,
        training=training, data=data, title=title, epochs=max(c.epochs for c in cells),
        layers=names, colours=layer_colours(n), hidden=hidden, mean=mean,
        seeds=tuple(seed_view(c) for c in sorted(cells, key=lambda c: c.seed)))


def groups(run: Run) -> tuple[GroupView, ...]:
    """Every group of the run's matrix networks (the built-in MLP's and a factory's)."""
    links = links_for(run)
    by_key: dict[tuple, list[CellStats]] = {}
    for c in run.cells:
        if c.kind in (MATRIX, FACTORY):
            key = (c.kind, c.activation, c.initializer, c.depth, c.training, c.dataset_id)
            by_key.setdefault(key, []).append(c)
    order = ordered(by_key)
    return tuple(group_view(by_key[k], links) for k in order)


def explore_json(run: Run) -> str:
    """The panel's data as JSON that is safe inside a <script> element: no '<', '>' or '&'
    survives as itself, so no label can end the block (``</script``) or open a comment."""
    links = links_for(run)
    data = {"primary": {"training": links.primary_training, "data": links.primary_data},
            "series": [name for name, _ in SERIES], "log": [log for _, log in SERIES],
            "missing": MISSING, "levels": LEVELS,
            "groups": [asdict(g) for g in groups(run)]}
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))
