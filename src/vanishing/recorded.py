"""A run the Keras recorder wrote (vanishing.keras.GradientRecorder): its typed form.

The recorder stores per-variable statistics directly ([epochs+1, L] arrays) rather
than the kernels a matrix cell keeps, so this is its own type beside reader.CellStats;
reader.load_run builds both. Layers are the recorded weight matrices 1..L in the
model's trainable_weights order; "hidden" for attenuation means all but the last.
A model factory's cell (`vanishing train` with ``[model] factory``) is measured by the
same recorder: its run has kind "factory" (its manifest entry's source) instead of "keras".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from vanishing.results import ResultsError
from vanishing.stats import layer_attenuation

KERAS = "keras"  # a run recorded by the user's own script
STATISTICS = ("weight_mean", "weight_std", "grad_mean", "grad_std", "grad_abs_mean", "grad_norm",
              "update_ratio")
ACTIVATION_STATISTICS = ("act_mean", "act_std", "act_saturated_frac", "act_dead_frac")


@dataclass(frozen=True)
class RecordedLayer:
    """One recorded weight matrix: its variable's path, owning layer's class and activation."""

    layer: int
    path: str
    cls: str
    shape: tuple[int, ...]
    activation: str | None
    weights: int


@dataclass(frozen=True)
class Histogram:
    """Counts over bin edges at the start, middle and end (one row each)."""

    edges: np.ndarray  # [snapshots, bins+1]
    counts: np.ndarray  # [snapshots, bins]


@dataclass(frozen=True)
class RecordedRun:
    cell_id: str
    labels: tuple[tuple[str, str], ...]
    model: str
    model_kind: str  # sequential, functional or subclassed
    layers: tuple[RecordedLayer, ...]
    status: str
    diverged_epoch: int | None
    optimizer: str
    learning_rate: float
    n_probe: int | None
    loss: np.ndarray  # [epochs+1]
    accuracy: np.ndarray  # [epochs+1], NaN without an accuracy metric
    stats: dict[str, np.ndarray]  # STATISTICS and ACTIVATION_STATISTICS -> [epochs+1, L]
    hist_epochs: tuple[int, ...] = ()
    grad_hist: tuple[Histogram, ...] = ()  # per layer, of log10 |g|
    act_hist: tuple[Histogram, ...] = ()  # per layer, of the owning layer's output values
    time_grad_abs_mean: np.ndarray | None = None  # [epochs+1, T]
    kind: str = KERAS  # KERAS, or "factory" for a cell of a model factory's matrix

    @property
    def diverged(self) -> bool:
        return self.status != "ok"

    @property
    def epochs(self) -> int:
        return int(self.loss.shape[0]) - 1

    @property
    def end(self) -> int:
        """The epoch the end-of-run numbers are taken at: the last, or the last before a divergence."""
        if self.diverged and self.diverged_epoch:
            return self.diverged_epoch - 1
        return self.epochs

    @property
    def label(self) -> dict[str, str]:
        return dict(self.labels)

    # The labels that feed the same heatmaps as the matrix (sections.runs groups by these).
    @property
    def activation(self) -> str:
        return self.label.get("activation", "")

    @property
    def initializer(self) -> str:
        return self.label.get("initializer", "")

    @property
    def depth(self) -> int:
        """The depth label when given, else the recorded matrices before the output's."""
        given = self.label.get("depth", "")
        return int(given) if given.lstrip("-").isdigit() else len(self.layers) - 1

    @property
    def seed(self) -> int:
        given = self.label.get("seed", "")
        return int(given) if given.lstrip("-").isdigit() else 0

    @property
    def attenuation(self) -> np.ndarray:
        """log10 mean |g| of the first recorded matrix over matrix L-1 (the last before the final
        one; for a Dense output layer, the last before the output's), per epoch; NaN when the
        model has fewer than three."""
        return matrix_attenuation(self.stats["grad_abs_mean"])


def matrix_attenuation(grad_abs_mean: np.ndarray) -> np.ndarray:
    """Attenuation per epoch of a [epochs+1, L] mean |g| over weight matrices 1..L: the first over
    matrix L-1, the last before the final one; NaN when L < 3. For the built-in MLP (L = depth+1,
    the last the output logit) that is its first hidden layer over its last."""
    g = np.asarray(grad_abs_mean)
    if g.shape[-1] < 3:
        return np.full(g.shape[:-1], np.nan)
    return layer_attenuation(g, g.shape[-1] - 1)


def _histograms(arrays: dict[str, np.ndarray], prefix: str, layers: int) -> tuple[Histogram, ...]:
    keys = [(f"{prefix}_hist_edges_{layer}", f"{prefix}_hist_counts_{layer}")
            for layer in range(1, layers + 1)]
    if not all(e in arrays and c in arrays for e, c in keys):
        return ()
    return tuple(Histogram(np.asarray(arrays[e], np.float64), np.asarray(arrays[c], np.float64))
                 for e, c in keys)


def _layers(info: dict[str, Any]) -> tuple[RecordedLayer, ...]:
    return tuple(RecordedLayer(int(d["layer"]), str(d["path"]), str(d.get("class") or ""),
                               tuple(int(n) for n in d.get("shape") or ()), d.get("activation"),
                               int(d.get("weights") or 0))
                 for d in info["layers"])


def recorded_run(info: dict[str, Any], arrays: dict[str, np.ndarray]) -> RecordedRun:
    """A recorded run from its manifest entry and stored arrays; ResultsError when one is missing."""
    layers = _layers(info)
    try:
        loss = np.asarray(arrays["loss"], np.float64)
        shape = (loss.shape[0], len(layers))
        stats = {k: np.asarray(arrays[k], np.float64).reshape(shape) for k in STATISTICS}
    except KeyError as e:
        raise ResultsError(f"recorded run {info.get('cell_id')!r}: array {e} missing") from None
    except ValueError as e:
        raise ResultsError(f"recorded run {info.get('cell_id')!r}: arrays of inconsistent shape "
                           f"({e})") from None
    for k in ACTIVATION_STATISTICS:
        stats[k] = np.asarray(arrays[k], np.float64).reshape(shape) if k in arrays else np.full(shape, np.nan)
    rate, probe, diverged = info.get("learning_rate"), info.get("probe") or {}, info.get("diverged_epoch")
    time = arrays.get("time_grad_abs_mean")
    return RecordedRun(
        cell_id=str(info["cell_id"]),
        labels=tuple((str(k), str(v)) for k, v in (info.get("labels") or {}).items()),
        model=str(info.get("model") or ""), model_kind=str(info.get("model_kind") or ""), layers=layers,
        status=str(info.get("status", "ok")), diverged_epoch=None if diverged is None else int(diverged),
        optimizer=str(info.get("optimizer") or ""),
        learning_rate=float(rate) if isinstance(rate, (int, float)) else math.nan,
        n_probe=int(probe["n_samples"]) if isinstance(probe.get("n_samples"), int) else None,
        loss=loss, accuracy=np.asarray(arrays.get("accuracy", np.full(loss.shape, np.nan)), np.float64),
        stats=stats, hist_epochs=tuple(int(e) for e in arrays.get("hist_epochs", ())),
        grad_hist=_histograms(arrays, "grad", len(layers)), act_hist=_histograms(arrays, "act", len(layers)),
        time_grad_abs_mean=None if time is None else np.asarray(time, np.float64),
        kind=str(info.get("source") or KERAS))
