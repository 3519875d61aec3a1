"""Record YOUR Keras model while it trains: ``from vanishing.keras import GradientRecorder, check``.

    rec = GradientRecorder("build/my-run", probe=(x_probe, y_probe), run="cnn-sigmoid",
                           labels={"activation": "sigmoid", "initializer": "glorot_uniform", "seed": 0})
    model.fit(x, y, epochs=20, callbacks=[rec])

then ``vanishing render --results build/my-run``. At the start and after every
epoch the recorder measures the gradient of the compiled loss over the whole
probe (inference mode, current weights) for every weight matrix, and rewrites
the run's files, so a run stopped after epoch k leaves epochs 0..k on disk. It
never changes what ``fit`` does and never stops training.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from vanishing import recorder_io
from vanishing.probe import Probe, Recorded, n_samples, recorded_variables, slice_nest
from vanishing.run_arrays import RunArrays
from vanishing.stats import attenuation

__all__ = ["CheckResult", "GradientRecorder", "check"]


class GradientRecorder(keras.callbacks.Callback):
    """A Keras callback writing a recorded run into a results directory (README, "Recorded runs")."""

    def __init__(self, directory: str | Path, probe: tuple[Any, Any], run: str = "run",
                 labels: Mapping[str, Any] | None = None, overwrite: bool = False,
                 batch_size: int = 256) -> None:
        super().__init__()
        self.directory = Path(directory)
        self.probe = probe
        self.run = run
        self.labels = dict(labels or {})
        self.overwrite = overwrite
        self.batch_size = batch_size
        self._probe: Probe | None = None
        self._arrays: RunArrays | None = None
        self._entry: dict[str, Any] = {}

    # --- Keras hooks --------------------------------------------------------------------------

    def on_train_begin(self, logs=None) -> None:
        if self._probe is not None and self._probe.model is self.model:
            return  # fit called again with this recorder: the run goes on where it stopped
        recorded = _prepare(self.model, self.probe, self.batch_size, self.labels)
        self._check_destination()
        x, y = self.probe
        self._probe = Probe(self.model, recorded, x, y, self.batch_size)
        epochs = int((self.params or {}).get("epochs") or 0)
        self._arrays = RunArrays(sum(r.weights for r in recorded), epochs)
        self._entry = self._manifest_entry(recorded, n_samples(x))
        self._record()

    def on_epoch_end(self, epoch, logs=None) -> None:
        if self._probe is not None:
            self._record()

    # --- recording ------------------------------------------------------------------------------

    def _record(self) -> None:
        measurement = self._probe.measure()
        arrays = self._arrays
        arrays.add(measurement)
        entry = self._entry
        entry["epochs"] = arrays.epochs
        if entry["status"] == "ok" and not math.isfinite(measurement.loss):
            entry["status"], entry["diverged_epoch"] = "diverged", arrays.epochs
        data = arrays.arrays()
        entry["kernels_stored"] = arrays.keep_kernels
        time = data.get("time_grad_abs_mean")
        entry["time_steps"] = None if time is None else int(time.shape[1])
        self._write(dict(entry), data)

    def _check_destination(self) -> None:
        recorder_io.check_run_name(self.directory, self.run, self.overwrite)

    def _write(self, entry: dict[str, Any], data: dict[str, np.ndarray]) -> None:
        """The run so far into the directory: its cell file, manifest entry and metrics rows."""
        recorder_io.publish(self.directory, entry, recorder_io.metric_lines(entry, data), arrays=data)

    def _manifest_entry(self, recorded: tuple[Recorded, ...], n: int) -> dict[str, Any]:
        labels = {str(k): recorder_io.json_safe(v) for k, v in self.labels.items()}
        optimizer = getattr(self.model, "optimizer", None)
        text = {k: None if labels.get(k) is None else str(labels[k]) for k in ("activation", "initializer")}
        return {
            "cell_id": self.run, "source": "keras", "labels": labels, **text,
            "depth": recorder_io.label_int(labels.get("depth")),
            "seed": recorder_io.label_int(labels.get("seed")),
            "width": None, "dataset_id": "",
            "optimizer": type(optimizer).__name__.lower() if optimizer is not None else None,
            "learning_rate": _learning_rate(optimizer),
            "status": "ok", "diverged_epoch": None, "epochs": 0,
            "model": str(self.model.name), "model_kind": model_kind(self.model),
            "layers": [{"layer": i, "path": r.path, "class": r.layer_class, "shape": list(r.shape),
                        "activation": r.activation, "weights": r.weights}
                       for i, r in enumerate(recorded, start=1)],
            "probe": {"n_samples": n},
            "kernels_stored": False, "time_steps": None,
        }


def _learning_rate(optimizer) -> float | None:
    """The optimizer's learning rate when training starts; None when it has none."""
    try:
        # float32 in the optimizer: its shortest decimal (0.001, not 0.0010000000474974513)
        return float(str(np.float32(np.asarray(optimizer.learning_rate))))
    except Exception:
        return None


