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
    """One network whose mean |gradient| per layer is ``grad`` (layers 1..depth+1; for a factory's
    network, ``kind="factory"``, as many weight matrices as given) at every epoch."""
    g = np.asarray(grad if grad is not None else np.logspace(-2, 0, depth + 1), dtype=np.float64)
    layers = len(g)
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


# --- a directory `vanishing train` with [model] factory could have written ----------------------

FACTORY_REF = "models:build"
# The factory's source as copied into the results directory: markup in it must reach the page escaped.
FACTORY_SOURCE = '''"""Builds a <b>residual</b> MLP: input projection, two matrices per block, output."""

import keras


def build(activation, initializer, depth, width, input_shape, seed):
    ...  # blocks & friends
'''
FILE_DATASET = {"dataset_id": "file-mine-1a2b3c4d5e6f", "name": "file", "path": "data/mine.npz",
                "sha256": "1a2b3c4d5e6f" + "0" * 52, "n_samples": 300, "n_features": 64,
                "shape": [8, 8, 1], "n_classes": 3, "classes": ["a", "b", "c"], "positive_fraction": None}


def factory_layers(depth: int) -> int:
    """How many weight matrices the fake factory builds: depth 2 a plain MLP (L = depth + 1 = 3),
    deeper a residual MLP (input and output projections, two matrices per block: L = 2 depth + 2)."""
    return depth + 1 if depth <= 2 else 2 * depth + 2


def factory_grad(activation: str, initializer: str, depth: int, seed: int) -> list[float]:
    """Mean |g| per matrix at the start: sigmoid vanishes (from 1e-3 at matrix 1, more when deeper),
    relu is nearly flat; he_normal halves the first matrix's; each seed a little larger."""
    layers = factory_layers(depth)
    low = {"sigmoid": -1.5 * depth / 2, "relu": -0.2}[activation]
    g = np.logspace(low, 0.0, layers) * (1 + 0.1 * seed)
    if initializer == "he_normal":
        g[0] /= 2
    return [float(v) for v in g]


def factory_accuracy(activation: str, depth: int) -> float:
    """sigmoid at depth 4 stays near chance on the 3-class data (1/3); the rest learn."""
    return 0.36 if (activation, depth) == ("sigmoid", 4) else 0.95


def factory_entry(activation: str, initializer: str, depth: int, seed: int, epochs: int, sha: str) -> dict:
    """A factory cell's manifest entry: a matrix cell's keys, the factory's, a recorded run's."""
    layers = factory_layers(depth)
    paths = (["dense_in/kernel"] + [f"block_{b}_{x}/kernel" for b in range(1, depth + 1) for x in "ab"]
             + ["logits/kernel"]) if layers != depth + 1 else (
                [f"hidden_{i}/kernel" for i in range(1, depth + 1)] + ["logits/kernel"])
    labels = {"activation": activation, "initializer": initializer, "depth": depth, "seed": seed}
    return {
        "cell_id": f"factory-{activation}-{initializer}-d{depth}-s{seed}", "activation": activation,
        "initializer": initializer, "initializer_name": initializer, "initializer_args": {},
        "depth": depth, "width": 16, "seed": seed, "dataset_id": FILE_DATASET["dataset_id"],
        "optimizer": "adam", "optimizer_name": "adam", "optimizer_args": {}, "learning_rate": 0.001,
        "batch_size": 32, "epochs": epochs, "matrices": ["main"], "status": "ok", "diverged_epoch": None,
        "factory": FACTORY_REF, "factory_sha256": sha, "source": "factory", "labels": labels,
        "model": "residual_mlp", "model_kind": "functional",
        "layers": [{"layer": i + 1, "path": p, "class": "Dense", "shape": [16, 16],
                    "activation": "linear" if i == layers - 1 else activation, "weights": 256}
                   for i, p in enumerate(paths)],
        "probe": {"n_samples": FILE_DATASET["n_samples"]}, "kernels_stored": True, "time_steps": None,
    }


FACTORY_AXES = {"activations": ["sigmoid", "relu"], "initializers": ["glorot_uniform", "he_normal"],
                "depths": [2, 4], "seeds": [0, 1]}
FACTORY_DIVERGED = ("sigmoid", "glorot_uniform", 4, 1, 3)  # (activation, initializer, depth, seed, epoch)


