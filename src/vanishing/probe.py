"""One measurement of a user's Keras model on a fixed probe set: the recorder's engine.

Which variables are recorded (found by identity, never by name), and, at the
current weights, the gradient of the compiled loss over the whole probe in
inference mode with the activations of the layers that own those variables,
in one compiled forward and backward pass per probe batch. Nothing here writes
files; keras.py turns measurements into a results directory.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from vanishing import zoo

# The weight matrices of Dense, convolutions, recurrent layers, Embedding and attention
# projections: the layer attributes holding them (biases and normalisation never).
KERNEL_ATTRIBUTES = ("kernel", "recurrent_kernel", "depthwise_kernel", "pointwise_kernel", "embeddings")
SATURATION_FRACTION = 0.1  # saturated: |f'(z)| below 10 % of the activation's largest |f'|
# Values of a layer's output kept per probe batch for its histogram (a strided sample beyond):
# a convnet's outputs on a 512-sample probe run to hundreds of MB; the statistics use every value.
HIST_SAMPLE = 50_000


@dataclass(frozen=True)
class Recorded:
    """One recorded variable and the layer whose output stands for its activations."""

    variable: Any  # a keras.Variable
    owner: Any  # the outermost non-model layer holding it (an LSTM, not its cell)
    path: str
    layer_class: str
    shape: tuple[int, ...]
    activation: str | None
    weights: int


@dataclass(frozen=True)
class Measurement:
    """The model on the whole probe at one set of weights. Per recorded variable l."""

    loss: float
    metrics: dict[str, float]
    weights: tuple[np.ndarray, ...]  # float32 copies of the variables
    grads: tuple[np.ndarray, ...]  # float64, gradient of the whole-probe loss
    act_mean: np.ndarray  # [L], NaN where the owner's output was not seen
    act_std: np.ndarray
    act_saturated_frac: np.ndarray
    act_dead_frac: np.ndarray
    act_values: tuple[np.ndarray | None, ...]  # the owner's output values (a sample when large)
    time_grad_abs_mean: np.ndarray | None  # [T]


def top_layers(model) -> list[Any]:
    """The model's layers, nested models opened up: the layers whose outputs the graph has."""
    import keras

    out = []
    for layer in model.layers:
        out.extend(top_layers(layer) if isinstance(layer, keras.Model) else [layer])
    return out


def activation_name(layer) -> str | None:
    import keras

    f = getattr(layer, "activation", None)
    if f is None or not callable(f):
        return None
    try:
        name = keras.activations.serialize(f)
    except Exception:  # a user's own callable
        return getattr(f, "__name__", None)
    return name if isinstance(name, str) else getattr(f, "__name__", None)


def recorded_variables(model) -> tuple[Recorded, ...]:
    """The trainable weight matrices, in model.trainable_weights order, each with its layer."""
    owners: dict[int, Any] = {}
    for top in top_layers(model):
        # _flatten_layers is Keras' own walk over sub-layers (an LSTM's cell, an attention
        # layer's projections); Keras 3 has no public recursive equivalent.
        for sub in top._flatten_layers(include_self=True, recursive=True):
            for attribute in KERNEL_ATTRIBUTES:
                try:
                    value = getattr(sub, attribute, None)
                except Exception:  # a property of an unbuilt or quantised layer
                    continue
                if value is not None:
                    owners.setdefault(id(value), top)
    out = []
    for v in model.trainable_weights:
        owner = owners.get(id(v))
        if owner is None:
            continue
        shape = tuple(int(d) for d in v.shape)
        out.append(Recorded(v, owner, str(v.path), type(owner).__name__, shape, activation_name(owner),
                            int(np.prod(shape))))
    return tuple(out)


def first_recurrent_layer(model) -> Any | None:
    return next((layer for layer in top_layers(model) if is_recurrent(layer)), None)


@functools.cache
def _reference_slope(name: str) -> float | None:
    try:
        return zoo.reference_slope(name)
    except Exception:  # not a Keras activation name
        return None


