"""Your model: per recorded run, what the gradient did, in sentences from its numbers, and a
table of its recorded weight matrices."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vanishing import fmt
from vanishing.reader import Run
from vanishing.recorded import RecordedRun

EMPTY = "No recorded runs in this directory: record one with vanishing.keras.GradientRecorder."


@dataclass(frozen=True)
class LayerRow:
    layer: int
    path: str
    cls: str
    shape: str
    weights: str
    activation: str
    grad_start: str
    grad_end: str


@dataclass(frozen=True)
class RunBlock:
    name: str
    setting: str
    order: str  # how the layers are ordered, in words
    sentences: tuple[str, ...]
    rows: tuple[LayerRow, ...]


@dataclass(frozen=True)
class YourModelPart:
    runs: tuple[RunBlock, ...]


def build(run: Run) -> YourModelPart | None:
    if not run.recorded:
        return None
    return YourModelPart(tuple(block(r) for r in run.recorded))


def order_words(r: RecordedRun) -> str:
    if r.model_kind == "subclassed":
        return ("Layers are numbered in the model's own trainable_weights order: a subclassed model's "
                "order is its own, not necessarily input side to output side.")
    return ("Weight matrices are numbered in the model's trainable_weights order: from the input "
            "side (1) to the output side, as Keras builds a Sequential or functional model.")


def block(r: RecordedRun) -> RunBlock:
    labels = ", ".join(f"{k} = {v}" for k, v in r.labels)
    setting = ", ".join(x for x in (
        f"model {r.model}" if r.model else "", labels, f"{r.epochs} epochs recorded",
        f"probe of {r.n_probe} samples" if r.n_probe else "",
        f"optimizer {r.optimizer}" + (f" (lr {r.learning_rate:g})" if math.isfinite(r.learning_rate) else "")
        if r.optimizer else "") if x)
    g = r.stats["grad_abs_mean"]
    rows = tuple(LayerRow(layer.layer, layer.path, layer.cls, "×".join(map(str, layer.shape)),
                          f"{layer.weights:,}", layer.activation or "", fmt.sci(g[0, i]),
                          fmt.sci(g[r.end, i]))
                 for i, layer in enumerate(r.layers))
    return RunBlock(r.cell_id, setting, order_words(r), run_sentences(r), rows)


def run_sentences(r: RecordedRun) -> tuple[str, ...]:
    """Attenuation at the start and the end, the layer that got least, the loss, divergence."""
    out = []
    att, n = r.attenuation, len(r.layers)
    if n >= 3:
        first, last = r.layers[0].path, r.layers[-2].path
        out.append(f"Attenuation (log10 of mean |gradient| of {first} over {last}, weight matrix {n - 1} "
                   f"of {n}): {fmt.signed(att[0])} at the start, {fmt.signed(att[r.end])} after "
                   f"{fmt.plural(r.end, 'epoch')}.")
    else:
        out.append(f"With {fmt.plural(len(r.layers), 'recorded weight matrix', 'recorded weight matrices')}, "
                   "there is no attenuation to measure: it compares the first with matrix L−1, the last "
                   "before the final one.")
    g = r.stats["grad_abs_mean"]
    moments = [(0, "At the start")] + ([(r.end, f"After epoch {r.end}")] if r.end else [])
    for epoch, when in moments if n >= 2 else ():  # one matrix: no least and most to tell
        row = g[epoch]
        if np.isfinite(row).any():
            least, most = int(np.nanargmin(row)), int(np.nanargmax(row))
            apart = math.log10(row[most] / row[least]) if row[least] > 0 else math.inf
            out.append(f"{when}, {r.layers[least].path} got the least gradient (mean |g| "
                       f"{fmt.sci(row[least])}) and {r.layers[most].path} the most ({fmt.sci(row[most])}): "
                       f"{fmt.decades(apart)} apart.")
    out.append(f"The probe loss went from {fmt.fixed(r.loss[0], 4)} to {fmt.fixed(r.loss[r.end], 4)}"
               + (f"; accuracy from {fmt.fixed(r.accuracy[0], 3)} to {fmt.fixed(r.accuracy[r.end], 3)}"
                  if np.isfinite(r.accuracy[[0, r.end]]).all() else "") + f" (epoch {r.end}).")
    if r.diverged:
        out.append(f"The probe loss became NaN or infinite at epoch {r.diverged_epoch}: the run diverged, "
                   f"so the numbers above that speak of the end are those of epoch {r.end}.")
    return tuple(out)
