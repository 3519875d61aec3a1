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