def saturation_threshold(layer) -> float | None:
    """|f'| below which the layer's units count as saturated; None where not computable.

    Only layers that apply an element-wise activation as an attribute of their own
    (Dense, convolutions): there the pre-activation is the layer's output with the
    activation set to linear. Recurrent layers keep theirs in a cell, inside a loop.
    """
    if "activation" not in vars(layer) or is_recurrent(layer):
        return None
    name = activation_name(layer)
    if name not in zoo.ACTIVATIONS:  # softmax and other row-wise activations: no per-unit slope
        return None
    slope = _reference_slope(name) if name else None
    return None if slope is None else SATURATION_FRACTION * slope


def is_recurrent(layer) -> bool:
    import keras

    return isinstance(layer, (keras.layers.RNN, keras.layers.Bidirectional))


def slice_nest(x: Any, start: int, stop: int) -> Any:
    import tensorflow as tf

    return tf.nest.map_structure(lambda a: a[start:stop], x)


def n_samples(x: Any) -> int:
    import tensorflow as tf

    return int(tf.nest.flatten(x)[0].shape[0])


class Probe:
    """Measures a model on (x, y) in batches; one tf.function traced per batch size."""

    def __init__(self, model, recorded: tuple[Recorded, ...], x: Any, y: Any, batch_size: int = 256,
                 with_metrics: bool = True) -> None:
        import tensorflow as tf

        self.model, self.recorded, self.x, self.y = model, recorded, x, y
        self.batch_size, self.with_metrics = batch_size, with_metrics
        self.owners = list({id(r.owner): r.owner for r in recorded}.values())
        self.thresholds = [saturation_threshold(o) for o in self.owners]
        self.rnn = first_recurrent_layer(model)
        self._step = tf.function(self._batch, reduce_retracing=True)

    # --- in the graph ----------------------------------------------------------------------

    def _batch(self, x, y, weight):
        """One probe batch: its share (weight = n_b / N) of the whole-probe loss and gradients."""
        import tensorflow as tf

        model = self.model
        seen: dict[int, list] = {id(o): [] for o in self.owners}
        rnn_inputs: list = []
        with tf.GradientTape() as tape:
            restore = self._patch(seen, rnn_inputs, tape)
            try:
                y_pred = model(x, training=False)
            finally:
                restore()
            loss = model.compute_loss(x=x, y=y, y_pred=y_pred, training=False)
            share = tf.cast(loss, tf.float64) * weight
        targets = [r.variable for r in self.recorded] + rnn_inputs[:1]
        grads = tape.gradient(share, targets, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        # Embedding's gradient is sparse (IndexedSlices): rows of absent tokens are zero.
        grads = [tf.cast(tf.convert_to_tensor(g), tf.float64) for g in grads]
        if self.with_metrics:
            model.compute_metrics(x, y, y_pred, sample_weight=None)
        outputs = []
        for owner, threshold in zip(self.owners, self.thresholds):
            calls = seen[id(owner)]
            if len(calls) != 1:  # not seen, or a layer called twice: no single output
                outputs.append(())
                continue
            saturated = (self._saturated(calls[0][0], threshold) if threshold is not None
                         else tf.constant(-1.0, tf.float64))
            outputs.append((*_output_sums(calls[0][1], channel_axis(owner, len(calls[0][1].shape))),
                            saturated))
        time = tf.zeros([0], tf.float64)
        if rnn_inputs:
            g = tf.abs(grads.pop())
            g = tf.reshape(g, [tf.shape(g)[0], tf.shape(g)[1], -1])
            time = tf.reduce_sum(tf.reduce_mean(g, axis=2), axis=0)  # summed over samples
        return share, grads, outputs, time

    @staticmethod
    def _saturated(pre: _PreActivation, threshold: float):
        """How many (unit, sample) pairs of this batch have |f'(z)| below the threshold."""
        import tensorflow as tf

        f, z = pre.activation_fn, pre.value
        with tf.GradientTape() as tape:
            tape.watch(z)
            fz = f(z)
        slope = tf.abs(tape.gradient(fz, z))  # element-wise f: d sum f(z) / dz = f'(z)
        return tf.reduce_sum(tf.cast(slope < threshold, tf.float64))

    def _patch(self, seen, rnn_inputs, tape):
        """Wrap the owners' call methods for this trace: record outputs, pre-activations and
        the first recurrent layer's input. The model computes exactly what it would unwrapped."""
        patched = []
        for owner, threshold in zip(self.owners, self.thresholds):
            patched.append(owner)
            object.__setattr__(owner, "call", _wrapped(owner, seen[id(owner)], threshold is not None,
                                                       rnn_inputs if owner is self.rnn else None, tape))
        if self.rnn is not None and all(o is not self.rnn for o in self.owners):
            patched.append(self.rnn)
            object.__setattr__(self.rnn, "call", _wrapped(self.rnn, [], False, rnn_inputs, tape))

        def restore():
            for layer in patched:
                object.__delattr__(layer, "call")
        return restore

    # --- in Python ---------------------------------------------------------------------------

    def measure(self) -> Measurement:
        """The whole probe at the current weights; the model's metric state is left as found."""
        import tensorflow as tf

        model = self.model
        # compute_loss updates loss trackers even without metrics: every tracker is put back.
        metric_vars = list(model.metrics_variables)
        saved = [v.numpy() for v in metric_vars]
        if self.with_metrics:
            model.reset_metrics()
        n = n_samples(self.x)
        total, grads, time = 0.0, None, None
        sums = [_OutputSums() for _ in self.owners]
        try:
            for start in range(0, n, self.batch_size):
                stop = min(start + self.batch_size, n)
                weight = tf.constant((stop - start) / n, tf.float64)
                share, g, outs, t = self._step(slice_nest(self.x, start, stop),
                                               slice_nest(self.y, start, stop), weight)
                total += float(share)
                g = [a.numpy() for a in g]
                grads = g if grads is None else [a + b for a, b in zip(grads, g)]
                t = t.numpy()
                time = t if time is None else time + t
                for s, o in zip(sums, outs):
                    s.add(o)
            metrics = self._metric_results() if self.with_metrics else {}
        finally:
            for v, value in zip(metric_vars, saved):
                v.assign(value)
        return self._measurement(total, metrics, grads, sums, time)

    def _metric_results(self) -> dict[str, float]:
        out = {}
        for name, value in self.model.get_metrics_result().items():
            if name == "loss":  # the tracker fit feeds; our loss is computed above
                continue
            try:
                out[str(name)] = float(np.asarray(value))
            except (TypeError, ValueError):  # a metric with a non-scalar result
                continue
        return out

    def _measurement(self, loss, metrics, grads, sums: list[_OutputSums], time) -> Measurement:
        by_owner = {id(o): i for i, o in enumerate(self.owners)}
        # Once per layer output (an LSTM's two matrices share one), then per recorded variable.
        per_owner = [s.statistics() for s in sums]
        rows = [per_owner[by_owner[id(r.owner)]] for r in self.recorded]
        stats = {k: np.array([row[k] for row in rows], np.float64) for k in ("mean", "std", "sat", "dead")}
        values = [s.values() for s in sums]
        return Measurement(
            loss=loss, metrics=metrics, weights=tuple(np.array(r.variable.numpy()) for r in self.recorded),
            grads=tuple(grads[:len(self.recorded)]), act_mean=stats["mean"], act_std=stats["std"],
            act_saturated_frac=stats["sat"], act_dead_frac=stats["dead"],
            act_values=tuple(values[by_owner[id(r.owner)]] for r in self.recorded),
            # time sums |d(mean loss)/d input| = |d loss_i / d input| / n over the samples: the mean over
            # the probe of each example's own gradient, whatever the probe's size.
            time_grad_abs_mean=None if self.rnn is None or time is None or not time.size else time)

def _output_sums(out, axis: int):
    """One batch of a layer's output reduced in the graph: count, sum and sum of squares
    (float64), which units (channels) are non-zero anywhere, and a strided sample of values."""
    import tensorflow as tf

    rank = len(out.shape)
    if rank < 2:
        out, rank, axis = tf.reshape(out, [-1, 1]), 2, -1
    axis = axis % rank
    x = tf.cast(out, tf.float64)
    nonzero = tf.reduce_any(tf.not_equal(out, 0), axis=[a for a in range(rank) if a != axis])
    flat = tf.reshape(out, [-1])
    size = tf.size(flat)
    # A fixed-seed, stateless sample (nothing drawn from fit's generators): a stride would alias
    # onto a channels-last tensor's channels and keep only some of them.
    picks = tf.random.stateless_uniform([HIST_SAMPLE], seed=[20101, 7], minval=0,
                                        maxval=tf.maximum(size, 1), dtype=tf.int32)
    sample = tf.cond(size <= HIST_SAMPLE, lambda: flat, lambda: tf.gather(flat, picks))
    return (tf.cast(size, tf.float64), tf.reduce_sum(x), tf.reduce_sum(x * x), nonzero, sample)


class _OutputSums:
    """A layer's output statistics summed over probe batches."""

    def __init__(self) -> None:
        self.count = self.total = self.squares = self.saturated = 0.0
        self.nonzero: np.ndarray | None = None
        self.samples: list[np.ndarray] = []
        self.seen = True

    def add(self, batch: tuple) -> None:
        if not batch:
            self.seen = False
            return
        count, total, squares, nonzero, sample, saturated = (np.asarray(b) for b in batch)
        self.count += float(count)
        self.total += float(total)
        self.squares += float(squares)
        self.nonzero = nonzero if self.nonzero is None else self.nonzero | nonzero
        self.samples.append(sample)
        self.saturated = -1.0 if saturated < 0 else self.saturated + float(saturated)

    def statistics(self) -> dict[str, float]:
        """mean, std, saturated and dead fractions of the layer's output over the probe."""
        if not self.seen or not self.count:
            return dict.fromkeys(("mean", "std", "sat", "dead"), math.nan)
        mean = self.total / self.count
        with np.errstate(invalid="ignore", over="ignore"):
            variance = max(self.squares / self.count - mean * mean, 0.0)
        return {"mean": mean, "std": math.sqrt(variance) if math.isfinite(variance) else math.nan,
                "sat": self.saturated / self.count if self.saturated >= 0 else math.nan,
                "dead": float(np.mean(~self.nonzero)) if self.nonzero.size else math.nan}

    def values(self) -> np.ndarray | None:
        return np.concatenate(self.samples) if self.seen and self.samples else None


class _PreActivation:
    """A pre-activation tensor with the activation that follows it (for the slope)."""

    def __init__(self, value, activation_fn) -> None:
        self.value, self.activation_fn = value, activation_fn


def _wrapped(layer, calls: list, preactivation: bool, rnn_inputs: list | None, tape):
    """layer.call, recording (pre-activation, output) of each call and watching a recurrent input."""
    import keras
    import tensorflow as tf

    original = type(layer).call.__get__(layer)

    def call(*args, **kwargs):
        if rnn_inputs is not None and not rnn_inputs:
            inputs = tf.nest.flatten(args[0] if args else next(iter(kwargs.values())))[0]
            tape.watch(inputs)
            rnn_inputs.append(inputs)
        if not preactivation:
            out = original(*args, **kwargs)
            calls.append((None, tf.nest.flatten(out)[0]))
            return out
        f = layer.activation
        object.__setattr__(layer, "activation", keras.activations.linear)
        try:
            z = original(*args, **kwargs)
        finally:
            object.__setattr__(layer, "activation", f)
        out = f(z)
        calls.append((_PreActivation(z, f), out))
        return out
    return call


def channel_axis(layer, ndim: int) -> int:
    return 1 if getattr(layer, "data_format", "channels_last") == "channels_first" and ndim > 2 else -1
