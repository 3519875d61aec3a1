"""Train a group of same-shape cells as ONE stacked model (stacked.py) in one compiled loop.

The Keras optimizers we allow act element-wise, so each slice of the stacked
variables trains as its cell would alone (DESIGN.md section 4). Each cell also
sees its own mini-batches: the batch indices are [steps, cells, batch].

At every epoch boundary (epoch 0 = before any update) the compiled function
hands back, per cell, the whole-dataset measurements of stacked.evaluate() and
the mean over the epoch's steps of each step's mean |gradient|, packed in the
order of stacked.output_layout(). Only these small arrays cross back to Python.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from vanishing import stacked, timing, zoo
from vanishing.experiment import Cell
from vanishing.stacked import StackedMLP

# Independent random streams derived from a cell's seed (numpy SeedSequence):
# the same seed never drives two things, and no stream depends on the group.
INIT_STREAM, BATCH_STREAM = 0, 1
BOUNDARY_GRID = 81  # points per axis of the decision-region grid
ACTIVATION_SAMPLE = 256  # samples whose activations are kept at init, mid-training and the end


@dataclass(frozen=True)
class CellRecord:
    """What one cell produced: its arrays (DESIGN.md section 3 keys) and its status."""

    cell: Cell
    arrays: dict[str, np.ndarray]
    diverged_epoch: int | None

    @property
    def status(self) -> str:
        return "ok" if self.diverged_epoch is None else "diverged"


def layer_sizes(cell: Cell, n_features: int) -> list[tuple[int, int]]:
    """(fan_in, fan_out) of layers 1..depth+1; the last is the output logit."""
    sizes = [n_features] + [cell.width] * cell.depth + [1]
    return list(itertools.pairwise(sizes))


def init_seed(seed: int, layer: int) -> int:
    """The Keras initializer seed of one layer of one cell: no two layers share one."""
    return int(np.random.SeedSequence([seed, INIT_STREAM, layer]).generate_state(1)[0] % 2**31)


def initial_kernels(cell: Cell, n_features: int) -> list[np.ndarray]:
    """Each kernel drawn by a fresh Keras initializer for its own 2-D shape (fan_in, fan_out).

    A 3-D stacked shape would change what Keras takes as fan-in and fan-out.
    """
    return [
        np.asarray(zoo.make_initializer(cell.initializer.name, cell.initializer.kwargs,
                                        init_seed(cell.seed, layer))(shape=shape, dtype="float32"))
        for layer, shape in enumerate(layer_sizes(cell, n_features), start=1)
    ]


def batch_order(seed: int, n_samples: int, epochs: int) -> np.ndarray:
    """[epochs, n_samples]: the sample order of each epoch, reshuffled each epoch, from the seed alone."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, BATCH_STREAM]))
    return np.stack([rng.permutation(n_samples) for _ in range(epochs)])


def activation_sample(n_samples: int) -> np.ndarray:
    """The samples whose hidden activations are kept at the snapshot epochs (for histograms)."""
    rng = np.random.default_rng(0)
    return np.sort(rng.choice(n_samples, size=min(n_samples, ACTIVATION_SAMPLE), replace=False))


