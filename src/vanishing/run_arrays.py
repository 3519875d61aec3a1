"""A recorded run's arrays, epoch by epoch: Measurements in, the cell file's arrays out.

Kept small on purpose: statistics and histograms per epoch, full kernels only when
every recorded variable together holds at most KERNEL_LIMIT weights.
"""

from __future__ import annotations

import math

import numpy as np

from vanishing.probe import Measurement
from vanishing.recorder_io import accuracy_name
from vanishing.stats import matrix_statistics, relative_change

KERNEL_LIMIT = 20_000  # weights, all recorded variables together: full kernels kept up to this
HIST_BINS = 40
_PER_LAYER = ("weight_mean", "weight_std", "grad_mean", "grad_std", "grad_abs_mean", "grad_norm",
              "update_ratio", "act_mean", "act_std", "act_saturated_frac", "act_dead_frac")


def _histogram(values: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """40 counts and 41 equal-width edges over the finite values (none: zero counts over [0, 1]).

    Bins by index arithmetic and bincount: an activation histogram runs over every value of a
    layer's output on the whole probe at every epoch (millions for a convnet), and
    np.histogram took most of the recorder's time there. Bins are [e_i, e_i+1), the last closed.
    """
    empty = np.zeros(HIST_BINS, np.int64), np.linspace(0.0, 1.0, HIST_BINS + 1)
    if values is None or values.size == 0:
        return empty
    values = values.ravel()
    lo, hi = float(values.min()), float(values.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):  # the copy only when a run went non-finite
        values = values[np.isfinite(values)]
        if values.size == 0:
            return empty
        lo, hi = float(values.min()), float(values.max())
    # Values (nearly) all equal, as in a diverged run: a range that splits into 40 bins.
    pad = max(abs(lo), abs(hi), 1.0) * 1e-6
    if hi - lo <= pad:
        lo, hi = lo - pad, hi + pad
    edges = np.linspace(lo, hi, HIST_BINS + 1)
    if not np.all(np.isfinite(edges)):  # a range too wide for float64 (values near its limits)
        return empty
    index = ((values - lo) * (HIST_BINS / (hi - lo))).astype(np.int64)
    np.clip(index, 0, HIST_BINS - 1, out=index)
    return np.bincount(index, minlength=HIST_BINS).astype(np.int64), edges


def gradient_histogram(grad: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Histogram of log10 |g| over the non-zero entries, and the fraction of exact zeros."""
    g = np.abs(np.asarray(grad, np.float64).ravel())
    nonzero = g[g != 0]
    with np.errstate(divide="ignore"):
        counts, edges = _histogram(np.log10(nonzero))
    return counts, edges, float(np.mean(g == 0)) if g.size else math.nan


class RunArrays:
    """Everything a recorded run keeps, appended one measurement per epoch."""

    def __init__(self, weights_total: int, epochs_planned: int) -> None:
        self.keep_kernels = weights_total <= KERNEL_LIMIT
        self.middle = max(int(epochs_planned), 0) // 2
        self.loss: list[float] = []
        self.metrics: dict[str, list[float]] = {}
        self.per_layer: dict[str, list[np.ndarray]] = {name: [] for name in _PER_LAYER}
        self.kernels: list[tuple[np.ndarray, ...]] = []
        self.time: list[np.ndarray] = []
        self.previous: tuple[np.ndarray, ...] | None = None
        # Histogram snapshots: start, middle, end as known so far (slots 1 and 2 follow the run).
        self.snapshots: list[dict[str, object] | None] = [None, None, None]

    @property
    def epochs(self) -> int:
        """Epochs recorded after the start (0 = only the start)."""
        return len(self.loss) - 1

    def add(self, m: Measurement) -> None:
        epoch = len(self.loss)
        self.loss.append(m.loss)
        for name in set(self.metrics) | set(m.metrics):
            self.metrics.setdefault(name, [math.nan] * epoch).append(m.metrics.get(name, math.nan))
        self._add_statistics(m)
        if self.keep_kernels:
            self.kernels.append(m.weights)
        if m.time_grad_abs_mean is not None:
            self.time.append(m.time_grad_abs_mean)
        snapshot = self._snapshot(epoch, m)
        if epoch == 0:
            self.snapshots[0] = snapshot
        if epoch <= self.middle or self.snapshots[1] is None:
            self.snapshots[1] = snapshot
        self.snapshots[2] = snapshot

    def _add_statistics(self, m: Measurement) -> None:
        columns: dict[str, list[float]] = {name: [] for name in _PER_LAYER}
        for layer, (w, g) in enumerate(zip(m.weights, m.grads)):
            w64 = np.asarray(w, np.float64).ravel()
            for name, value in matrix_statistics(w64, np.ravel(g)).items():  # the matrix cells' own
                columns[name].append(float(value))
            ratio = math.nan
            if self.previous is not None:
                ratio = float(relative_change(np.asarray(self.previous[layer], np.float64).ravel(), w64))
            columns["update_ratio"].append(ratio)
        for name in ("act_mean", "act_std", "act_saturated_frac", "act_dead_frac"):
            columns[name] = list(getattr(m, name))
        for name, values in columns.items():
            self.per_layer[name].append(np.asarray(values, np.float64))
        self.previous = m.weights

    @staticmethod
    def _snapshot(epoch: int, m: Measurement) -> dict[str, object]:
        grads = [gradient_histogram(g) for g in m.grads]
        by_array: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # an LSTM's two matrices share one
        acts = [by_array.setdefault(id(a), _histogram(a)) for a in m.act_values]
        return {"epoch": epoch, "grad": grads, "act": acts}

    def arrays(self) -> dict[str, np.ndarray]:
        """The cell file's arrays (cell_json aside), as recorded so far."""
        out: dict[str, np.ndarray] = {"loss": np.asarray(self.loss, np.float64)}
        for name, values in self.metrics.items():
            out[f"metric_{name}"] = np.asarray(values, np.float64)
        accuracy = accuracy_name(list(self.metrics))
        out["accuracy"] = (out[f"metric_{accuracy}"] if accuracy
                           else np.full(len(self.loss), np.nan))
        for name, rows in self.per_layer.items():
            out[name] = np.stack(rows)
        out.update(self._histogram_arrays())
        if self.keep_kernels:
            for layer in range(len(self.kernels[0])):
                out[f"kernel_{layer + 1}"] = np.stack([k[layer] for k in self.kernels])
        if self.time:
            out["time_grad_abs_mean"] = np.stack(self.time)
        return out

    def _histogram_arrays(self) -> dict[str, np.ndarray]:
        snaps = [s for s in self.snapshots if s is not None]
        out: dict[str, np.ndarray] = {"hist_epochs": np.array([s["epoch"] for s in snaps], np.int64)}
        layers = len(snaps[0]["grad"])
        out["grad_zero_frac"] = np.array([[g[2] for g in s["grad"]] for s in snaps], np.float64)
        for layer in range(layers):
            for kind in ("grad", "act"):
                out[f"{kind}_hist_counts_{layer + 1}"] = np.stack([s[kind][layer][0] for s in snaps])
                out[f"{kind}_hist_edges_{layer + 1}"] = np.stack([s[kind][layer][1] for s in snaps])
        return out

