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
    act_values: tuple[np.ndarray | None, ...]  # the owner's output on the probe, flattened
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
        outputs, saturated = [], []
        for owner, threshold in zip(self.owners, self.thresholds):
            calls = seen[id(owner)]
            once = len(calls) == 1  # a layer called twice has no single output
            outputs.append(calls[0][1] if once else tf.zeros([0]))
            saturated.append(self._saturated(calls[0][0], threshold)
                             if once and threshold is not None else tf.constant(-1.0, tf.float64))
        time = tf.zeros([0], tf.float64)
        if rnn_inputs:
            g = tf.abs(grads.pop())
            g = tf.reshape(g, [tf.shape(g)[0], tf.shape(g)[1], -1])
            time = tf.reduce_sum(tf.reduce_mean(g, axis=2), axis=0)  # summed over samples
        return share, grads, outputs, saturated, time

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
        metric_vars = list(model.metrics_variables) if self.with_metrics else []
        saved = [v.numpy() for v in metric_vars]
        if self.with_metrics:
            model.reset_metrics()
        n = n_samples(self.x)
        total, grads, time = 0.0, None, None
        outputs: list[list[np.ndarray]] = [[] for _ in self.owners]
        saturated = np.zeros(len(self.owners))
        try:
            for start in range(0, n, self.batch_size):
                stop = min(start + self.batch_size, n)
                share, g, outs, sat, t = self._step(slice_nest(self.x, start, stop),
                                                    slice_nest(self.y, start, stop),
                                                    tf.constant((stop - start) / n, tf.float64))
                total += float(share)
                g = [a.numpy() for a in g]
                grads = g if grads is None else [a + b for a, b in zip(grads, g)]
                t = t.numpy()
                time = t if time is None else time + t
                for i, (o, s) in enumerate(zip(outs, sat)):
                    outputs[i].append(o.numpy())
                    saturated[i] += float(s)
            metrics = self._metric_results() if self.with_metrics else {}
        finally:
            for v, value in zip(metric_vars, saved):
                v.assign(value)
        acts = [np.concatenate(o) if all(a.size for a in o) else None for o in outputs]
        return self._measurement(total, metrics, grads, acts, saturated, time, n)

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

    def _measurement(self, loss, metrics, grads, acts, saturated, time, n) -> Measurement:
        by_owner = {id(o): i for i, o in enumerate(self.owners)}
        # Once per layer output (an LSTM's two matrices share one), then per recorded variable.
        per_owner = [self._output_statistics(o, a, s, t)
                     for o, a, s, t in zip(self.owners, acts, saturated, self.thresholds)]
        rows = [per_owner[by_owner[id(r.owner)]] for r in self.recorded]
        stats = {k: np.array([row[k] for row in rows], np.float64) for k in ("mean", "std", "sat", "dead")}
        values = tuple(None if a is None else a.reshape(-1) for a in acts)
        return Measurement(
            loss=loss, metrics=metrics, weights=tuple(np.array(r.variable.numpy()) for r in self.recorded),
            grads=tuple(grads[:len(self.recorded)]), act_mean=stats["mean"], act_std=stats["std"],
            act_saturated_frac=stats["sat"], act_dead_frac=stats["dead"],
            act_values=tuple(values[by_owner[id(r.owner)]] for r in self.recorded),
            time_grad_abs_mean=None if self.rnn is None or time is None or not time.size else time / n)


    @staticmethod
    def _output_statistics(owner, a: np.ndarray | None, saturated: float,
                           threshold: float | None) -> dict[str, float]:
        """mean, std, saturated and dead fractions of one layer's output on the probe."""
        if a is None:
            return dict.fromkeys(("mean", "std", "sat", "dead"), math.nan)
        return {
            # float64 sums without a float64 copy of millions of values
            "mean": float(a.mean(dtype=np.float64)), "std": float(a.std(dtype=np.float64)),
            "sat": saturated / a.size if saturated >= 0 and threshold is not None else math.nan,
            "dead": dead_fraction(a, channel_axis(owner, a.ndim)),
        }


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


def dead_fraction(values: np.ndarray, axis: int) -> float:
    """Fraction of units (channels) zero at every position on every sample."""
    moved = np.moveaxis(values, axis, -1)
    units = moved.reshape(-1, moved.shape[-1])
    if units.shape[1] == 0:
        return math.nan
    return float(np.mean(~np.any(units != 0, axis=0)))
