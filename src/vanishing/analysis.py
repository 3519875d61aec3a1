"""Results directory -> the numbers the report shows (DESIGN.md section 1: results -> analysis).

Everything here is plain numpy on the stored arrays: per-layer statistics of
every cell, means and standard deviations over seeds, the attenuation ratio,
and the findings sentences. Nothing is drawn or rendered here.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vanishing.results import (
    ResultsError,
    cell_path,
    kernel_statistics,
    read_cell,
    read_manifest,
    update_ratio,
)

# What the tutorial reported after 100 epochs (sigmoid, tanh, relu with
# random_normal(stddev=1.0), 4 hidden layers of 5 units): (loss, accuracy).
TUTORIAL_INITIALIZER = "random_normal(stddev=1.0)"
TUTORIAL_DEPTH = 4
TUTORIAL_EPOCHS = 100
TUTORIAL_REPORTED: dict[str, tuple[float, float]] = {
    "sigmoid": (0.665, 0.588),
    "tanh": (0.0129, 0.993),
    "relu": (0.0169, 0.994),
}

# make_circles is balanced: 0.5 is chance. These thresholds only word the findings.
LEARNED_ACCURACY = 0.9
CHANCE_ACCURACY = 0.6
# One order of magnitude between the first and last hidden layer is where the
# findings start calling it vanishing (or exploding).
NOTABLE_ATTENUATION = 1.0

# Glorot & Bengio (2010) compare the "standard" uniform initialisation with
# their normalised one; these are the closest Keras initializers, in order of preference.
STANDARD_INITIALIZERS = ("lecun_uniform", "random_uniform", "random_normal",
                         "random_normal(stddev=1.0)")
NORMALISED_INITIALIZERS = ("glorot_uniform", "glorot_normal")


def attenuation(first_hidden: np.ndarray | float, last_hidden: np.ndarray | float) -> np.ndarray:
    """log10(mean |gradient| of the first hidden layer / that of the last hidden layer).

    Negative: the layer nearest the input gets smaller gradients than the one
    nearest the output, i.e. gradients vanish on their way back; -2 means a
    hundredfold. A first layer whose gradient is exactly zero gives -inf.
    """
    first = np.asarray(first_hidden, dtype=np.float64)
    last = np.asarray(last_hidden, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(first) - np.log10(last)


# --- one cell ------------------------------------------------------------------

@dataclass(frozen=True)
class CellStats:
    """Per-epoch, per-layer statistics of one cell (layer axis: 1..depth+1 -> 0..depth)."""

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
    grad_init: tuple[np.ndarray, ...]  # flattened kernel gradient of each layer at epoch 0
    boundary: tuple[np.ndarray, np.ndarray, np.ndarray] | None  # x [G], y [G], logit [G, G]
    # Training settings (absent from results written before the optimizer axis: "" and NaN).
    optimizer: str = ""
    learning_rate: float = math.nan
    # Per hidden layer (axis 1: layers 1..depth); None in results written before issue 4.
    act_mean: np.ndarray | None = None  # [epochs+1, depth]
    act_std: np.ndarray | None = None
    act_saturated_frac: np.ndarray | None = None
    act_dead_frac: np.ndarray | None = None
    act_snapshot_epochs: tuple[int, ...] = ()
    act_values: tuple[np.ndarray, ...] = ()  # per hidden layer: [snapshots, samples, width]
    # ||W_e - W_(e-1)|| / ||W_(e-1)|| per layer 1..depth+1, NaN at epoch 0: [epochs+1, layers]
    update_ratio: np.ndarray | None = None
    # sqrt(mean(g**2)) of each layer's kernel gradient at initialisation, [layers]
    grad_rms_init: np.ndarray | None = None
    # The same for each example's own gradient (before the dataset mean lets examples
    # cancel): what signal-propagation theory predicts. [layers]; None when not recorded.
    grad_sample_rms_init: np.ndarray | None = None
    # What theory predicts for the per-example RMS at initialisation, [layers]; None when not recorded.
    theory_glorot_grad_rms: np.ndarray | None = None
    theory_meanfield_grad_rms: np.ndarray | None = None

    @property
    def diverged(self) -> bool:
        return self.status != "ok"

    @property
    def epochs(self) -> int:
        return int(self.loss.shape[0]) - 1

    @property
    def attenuation(self) -> np.ndarray:
        """Attenuation at every epoch, [epochs+1]."""
        return attenuation(self.grad_abs_mean[:, 0], self.grad_abs_mean[:, self.depth - 1])

    @property
    def training(self) -> tuple[str, float]:
        """(optimizer label, learning rate): with the dataset, what makes a study."""
        return (self.optimizer, self.learning_rate)


def cell_stats(info: dict[str, Any], arrays: dict[str, np.ndarray]) -> CellStats:
    """Statistics of one cell from its stored arrays (kernels only, biases excluded)."""
    depth = int(info["depth"])
    path_hint = f"cell {info.get('cell_id')!r}"
    try:
        loss = np.asarray(arrays["loss"], dtype=np.float64)
        epochs = loss.shape[0]
        per_layer = kernel_statistics(arrays, depth + 1)
        del per_layer["grad_norm"]  # not shown on the page
        grad_init = [np.asarray(arrays[f"grad_kernel_{layer}"][0], np.float64).ravel()
                     for layer in range(1, depth + 2)]
        accuracy = np.asarray(arrays["accuracy"], dtype=np.float64)
    except KeyError as e:
        raise ResultsError(f"{path_hint}: array {e} missing") from None
    except ValueError as e:
        raise ResultsError(f"{path_hint}: arrays of inconsistent shape ({e})") from None
    boundary = None
    if all(k in arrays for k in ("boundary_x", "boundary_y", "boundary_logit")):
        boundary = (np.asarray(arrays["boundary_x"], dtype=np.float64),
                    np.asarray(arrays["boundary_y"], dtype=np.float64),
                    np.asarray(arrays["boundary_logit"], dtype=np.float64))
    optional = _issue4_arrays(arrays, depth, epochs)
    diverged_epoch = info.get("diverged_epoch")
    learning_rate = info.get("learning_rate")
    return CellStats(
        cell_id=str(info["cell_id"]), activation=str(info["activation"]),
        initializer=str(info["initializer"]), depth=depth, width=int(info.get("width", 0)),
        seed=int(info["seed"]), dataset_id=str(info.get("dataset_id", "")),
        matrices=tuple(info.get("matrices") or ()), status=str(info.get("status", "ok")),
        diverged_epoch=None if diverged_epoch is None else int(diverged_epoch),
        loss=loss, accuracy=accuracy,
        **per_layer,
        grad_init=tuple(grad_init), boundary=boundary,
        optimizer=str(info.get("optimizer") or ""),
        learning_rate=math.nan if learning_rate is None else float(learning_rate),
        grad_rms_init=np.array([math.sqrt(float(np.mean(g * g))) if g.size else math.nan
                                for g in grad_init]),
        **optional,
    )


def _issue4_arrays(arrays: dict[str, np.ndarray], depth: int, epochs: int) -> dict[str, Any]:
    """The arrays added by issue 4 that are present (each is optional: the contract only grows)."""
    out: dict[str, Any] = {}
    for key in ("act_mean", "act_std", "act_saturated_frac", "act_dead_frac"):
        if key in arrays:
            out[key] = np.asarray(arrays[key], dtype=np.float64).reshape(epochs, depth)
    if "act_snapshot_epochs" in arrays and all(f"act_values_{layer}" in arrays
                                               for layer in range(1, depth + 1)):
        out["act_snapshot_epochs"] = tuple(int(e) for e in arrays["act_snapshot_epochs"])
        out["act_values"] = tuple(np.asarray(arrays[f"act_values_{layer}"], dtype=np.float32)
                                  for layer in range(1, depth + 1))
    with np.errstate(all="ignore"):
        out["update_ratio"] = np.stack([update_ratio(arrays[f"kernel_{layer}"])
                                        for layer in range(1, depth + 2)], axis=1)
    if "grad_sample_rms" in arrays:
        out["grad_sample_rms_init"] = np.asarray(arrays["grad_sample_rms"][0], np.float64).reshape(depth + 1)
        # The runner stores predictions already scaled to the measured per-example output layer.
        for theory in ("glorot", "meanfield"):
            key = f"theory_{theory}_grad_rms"
            if key in arrays:
                out[key] = np.asarray(arrays[key], dtype=np.float64).reshape(depth + 1)
    return out


# --- the run -------------------------------------------------------------------

@dataclass(frozen=True)
class Run:
    """A results directory as read: its manifest, the cells found, and the cells missing."""

    results_dir: Path
    manifest: dict[str, Any]
    cells: tuple[CellStats, ...]
    missing: tuple[str, ...]  # cell_ids the manifest lists but whose file is absent
    primary: Study | None = None

    def primary_cells(self) -> tuple[CellStats, ...]:
        """The cells of the primary study: every section but the study-specific ones uses only these."""
        if self.primary is None:
            return self.cells
        return tuple(c for c in self.cells if self.primary.holds(c))


def load_run(results_dir: Path) -> Run:
    """Read the manifest and every cell; raises ResultsError naming the file that is wrong."""
    results_dir = Path(results_dir)
    manifest = read_manifest(results_dir)
    cells, missing = [], []
    for i, entry in enumerate(manifest["cells"]):
        if not isinstance(entry, dict) or "cell_id" not in entry:
            raise ResultsError(f"{results_dir / 'manifest.json'}: cells[{i}] has no 'cell_id'")
        cell_id = str(entry["cell_id"])
        if not cell_path(results_dir, cell_id).exists():
            missing.append(cell_id)
            continue
        arrays = read_cell(results_dir, cell_id)
        # The manifest's entry is the run's word on status; the npz's own copy fills gaps.
        info = {**arrays.pop("cell_info"), **entry}
        try:
            cells.append(cell_stats(info, arrays))
        except ResultsError as e:
            raise ResultsError(f"{cell_path(results_dir, cell_id)}: {e}") from None
        except (KeyError, TypeError) as e:
            raise ResultsError(f"{cell_path(results_dir, cell_id)}: bad cell settings ({e!r})") from None
    return Run(results_dir=results_dir, manifest=manifest, cells=tuple(cells),
               missing=tuple(missing), primary=primary_study(manifest, cells))


# --- which cells are the primary study -------------------------------------------------------

@dataclass(frozen=True)
class Study:
    """One dataset trained one way: the cells whose numbers may be averaged together.

    A run may mix studies (an optimizer axis, matrices on other datasets). The
    summary, tutorial, Glorot, depth, matrix and boundary sections show only the
    PRIMARY study: the config's top-level [data] trained as its top-level [train].
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


