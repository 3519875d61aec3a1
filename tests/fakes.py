"""Fabricated runs: typed cells with exactly the numbers a test needs, no training.

They are what the one reader hands the sections, so a section can be tested on a run
where an old sentence used to be wrong (gradients that grow with depth, a stuck
initializer with large weights, moons instead of circles...).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vanishing.reader import CellStats, Dataset, MatrixAxes, Provenance, Run, Study

CIRCLES = Dataset("circles-test", "circles", 200, 2, 0.5)


def cell(activation: str = "tanh", initializer: str = "glorot_uniform", depth: int = 4, seed: int = 0, *,
         grad: list[float] | None = None, accuracy: float = 0.95, weight_std: float = 0.5, epochs: int = 2,
         width: int = 5, dataset_id: str = CIRCLES.dataset_id, **extra) -> CellStats:
    """One network whose mean |gradient| per layer is ``grad`` (layers 1..depth+1) at every epoch."""
    layers = depth + 1
    g = np.asarray(grad if grad is not None else np.logspace(-2, 0, layers), dtype=np.float64)
    per_layer = np.tile(g, (epochs + 1, 1))
    return CellStats(
        cell_id=f"{activation}-{initializer}-d{depth}-w{width}-s{seed}", activation=activation,
        initializer=initializer, depth=depth, width=width, seed=seed, dataset_id=dataset_id,
        matrices=("main",), status="ok", diverged_epoch=None,
        loss=np.linspace(0.69, 0.2, epochs + 1), accuracy=np.linspace(0.5, accuracy, epochs + 1),
        weight_mean=np.zeros((epochs + 1, layers)), weight_std=np.full((epochs + 1, layers), weight_std),
        grad_mean=np.zeros((epochs + 1, layers)), grad_std=per_layer, grad_abs_mean=per_layer,
        grad_norm=per_layer * width, grad_init=tuple(np.full(width, v) for v in g),
        optimizer="rmsprop", learning_rate=0.001,
        update_ratio=np.vstack([np.full(layers, np.nan), np.tile(g, (epochs, 1)) / 10]), **extra)


def run(cells: list[CellStats], *, datasets: tuple[Dataset, ...] = (CIRCLES,),
        matrices: tuple[MatrixAxes, ...] | None = None, results_dir: Path = Path("/no/such/dir")) -> Run:
    if matrices is None:
        acts = tuple(dict.fromkeys(c.activation for c in cells))
        inits = tuple(dict.fromkeys(c.initializer for c in cells))
        matrices = (MatrixAxes("main", acts, inits, tuple(sorted({c.depth for c in cells}))),)
    return Run(results_dir=results_dir, cells=tuple(cells), missing=(),
               primary=Study(datasets[0].dataset_id, "rmsprop", 0.001), datasets=datasets,
               matrices=matrices, provenance=Provenance(title="fabricated", created="2026-11-30T00:00:00"))


# --- a directory the Keras recorder could have written (its contract, README) -----------------

def recorded_arrays(layers: int, epochs: int, grad: list[float], *, accuracy: float = 0.9,
                    time_steps: int | None = None, seed: int = 0,
                    grad_end: list[float] | None = None) -> dict[str, np.ndarray]:
    """The npz arrays of one recorded run whose mean |g| per layer is ``grad`` at the start and
    ``grad_end`` (default: the same) at the last epoch, geometrically in between."""
    rng = np.random.default_rng(seed)
    start = np.asarray(grad, np.float64)
    end = start if grad_end is None else np.asarray(grad_end, np.float64)
    g = start * (end / start) ** (np.arange(epochs + 1)[:, None] / max(epochs, 1))
    ratio = np.vstack([np.full(layers, np.nan), np.tile(np.asarray(grad) / 10, (epochs, 1))])
    arrays: dict[str, np.ndarray] = {
        "loss": np.linspace(0.7, 0.3, epochs + 1), "accuracy": np.linspace(0.5, accuracy, epochs + 1),
        "weight_mean": np.zeros((epochs + 1, layers)), "weight_std": np.full((epochs + 1, layers), 0.3),
        "grad_mean": np.zeros((epochs + 1, layers)), "grad_std": g, "grad_abs_mean": g, "grad_norm": g * 10,
        "update_ratio": ratio,
        "act_mean": np.full((epochs + 1, layers), 0.5), "act_std": np.full((epochs + 1, layers), 0.2),
        "act_saturated_frac": np.full((epochs + 1, layers), np.nan),
        "act_dead_frac": np.full((epochs + 1, layers), np.nan),
        "hist_epochs": np.array([0, epochs // 2, epochs]),
    }
    arrays["act_saturated_frac"][:, 0] = np.linspace(0.1, 0.3, epochs + 1)
    for layer in range(1, layers + 1):
        values = np.log10(grad[layer - 1]) + rng.normal(0, 0.3, (3, 200))
        counts, edges = zip(*(np.histogram(v, bins=40) for v in values))
        arrays[f"grad_hist_counts_{layer}"] = np.stack(counts)
        arrays[f"grad_hist_edges_{layer}"] = np.stack(edges)
        counts, edges = zip(*(np.histogram(rng.random(200), bins=40) for _ in range(3)))
        arrays[f"act_hist_counts_{layer}"] = np.stack(counts)
        arrays[f"act_hist_edges_{layer}"] = np.stack(edges)
    if time_steps:
        arrays["time_grad_abs_mean"] = np.tile(np.logspace(-4, 0, time_steps), (epochs + 1, 1))
    return arrays


def recorded_entry(run: str, layers: int, epochs: int, labels: dict | None = None,
                   model_kind: str = "sequential") -> dict:
    """A manifest entry of a recorded run (source "keras")."""
    labels = labels or {}
    return {"cell_id": run, "source": "keras", "labels": labels,
            "activation": labels.get("activation"), "initializer": labels.get("initializer"),
            "depth": labels.get("depth"), "seed": labels.get("seed"), "width": None, "dataset_id": "",
            "optimizer": "adam", "learning_rate": 0.001, "status": "ok", "diverged_epoch": None,
            "epochs": epochs, "model": "my_model", "model_kind": model_kind,
            "layers": [{"layer": i, "path": f"dense_{i}/kernel", "class": "Dense", "shape": [4, 4],
                        "activation": "sigmoid", "weights": 16} for i in range(1, layers + 1)],
            "probe": {"n_samples": 64}, "kernels_stored": False, "time_steps": None}


def recorded_dir(directory: Path, runs: list[tuple[dict, dict[str, np.ndarray]]]) -> Path:
    """Write a results directory holding the given (entry, arrays) recorded runs."""
    from vanishing import results

    for entry, arrays in runs:
        results.write_cell(directory, entry, arrays)
    results.write_manifest(directory, {"title": "Recorded runs", "created": "2026-11-30T12:00:00+00:00",
                                       "command": "python my_script.py", "matrices": [], "datasets": [],
                                       "cells": [entry for entry, _ in runs]})
    (directory / "metrics.csv").write_text(",".join(results.METRICS_COLUMNS) + "\n", encoding="utf-8")
    return directory
