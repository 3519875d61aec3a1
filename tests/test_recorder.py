"""vanishing.keras: the recorder against independent GradientTape computations, its files, its errors."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest

from vanishing import results, zoo

keras, tf = zoo.import_keras()

from vanishing.keras import GradientRecorder, check  # noqa: E402  (after TensorFlow's quiet import)

REL = 1e-4


def _data(shape, n=48, seed=0, classes=None):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, *shape)).astype("float32")
    y = (rng.integers(0, classes, n) if classes else (rng.random(n) > 0.5)).astype("float32")
    return x, y


def dense_model():
    # an L2 penalty on the first kernel: the recorded gradient is of the loss with regularisation
    return keras.Sequential([keras.Input((6,)),
                             keras.layers.Dense(8, activation="tanh",
                                                kernel_regularizer=keras.regularizers.L2(0.05)),
                             keras.layers.Dense(8, activation="sigmoid"), keras.layers.Dense(1)],
                            name="mlp")


def conv_model():  # no Input: the recorder builds it on the probe when fit has not
    return keras.Sequential([keras.layers.Conv2D(3, 3, activation="relu"), keras.layers.MaxPooling2D(),
                             keras.layers.Flatten(), keras.layers.Dense(1)], name="cnn")


def lstm_model():
    return keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4), keras.layers.Dense(1)], name="rnn")


MODELS = {"dense": (dense_model, (6,)), "conv2d": (conv_model, (6, 6, 1)), "lstm": (lstm_model, (5, 3))}


def _compiled(make, seed=0, optimizer="adam"):
    keras.utils.set_random_seed(seed)
    model = make()
    model.compile(optimizer=optimizer, loss=keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def tape_gradients(model, x, y, variables):
    """The gradient of the compiled loss over the whole probe at once: the plain way."""
    with tf.GradientTape() as tape:
        y_pred = model(x, training=False)
        loss = model.loss(y, y_pred) + sum(model.losses)
    return float(loss), [np.asarray(tf.convert_to_tensor(g), np.float64)
                         for g in tape.gradient(loss, variables)]


def _assert_statistics(arrays, epoch, loss, grads):
    assert arrays["loss"][epoch] == pytest.approx(loss, rel=REL)
    for layer, g in enumerate(grads):
        expect = {"grad_abs_mean": np.abs(g).mean(), "grad_norm": np.sqrt((g * g).sum()), "grad_std": g.std()}
        for name, value in expect.items():
            assert arrays[name][epoch, layer] == pytest.approx(value, rel=REL), (name, layer)
        # The signed mean can be ~0: compared on the scale of the gradient itself.
        assert abs(arrays["grad_mean"][epoch, layer] - g.mean()) <= REL * np.abs(g).mean()


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_recorded_gradients_equal_an_independent_tape(tmp_path, kind):
    make, shape = MODELS[kind]
    x, y = _data(shape)
    model = _compiled(make)
    model(x[:1])  # built now so its variables can be read before fit
    variables = [v for v in model.trainable_weights if len(v.shape) >= 2]
    start = tape_gradients(model, x, y, variables)
    # batch_size 20: three probe batches of unequal size, weighted back into the whole probe
    rec = GradientRecorder(tmp_path, probe=(x, y), run=kind, batch_size=20)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[rec])
    end = tape_gradients(model, x, y, variables)
    arrays = results.read_cell(tmp_path, kind)
    info = arrays["cell_info"]
    assert [layer["path"] for layer in info["layers"]] == [v.path for v in variables]
    assert arrays["loss"].shape == (3,) and arrays["grad_abs_mean"].shape == (3, len(variables))
    _assert_statistics(arrays, 0, *start)
    _assert_statistics(arrays, 2, *end)
    final = [np.asarray(v.numpy()) for v in variables]
    for layer, w in enumerate(final, start=1):  # small model: its kernels are kept
        np.testing.assert_array_equal(arrays[f"kernel_{layer}"][-1], w)
    assert arrays["update_ratio"][2, 0] == pytest.approx(
        np.linalg.norm(final[0] - arrays["kernel_1"][1]) / np.linalg.norm(arrays["kernel_1"][1]), rel=1e-5)


def test_files_of_a_recorded_run(tmp_path):
    x, y = _data((6,))
    model = _compiled(dense_model)
    labels = {"activation": "tanh", "initializer": "glorot_uniform", "depth": 2, "seed": np.int64(0),
              "note": ("a", 1)}
    rec = GradientRecorder(tmp_path, probe=(x, y), run="mlp-tanh", labels=labels)
    history = model.fit(x, y, epochs=3, verbose=0, callbacks=[rec])
    manifest = results.read_manifest(tmp_path)
    assert manifest["title"] == "Recorded runs" and manifest["matrices"] == [] and manifest["datasets"] == []
    (entry,) = manifest["cells"]
    assert entry["source"] == "keras"
    assert entry["labels"]["seed"] == 0 and entry["labels"]["note"] == "('a', 1)"
    assert (entry["activation"], entry["depth"], entry["seed"], entry["width"]) == ("tanh", 2, 0, None)
    assert (entry["optimizer"], entry["learning_rate"], entry["epochs"]) == ("adam", 0.001, 3)
    assert entry["model_kind"] == "sequential" and entry["kernels_stored"] and entry["time_steps"] is None
    assert [(la["class"], la["shape"], la["activation"], la["weights"]) for la in entry["layers"]] == [
        ("Dense", [6, 8], "tanh", 48), ("Dense", [8, 8], "sigmoid", 64), ("Dense", [8, 1], "linear", 8)]
    a = results.read_cell(tmp_path, "mlp-tanh")
    assert a["cell_info"] == entry
    np.testing.assert_allclose(a["accuracy"], a["metric_accuracy"])
    assert np.isnan(a["update_ratio"][0]).all() and np.isfinite(a["update_ratio"][1:]).all()
    assert list(a["hist_epochs"]) == [0, 1, 3]
    assert a["grad_hist_counts_2"].shape == (3, 40) and a["act_hist_edges_3"].shape == (3, 41)
    assert a["grad_hist_counts_1"][0].sum() + a["grad_zero_frac"][0, 0] * 48 == 48
    assert (a["act_hist_counts_2"].sum(axis=1) == 48 * 8).all()
    # The first layer's activations at the end, computed by hand: tanh's slope is 1 at most,
    # so a unit is saturated where 1 - tanh(z)^2 < 0.1.
    dense = model.layers[0]
    z = x.astype(np.float64) @ dense.kernel.numpy() + dense.bias.numpy()
    assert a["act_mean"][3, 0] == pytest.approx(np.tanh(z).mean(), rel=1e-5)
    assert a["act_std"][3, 0] == pytest.approx(np.tanh(z).std(), rel=1e-5)
    assert a["act_saturated_frac"][3, 0] == pytest.approx(np.mean(1 - np.tanh(z) ** 2 < 0.1))
    assert a["act_dead_frac"][3, 0] == 0
    with open(tmp_path / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(results.METRICS_COLUMNS)
    assert len(rows) == 4 * 3 and rows[-1]["layer_name"] == model.layers[-1].kernel.path
    assert rows[0]["width"] == "" and rows[0]["update_ratio"] == "" and rows[0]["step_grad_abs_mean"] == ""
    assert float(rows[-1]["accuracy"]) == pytest.approx(a["accuracy"][3])
    parsed = results.read_metrics(tmp_path)
    assert np.isnan(parsed["width"]).all() and set(parsed["epoch"]) == {0, 1, 2, 3}
    assert len(history.history["loss"]) == 3


def test_fit_history_is_the_same_with_and_without_the_recorder(tmp_path):
    x, y = _data((6,), n=64)

    def run(callbacks):
        keras.utils.set_random_seed(1)
        model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                                  keras.layers.Dropout(0.3), keras.layers.Dense(1)])
        model.compile("rmsprop", keras.losses.BinaryCrossentropy(from_logits=True),
                      metrics=["accuracy", keras.metrics.AUC(name="auc")])
        history = model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0,
                            callbacks=callbacks)
        # the metric state fit leaves: keras resets it per epoch, so history alone cannot tell
        state = [v.numpy() for v in model.metrics_variables]
        return history.history, [v.numpy() for v in model.weights] + state

    plain, plain_weights = run([])
    recorded, recorded_weights = run([GradientRecorder(tmp_path, probe=(x[:40], y[:40]), run="r")])
    assert recorded == plain
    for a, b in zip(plain_weights, recorded_weights):
        np.testing.assert_array_equal(a, b)
    assert "metric_auc" in results.read_cell(tmp_path, "r")


def test_a_run_stopped_after_epoch_k_is_a_valid_directory(tmp_path):
    class Stop(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    x, y = _data((6,))
    model = _compiled(dense_model)
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=5, verbose=0,
                  callbacks=[GradientRecorder(tmp_path, (x, y), run="cut"), Stop()])
    (entry,) = results.read_manifest(tmp_path)["cells"]
    assert entry["epochs"] == 2 and entry["status"] == "ok"
    assert set(results.read_metrics(tmp_path)["epoch"]) == {0, 1, 2}
    assert results.read_cell(tmp_path, "cut")["loss"].shape == (3,)
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_non_finite_loss_marks_the_run_diverged_and_training_goes_on(tmp_path):
    x, y = _data((6,))
    model = _compiled(dense_model, optimizer=keras.optimizers.SGD(learning_rate=1e30))
    history = model.fit(x, y * 1e3, epochs=3, verbose=0,
                        callbacks=[GradientRecorder(tmp_path, (x, y * 1e3), run="boom")])
    (entry,) = results.read_manifest(tmp_path)["cells"]
    assert len(history.history["loss"]) == 3
    assert entry["status"] == "diverged" and entry["diverged_epoch"] >= 1 and entry["epochs"] == 3


def test_time_gradient_and_the_dense_embedding_gradient(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(1, 10, (40, 7))  # tokens 10..19 never occur: their embedding rows get no gradient
    y = (x[:, 0] > 5).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((7,), dtype="int32"), keras.layers.Embedding(20, 4),
                              keras.layers.SimpleRNN(5), keras.layers.Dense(1)])
    model.compile("adam", keras.losses.BinaryCrossentropy(from_logits=True))
    embedding, rnn, dense = model.layers
    with tf.GradientTape() as tape:
        e = embedding(x)
        tape.watch(e)
        loss = model.loss(y, dense(rnn(e)))
    g_e, g_table = tape.gradient(loss, [e, embedding.embeddings])
    g_table = np.asarray(tf.convert_to_tensor(g_table), np.float64)
    # each example's own loss (the mean loss times n): the probe's size does not scale it
    expect_time = np.abs(g_e.numpy() * len(x)).mean(axis=(0, 2))
    model.fit(x, y, epochs=1, verbose=0, callbacks=[GradientRecorder(tmp_path, (x, y), run="seq",
                                                                     batch_size=16)])
    a = results.read_cell(tmp_path, "seq")
    assert a["time_grad_abs_mean"].shape == (2, 7) and a["cell_info"]["time_steps"] == 7
    np.testing.assert_allclose(a["time_grad_abs_mean"][0], expect_time, rtol=REL)
    assert a["grad_abs_mean"][0, 0] == pytest.approx(np.abs(g_table).mean(), rel=REL)
    assert a["grad_zero_frac"][0, 0] == pytest.approx(np.mean(g_table == 0)) and np.mean(g_table == 0) >= 0.5
    classes = [la["class"] for la in a["cell_info"]["layers"]]
    assert classes == ["Embedding", "SimpleRNN", "SimpleRNN", "Dense"]


def test_check_reports_mean_abs_gradient_and_attenuation(capsys):
    x, y = _data((6,))
    model = _compiled(dense_model)
    variables = [v for v in model.trainable_weights if len(v.shape) >= 2]
    _, grads = tape_gradients(model, x, y, variables)
    result = check(model, x, y, batch_size=16)
    means = [np.abs(g).mean() for g in grads]
    assert [r.grad_abs_mean for r in result.layers] == pytest.approx(means, rel=REL)
    assert result.layers[0].attenuation == pytest.approx(np.log10(means[0] / means[-1]), abs=1e-4)
    assert result.layers[-1].attenuation == 0
    assert model.layers[0].kernel.path in capsys.readouterr().out


def test_a_run_beside_matrix_cells_keeps_them(tmp_path, small_results):
    shutil.copytree(small_results, tmp_path / "r")
    before = results.read_manifest(tmp_path / "r")
    with open(tmp_path / "r" / "metrics.csv") as f:
        matrix_rows = f.read().splitlines()[1:]
    x, y = _data((6,))
    model = _compiled(dense_model)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[GradientRecorder(tmp_path / "r", (x, y), run="mine")])
    after = results.read_manifest(tmp_path / "r")
    assert after["title"] == before["title"] and after["matrices"] == before["matrices"]
    assert after["cells"][:-1] == before["cells"] and after["cells"][-1]["cell_id"] == "mine"
    with open(tmp_path / "r" / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(matrix_rows) + 2 * 3
    kept = [r for r in rows if r["cell_id"] != "mine"]
    assert kept[0]["layer_name"] == "hidden_1/kernel" and kept[4]["layer_name"] == "output/kernel"


# --- bad input: a ValueError before any epoch runs, nothing written ------------------------------

def _refused(tmp_path, model, probe, match, **kwargs):
    x, y = _data((6,))
    rec = GradientRecorder(tmp_path / "out", probe=probe, **kwargs)
    with pytest.raises(ValueError, match=match):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[rec])
    assert not (tmp_path / "out" / "cells").exists()


def test_refuses_a_model_without_weight_matrices(tmp_path):
    model = keras.Sequential([keras.Input((6,)), keras.layers.BatchNormalization(),
                              keras.layers.Lambda(lambda t: t[:, :1])])
    model.compile("sgd", "mse")
    _refused(tmp_path, model, _data((6,)), "no trainable weight matrix.*kernel, recurrent_kernel")


@pytest.mark.parametrize(("probe", "match"), [
    ((np.zeros((8, 5), "float32"), np.zeros(8, "float32")), r"probe x has shape \(8, 5\).*takes \(None, 6\)"),
    ((np.zeros((8, 6), "float32"), np.zeros((8, 3), "float32")), r"probe y has shape \(2, 3\)"),
    ((np.zeros((8, 6), "float32"), np.zeros(7, "float32")), "8 samples and y 7"),
    ((np.zeros((8, 6), "float32"),), r"a pair \(x, y\)"),
])
def test_refuses_a_probe_that_does_not_fit(tmp_path, probe, match):
    _refused(tmp_path, _compiled(dense_model), probe, match)


@pytest.mark.parametrize("run", ["", "a b", "../up", "x" * 101, "..", "ü"])
def test_refuses_an_unsafe_run_name(tmp_path, run):
    _refused(tmp_path, _compiled(dense_model), _data((6,)), "a run's name|not allowed", run=run)


def test_refuses_a_duplicate_run_unless_overwrite(tmp_path):
    x, y = _data((6,))
    model = _compiled(dense_model)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[GradientRecorder(tmp_path / "out", (x, y), run="same")])
    with pytest.raises(ValueError, match=r"already holds a run.*overwrite=True"):
        model.fit(x, y, epochs=1, verbose=0,
                  callbacks=[GradientRecorder(tmp_path / "out", (x, y), run="same")])
    model.fit(x, y, epochs=2, verbose=0,
              callbacks=[GradientRecorder(tmp_path / "out", (x, y), run="same", overwrite=True)])
    (entry,) = json.loads((tmp_path / "out" / "manifest.json").read_text())["cells"]
    assert entry["epochs"] == 2 and len(results.read_metrics(tmp_path / "out")["epoch"]) == 3 * 3


def test_refuses_a_backend_other_than_tensorflow(tmp_path, monkeypatch):
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    _refused(tmp_path, _compiled(dense_model), _data((6,)), "backend is 'jax'.*'tensorflow'")


# --- which variables, which models ---------------------------------------------------------------

def test_weight_matrices_are_found_by_layer_never_by_name():
    from vanishing.probe import recorded_variables

    inputs = keras.Input((6, 4))
    h = keras.layers.GRU(3, return_sequences=True)(inputs)  # its bias is 2-D: not recorded
    h = keras.layers.LayerNormalization()(h)
    h = keras.layers.MultiHeadAttention(num_heads=2, key_dim=2)(h, h)
    h = keras.layers.Reshape((6, 3, 1))(keras.layers.BatchNormalization()(h))
    h = keras.layers.SeparableConv2D(2, 2)(h)
    h = keras.layers.DepthwiseConv2D(2)(h)
    outputs = keras.layers.Dense(1)(keras.layers.Flatten()(h))
    model = keras.Model(inputs, outputs)
    paths = [r.path for r in recorded_variables(model)]
    expect = [v.path for v in model.trainable_weights
              if v.path.rsplit("/", 1)[-1] in ("kernel", "recurrent_kernel", "depthwise_kernel",
                                               "pointwise_kernel")]
    assert paths == expect and len(paths) == 2 + 4 + 2 + 1 + 1
    gru = model.layers[1]
    assert gru.cell.bias.path not in paths and len(gru.cell.bias.shape) == 2
    classes = [r.layer_class for r in recorded_variables(model)]
    assert classes == ["GRU"] * 2 + ["MultiHeadAttention"] * 4 + ["SeparableConv2D"] * 2 + [
        "DepthwiseConv2D", "Dense"]


class _Subclassed(keras.Model):
    def __init__(self):
        super().__init__(name="sub")
        self.hidden = keras.layers.Dense(4, activation="relu")
        self.out = keras.layers.Dense(1)

    def call(self, x):
        return self.out(self.hidden(x))


def test_functional_and_subclassed_models(tmp_path):
    x, y = _data((6,))
    inputs = keras.Input((6,))
    functional = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Dense(4, activation="elu")(inputs)))
    for run, model in (("functional", functional), ("subclassed", _Subclassed())):
        model.compile("sgd", keras.losses.BinaryCrossentropy(from_logits=True))
        model.fit(x, y, epochs=1, verbose=0, callbacks=[GradientRecorder(tmp_path, (x, y), run=run)])
        a = results.read_cell(tmp_path, run)
        assert a["cell_info"]["model_kind"] == run and a["grad_abs_mean"].shape == (2, 2)
        assert np.isfinite(a["act_mean"]).all() and np.isfinite(a["act_saturated_frac"][:, 0]).all()
    assert [c["cell_id"] for c in results.read_manifest(tmp_path)["cells"]] == ["functional", "subclassed"]


def test_fit_again_with_the_same_recorder_goes_on(tmp_path):
    x, y = _data((6,))
    model = _compiled(dense_model)
    rec = GradientRecorder(tmp_path, (x, y), run="twice")
    model.fit(x, y, epochs=2, verbose=0, callbacks=[rec])
    model.fit(x, y, epochs=1, verbose=0, callbacks=[rec])
    a = results.read_cell(tmp_path, "twice")
    assert a["loss"].shape == (4,) and a["cell_info"]["epochs"] == 3


def test_a_dead_convolution_unit_is_a_channel_zero_everywhere(monkeypatch):
    from vanishing import probe
    from vanishing.probe import Probe, recorded_variables

    monkeypatch.setattr(probe, "HIST_SAMPLE", 100)  # histograms from a sample; statistics from all

    x, y = _data((6, 6, 1))
    model = _compiled(conv_model)
    check(model, x, y, verbose=False)  # built here, on the probe: the model has no Input
    conv = model.layers[0]
    kernel, bias = conv.kernel.numpy(), conv.bias.numpy()
    kernel[..., 0], bias[0] = 0.0, -1.0  # channel 0: relu(-1) = 0 at every position
    conv.kernel.assign(kernel)
    conv.bias.assign(bias)
    m = Probe(model, recorded_variables(model), x, y, batch_size=20).measure()
    out = keras.ops.convert_to_numpy(conv(x))
    assert m.act_dead_frac[0] == pytest.approx(1 / 3) and (out[..., 1:] == 0).mean() > 0.2
    assert m.act_saturated_frac[0] == pytest.approx(np.mean(out <= 0))  # relu: slope 0 below 0
    assert m.act_saturated_frac[1] == 0  # the linear logit: a known slope, never below 10 % of itself
    assert m.act_mean[0] == pytest.approx(out.astype(np.float64).mean(), rel=1e-6)
    assert m.act_std[0] == pytest.approx(out.astype(np.float64).std(), rel=1e-6)
    # 4 x 4 positions x 3 channels per sample, batches of 20, 20 and 8 samples: 960, 960 and 384
    # values, 100 of each drawn for the histogram, from every channel: as many zeros as in all
    # values (a stride of 9 or 3 over 3 channels would keep only the dead channel 0, all zeros)
    assert m.act_values[0].size == 300
    assert np.mean(m.act_values[0] == 0) == pytest.approx(np.mean(out == 0), abs=0.12)


def test_check_refuses_an_uncompiled_model():
    x, y = _data((6,))
    with pytest.raises(ValueError, match="not compiled"):
        check(dense_model(), x, y)


_WORKER = """
import sys
import numpy as np
from vanishing import zoo
keras, _ = zoo.import_keras()
from vanishing.keras import GradientRecorder
run, directory = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(len(run))
x = rng.normal(size=(32, 6)).astype("float32")
y = (rng.random(32) > 0.5).astype("float32")
model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="tanh"),
                          keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(1)])