def primary_study(manifest: dict[str, Any], cells: Sequence[CellStats]) -> Study | None:
    """The config's top-level [data] and [train], as the engine labels them.

    The config as run is validated again with the code that labelled the cells,
    so the labels match by construction. When it cannot be (a hand-edited or
    older manifest), the most common dataset and training among the cells of
    the first matrix stand in.
    """
    from vanishing import config  # plain data: no TensorFlow

    raw = manifest.get("config")
    if isinstance(raw, dict):
        try:
            exp = config.Validator("manifest.json").experiment(raw)
            return Study(exp.data.dataset_id, exp.train.optimizer.label,
                         exp.train.learning_rate)
        except Exception:  # any failure means: fall back to the cells
            pass
    if not cells:
        return None
    names = [m.get("name") for m in manifest.get("matrices") or [] if isinstance(m, dict)]
    first = [c for c in cells if names and names[0] in c.matrices] or list(cells)
    counts: dict[tuple[str, str, float], int] = defaultdict(int)
    for c in first:
        counts[(c.dataset_id, c.optimizer, c.learning_rate)] += 1
    dataset_id, optimizer, rate = max(counts, key=lambda k: counts[k])
    return Study(dataset_id, optimizer, rate)


# --- mean and std over seeds -----------------------------------------------------

