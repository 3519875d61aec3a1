"""Train one cell of a factory config: the user's model, ``fit`` on the engine's batches, recorded.

The recorder (keras.GradientRecorder) measures the model at the start and after every
epoch on the whole dataset, exactly as it measures a user's own run; here it keeps the
run in memory and the runner writes the cell when it is complete, as for the engine's
cells. The cell's seed fixes everything random: the initial weights (one initializer
per layer, seeded as the engine seeds its layers), the batch order (the engine's own,
not fit's shuffle) and any randomness of the model itself (dropout), and TensorFlow's
op determinism is on, so a rerun gives identical numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from vanishing import engine, factory, zoo
from vanishing.experiment import Cell
from vanishing.keras import GradientRecorder

FACTORY = "factory"  # the manifest's `source` of a factory cell


@dataclass(frozen=True)
class FactoryRecord:
    """What one factory cell produced: its manifest entry and its cell file's arrays."""

    entry: dict[str, Any]
    arrays: dict[str, np.ndarray]


class _CellRecorder(GradientRecorder):
    """The recorder, keeping the run in memory: the runner writes the finished cell."""

    def __init__(self, probe: tuple[Any, Any], labels: dict[str, Any]) -> None:
        super().__init__(".", probe=probe, labels=labels)
        self.entry: dict[str, Any] = {}
        self.data: dict[str, np.ndarray] = {}

    def _check_destination(self) -> None:
        pass  # nothing is written by the recorder itself

    def _write(self, entry: dict[str, Any], data: dict[str, np.ndarray]) -> None:
        self.entry, self.data = entry, data


class _EpochTicks(keras.callbacks.Callback):
    def __init__(self, tick: Callable[[int], None]) -> None:
        super().__init__()
        self.tick = tick

    def on_epoch_end(self, epoch, logs=None) -> None:
        self.tick(epoch + 1)


def batches(X: np.ndarray, y: np.ndarray, orders: np.ndarray, batch_size: int):
    """A tf.data pipeline of every epoch's mini-batches in the engine's order: orders [epochs, n].

    Each epoch is batched on its own, so its last batch is short exactly as in the engine."""
    _, tf = zoo.import_keras()
    X_t, y_t = tf.constant(X), tf.constant(y)
    epochs = tf.data.Dataset.from_tensor_slices(orders.astype(np.int64))
    index = epochs.flat_map(lambda order: tf.data.Dataset.from_tensor_slices(order).batch(batch_size))
    return index.map(lambda i: (tf.gather(X_t, i), tf.gather(y_t, i)))


def compile_for(model, cell: Cell, units: int) -> None:
    """The config's optimizer; the loss from logits: binary from one unit, sparse categorical
    from one per class; accuracy at logit > 0 or the largest logit."""
    optimizer = zoo.make_optimizer(cell.train.optimizer.name, cell.train.optimizer.kwargs,
                                   cell.train.learning_rate)
    if units == 1:
        loss = keras.losses.BinaryCrossentropy(from_logits=True)
        accuracy = keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
    model.compile(optimizer=optimizer, loss=loss, metrics=[accuracy])


def targets(y: np.ndarray, units: int) -> np.ndarray:
    """Labels as the loss takes them: [n, 1] floats for one logit, class indices otherwise."""
    return np.asarray(y, np.float32)[:, None] if units == 1 else np.asarray(y, np.int64)


def train_cell(cell: Cell, X: np.ndarray, y: np.ndarray, n_classes: int,
               on_epoch: Callable[[int], None] | None = None) -> FactoryRecord:
    """Build the cell's model with the factory, fit it, and return what the recorder measured."""
    _, tf = zoo.import_keras()
    tf.config.experimental.enable_op_determinism()
    # Fresh layer names per cell (dense, dense_1, ...): a variable's path must not depend on
    # which cells this process trained before.
    keras.backend.clear_session()
    keras.utils.set_random_seed(cell.seed)  # the model's own randomness (dropout, noise layers)
    model = factory.build(cell, X.shape[1:])
    units = factory.output_units(model, X, n_classes)
    compile_for(model, cell, units)
    y_fit = targets(y, units)
    labels = {"activation": cell.activation, "initializer": cell.initializer.label,
              "depth": cell.depth, "seed": cell.seed}
    recorder = _CellRecorder((X, y_fit), labels)
    epochs, n = cell.train.epochs, X.shape[0]
    callbacks: list[Any] = [recorder] + ([] if on_epoch is None else [_EpochTicks(on_epoch)])
    model.fit(batches(X, y_fit, engine.batch_order(cell.seed, n, epochs), cell.train.batch_size),
              epochs=epochs, steps_per_epoch=-(-n // cell.train.batch_size), callbacks=callbacks,
              shuffle=False, verbose=0)
    arrays = dict(recorder.data)
    entry = recorder.entry
    if entry["diverged_epoch"] is not None:
        # As the engine does: past divergence NaN compares False, so accuracy would read as a number.
        for key in ("accuracy", "act_saturated_frac", "act_dead_frac"):
            arrays[key] = arrays[key].copy()
            arrays[key][entry["diverged_epoch"]:] = np.nan
    entry.update(source=FACTORY, n_outputs=units)
    return FactoryRecord(entry, arrays)