model.compile("adam", keras.losses.BinaryCrossentropy(from_logits=True))
model.fit(x, y, epochs=25, batch_size=32, verbose=0,
          callbacks=[GradientRecorder(directory, (x, y), run=run, labels={"seed": len(run)})])
"""


@pytest.mark.slow
def test_two_processes_recording_into_one_directory(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    runs = ("first", "second-run")
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, run, str(tmp_path)], env=env,
                              stderr=subprocess.PIPE) for run in runs]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()[-2000:]
    manifest = results.read_manifest(tmp_path)
    assert sorted(c["cell_id"] for c in manifest["cells"]) == sorted(runs)
    parsed = results.read_metrics(tmp_path)
    for run in runs:
        mine = parsed["cell_id"] == run
        assert mine.sum() == 26 * 3
        assert sorted(set(parsed["epoch"][mine])) == list(range(26))
        assert results.read_cell(tmp_path, run)["loss"].shape == (26,)
    assert not list(tmp_path.rglob("*.tmp"))


_PUBLISHER = """
import sys
from vanishing import recorder_io
name, directory = sys.argv[1], sys.argv[2]
for i in range(150):
    entry = {"cell_id": f"{name}-{i}", "source": "keras"}
    recorder_io.publish(directory, entry, [f"{name}-{i},,,,,,0,1" + "," * 18])
