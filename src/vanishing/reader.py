"""The one reader of the results contract: a results directory -> typed objects.

Sections never parse JSON or CSV: they get a ``Run`` of ``CellStats``. What
older results directories lack (the primary study in the manifest, arrays
added later) is derived or left ``None`` here, in this one place.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vanishing import forked, integrity
from vanishing.manifest import (
    Dataset,
    FactorySource,
    MatrixAxes,
    Provenance,
    read_datasets,
    read_matrices,
    read_provenance,
)
from vanishing.recorded import KERAS, RecordedRun, matrix_attenuation, recorded_run
from vanishing.results import ResultsError, cell_path, read_cell, read_dataset, read_manifest
from vanishing.roles import training_label
from vanishing.stats import kernel_statistics, rms, update_ratio

MATRIX = "matrix"  # a cell the built-in engine trained (the built-in MLP)
# A cell of `vanishing train` with [model] factory: the user's model, trained with Keras fit and
# measured by the recorder. It is read twice: as a CellStats (the matrix sections) and as a
# RecordedRun (the recorder's per-layer views).
FACTORY = "factory"


@dataclass(frozen=True)
class CellStats:
    """One trained network: settings, and per-epoch, per-layer numbers.

    Layer axes run over the network's weight matrices 1..L (``layers``): for the built-in
    MLP its layers 1..depth+1 (the last is the output logit); for a factory's network
    (kind FACTORY) the matrices the recorder records, as many as the factory builds at
    that depth. The ``act_*`` axes run over the MLP's hidden layers 1..depth. Arrays
    added after the first results format are None (or empty) when a results directory
    predates them; what the recorder does not store (grad_init, act_*, act_values,
    delta_*, theory_*, boundary, grad_*_rms_init) is None or empty for a factory's cell.
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
    factory: str = ""  # the model factory's "module:callable"; "" for the built-in MLP
    layer_paths: tuple[str, ...] = ()  # a factory's network: each recorded matrix's variable path

    @property
    def diverged(self) -> bool:
        return self.status != "ok"

    @property
    def layers(self) -> int:
        """L, the number of weight matrices on the layer axes (depth+1 for the built-in MLP)."""
        return int(self.grad_abs_mean.shape[1])

    @property
    def epochs(self) -> int:
        return int(self.loss.shape[0]) - 1

    @property
    def attenuation(self) -> np.ndarray:
        """Attenuation of mean |gradient| at every epoch, [epochs+1]: the first weight matrix over
        matrix L-1 (the recorder's definition; for the built-in MLP, first over last hidden layer)."""
        return matrix_attenuation(self.grad_abs_mean)

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
class Run:
    """A results directory as read."""

    results_dir: Path
    cells: tuple[CellStats, ...]
    missing: tuple[str, ...]  # cell_ids the manifest lists but whose file is absent
    primary: Study | None
    datasets: tuple[Dataset, ...] = ()
    matrices: tuple[MatrixAxes, ...] = ()
    provenance: Provenance = field(default_factory=Provenance)
    recorded: tuple[RecordedRun, ...] = ()  # runs the Keras recorder wrote (a factory's cells too)
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

    def only(self, kinds: frozenset[str]) -> Run:
        """The run as a section for these kinds sees it: other kinds' cells and runs left out
        (a section of the built-in MLP never meets a factory's network, nor the other way)."""
        return dataclasses.replace(self, cells=tuple(c for c in self.cells if c.kind in kinds),
                                   recorded=tuple(r for r in self.recorded if r.kind in kinds))

    def describe_primary(self) -> str:
        """'circles (1000 samples) trained with rmsprop (lr 0.001)'; '' without a primary study."""
        p = self.primary
        if p is None:
            return ""
        d = self.dataset(p.dataset_id)
        data = (d.title + (f" ({d.n_samples} samples)" if d.n_samples else "")) if d else p.dataset_id
        return f"{data} trained with {training_label(p.optimizer, p.learning_rate)}"

    def dataset(self, dataset_id: str) -> Dataset | None:
        return next((d for d in self.datasets if d.dataset_id == dataset_id), None)

    def read_dataset(self, dataset_id: str) -> tuple[np.ndarray, np.ndarray]:
        return read_dataset(self.results_dir, dataset_id)


# --- reading --------------------------------------------------------------------------

# A directory with fewer cells is read in this process alone: a fork would cost more than it saves.
SPLIT_FROM = 16