@dataclass(frozen=True)
class Stat:
    """Mean and standard deviation over the seeds that count (n of them)."""

    mean: float
    std: float
    n: int

    @classmethod
    def of(cls, values: Iterable[float]) -> Stat:
        v = np.asarray(list(values), dtype=np.float64)
        if v.size == 0:
            return cls(math.nan, math.nan, 0)
        with np.errstate(invalid="ignore"):
            # ddof=0: with 2 or 3 seeds this is the spread we saw, not an estimate.
            return cls(float(v.mean()), float(v.std()), int(v.size))


@dataclass(frozen=True)
class GroupSummary:
    """One activation x initializer x depth, over its seeds.

    Statistics at initialisation use every cell (no training has happened yet);
    statistics at the end use only the cells that did not diverge.
    """

    activation: str
    initializer: str
    depth: int
    seeds: tuple[int, ...]
    diverged: tuple[tuple[int, int | None], ...]  # (seed, diverged_epoch)
    final_loss: Stat
    final_accuracy: Stat
    grad_abs_mean_init: tuple[Stat, ...]  # per layer 1..depth+1
    grad_abs_mean_end: tuple[Stat, ...]
    attenuation_init: Stat
    attenuation_end: Stat

    @property
    def n_ok(self) -> int:
        return len(self.seeds) - len(self.diverged)


def summarize(cells: Sequence[CellStats]) -> tuple[GroupSummary, ...]:
    """One GroupSummary per activation x initializer x depth, in the order first seen."""
    groups: dict[tuple[str, str, int], list[CellStats]] = {}
    for c in cells:
        groups.setdefault((c.activation, c.initializer, c.depth), []).append(c)
    out = []
    for (act, init, depth), members in groups.items():
        members = sorted(members, key=lambda c: c.seed)
        ok = [c for c in members if not c.diverged]
        layers = depth + 1
        out.append(GroupSummary(
            activation=act, initializer=init, depth=depth,
            seeds=tuple(c.seed for c in members),
            diverged=tuple((c.seed, c.diverged_epoch) for c in members if c.diverged),
            final_loss=Stat.of(c.loss[-1] for c in ok),
            final_accuracy=Stat.of(c.accuracy[-1] for c in ok),
            grad_abs_mean_init=tuple(Stat.of(c.grad_abs_mean[0, i] for c in members)
                                     for i in range(layers)),
            grad_abs_mean_end=tuple(Stat.of(c.grad_abs_mean[-1, i] for c in ok)
                                    for i in range(layers)),
            attenuation_init=Stat.of(c.attenuation[0] for c in members),
            attenuation_end=Stat.of(c.attenuation[-1] for c in ok),
        ))
    return tuple(out)


# --- the grids the report is organised around --------------------------------------

@dataclass(frozen=True)
class Grid:
    """activation x initializer at one depth; cells[i][j] is None where nothing was run."""

    name: str
    depth: int
    activations: tuple[str, ...]
    initializers: tuple[str, ...]
    cells: tuple[tuple[GroupSummary | None, ...], ...]

    def present(self) -> list[GroupSummary]:
        return [g for row in self.cells for g in row if g is not None]