"""


@pytest.mark.slow
def test_the_lock_keeps_every_update_of_two_processes(tmp_path):
    """Each process adds 150 runs one at a time: without the lock, read-modify-writes interleave
    and runs go missing (checked: with flock disabled this fails)."""
    import subprocess
    import sys

    procs = [subprocess.Popen([sys.executable, "-c", _PUBLISHER, name, str(tmp_path)],
                              stderr=subprocess.PIPE) for name in ("a", "b")]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()[-2000:]
    ids = {c["cell_id"] for c in results.read_manifest(tmp_path)["cells"]}
    assert ids == {f"{name}-{i}" for name in ("a", "b") for i in range(150)}
    assert set(results.read_metrics(tmp_path)["cell_id"]) == ids


def test_the_cell_file_is_written_under_the_lock_with_its_rows(tmp_path, monkeypatch):
    """A reader holding the lock (render) sees a run's cell file and its rows of the same epoch."""
    import fcntl

    from vanishing import recorder_io

    held = []
    real_write_cell = results.write_cell

    def write_cell_and_try_the_lock(directory, info, arrays, compressed=True):
        with open(tmp_path / recorder_io.LOCK_NAME, "a+") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                held.append(True)
            else:
                held.append(False)
                fcntl.flock(f, fcntl.LOCK_UN)
        real_write_cell(directory, info, arrays, compressed)
    monkeypatch.setattr(results, "write_cell", write_cell_and_try_the_lock)
    x, y = _data((6,))
    _compiled(dense_model).fit(x, y, epochs=2, verbose=0, callbacks=[GradientRecorder(tmp_path, (x, y))])
    assert held == [True, True, True]  # epochs 0, 1, 2