def load_run(results_dir: Path) -> Run:
    """Read the manifest and every cell; raises ResultsError naming the file that is wrong (the
    first in the manifest's order). The cells' second half (by bytes) is read beside this
    process (forked.beside) while it reads the first: a render of the default preset into a
    directory that holds its gzip already takes 0.3 s less (its cells' statistics pickled and
    sent back cost 0.4 s of CPU, so where the gzip has to be made, and both cores are busy,
    it takes as long as before)."""
    results_dir = Path(results_dir)
    manifest = read_manifest(results_dir)
    entries = list(enumerate(manifest["cells"]))
    split = _halfway(results_dir, entries) if len(entries) >= SPLIT_FROM else len(entries)
    if split < len(entries):
        with forked.beside(lambda: _read_entries(results_dir, entries[split:])) as rest:
            read = _read_entries(results_dir, entries[:split]) + rest.result()
    else:
        read = _read_entries(results_dir, entries)
    cells = [c for kind, c in read if kind == "cell"]
    return Run(results_dir=results_dir, cells=tuple(cells),
               missing=tuple(c for kind, c in read if kind == "missing"),
               primary=primary_study(manifest, cells), datasets=read_datasets(manifest),
               matrices=read_matrices(manifest), provenance=read_provenance(manifest, results_dir),
               recorded=tuple(c for kind, c in read if kind == "recorded"),
               manifest=manifest)


def _halfway(results_dir: Path, entries: list[tuple[int, Any]]) -> int:
    """Where the manifest's cells split into two halves of about the same bytes on disk."""
    sizes = []
    for _, entry in entries:
        try:
            sizes.append(cell_path(results_dir, entry["cell_id"]).stat().st_size)
        except (ResultsError, OSError, TypeError, KeyError):  # said by _read_entries, in order
            sizes.append(0)
    total, running = sum(sizes), 0
    for i, size in enumerate(sizes):
        running += size
        if 2 * running >= total:
            return i + 1
    return len(entries)


def _read_entries(results_dir: Path, entries: list[tuple[int, Any]]) -> list[tuple[str, Any]]:
    """("cell", CellStats), ("recorded", RecordedRun) or ("missing", cell_id) of each manifest
    entry, in order (a factory's network is both a recorded run and a cell)."""
    out: list[tuple[str, Any]] = []
    for i, entry in entries:
        if not isinstance(entry, dict) or "cell_id" not in entry:
            raise ResultsError(f"{results_dir / 'manifest.json'}: cells[{i}] has no 'cell_id'")
        cell_id = entry["cell_id"]
        path = cell_path(results_dir, cell_id)  # refuses an id that is not a plain file name
        if not path.exists():
            out.append(("missing", cell_id))
            continue
        arrays = read_cell(results_dir, cell_id)
        stored = arrays.pop("cell_info")
        problem = (integrity.settings_disagree(stored, entry) if isinstance(stored, dict)
                   else "its 'cell_json' is not an object")
        # The manifest's entry is the run's word on status; the npz's own copy fills gaps.
        info = {**stored, **entry} if problem is None else {}
        problem = problem or integrity.arrays_problem({k: np.shape(a) for k, a in arrays.items()}, info)
        if problem is not None:
            raise ResultsError(f"{path}: {problem}")
        try:
            if info.get("source") == KERAS:
                out.append(("recorded", recorded_run(info, arrays)))
            elif info.get("source") == FACTORY:
                run = recorded_run(info, arrays)
                out += [("recorded", run), ("cell", factory_cell(info, run))]
            else:
                out.append(("cell", cell_stats(info, arrays)))
        except ResultsError as e:
            raise ResultsError(f"{path}: {e}") from None
        except (KeyError, TypeError, ValueError) as e:
            raise ResultsError(f"{path}: bad cell settings ({e!r})") from None
    return out


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


def factory_cell(info: dict[str, Any], r: RecordedRun) -> CellStats:
    """A factory's network as a matrix cell, from its recorded run: the recorder's per-matrix
    statistics on the layer axes, nothing it does not store."""
    diverged_epoch, learning_rate = info.get("diverged_epoch"), info.get("learning_rate")
    return CellStats(
        cell_id=r.cell_id, activation=str(info["activation"]), initializer=str(info["initializer"]),
        depth=int(info["depth"]), width=int(info.get("width") or 0), seed=int(info["seed"]),
        dataset_id=str(info.get("dataset_id") or ""), matrices=tuple(info.get("matrices") or ()),
        status=r.status, diverged_epoch=None if diverged_epoch is None else int(diverged_epoch),
        loss=r.loss, accuracy=r.accuracy,
        **{k: r.stats[k] for k in ("weight_mean", "weight_std", "grad_mean", "grad_std",
                                   "grad_abs_mean", "grad_norm", "update_ratio")},
        grad_init=(), optimizer=str(info.get("optimizer") or ""),
        learning_rate=math.nan if learning_rate is None else float(learning_rate), kind=FACTORY,
        factory=str(info.get("factory") or ""), layer_paths=tuple(layer.path for layer in r.layers))


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
    names = [m.name for m in read_matrices(manifest)]
    first = [c for c in cells if names and names[0] in c.matrices] or cells
    counts = Counter((c.dataset_id, c.optimizer, c.learning_rate) for c in first)
    dataset_id, optimizer, rate = counts.most_common(1)[0][0]
    return Study(dataset_id, optimizer, rate)


__all__ = ["FACTORY", "MATRIX", "CellStats", "Dataset", "FactorySource", "MatrixAxes", "Provenance", "Run",
           "Study", "cell_stats", "factory_cell", "load_run", "primary_study"]
