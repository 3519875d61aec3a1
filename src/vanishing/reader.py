"""The one reader of the results contract: a results directory -> typed objects.

Sections never parse JSON or CSV: they get a ``Run`` of ``CellStats``. What
older results directories lack (the primary study in the manifest, arrays
added later) is derived or left ``None`` here, in this one place.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vanishing.recorded import KERAS, RecordedRun, recorded_run
from vanishing.results import ResultsError, cell_path, read_cell, read_dataset, read_manifest
from vanishing.roles import training_label
from vanishing.stats import kernel_statistics, layer_attenuation, rms, update_ratio

MATRIX = "matrix"  # a cell the built-in engine trained (the only kind so far)


@dataclass(frozen=True)
class CellStats:
    """One trained network: settings, and per-epoch, per-layer numbers.

    Layer axes run over layers 1..depth+1 (the last is the output logit); the
    ``act_*`` axes over the hidden layers 1..depth. Arrays added after the first
    results format are None (or empty) when a results directory predates them.
    """

    cell_id: str
    activation: str
    initializer: str
    depth: int
    width: int
    seed: int
    dataset_id: str
    matrices: tuple[str, ...]
    status: str
    diverged_epoch: int | None
    loss: np.ndarray  # [epochs+1]
    accuracy: np.ndarray  # [epochs+1]
    weight_mean: np.ndarray  # [epochs+1, layers]
    weight_std: np.ndarray
    grad_mean: np.ndarray
    grad_std: np.ndarray
    grad_abs_mean: np.ndarray
    grad_norm: np.ndarray
    grad_init: tuple[np.ndarray, ...]  # each layer's flattened kernel gradient at epoch 0
    boundary: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # x [G], y [G], logit [G, G]
    optimizer: str = ""
    learning_rate: float = math.nan
    kind: str = MATRIX
    act_mean: np.ndarray | None = None  # [epochs+1, depth]
    act_std: np.ndarray | None = None
    act_saturated_frac: np.ndarray | None = None  # of (unit, sample) pairs
    act_dead_frac: np.ndarray | None = None  # of units
    act_snapshot_epochs: tuple[int, ...] = ()
    act_values: tuple[np.ndarray, ...] = ()  # per hidden layer: [snapshots, samples, width]
    # The back-propagated gradient d(loss_i)/d(z_l) of each example (Glorot & Bengio's fig. 7).
    delta_rms: np.ndarray | None = None  # [epochs+1, layers]
    delta_values: tuple[np.ndarray, ...] = ()  # per layer: [snapshots, samples, fan_out]
    update_ratio: np.ndarray | None = None  # [epochs+1, layers], NaN at epoch 0
    grad_rms_init: np.ndarray | None = None  # [layers]: RMS of the kernel gradient at epoch 0
    grad_sample_rms_init: np.ndarray | None = None  # [layers]: the same per example
    theory_glorot_grad_rms: np.ndarray | None = None  # [layers], scaled to the measured output
    theory_meanfield_grad_rms: np.ndarray | None = None

    @property
    def diverged(self) -> bool:
        return self.status != "ok"

    @property
    def epochs(self) -> int:
        return int(self.loss.shape[0]) - 1

    @property
    def attenuation(self) -> np.ndarray:
        """Attenuation of mean |gradient| at every epoch, [epochs+1]."""
        return layer_attenuation(self.grad_abs_mean, self.depth)

    @property
    def training(self) -> tuple[str, float]:
        """(optimizer label, learning rate): with the dataset, what makes a study."""
        return (self.optimizer, self.learning_rate)


@dataclass(frozen=True)
class Study:
    """One dataset trained one way: the cells whose numbers may be averaged together.

    The summary, tutorial, saturation, Glorot, depth, matrix and boundary
    sections show only the PRIMARY study: the config's top-level [data] trained
    with its top-level [train].
    """

    dataset_id: str
    optimizer: str
    learning_rate: float

    def holds(self, cell: CellStats) -> bool:
        # Results written before these axes existed carry no labels: they are all one study.
        same_data = not cell.dataset_id or cell.dataset_id == self.dataset_id
        same_optimizer = not cell.optimizer or cell.optimizer == self.optimizer
        same_rate = (math.isnan(cell.learning_rate) or math.isnan(self.learning_rate)
                     or math.isclose(cell.learning_rate, self.learning_rate, rel_tol=1e-9))
        return same_data and same_optimizer and same_rate


@dataclass(frozen=True)
class Dataset:
    dataset_id: str
    name: str
    n_samples: int | None = None
    n_features: int | None = None
    positive_fraction: float | None = None


@dataclass(frozen=True)
class MatrixAxes:
    """One [matrix.NAME] table of the config as run."""

    name: str
    activations: tuple[str, ...]
    initializers: tuple[str, ...]
    depths: tuple[int, ...]


@dataclass(frozen=True)
class Provenance:
    """How the run was made, as its manifest records it (every field may be empty)."""

    title: str = ""
    created: str = ""  # ISO 8601, UTC
    vanishing_version: str = ""
    command: str = ""
    preset: str = ""  # empty for a config file
    overrides: tuple[str, ...] = ()
    config_toml: str = ""
    versions: tuple[tuple[str, str], ...] = ()
    platform: tuple[tuple[str, str], ...] = ()
    train_seconds: float | None = None


@dataclass(frozen=True)
class Run:
    """A results directory as read."""

    results_dir: Path
    cells: tuple[CellStats, ...]
    missing: tuple[str, ...]  # cell_ids the manifest lists but whose file is absent
    primary: Study | None
    datasets: tuple[Dataset, ...] = ()
    matrices: tuple[MatrixAxes, ...] = ()
    provenance: Provenance = Provenance()
    recorded: tuple[RecordedRun, ...] = ()  # runs the Keras recorder wrote
    manifest: dict[str, Any] = field(default_factory=dict)  # as read; sections use the typed fields

    def primary_cells(self) -> tuple[CellStats, ...]:
        if self.primary is None:
            return self.cells
        return tuple(c for c in self.cells if self.primary.holds(c))

    @property
    def kinds(self) -> frozenset[str]:
        """Which kinds of networks the directory holds (an empty one counts as a matrix)."""
        found = {c.kind for c in self.cells} | {r.kind for r in self.recorded}
        return frozenset(found) or frozenset({MATRIX})

    def describe_primary(self) -> str:
        """'circles (1000 samples) trained with rmsprop (lr 0.001)'; '' without a primary study."""
        p = self.primary
        if p is None:
            return ""
        d = self.dataset(p.dataset_id)
        data = (d.name + (f" ({d.n_samples} samples)" if d.n_samples else "")) if d else p.dataset_id
        return f"{data} trained with {training_label(p.optimizer, p.learning_rate)}"

    def dataset(self, dataset_id: str) -> Dataset | None:
        return next((d for d in self.datasets if d.dataset_id == dataset_id), None)

    def read_dataset(self, dataset_id: str) -> tuple[np.ndarray, np.ndarray]:
        return read_dataset(self.results_dir, dataset_id)


# --- reading --------------------------------------------------------------------------

def load_run(results_dir: Path) -> Run:
    """Read the manifest and every cell; raises ResultsError naming the file that is wrong."""
    results_dir = Path(results_dir)
    manifest = read_manifest(results_dir)
    cells, recorded, missing = [], [], []
    for i, entry in enumerate(manifest["cells"]):
        if not isinstance(entry, dict) or "cell_id" not in entry:
            raise ResultsError(f"{results_dir / 'manifest.json'}: cells[{i}] has no 'cell_id'")
        cell_id = str(entry["cell_id"])
        path = cell_path(results_dir, cell_id)
        if not path.exists():
            missing.append(cell_id)
            continue
        arrays = read_cell(results_dir, cell_id)
        # The manifest's entry is the run's word on status; the npz's own copy fills gaps.
        info = {**arrays.pop("cell_info"), **entry}
        try:
            if info.get("source") == KERAS:
                recorded.append(recorded_run(info, arrays))
            else:
                cells.append(cell_stats(info, arrays))
        except ResultsError as e:
            raise ResultsError(f"{path}: {e}") from None
        except (KeyError, TypeError, ValueError) as e:
            raise ResultsError(f"{path}: bad cell settings ({e!r})") from None
    return Run(results_dir=results_dir, cells=tuple(cells), missing=tuple(missing),
               primary=primary_study(manifest, cells), datasets=_datasets(manifest),
               matrices=_matrices(manifest), provenance=_provenance(manifest), recorded=tuple(recorded),
               manifest=manifest)


def cell_stats(info: dict[str, Any], arrays: dict[str, np.ndarray]) -> CellStats:
    """One cell from its settings and stored arrays (kernels only, biases excluded)."""
    depth = int(info["depth"])
    try:
        loss = np.asarray(arrays["loss"], dtype=np.float64)
        per_layer = kernel_statistics(arrays, depth + 1)
        grad_init = tuple(np.asarray(arrays[f"grad_kernel_{layer}"][0], np.float64).ravel()
                          for layer in range(1, depth + 2))
        accuracy = np.asarray(arrays["accuracy"], dtype=np.float64)
        with np.errstate(all="ignore"):
            ratio = np.stack([update_ratio(arrays[f"kernel_{layer}"])
                              for layer in range(1, depth + 2)], axis=1)
    except KeyError as e:
        raise ResultsError(f"cell {info.get('cell_id')!r}: array {e} missing") from None
    except ValueError as e:
        raise ResultsError(f"cell {info.get('cell_id')!r}: arrays of inconsistent shape ({e})") from None
    diverged_epoch = info.get("diverged_epoch")
    learning_rate = info.get("learning_rate")
    return CellStats(
        cell_id=str(info["cell_id"]), activation=str(info["activation"]),
        initializer=str(info["initializer"]), depth=depth, width=int(info.get("width") or 0),
        seed=int(info["seed"]), dataset_id=str(info.get("dataset_id") or ""),
        matrices=tuple(info.get("matrices") or ()), status=str(info.get("status", "ok")),
        diverged_epoch=None if diverged_epoch is None else int(diverged_epoch),
        loss=loss, accuracy=accuracy, **per_layer, grad_init=grad_init,
        boundary=_boundary(arrays), optimizer=str(info.get("optimizer") or ""),
        learning_rate=math.nan if learning_rate is None else float(learning_rate),
        update_ratio=ratio, grad_rms_init=np.array([rms(g) for g in grad_init]),
        **_optional_arrays(arrays, depth, loss.shape[0]),
    )


def _boundary(arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    keys = ("boundary_x", "boundary_y", "boundary_logit")
    if not all(k in arrays for k in keys):
        return None
    x, y, logit = (np.asarray(arrays[k], dtype=np.float64) for k in keys)
    return x, y, logit


def _optional_arrays(arrays: dict[str, np.ndarray], depth: int, epochs: int) -> dict[str, Any]:
    """The arrays added after the first results format that are present (the contract only grows)."""
    out: dict[str, Any] = {}
    for key in ("act_mean", "act_std", "act_saturated_frac", "act_dead_frac"):
        if key in arrays:
            out[key] = np.asarray(arrays[key], dtype=np.float64).reshape(epochs, depth)
    if "act_snapshot_epochs" in arrays:
        out["act_snapshot_epochs"] = tuple(int(e) for e in arrays["act_snapshot_epochs"])
        out["act_values"] = _per_layer(arrays, "act_values", depth)
        out["delta_values"] = _per_layer(arrays, "delta_values", depth + 1)
    if "delta_rms" in arrays:
        out["delta_rms"] = np.asarray(arrays["delta_rms"], np.float64).reshape(epochs, depth + 1)
    if "grad_sample_rms" in arrays:
        out["grad_sample_rms_init"] = np.asarray(arrays["grad_sample_rms"][0], np.float64).reshape(depth + 1)
    for theory in ("glorot", "meanfield"):
        key = f"theory_{theory}_grad_rms"
        if key in arrays:
            out[key] = np.asarray(arrays[key], dtype=np.float64).reshape(depth + 1)
    return out


def _per_layer(arrays: dict[str, np.ndarray], prefix: str, layers: int) -> tuple[np.ndarray, ...]:
    """prefix_1..prefix_layers when all are stored, else ()."""
    keys = [f"{prefix}_{layer}" for layer in range(1, layers + 1)]
    if not all(k in arrays for k in keys):
        return ()
    return tuple(np.asarray(arrays[k], dtype=np.float32) for k in keys)


# --- what older manifests lack -------------------------------------------------------------

def primary_study(manifest: dict[str, Any], cells: list[CellStats]) -> Study | None:
    """The manifest's own word (written since the training side records it); for older
    results the most common dataset and training among the cells of the first matrix."""
    given = manifest.get("primary")
    if isinstance(given, dict):
        try:
            return Study(str(given["dataset_id"]), str(given["optimizer"]),
                         float(given["learning_rate"]))
        except (KeyError, TypeError, ValueError):
            pass  # a hand-edited entry: derive it as for older results
    if not cells:
        return None
    names = [m.get("name") for m in manifest.get("matrices") or [] if isinstance(m, dict)]
    first = [c for c in cells if names and names[0] in c.matrices] or cells
    counts = Counter((c.dataset_id, c.optimizer, c.learning_rate) for c in first)
    dataset_id, optimizer, rate = counts.most_common(1)[0][0]
    return Study(dataset_id, optimizer, rate)


def _int_or_none(x: Any) -> int | None:
    try:
        return int(x)
    except (TypeError, ValueError):
        return None


def _datasets(manifest: dict[str, Any]) -> tuple[Dataset, ...]:
    out = []
    for d in manifest.get("datasets") or []:
        if not isinstance(d, dict) or "dataset_id" not in d:
            continue
        fraction = d.get("positive_fraction")
        out.append(Dataset(str(d["dataset_id"]), str(d.get("name") or d["dataset_id"]),
                           _int_or_none(d.get("n_samples")), _int_or_none(d.get("n_features")),
                           float(fraction) if isinstance(fraction, (int, float)) else None))
    return tuple(out)


def _matrices(manifest: dict[str, Any]) -> tuple[MatrixAxes, ...]:
    out = []
    for m in manifest.get("matrices") or []:
        if not isinstance(m, dict):
            continue
        depths = tuple(d for d in (_int_or_none(x) for x in m.get("depths") or []) if d is not None)
        out.append(MatrixAxes(str(m.get("name", "")), tuple(map(str, m.get("activations") or [])),
                              tuple(map(str, m.get("initializers") or [])), depths))
    return tuple(out)


def _pairs(d: Any) -> tuple[tuple[str, str], ...]:
    return tuple((str(k), str(v)) for k, v in d.items()) if isinstance(d, dict) else ()


def _provenance(m: dict[str, Any]) -> Provenance:
    seconds = m.get("train_seconds")
    return Provenance(
        title=str(m.get("title") or ""), created=str(m.get("created") or ""),
        vanishing_version=str(m.get("vanishing_version") or ""), command=str(m.get("command") or ""),
        preset=str(m.get("preset") or ""), overrides=tuple(str(o) for o in m.get("overrides") or ()),
        config_toml=str(m.get("config_toml") or ""), versions=_pairs(m.get("versions")),
        platform=_pairs(m.get("platform")),
        train_seconds=float(seconds) if isinstance(seconds, (int, float)) else None)