_LONG = _WORKER.replace("epochs=25", "epochs=int(sys.argv[3])")


@pytest.mark.slow  # two recording processes per kill point
@pytest.mark.parametrize("point", ["cell-write@6", "metrics-write@6", "manifest-write@6"])
def test_a_recording_killed_in_the_middle_of_a_write_leaves_a_valid_directory(tmp_path, point):
    """kill -9 of a recording script in the middle of `fit` (here: of a write) leaves a valid directory
    holding the epochs recorded so far; a second process recording into it meanwhile loses nothing,
    and no row of one run is mixed into the other's."""
    import signal
    import subprocess
    import sys

    from killing import Run as Watched
    from killing import environment, wait_until_paused

    from vanishing import recorder_io
    from vanishing.html import render_report

    out = tmp_path / "results"
    victim = Watched(subprocess.Popen(
        [sys.executable, "-c", _LONG, "victim", str(out), "25"], stderr=subprocess.DEVNULL,
        env=environment(VANISHING_TEST_EVENTS=str(tmp_path / "events"), VANISHING_TEST_PAUSE=point)),
        tmp_path / "events", tmp_path / "none")
    survivor = subprocess.Popen([sys.executable, "-c", _LONG, "survivor", str(out), "25"],
                                env=environment(), stderr=subprocess.PIPE)
    wait_until_paused(victim, point)
    victim.process.send_signal(signal.SIGKILL)
    victim.process.wait(timeout=300)
    _, err = survivor.communicate(timeout=300)
    assert survivor.returncode == 0, err.decode()[-2000:]

    manifest = results.read_manifest(out)
    entries = {c["cell_id"]: c for c in manifest["cells"]}
    assert sorted(entries) == ["survivor", "victim"]
    lines = (out / "metrics.csv").read_text().splitlines()
    assert lines[0] == ",".join(results.METRICS_COLUMNS)
    for run, entry in entries.items():
        arrays = results.read_cell(out, run)
        mine = [line for line in lines[1:] if line.split(",", 1)[0] == run]
        expected = recorder_io.metric_lines(entry, arrays)  # from its own cell file, every epoch in it
        # Its rows are its own numbers, epoch by epoch from 0, each (epoch, layer) once.
        assert mine == expected[:len(mine)], run
        epochs = entry["epochs"]
        if run == "survivor":
            assert epochs == 25 and len(mine) == 26 * 3 == len(expected)
        else:
            # Killed between two writes of one epoch, a file may be one epoch ahead of the manifest.
            assert 0 < epochs < 25 and len(mine) in (3 * (epochs + 1), 3 * (epochs + 2))
            assert arrays["loss"].shape[0] in (epochs + 1, epochs + 2)
    # The page renders, and what the kill left half-written is recognised as such and removed.
    render_report(out, tmp_path / "page")
    left = list(out.rglob("*.tmp"))
    assert all(results.stale_temp(p) for p in left)
    results.remove_stale_temp(out)
    assert not list(out.rglob("*.tmp"))