def boundary_grid(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Axes of a grid covering the data with a margin, for decision regions."""
    lo, hi = X.min(0), X.max(0)
    pad = 0.1 * (hi - lo)
    return (np.linspace(lo[0] - pad[0], hi[0] + pad[0], BOUNDARY_GRID, dtype=np.float32),
            np.linspace(lo[1] - pad[1], hi[1] + pad[1], BOUNDARY_GRID, dtype=np.float32))


def saturation_thresholds(activations: Sequence[str]) -> np.ndarray:
    """[C]: |f'(z)| below 10 % of the activation's largest |f'| is saturated; NaN: unbounded."""
    return np.array([np.nan if (r := zoo.reference_slope(a)) is None else 0.1 * r for a in activations],
                    np.float32)


def compile_epoch(model: StackedMLP, optimizer, X, y, saturated_below: np.ndarray) -> Callable:
    """The group's one XLA-compiled program: an epoch's mini-batch steps, then evaluate(), packed."""
    _, tf = zoo.import_keras()
    layout = stacked.output_layout(model.sizes)

    # autograph=False: the one loop is written as tf.while_loop below, and converting the
    # function's source (and Keras' optimizer code it calls) took a second of tracing per group.
    @tf.function(jit_compile=True, autograph=False)
    def epoch_fn(index, mask, n_steps):
        """`n_steps` mini-batch updates (index [steps, C, batch]), then the whole-dataset measurements.

        Epoch 0 is the same compiled call with n_steps = 0: no update, and the
        per-step mean |g| comes out NaN, as no step was taken. One XLA program per
        group: n_steps is a run-time value (train_steps), so epoch 0 does not compile
        a second one (that cost 1-2 s per group).
        """
        step_abs = train_steps(model, optimizer, X, y, index, mask, n_steps)
        # after the steps: evaluate() reads the updated variables
        return stacked.pack({**stacked.evaluate(model, X, y, saturated_below),
                             "step_grad_abs_mean": step_abs}, layout)

    return epoch_fn


def train_steps(model: StackedMLP, optimizer, X, y, index, mask, n_steps):
    """The mini-batch updates of one epoch; returns each step's mean |g| per kernel, averaged [C, depth+1]."""
    _, tf = zoo.import_keras()
    variables = model.variables
    count = tf.reduce_sum(mask, axis=1)  # real samples per step; the last batch is short
    step_abs = [tf.zeros([model.cells]) for _ in model.kernels]
    # A while loop on n_steps, not `for s in tf.range(n_steps)`: that one gives XLA a maximum
    # trip count, which must be a compile-time constant, so epoch 0 (no step) and the others
    # compiled twice.
    def step(s, step_abs):
        xb, yb = tf.gather(X, index[s]), tf.gather(y, index[s])
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(stacked.bce(yb, model.forward(xb)[0]) * mask[s], axis=1) / count[s]
            total = tf.reduce_sum(loss)
        grads = tape.gradient(total, variables)
        optimizer.apply_gradients(zip(grads, variables))
        return s + 1, [a + tf.reduce_mean(tf.abs(g), axis=[1, 2])
                       for a, g in zip(step_abs, grads[: len(model.kernels)])]

    _, step_abs = tf.while_loop(lambda s, _: s < n_steps, step, (tf.constant(0), step_abs))
    # Times the reciprocal: what XLA made of the division while n_steps was a compile-time
    # constant, so the numbers keep their bits. Epoch 0: 0 * (1 / 0) = NaN, as no step was taken.
    return tf.stack(step_abs, axis=1) * (1.0 / tf.cast(n_steps, tf.float32))


@dataclass
class Trajectory:
    """The [epochs + 1, C, ...] arrays of a group, filled epoch by epoch (mutable: one group's loop)."""

    layout: list[tuple[str, tuple[int, ...]]]
    epochs: int
    cells: int
    snapshot_epochs: list[int]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key, shape in self.layout:
            self.arrays[key] = np.full((self.epochs + 1, self.cells, *shape), np.nan, np.float32)

    def store(self, epoch: int, values: np.ndarray) -> None:
        for key, value in stacked.unpack(values, self.layout).items():
            self.arrays[key][epoch] = value

    def store_snapshot(self, epoch: int, snapshot: dict[str, np.ndarray]) -> None:
        """Arrays [snapshot, cell, ...]: the cell axis second, as for the per-epoch arrays."""
        for key, value in snapshot.items():
            snap = self.arrays.setdefault(
                key, np.full((len(self.snapshot_epochs), *value.shape), np.nan, np.float32))
            snap[self.snapshot_epochs.index(epoch)] = value


def train_group(
    cells: Sequence[Cell],
    X: np.ndarray,
    y: np.ndarray,
    on_epoch: Callable[[int], None] | None = None,
) -> list[CellRecord]:
    """Train cells that share a group_key; return one record per cell, in order."""
    first = cells[0]
    if any(c.group_key != first.group_key for c in cells):
        raise ValueError("train_group: cells must share a group_key (depth, width, data and training)")
    # Each activation's cells side by side: one slice of the stack per activation (stacked.PerCell)
    activations = list(dict.fromkeys(c.activation for c in cells))
    order = sorted(range(len(cells)), key=lambda i: activations.index(cells[i].activation))
    records = _train_stack([cells[i] for i in order], X, y, on_epoch)
    back = {i: record for i, record in zip(order, records)}
    return [back[i] for i in range(len(cells))]


def _train_stack(cells: Sequence[Cell], X: np.ndarray, y: np.ndarray,
                 on_epoch: Callable[[int], None] | None) -> list[CellRecord]:
    """train_group for cells whose activations come in runs (stacked.PerCell)."""
    _, tf = zoo.import_keras()
    first = cells[0]
    n, n_features = X.shape
    epochs, batch = first.train.epochs, first.train.batch_size
    steps, C = -(-n // batch), len(cells)

    activations = [c.activation for c in cells]
    model = stacked.stacked_mlp([initial_kernels(c, n_features) for c in cells], activations)
    optimizer = zoo.make_optimizer(first.train.optimizer.name, first.train.optimizer.kwargs,
                                   first.train.learning_rate)
    optimizer.build(model.variables)
    X_t, y_t = tf.constant(X, tf.float32), tf.constant(y, tf.float32)
    epoch_fn = compile_epoch(model, optimizer, X_t, y_t, saturation_thresholds(activations))
    sample = activation_sample(n)
    X_sample, y_sample = tf.gather(X_t, sample), tf.gather(y_t, sample)
    trajectory = Trajectory(stacked.output_layout(model.sizes), epochs, C, sorted({0, epochs // 2, epochs}))

    orders = np.stack([batch_order(c.seed, n, epochs) for c in cells], axis=1)  # [epochs, C, n]
    pad = steps * batch - n
    mask = tf.constant(np.concatenate([np.ones(n), np.zeros(pad)]).reshape(steps, batch), tf.float32)
    for epoch in range(epochs + 1):
        if epoch == 0:
            values = _first_call(epoch_fn, tf.zeros([steps, C, batch], tf.int32), mask, tf.constant(0))
        else:
            order = np.concatenate([orders[epoch - 1], np.zeros((C, pad), np.int64)], axis=1)
            index = tf.constant(order.reshape(C, steps, batch).transpose(1, 0, 2), tf.int32)
            with timing.span("train: epochs (steps and evaluation)"):
                values = epoch_fn(index, mask, tf.constant(steps))
        with timing.span("train: transfers to the host"):
            trajectory.store(epoch, values.numpy())
        if epoch in trajectory.snapshot_epochs:
            with timing.span("train: activation snapshots"):
                trajectory.store_snapshot(epoch, stacked.sample_snapshot(model, X_sample, y_sample))
        if epoch > 0 and on_epoch is not None:
            on_epoch(epoch)

    extra: dict[str, np.ndarray] = {"act_snapshot_epochs": np.array(trajectory.snapshot_epochs),
                                    "act_sample_index": sample}
    grid = None
    if n_features == 2:
        start = time.perf_counter()
        gx, gy = boundary_grid(X)
        points = np.stack(np.meshgrid(gx, gy), axis=-1).reshape(-1, 2)
        # once, after training: eager is cheaper than tracing a function for one call
        grid = model.forward(tf.broadcast_to(tf.constant(points), [C, *points.shape]))[0]
        extra.update(boundary_x=gx, boundary_y=gy)
        grid = grid.numpy().reshape(C, len(gy), len(gx))
        timing.add("train: decision-region grid", time.perf_counter() - start)
    return cell_records(cells, trajectory.arrays, extra, grid)


def _first_call(epoch_fn: Callable, index, mask, n_steps):
    """Epoch 0: the call that traces and compiles the group's program, then evaluates once.

    With VANISHING_TIMINGS set, tracing is timed on its own (get_concrete_function), and the
    call is made a second time, compiled: what that takes is the evaluation, the rest of the
    first call was compiling (the benchmark's breakdown; the second call changes no variable,
    as no step runs)."""
    if not timing.enabled():
        with timing.span("train: tracing and compiling"):
            return epoch_fn(index, mask, n_steps)
    with timing.span("train: tracing (Python)"):
        epoch_fn.get_concrete_function(index, mask, n_steps)
    start = time.perf_counter()
    values = epoch_fn(index, mask, n_steps)
    first = time.perf_counter() - start
    start = time.perf_counter()
    epoch_fn(index, mask, n_steps).numpy()
    evaluation = time.perf_counter() - start
    timing.add("train: compiling (or loading the cached program)", first - evaluation)
    timing.add("train: one evaluation (per group, measured at epoch 0)", evaluation)
    return values


def cell_records(cells: Sequence[Cell], arrays: dict[str, np.ndarray], extra: dict[str, np.ndarray],
                 grid: np.ndarray | None) -> list[CellRecord]:
    """One record per cell: its slice of the group's arrays, and where it diverged."""
    records = []
    for c, cell in enumerate(cells):
        own = {key: value[:, c] for key, value in arrays.items()}
        if grid is not None:
            own["boundary_logit"] = grid[c]
        own.update(extra)
        bad = np.flatnonzero(~np.isfinite(own["loss"]))
        diverged = int(bad[0]) if bad.size else None
        if diverged is not None:
            # Comparisons with NaN are False: past divergence, accuracy would read 0.5 and
            # the saturated and dead fractions 0. Say "no number" instead.
            for key in ("accuracy", "act_saturated_frac", "act_dead_frac"):
                own[key] = own[key].copy()
                own[key][diverged:] = np.nan
        records.append(CellRecord(cell, own, diverged))
    return records