def factory_results(directory: Path, *, epochs: int = 4, source: str | None = FACTORY_SOURCE) -> Path:
    """A factory run's results directory: 2 activations x 2 initializers x depths 2 and 4 x 2 seeds
    (16 networks) on a 3-class data file, one network diverged; the factory's source copied
    (``source=None``: the copy is missing)."""
    import hashlib

    from vanishing import results

    text = FACTORY_SOURCE if source is None else source
    sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
    copy = f"factory/models-{sha[:12]}.py"
    entries = []
    for act in FACTORY_AXES["activations"]:
        for init in FACTORY_AXES["initializers"]:
            for depth in FACTORY_AXES["depths"]:
                for seed in FACTORY_AXES["seeds"]:
                    entry = factory_entry(act, init, depth, seed, epochs, sha)
                    grad = factory_grad(act, init, depth, seed)
                    arrays = recorded_arrays(factory_layers(depth), epochs, grad,
                                             accuracy=factory_accuracy(act, depth), seed=seed)
                    if (act, init, depth, seed) == FACTORY_DIVERGED[:4]:
                        entry.update(status="diverged", diverged_epoch=FACTORY_DIVERGED[4])
                        for key in ("loss", "accuracy", "grad_abs_mean", "grad_std", "grad_norm"):
                            arrays[key][FACTORY_DIVERGED[4]:] = np.nan
                    results.write_cell(directory, entry, arrays)
                    entries.append(entry)
    if source is not None:
        (directory / "factory").mkdir(parents=True, exist_ok=True)
        (directory / copy).write_text(source, encoding="utf-8")
    results.write_manifest(directory, {
        "title": "My factory study", "created": "2026-12-01T09:00:00+00:00",
        "command": "vanishing train --config study.toml", "preset": None, "overrides": [],
        "config_toml": (f'[model]\nfactory = "{FACTORY_REF}"\n\n'
                        '[data]\nname = "file"\npath = "data/mine.npz"\n'),
        "versions": {"vanishing": "test", "keras": "3"}, "platform": {"machine": "test"},
        "matrices": [{"name": "main", **FACTORY_AXES}], "datasets": [FILE_DATASET],
        "primary": {"dataset_id": FILE_DATASET["dataset_id"], "optimizer": "adam", "learning_rate": 0.001},
        "factory": {"ref": FACTORY_REF, "file": copy, "sha256": sha}, "cells": entries})
    rows = [",".join(results.METRICS_COLUMNS)]
    for entry in entries:
        for epoch in range(epochs + 1):
            for layer in entry["layers"]:
                row = {"cell_id": entry["cell_id"], "epoch": epoch, "layer": layer["layer"],
                       "layer_name": layer["path"], "dataset_id": entry["dataset_id"],
                       **{k: entry[k] for k in ("activation", "initializer", "depth", "width", "seed",
                                                "optimizer", "learning_rate")}}
                rows.append(",".join(str(row.get(c, "")) for c in results.METRICS_COLUMNS))
    (directory / "metrics.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return directory


# --- editing a trained directory as its writers would -------------------------------------------

def relabel_cell(directory: Path, cell_id: str, **settings) -> None:
    """Change settings in a cell's file (its ``cell_json``) as in its manifest entry: render refuses
    a cell whose file and entry disagree."""
    import json

    from vanishing import results

    path = results.cell_path(directory, cell_id)
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["cell_json"] = np.array(json.dumps({**json.loads(str(arrays["cell_json"])), **settings},
                                              sort_keys=True))
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)


def rehash_metrics(directory: Path) -> None:
    """Record metrics.csv's sha256 in the manifest, as a writer of metrics.csv does."""
    import json

    from vanishing import results

    path = directory / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["metrics_sha256"] = results.file_sha256(directory / "metrics.csv")
    path.write_text(json.dumps(manifest), encoding="utf-8")


def matrix_cell_arrays(depth: int, width: int, features: int = 2, epochs: int = 1) -> dict[str, np.ndarray]:
    """Zero arrays of the shapes a built-in cell's file holds (what `train` checks before reusing it)."""
    e, fans = epochs + 1, [features, *[width] * depth, 1]
    act = ("act_mean", "act_std", "act_saturated_frac", "act_dead_frac")
    arrays = {"loss": np.zeros(e), "accuracy": np.zeros(e), "step_grad_abs_mean": np.zeros((e, depth + 1)),
              **{k: np.zeros((e, depth)) for k in act}}
    for layer in range(1, depth + 2):
        kernel = np.zeros((e, fans[layer - 1], fans[layer]))
        arrays[f"kernel_{layer}"] = arrays[f"grad_kernel_{layer}"] = kernel
    return arrays