def model_kind(model) -> str:
    if isinstance(model, keras.Sequential):
        return "sequential"
    # Functional is not exported by Keras 3: known by its class name along the MRO.
    if any(cls.__name__ == "Functional" for cls in type(model).__mro__):
        return "functional"
    return "subclassed"


# --- validation: every mistake a user can make, before any epoch runs ---------------------------

def _prepare(model, probe, batch_size: int, labels: Mapping[str, Any]) -> tuple[Recorded, ...]:
    """The variables to record; ValueError naming what is wrong and what is allowed."""
    if keras.backend.backend() != "tensorflow":
        raise ValueError(f"the Keras backend is {keras.backend.backend()!r}; vanishing.keras records "
                         "models on the 'tensorflow' backend only (set KERAS_BACKEND=tensorflow)")
    if not isinstance(labels, Mapping) or not all(isinstance(k, str) for k in labels):
        raise ValueError(f"labels={labels!r}: expected a dict with string keys")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r}: expected a positive integer")
    x, y = _split_probe(probe)
    if not getattr(model, "compiled", True):
        raise ValueError(f"model {model.name!r} is not compiled: the recorder measures the gradient of "
                         "the compiled loss; call model.compile(optimizer, loss) first")
    if not model.built:  # no Input: Keras builds it on its first call, so we do, on the probe
        try:
            model(slice_nest(x, 0, 1), training=False)
        except Exception as e:
            raise ValueError(f"probe x does not fit the model (building it on the probe failed: {e})"
                             ) from None
    recorded = recorded_variables(model)
    if not recorded:
        raise ValueError(f"model {model.name!r} has no trainable weight matrix to record: vanishing.keras "
                         "records trainable variables of 2+ dimensions held as kernel, recurrent_kernel, "
                         "depthwise_kernel, pointwise_kernel or embeddings (Dense, convolutions, recurrent, "
                         "Embedding, attention layers)")
    _check_probe_shapes(model, x, y)
    return recorded


def _split_probe(probe) -> tuple[Any, Any]:
    if not isinstance(probe, (tuple, list)) or len(probe) != 2:
        raise ValueError("probe must be a pair (x, y) of arrays with one row per sample")
    x, y = probe
    try:
        nx, ny = n_samples(x), n_samples(y)
    except (AttributeError, IndexError, TypeError) as e:
        raise ValueError(f"probe must be a pair (x, y) of arrays with one row per sample ({e})") from None
    if nx != ny or nx == 0:
        raise ValueError(f"probe x has {nx} samples and y {ny}: expected the same number, at least 1")
    return x, y