def _ordered(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def main_grid(manifest: dict[str, Any], summaries: Sequence[GroupSummary]) -> Grid | None:
    """The activation x initializer grid the summary and the table show.

    The matrix named "main" if there is one, else the one with the most
    activation x initializer pairs; at its depth with the most groups.
    """
    matrices = [m for m in manifest.get("matrices") or [] if isinstance(m, dict)]
    chosen = next((m for m in matrices if m.get("name") == "main"), None)
    if chosen is None and matrices:
        chosen = max(matrices, key=lambda m: len(m.get("activations") or [])
                     * len(m.get("initializers") or []))
    if chosen is not None:
        acts = _ordered(map(str, chosen.get("activations") or []))
        inits = _ordered(map(str, chosen.get("initializers") or []))
        depths = [int(d) for d in chosen.get("depths") or []]
        name = str(chosen.get("name", "main"))
    else:
        acts = _ordered(g.activation for g in summaries)
        inits = _ordered(g.initializer for g in summaries)
        depths = sorted({g.depth for g in summaries})
        name = "all"
    if not acts or not inits or not depths:
        return None
    by_key = {(g.activation, g.initializer, g.depth): g for g in summaries}
    depth = max(depths, key=lambda d: (sum((a, i, d) in by_key for a in acts for i in inits),
                                       d == TUTORIAL_DEPTH))
    grid = tuple(tuple(by_key.get((a, i, depth)) for i in inits) for a in acts)
    if not any(g is not None for row in grid for g in row):
        return None
    return Grid(name=name, depth=depth, activations=acts, initializers=inits, cells=grid)


@dataclass(frozen=True)
class DepthCurve:
    """Attenuation against depth for one activation x initializer."""

    activation: str
    initializer: str
    depths: tuple[int, ...]
    attenuation_init: tuple[Stat, ...]
    attenuation_end: tuple[Stat, ...]


def depth_curves(summaries: Sequence[GroupSummary]) -> tuple[DepthCurve, ...]:
    """Every activation x initializer run at two depths or more."""
    pairs: dict[tuple[str, str], list[GroupSummary]] = {}
    for g in summaries:
        pairs.setdefault((g.activation, g.initializer), []).append(g)
    out = []
    for (act, init), groups in pairs.items():
        if len(groups) < 2:
            continue
        groups = sorted(groups, key=lambda g: g.depth)
        out.append(DepthCurve(act, init, tuple(g.depth for g in groups),
                              tuple(g.attenuation_init for g in groups),
                              tuple(g.attenuation_end for g in groups)))
    return tuple(out)


def tutorial_cells(cells: Sequence[CellStats]) -> dict[str, list[CellStats]]:
    """The tutorial's networks as run here: activation -> its cells (all seeds).

    random_normal(stddev=1.0) at the tutorial's depth when it was run, else at
    the shallowest depth run with that initializer.
    """
    chosen = [c for c in cells if c.initializer == TUTORIAL_INITIALIZER
              and c.activation in TUTORIAL_REPORTED]
    if not chosen:
        return {}
    depths = {c.depth for c in chosen}
    depth = TUTORIAL_DEPTH if TUTORIAL_DEPTH in depths else min(depths)
    out: dict[str, list[CellStats]] = {}
    for act in TUTORIAL_REPORTED:
        mine = sorted((c for c in chosen if c.activation == act and c.depth == depth),
                      key=lambda c: c.seed)
        if mine:
            out[act] = mine
    return out


@dataclass(frozen=True)
class TutorialRow:
    activation: str
    reported_loss: float
    reported_accuracy: float
    measured_loss: Stat
    measured_accuracy: Stat
    epochs: int
    diverged: int


def tutorial_table(tutorial: dict[str, list[CellStats]]) -> tuple[TutorialRow, ...]:
    rows = []
    for act, (loss, acc) in TUTORIAL_REPORTED.items():
        cells = tutorial.get(act, [])
        ok = [c for c in cells if not c.diverged]
        rows.append(TutorialRow(
            activation=act, reported_loss=loss, reported_accuracy=acc,
            measured_loss=Stat.of(c.loss[-1] for c in ok),
            measured_accuracy=Stat.of(c.accuracy[-1] for c in ok),
            epochs=max((c.epochs for c in cells), default=0),
            diverged=len(cells) - len(ok)))
    return tuple(rows)


@dataclass(frozen=True)
class GlorotComparison:
    """The cells Glorot & Bengio's comparison needs: one activation, at one depth."""

    activation: str
    depth: int
    standard: str | None
    normalised: str | None
    by_initializer: dict[str, list[CellStats]]  # every initializer run at that depth


def glorot_comparison(cells: Sequence[CellStats], depth: int | None) -> GlorotComparison | None:
    """tanh (the paper's activation) when run, else the first activation with a normalised init."""
    candidates = [c for c in cells if depth is None or c.depth == depth]
    acts = _ordered(c.activation for c in candidates)
    for act in ("tanh", *acts):
        mine = [c for c in candidates if c.activation == act]
        inits = _ordered(c.initializer for c in mine)
        normalised = next((i for i in NORMALISED_INITIALIZERS if i in inits), None)
        if normalised is None:
            continue
        standard = next((i for i in STANDARD_INITIALIZERS if i in inits), None)
        by_init = {i: sorted((c for c in mine if c.initializer == i), key=lambda c: c.seed)
                   for i in inits}
        return GlorotComparison(act, mine[0].depth, standard, normalised, by_init)
    return None


def boundary_cells(tutorial: dict[str, list[CellStats]],
                   cells: Sequence[CellStats]) -> list[CellStats]:
    """First seed of each tutorial activation, with the tutorial's and the normalised init."""
    if not tutorial:
        return []
    depth = next(iter(tutorial.values()))[0].depth
    out = []
    for act in tutorial:
        for init in (TUTORIAL_INITIALIZER, *NORMALISED_INITIALIZERS[:1], "he_normal"):
            mine = sorted((c for c in cells if c.activation == act and c.initializer == init
                           and c.depth == depth and c.boundary is not None),
                          key=lambda c: c.seed)
            if mine:
                out.append(mine[0])
    return out


# --- findings --------------------------------------------------------------------

def _orders(x: float) -> str:
    if math.isinf(x):
        return "entirely (a first hidden layer got exactly zero gradient)"
    n = abs(x)
    return f"{n:.1f} order{'s' if round(n, 1) != 1.0 else ''} of magnitude"


def findings(grid: Grid | None, curves: Sequence[DepthCurve], n_diverged: int,
             missing: Sequence[str], epochs: int | None, task: str = "the circles") -> tuple[str, ...]:
    """A few sentences of what this run found, each computed from the numbers above."""
    out: list[str] = []
    if grid is None:
        return ("This run has no activation x initializer grid to summarise.",)
    present = grid.present()
    learned = [g for g in present if g.final_accuracy.mean >= LEARNED_ACCURACY]
    failed = [g for g in present if g.final_accuracy.n and g.final_accuracy.mean < CHANCE_ACCURACY]
    after = f" after {epochs} epochs" if epochs else ""
    out.append(
        f"{len(learned)} of {len(present)} activation × initializer pairs with {grid.depth} "
        f"hidden layers learned {task}{after} (mean final accuracy ≥ {LEARNED_ACCURACY:g}); "
        f"{len(failed)} stayed near chance (< {CHANCE_ACCURACY:g})."
    )
    finite = [g for g in present if g.attenuation_init.n and not math.isnan(g.attenuation_init.mean)]
    if finite:
        worst = min(finite, key=lambda g: g.attenuation_init.mean)
        if worst.attenuation_init.mean <= -NOTABLE_ATTENUATION:
            out.append(
                f"The strongest vanishing at initialisation is {worst.activation} with "
                f"{worst.initializer}: the first hidden layer's mean |gradient| is smaller than "
                f"the last hidden layer's by {_orders(worst.attenuation_init.mean)} "
                f"(final accuracy {_fmt_stat(worst.final_accuracy, 2)})."
            )
        per_act: dict[str, list[float]] = defaultdict(list)
        for g in finite:
            per_act[g.activation].append(g.attenuation_init.mean)
        vanish = sorted(((float(np.mean(v)), a) for a, v in per_act.items()
                         if np.mean(v) <= -NOTABLE_ATTENUATION))
        if vanish:
            listed = ", ".join(f"{a} ({_fmt_num(m, 1)})" for m, a in vanish)
            out.append(f"Averaged over initializers, gradients vanish by more than an order of "
                       f"magnitude across {grid.depth} hidden layers at initialisation for: {listed}.")
        explode = [g for g in finite if g.attenuation_init.mean >= NOTABLE_ATTENUATION]
        if explode:
            listed = ", ".join(f"{g.activation} with {g.initializer}" for g in explode[:4])
            more = f" and {len(explode) - 4} more" if len(explode) > 4 else ""
            out.append(f"The opposite, gradients growing towards the input by an order of magnitude "
                       f"or more, happens for {listed}{more}.")
        balanced = [g for g in finite if abs(g.attenuation_init.mean) < 0.5
                    and g.final_accuracy.mean >= LEARNED_ACCURACY]
        if balanced:
            inits = _ordered(g.initializer for g in balanced)
            out.append(f"{len(balanced)} pairs start within half an order of magnitude and "
                       f"learned, spread over {len(inits)} initializer"
                       f"{'s' if len(inits) != 1 else ''} ({_most_common(balanced)} most often).")
    stuck = _stuck_initializers(grid, learned)
    if stuck:
        out.append(stuck)
    deepest = [c for c in curves if len(c.depths) >= 2]
    if deepest:
        worst_curve = min(deepest, key=lambda c: _finite_or(c.attenuation_init[-1].mean, 0.0))
        a0, a1 = worst_curve.attenuation_init[0].mean, worst_curve.attenuation_init[-1].mean
        trend = ("With depth it gets worse" if a1 < a0 - 0.5 else
                 "Depth changes little here")
        out.append(f"{trend}: at initialisation {worst_curve.activation} with "
                   f"{worst_curve.initializer} goes from {_fmt_num(a0, 1)} at depth "
                   f"{worst_curve.depths[0]} to {_fmt_num(a1, 1)} at depth "
                   f"{worst_curve.depths[-1]} (log10 of first over last hidden layer).")
    if n_diverged:
        out.append(f"{n_diverged} cell{'s' if n_diverged != 1 else ''} diverged (loss became NaN "
                   f"or infinite); they are marked and left out of every end-of-training average.")
    if missing:
        out.append(f"{len(missing)} cell{'s' if len(missing) != 1 else ''} listed in the manifest "
                   f"have no results file and are left out.")
    return tuple(out)


def _stuck_initializers(grid: Grid, learned: Sequence[GroupSummary]) -> str:
    """Initializers with which most activations stay at chance, and how small their gradients are.

    Tiny initial weights shrink the forward signal as much as the backward one, so the
    attenuation ratio stays near 0 while every layer's gradient is minute: say so.
    """
    if not learned:
        return ""
    typical = float(np.median([g.grad_abs_mean_init[0].mean for g in learned]))
    names = []
    for j, init in enumerate(grid.initializers):
        column = [row[j] for row in grid.cells if row[j] is not None and row[j].final_accuracy.n]
        failed = [g for g in column if g.final_accuracy.mean < CHANCE_ACCURACY]
        if column and len(failed) * 2 > len(column):
            scale = float(np.median([g.grad_abs_mean_init[0].mean for g in failed]))
            names.append((init, len(failed), len(column), scale))
    if not names:
        return ""
    listed = "; ".join(f"{init} ({n} of {total} activations, first-layer mean |gradient| "
                       f"{format_sci(scale)})" for init, n, total, scale in names)
    return (f"Some initializers leave most activations at chance: {listed}. In the pairs that "
            f"learned it is typically {format_sci(typical)}: when every layer starts with tiny "
            f"weights, the gradient is minute everywhere, even where the ratio between layers "
            f"looks balanced.")


def _most_common(groups: Sequence[GroupSummary]) -> str:
    counts: dict[str, int] = defaultdict(int)
    for g in groups:
        counts[g.initializer] += 1
    return max(counts, key=lambda k: counts[k])


def _finite_or(x: float, default: float) -> float:
    return x if math.isfinite(x) else (-1e9 if x == -math.inf else default)


# --- formatting shared with the page ------------------------------------------------

def _fmt_num(x: float, digits: int = 2) -> str:
    if math.isnan(x):
        return "–"
    if math.isinf(x):
        return "−∞" if x < 0 else "+∞"
    return f"{x:+.{digits}f}".replace("-", "−")


def _fmt_stat(s: Stat, digits: int = 3) -> str:
    if s.n == 0 or math.isnan(s.mean):
        return "–"
    if s.n == 1 or math.isnan(s.std):
        return f"{s.mean:.{digits}f}"
    return f"{s.mean:.{digits}f} ± {s.std:.{digits}f}"


def format_stat(s: Stat, digits: int = 3) -> str:
    """'mean ± std' in fixed notation; '–' when no seed counts."""
    return _fmt_stat(s, digits)


def format_signed(x: float, digits: int = 2) -> str:
    """A signed number with a true minus sign, ±∞ spelled out."""
    return _fmt_num(x, digits)


def format_sci(x: float) -> str:
    """A magnitude in compact scientific notation (3.1e−4)."""
    if math.isnan(x):
        return "–"
    if math.isinf(x):
        return "∞"
    if x == 0:
        return "0"
    return f"{x:.1e}".replace("e-0", "e−").replace("e+0", "e").replace("e-", "e−").replace("e+", "e")


# --- issue 4: why gradients vanish ---------------------------------------------------------

# Activations whose units can die: exactly 0 on a whole interval of inputs, so a unit can
# output 0 on every sample. (leaky_relu, elu, gelu, swish... never give exactly 0.)
RELU_LIKE = ("relu", "relu6", "hard_sigmoid", "hard_silu", "hard_swish", "soft_shrink", "hard_shrink")
# The order optimizers are shown in: plain steps first, then the adaptive ones (zoo.OPTIMIZERS' names).
OPTIMIZER_ORDER = ("sgd", "momentum", "rmsprop", "adagrad", "adam", "adamax", "nadam", "adamw")
SATURATION_ACTIVATIONS = tuple(TUTORIAL_REPORTED)  # sigmoid, tanh, relu: the tutorial's


def training_label(optimizer: str, learning_rate: float) -> str:
    """``sgd (lr 0.1)``: how a training is named on the page."""
    if math.isnan(learning_rate):
        return optimizer or "?"
    return f"{optimizer or '?'} (lr {learning_rate:g})"


def training_order(training: tuple[str, float]) -> tuple[int, str, float]:
    name = training[0].split("(")[0]
    rank = OPTIMIZER_ORDER.index(name) if name in OPTIMIZER_ORDER else len(OPTIMIZER_ORDER)
    return (rank, training[0], training[1])


def standard_initializer(initializers: Iterable[str]) -> str | None:
    """Glorot & Bengio's 'standard' initialisation as run here: the same choice in every section."""
    present = set(initializers)
    return next((i for i in STANDARD_INITIALIZERS if i in present), None)


def normalised_initializer(initializers: Iterable[str]) -> str | None:
    present = set(initializers)
    return next((i for i in NORMALISED_INITIALIZERS if i in present), None)


def compared_initializers(initializers: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """(initializer, its role) for the saturation and learning-speed figures, in display order:
    the tutorial's random_normal(stddev=1.0), the standard one (if another), the normalised one."""
    inits = tuple(initializers)
    out: list[tuple[str, str]] = []
    standard = standard_initializer(inits)
    if TUTORIAL_INITIALIZER in inits:
        role = "the tutorial's" + (", standard" if standard == TUTORIAL_INITIALIZER else "")
        out.append((TUTORIAL_INITIALIZER, role))
    if standard is not None and standard != TUTORIAL_INITIALIZER:
        out.append((standard, "standard"))
    normalised = normalised_initializer(inits)
    if normalised is not None:
        out.append((normalised, "normalised (Glorot)"))
    return tuple(out)


@dataclass(frozen=True)
class Comparison:
    """One activation at one depth, a few initializers side by side (cells: all seeds)."""

    activation: str
    depth: int
    initializers: tuple[tuple[str, str], ...]  # (initializer, role)
    cells: tuple[tuple[CellStats, ...], ...]  # per initializer, sorted by seed


def _comparison(cells: Sequence[CellStats], activation: str, depth: int) -> Comparison | None:
    # Diverged networks have no curves to draw (NaN from their divergence on): left out.
    mine = [c for c in cells if c.activation == activation and c.depth == depth and not c.diverged]
    chosen = compared_initializers(_ordered(c.initializer for c in mine))
    if not chosen:
        chosen = tuple((i, "") for i in _ordered(c.initializer for c in mine))[:3]
    if not chosen:
        return None
    per_init = tuple(tuple(sorted((c for c in mine if c.initializer == i), key=lambda c: c.seed))
                     for i, _ in chosen)
    return Comparison(activation, depth, chosen, per_init)


def saturation_comparisons(cells: Sequence[CellStats]) -> tuple[Comparison, ...]:
    """sigmoid, tanh, relu at the tutorial's depth (else their most common depth), with
    activation statistics recorded."""
    recorded = [c for c in cells if c.act_saturated_frac is not None and c.act_values and not c.diverged]
    mine = [c for c in recorded if c.activation in SATURATION_ACTIVATIONS]
    if not mine:
        return ()
    depths = [c.depth for c in mine]
    depth = TUTORIAL_DEPTH if TUTORIAL_DEPTH in depths else max(set(depths), key=depths.count)
    out = (_comparison(mine, act, depth) for act in SATURATION_ACTIVATIONS)
    return tuple(c for c in out if c is not None)


def saturation_facts(comparisons: Sequence[Comparison]) -> tuple[str, ...]:
    """One sentence per activation: the most saturated hidden layer, before and after training."""
    out = []
    for cmp in comparisons:
        parts = []
        for (init, _), cells in zip(cmp.initializers, cmp.cells):
            ok = [c for c in cells if not c.diverged and c.act_saturated_frac is not None]
            if not ok:
                continue
            dead = cmp.activation in RELU_LIKE
            series = np.stack([(c.act_dead_frac if dead else c.act_saturated_frac) for c in ok])
            start, end = series[:, 0].mean(0), series[:, -1].mean(0)
            layer = int(np.nanargmax(np.maximum(start, end)))
            parts.append(f"with {init}, {_pct(start[layer])} of layer {layer + 1}'s units "
                         f"{'are dead' if dead else 'are saturated'} at initialisation and "
                         f"{_pct(end[layer])} after training")
        if parts:
            out.append(f"{cmp.activation}: " + "; ".join(parts) + ".")
    return tuple(out)


def _pct(x: float) -> str:
    return "–" if math.isnan(x) else f"{100 * x:.0f} %"


def learning_speed_comparison(cells: Sequence[CellStats]) -> Comparison | None:
    """The deepest sigmoid networks run (the depth sweep's), else depth 4, else any activation."""
    recorded = [c for c in cells if c.update_ratio is not None and not c.diverged]
    for act in ("sigmoid", *_ordered(c.activation for c in recorded)):
        mine = [c for c in recorded if c.activation == act]
        if mine:
            return _comparison(mine, act, max(c.depth for c in mine))
    return None


@dataclass(frozen=True)
class OptimizerStudy:
    """Activation x initializer cells trained with several optimizers on the primary dataset."""

    dataset_id: str
    depth: int
    trainings: tuple[tuple[str, float], ...]  # (optimizer, learning rate), display order
    grids: tuple[Grid, ...]  # per training
    cells: tuple[CellStats, ...]


def optimizer_study(run: Run) -> OptimizerStudy | None:
    """The cells on the primary dataset whose activation x initializer x depth was trained in
    two or more ways; None when the run has no optimizer axis."""
    dataset = run.primary.dataset_id if run.primary else None
    on_data = [c for c in run.cells if dataset is None or not c.dataset_id or c.dataset_id == dataset]
    ways: dict[tuple[str, str, int], set[tuple[str, float]]] = defaultdict(set)
    for c in on_data:
        ways[(c.activation, c.initializer, c.depth)].add(c.training)
    keys = {k for k, v in ways.items() if len(v) >= 2}
    if not keys:
        return None
    depths = [d for _, _, d in keys]
    depth = max(set(depths), key=lambda d: (depths.count(d), d == TUTORIAL_DEPTH))
    cells = [c for c in on_data if (c.activation, c.initializer, c.depth) in keys
             and c.depth == depth]
    trainings = tuple(sorted({c.training for c in cells}, key=training_order))
    acts = _ordered(c.activation for c in cells)
    inits = _ordered(c.initializer for c in cells)
    grids = []
    for t in trainings:
        by_key = {(g.activation, g.initializer): g
                  for g in summarize([c for c in cells if c.training == t])}
        grids.append(Grid(training_label(*t), depth, acts, inits,
                          tuple(tuple(by_key.get((a, i)) for i in inits) for a in acts)))
    return OptimizerStudy(dataset or cells[0].dataset_id, depth, trainings, tuple(grids),
                          tuple(cells))


@dataclass(frozen=True)
class StepContrast:
    """For one training: how much smaller the first hidden layer's gradient and step were than
    the last hidden layer's (log10, median over epochs 1..E, mean over the cells)."""

    training: tuple[str, float]
    gradient: Stat  # log10(mean |g| first / last hidden)
    update: Stat  # log10(update ratio first / last hidden)


def step_contrasts(study: OptimizerStudy, activation: str,
                   initializer: str) -> tuple[StepContrast, ...]:
    out = []
    for t in study.trainings:
        cells = [c for c in study.cells if c.training == t and c.activation == activation
                 and c.initializer == initializer and not c.diverged and c.epochs >= 1]
        grads, updates = [], []
        for c in cells:
            last = c.depth - 1
            with np.errstate(all="ignore"):
                grads.append(np.nanmedian(attenuation(c.grad_abs_mean[1:, 0],
                                                      c.grad_abs_mean[1:, last])))
                if c.update_ratio is not None:
                    updates.append(np.nanmedian(attenuation(c.update_ratio[1:, 0],
                                                            c.update_ratio[1:, last])))
        out.append(StepContrast(t, Stat.of(g for g in grads if math.isfinite(g)),
                                Stat.of(u for u in updates if math.isfinite(u))))
    return tuple(out)


def contrast_focus(study: OptimizerStudy) -> tuple[str, str]:
    """(activation, initializer) the optimizer contrast is told for: the tutorial's initializer
    when run, and the activation whose gradients vanish most at initialisation."""
    inits = _ordered(c.initializer for c in study.cells)
    init = TUTORIAL_INITIALIZER if TUTORIAL_INITIALIZER in inits else inits[0]
    mine = [c for c in study.cells if c.initializer == init]
    per_act: dict[str, list[float]] = defaultdict(list)
    for c in mine:
        if math.isfinite(c.attenuation[0]):
            per_act[c.activation].append(float(c.attenuation[0]))
    act = (min(per_act, key=lambda a: float(np.mean(per_act[a]))) if per_act
           else mine[0].activation)
    return act, init


def optimizer_sentence(activation: str, initializer: str,
                       contrasts: Sequence[StepContrast]) -> str:
    """The measured case for 'adaptive optimizers hide vanishing gradients', in numbers."""
    told = [c for c in contrasts if c.gradient.n and c.update.n]
    if not told:
        return ""
    parts = []
    for c in told:
        parts.append(f"with {training_label(*c.training)} the first hidden layer got "
                     f"{_times(c.gradient.mean, 'less gradient', 'more gradient', 'as much gradient')}"
                     f" than the last hidden layer and moved "
                     f"{_times(c.update.mean, 'less', 'more', 'as far')} per epoch, relative to "
                     "its weights")
    return (f"{activation} with {initializer} (median over epochs, mean over seeds): "
            + "; ".join(parts) + ".")


def _times(log10_ratio: float, less: str, more: str, same: str) -> str:
    """-2 -> '100× less', 0.3 -> '2.0× more', ~0 -> 'about as much' (first over last layer)."""
    if not math.isfinite(log10_ratio):
        return f"incomparably {'less' if log10_ratio < 0 else 'more'}"
    if abs(log10_ratio) < 0.05:
        return f"about {same}"
    factor = 10 ** abs(log10_ratio)
    size = f"{factor:.0f}×" if factor >= 10 else f"{factor:.1f}×"
    return f"{size} {less if log10_ratio < 0 else more}"


@dataclass(frozen=True)
class TheoryPoint:
    """One network at initialisation: attenuation of the gradient RMS, measured and predicted.

    ``measured`` is of the per-example gradients, which is what theory predicts;
    ``measured_dataset`` of the whole-dataset gradient that trains the network.
    """

    cell: CellStats
    measured: float
    measured_dataset: float
    glorot: float
    meanfield: float


def rms_attenuation(rms: np.ndarray, depth: int) -> float:
    """log10(RMS of the first hidden layer's gradient / that of the last hidden layer)."""
    return float(attenuation(rms[0], rms[depth - 1]))


def theory_points(cells: Sequence[CellStats]) -> tuple[TheoryPoint, ...]:
    """Every network with theory predictions, once per initial weights (an optimizer axis
    trains the same initial network several times: it counts once)."""
    seen: set[tuple[str, str, int, int, int, str]] = set()
    out = []
    for c in cells:
        if c.theory_glorot_grad_rms is None or c.theory_meanfield_grad_rms is None:
            continue
        key = (c.activation, c.initializer, c.depth, c.width, c.seed, c.dataset_id)
        if key in seen or c.grad_rms_init is None or c.grad_sample_rms_init is None:
            continue
        seen.add(key)
        out.append(TheoryPoint(c, rms_attenuation(c.grad_sample_rms_init, c.depth),
                               rms_attenuation(c.grad_rms_init, c.depth),
                               rms_attenuation(c.theory_glorot_grad_rms, c.depth),
                               rms_attenuation(c.theory_meanfield_grad_rms, c.depth)))
    return tuple(out)


def theory_statements(points: Sequence[TheoryPoint]) -> tuple[str, ...]:
    """Where each theory is close and where it is not: median |predicted − measured| attenuation
    in decades, per activation."""
    if not points:
        return ()
    out = []
    for act in _ordered(p.cell.activation for p in points):
        mine = [p for p in points if p.cell.activation == act]
        errors = []
        for theory in ("glorot", "meanfield"):
            diffs = [abs(getattr(p, theory) - p.measured) for p in mine
                     if math.isfinite(getattr(p, theory)) and math.isfinite(p.measured)]
            errors.append(float(np.median(diffs)) if diffs else math.nan)
        cancel = [p.measured_dataset - p.measured for p in mine
                  if math.isfinite(p.measured_dataset) and math.isfinite(p.measured)]
        out.append((act, len(mine), *errors, float(np.median(cancel)) if cancel else math.nan))
    sentences = [
        "Median |predicted − measured| attenuation per activation, measured on each example's own "
        "gradient; and how far the whole-dataset gradient's attenuation sits from the per-example "
        "one (negative: it vanishes further, because examples' gradients cancel in the mean)."]
    for act, n, glorot_err, meanfield_err, cancel in out:
        shift = "" if math.isnan(cancel) else f"; whole dataset {cancel:+.2f} decades"
        sentences.append(f"{act} ({n} network{'s' if n != 1 else ''}): linear regime off by "
                         f"{_decades(glorot_err)}, mean field by {_decades(meanfield_err)}{shift}.")
    return tuple(sentences)


def _decades(x: float) -> str:
    return "–" if math.isnan(x) else f"{x:.2f} decades"


@dataclass(frozen=True)
class RealDataStudy:
    """A dataset with more than two features: the same grids, at each depth run."""

    dataset_id: str
    name: str
    n_samples: int | None
    n_features: int | None
    positive_fraction: float | None
    training: tuple[str, float]
    grids: tuple[Grid, ...]  # per depth
    curves: tuple[DepthCurve, ...]
    cells: tuple[CellStats, ...]


def real_data_studies(run: Run) -> tuple[RealDataStudy, ...]:
    """Every dataset of the run other than a 2-feature one, trained as the primary study was
    (or, when none of its cells was, the way most of them were)."""
    info = {str(d.get("dataset_id")): d for d in run.manifest.get("datasets") or []
            if isinstance(d, dict)}
    out = []
    for dataset_id in _ordered(c.dataset_id for c in run.cells if c.dataset_id):
        d = info.get(dataset_id, {})
        mine = [c for c in run.cells if c.dataset_id == dataset_id]
        two_features = (d.get("n_features") == 2 if "n_features" in d
                        else all(c.boundary is not None for c in mine))
        if two_features:
            continue
        trainings = [c.training for c in mine]
        wanted = (run.primary.optimizer, run.primary.learning_rate) if run.primary else None
        training = next((t for t in trainings if wanted and t[0] == wanted[0]
                         and math.isclose(t[1], wanted[1])), None) \
            or max(set(trainings), key=trainings.count)
        mine = [c for c in mine if c.training == training]
        summaries = summarize(mine)
        acts = _ordered(c.activation for c in mine)
        inits = _ordered(c.initializer for c in mine)
        by_key = {(g.activation, g.initializer, g.depth): g for g in summaries}
        grids = tuple(Grid(f"depth {depth}", depth, acts, inits,
                           tuple(tuple(by_key.get((a, i, depth)) for i in inits) for a in acts))
                      for depth in sorted({c.depth for c in mine}))
        out.append(RealDataStudy(
            dataset_id=dataset_id, name=str(d.get("name") or dataset_id),
            n_samples=_int_or_none(d.get("n_samples")),
            n_features=_int_or_none(d.get("n_features")),
            positive_fraction=(float(d["positive_fraction"])
                               if d.get("positive_fraction") is not None else None),
            training=training, grids=grids, curves=depth_curves(summaries), cells=tuple(mine)))
    return tuple(out)


def _int_or_none(x: Any) -> int | None:
    try:
        return int(x)
    except (TypeError, ValueError):
        return None