def _check_probe_shapes(model, x, y) -> None:
    """x against the model's inputs, y against its outputs, then one loss on two samples."""
    import tensorflow as tf

    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None  # a subclassed model declares no inputs
    xs = tf.nest.flatten(x)
    if inputs:
        if len(inputs) != len(xs):
            raise ValueError(f"probe x has {len(xs)} arrays; the model takes {len(inputs)} inputs")
        for a, spec in zip(xs, inputs):
            if not _fits(tuple(a.shape[1:]), tuple(spec.shape[1:])):
                raise ValueError(f"probe x has shape {tuple(a.shape)}; the model's input {spec.name!r} "
                                 f"takes {tuple(spec.shape)} (None: any size)")
    two_x, two_y = slice_nest(x, 0, 2), slice_nest(y, 0, 2)
    saved = [v.numpy() for v in model.metrics_variables]
    try:
        y_pred = model(two_x, training=False)
        _check_targets(two_y, y_pred)
        model.compute_loss(x=two_x, y=two_y, y_pred=y_pred, training=False)
    except ValueError as e:
        raise ValueError(f"probe does not match the model: {e}") from None
    except Exception as e:  # TensorFlow's InvalidArgumentError and friends
        raise ValueError(f"probe does not match the model ({type(e).__name__}: {e})") from None
    finally:
        for v, value in zip(model.metrics_variables, saved):
            v.assign(value)


def _fits(shape: tuple, spec: tuple) -> bool:
    return len(shape) == len(spec) and all(s is None or int(a) == int(s) for a, s in zip(shape, spec))


def _check_targets(y, y_pred) -> None:
    """y's shape against the output's: equal, or the output with a class axis more (sparse labels)."""
    import tensorflow as tf

    ys, preds = tf.nest.flatten(y), tf.nest.flatten(y_pred)
    if len(ys) != len(preds):
        raise ValueError(f"probe y has {len(ys)} arrays; the model has {len(preds)} outputs")
    for a, p in zip(ys, preds):
        t, o = tuple(a.shape[1:]), tuple(int(d) for d in p.shape[1:])
        ok = (t == o or (len(t) == len(o) and t[:-1] == o[:-1] and t[-1:] == (1,))
              or (len(t) == len(o) - 1 and t == o[:-1]))
        if not ok:
            raise ValueError(f"probe y has shape {tuple(a.shape)} per batch, the model's output "
                             f"{tuple(p.shape)}: y must match the output, or lack its last (class) axis")


# --- the one-shot check -----------------------------------------------------------------------------

@dataclass(frozen=True)
class CheckLayer:
    layer: int
    path: str
    layer_class: str
    grad_abs_mean: float
    attenuation: float  # log10(this layer's mean |g| / the last layer's)


@dataclass(frozen=True)
class CheckResult:
    loss: float
    layers: tuple[CheckLayer, ...]

    def __str__(self) -> str:
        rows = [f"loss {self.loss:.6g} on the whole probe",
                f"{'layer':>5}  {'mean |gradient|':>15}  {'attenuation':>11}  variable"]
        rows += [f"{r.layer:>5}  {r.grad_abs_mean:>15.4g}  {r.attenuation:>+11.2f}  "
                 f"{r.path} ({r.layer_class})" for r in self.layers]
        rows.append("attenuation: log10(mean |g| of the layer / mean |g| of the last layer); "
                    "-2 = a hundred times less gradient than the last layer")
        return "\n".join(rows)


def check(model, x, y, batch_size: int = 256, verbose: bool = True) -> CheckResult:
    """Per recorded layer at the current weights: mean |gradient| of the compiled loss over (x, y)
    and the attenuation from the last layer to it. No training, no change to the model's state."""
    recorded = _prepare(model, (x, y), batch_size, {})
    m = Probe(model, recorded, x, y, batch_size, with_metrics=False).measure()
    means = [float(np.abs(np.asarray(g, np.float64)).mean()) for g in m.grads]
    result = CheckResult(m.loss, tuple(
        CheckLayer(i, r.path, r.layer_class, g, float(attenuation(g, means[-1])))
        for i, (r, g) in enumerate(zip(recorded, means), start=1)))
    if verbose:
        print(result)
    return result

