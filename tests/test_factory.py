"""A config naming a model factory: every bad input exits 2 with its message and trains nothing;
a factory matrix trains, resumes and repeats itself exactly; the built-in MLP's architecture
through the factory path gets the stacked engine's gradients."""

from __future__ import annotations

import dataclasses
import itertools
import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
from exits import fails as _fails

from vanishing import cli, config, engine, results, runner

# The built-in MLP as a factory: depth hidden Dense(width) layers and one output logit, each
# kernel from initializer(layer) (layer 1..depth+1, as the engine numbers them), zero biases.
MLP_FACTORY = '''
import keras


def build(activation, initializer, depth, width, input_shape, seed):
    inputs = keras.Input(input_shape)
    h = inputs
    for layer in range(1, depth + 1):
        h = keras.layers.Dense(width, activation=activation, kernel_initializer=initializer(layer))(h)
    return keras.Model(inputs, keras.layers.Dense(1, kernel_initializer=initializer(depth + 1))(h))
'''

_names = itertools.count()


def write_factory(where: Path, source: str = MLP_FACTORY) -> str:
    """A factory module in ``where`` (the current directory of the test) under a fresh name:
    Python caches imported modules by name, so no two tests may share one."""
    name = f"factory_{next(_names)}_{where.name.replace('-', '_')}"
    (where / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    return name


def write_config(where: Path, factory: str, *, data: str = 'name = "circles"\nn_samples = 120',
                 epochs: int = 3, activations: str = '["tanh", "relu"]', depths: str = "[2]") -> Path:
    path = where / "study.toml"
    path.write_text(f'''
title = "factory study"
[data]
{data}
[model]
width = 4
factory = "{factory}"
[train]
epochs = {epochs}
batch_size = 16
[matrix.main]
activations = {activations}
initializers = ["glorot_uniform"]
depths = {depths}
seeds = [0]
''', encoding="utf-8")
    return path


@pytest.fixture
def here(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --- bad factories: the message names the key, the value and what is allowed; nothing trained -----

@pytest.mark.parametrize("ref", ["models.build", "models:", ":build"])
def test_a_factory_path_without_module_and_callable(here, capsys, ref):
    cfg = write_config(here, ref)
    _fails(["train", "--config", str(cfg), "--results", "r"], capsys,
           str(cfg), "'model.factory'", repr(ref), "module:callable")
    assert not (here / "r").exists()


def test_a_module_that_cannot_be_imported_says_the_import_errors_first_line(here, capsys):
    name = write_factory(here, "import no_such_package_here\n")
    cfg = write_config(here, f"{name}:build")
    _fails(["train", "--config", str(cfg), "--results", "r"], capsys, "'model.factory'",
           f"cannot import module {name!r}", "ModuleNotFoundError: No module named 'no_such_package_here'")
    _fails(["train", "--config", str(write_config(here, "not_a_module_anywhere:build")), "--results", "r"],
           capsys, "cannot import module 'not_a_module_anywhere'", str(here))
    assert not (here / "r").exists()


def test_a_name_that_is_missing_or_not_callable(here, capsys):
    name = write_factory(here, "build = 42\n")
    _fails(["train", "--config", str(write_config(here, f"{name}:build")), "--results", "r"], capsys,
           "'model.factory'", "is a int, not callable", "build(activation, initializer, depth, width, "
           "input_shape, seed)")
    _fails(["train", "--config", str(write_config(here, f"{name}:make")), "--results", "r"], capsys,
           f"module {name!r} has no attribute 'make'")
    assert not (here / "r").exists()


def test_a_callable_that_cannot_take_the_six_arguments(here, capsys):
    name = write_factory(here, "def build(activation, initializer, depth):\n    return None\n")
    _fails(["train", "--config", str(write_config(here, f"{name}:build")), "--results", "r"], capsys,
           "'model.factory'", "cannot be called with the keyword arguments activation, initializer, depth, "
           "width, input_shape, seed", "unexpected keyword argument 'width'")
    assert not (here / "r").exists()


def test_a_factory_that_returns_no_keras_model_is_refused_before_training(here, capsys):
    name = write_factory(here, "def build(**kwargs):\n    return [1, 2]\n")
    _fails(["train", "--config", str(write_config(here, f"{name}:build")), "--results", "r"], capsys,
           "'model.factory'", "returned a builtins.list, not a keras.Model")
    assert not list((here / "r").glob("cells/*.npz"))


def test_a_model_that_does_not_fit_the_data_is_refused_before_training(here, capsys):
    name = write_factory(here, '''
        import keras

        def build(activation, initializer, depth, width, input_shape, seed):
            inputs = keras.Input((3,))  # circles have 2 features
            return keras.Model(inputs, keras.layers.Dense(1, kernel_initializer=initializer(1))(inputs))
        ''')
    _fails(["train", "--config", str(write_config(here, f"{name}:build")), "--results", "r"], capsys,
           "'model.factory'", "does not take the data's inputs of shape (2,)")
    assert not list((here / "r").glob("cells/*.npz"))


def test_a_model_with_the_wrong_number_of_logits_is_refused(here, capsys):
    name = write_factory(here, '''
        import keras

        def build(activation, initializer, depth, width, input_shape, seed):
            inputs = keras.Input(input_shape)
            return keras.Model(inputs, keras.layers.Dense(3, kernel_initializer=initializer(1))(inputs))
        ''')
    _fails(["train", "--config", str(write_config(here, f"{name}:build")), "--results", "r"], capsys,
           "outputs 3 logits per sample; the data has 2 classes")


# --- bad data files -----------------------------------------------------------------------

def _file_config(here: Path, data: str) -> Path:
    return write_config(here, f"{write_factory(here)}:build", data=data)


def test_a_missing_data_file(here, capsys):
    cfg = _file_config(here, 'name = "file"\npath = "nope.npz"')
    _fails(["train", "--config", str(cfg), "--results", "r"], capsys, "'data.path'", "nope.npz")
    assert not (here / "r").exists()


@pytest.mark.parametrize("arrays, words", [
    ({"X": np.zeros((4, 2), np.float32)}, ["'y'"]),
    ({"X": np.array([[0, 1], [np.nan, 1], [1, 1], [2, 2]], np.float32), "y": np.array([0, 1, 0, 1])},
     ["NaN"]),
    ({"X": np.zeros((4, 2), np.float32), "y": np.zeros(4)}, ["2"]),
])
def test_a_data_file_that_cannot_be_trained_on(here, capsys, arrays, words):
    np.savez(here / "mine.npz", **arrays)
    cfg = _file_config(here, 'name = "file"\npath = "mine.npz"')
    _fails(["train", "--config", str(cfg), "--results", "r"], capsys, "'data.path'", "mine.npz", *words)
    assert not (here / "r").exists()


def test_a_csv_without_its_label_column(here, capsys):
    (here / "mine.csv").write_text("a,b,target\n1,2,0\n3,4,1\n", encoding="utf-8")
    cfg = _file_config(here, 'name = "file"\npath = "mine.csv"\nlabel = "class"')
    _fails(["train", "--config", str(cfg), "--results", "r"], capsys, "mine.csv", "class", "target")


def test_the_builtin_mlp_refuses_images_and_many_classes(here, capsys):
    np.savez(here / "images.npz", X=np.random.default_rng(0).normal(size=(6, 4, 4, 1)), y=np.arange(6) % 3)
    (here / "study.toml").write_text('[data]\nname = "file"\npath = "images.npz"\n'
                                     '[matrix.m]\nactivations = ["relu"]\ninitializers = ["he_normal"]\n')
    _fails(["train", "--config", "study.toml", "--results", "r"], capsys, "'data.path'",
           "shape (4, 4, 1) per sample and 3 classes", "[model] factory")


# --- what a factory cell is -----------------------------------------------------------------

def test_the_factory_and_the_data_files_hash_are_part_of_each_cell(here):
    name = write_factory(here)
    np.savez(here / "mine.npz", X=np.eye(4, dtype=np.float32), y=np.array([0, 1, 0, 1]))
    cfg = write_config(here, f"{name}:build", data='name = "file"\npath = "mine.npz"')
    before = config.load(config=cfg).cells()
    (here / f"{name}.py").write_text(MLP_FACTORY + "\n# edited\n", encoding="utf-8")
    np.savez(here / "mine.npz", X=2 * np.eye(4, dtype=np.float32), y=np.array([0, 1, 0, 1]))
    after = config.load(config=cfg).cells()
    assert before[0].factory.ref == f"{name}:build" and before[0].settings()["factory_sha256"]
    assert before[0].data.dataset_id.startswith("file-mine-")
    assert before[0].data.dataset_id != after[0].data.dataset_id
    assert before[0].settings()["factory_sha256"] != after[0].settings()["factory_sha256"]
    assert not {c.cell_id for c in before} & {c.cell_id for c in after}


def test_initializer_gives_each_layer_its_own_seeded_instance(here):
    from vanishing import factory

    name = write_factory(here)
    cell = config.load(config=write_config(here, f"{name}:build")).cells()[0]
    init = factory.initializer_for(cell)
    first, again, second = init(1), init(1), init(2)
    assert first is not again  # fresh instances: never shared between layers or cells
    w1, w1b, w2 = (np.asarray(i(shape=(2, 4), dtype="float32")) for i in (first, again, second))
    np.testing.assert_array_equal(w1, w1b)  # the same layer and seed: the same weights
    assert not np.allclose(w1, w2)  # another layer: other weights
    # exactly the engine's first kernel for this cell (circles: 2 features, width 4)
    np.testing.assert_array_equal(w1, engine.initial_kernels(dataclasses.replace(cell, factory=None), 2)[0])


# --- training through the factory -------------------------------------------------------------

def _train(cfg: Path, out: Path, capsys) -> str:
    assert cli.main(["train", "--config", str(cfg), "--results", str(out), "--jobs", "1"]) == 0
    return capsys.readouterr().err


@pytest.mark.slow
def test_a_factory_matrix_trains_resumes_and_repeats_itself(here, capsys):
    cfg = write_config(here, f"{write_factory(here)}:build")
    assert "2 cells (2 trained, 0 reused, 0 diverged)" in _train(cfg, here / "a", capsys)
    manifest = json.loads((here / "a" / "manifest.json").read_text())
    kept = here / "a" / manifest["factory"]["file"]
    assert kept.read_text() == textwrap.dedent(MLP_FACTORY)
    cell = manifest["cells"][0]
    assert cell["source"] == "factory" and [d["shape"] for d in cell["layers"]] == [[2, 4], [4, 4], [4, 1]]
    stamp = (here / "a" / "cells" / f"{cell['cell_id']}.npz").stat().st_mtime_ns
    assert "2 cells (0 trained, 2 reused, 0 diverged)" in _train(cfg, here / "a", capsys)
    assert (here / "a" / "cells" / f"{cell['cell_id']}.npz").stat().st_mtime_ns == stamp
    _train(cfg, here / "b", capsys)
    first, second = ((here / d / "metrics.csv").read_text() for d in ("a", "b"))
    assert first == second and first.count("\n") == 1 + 2 * (3 + 1) * 3  # header, cells x epochs x matrices


def _one_cell(here: Path, depth: int, epochs: int):
    cfg = write_config(here, f"{write_factory(here)}:build", activations='["tanh"]', depths=f"[{depth}]",
                       epochs=epochs)
    cell = config.load(config=cfg).cells()[0]
    data = runner.load_data(cell.data)
    return cell, data


def _engine_and_factory(cell, data):
    from vanishing import factory_cell

    engine_arrays = engine.train_group([dataclasses.replace(cell, factory=None)], data.X, data.y)[0].arrays
    record = factory_cell.train_cell(cell, data.X, data.y, 2)
    layers = cell.depth + 1
    engine_grad = np.stack([np.abs(engine_arrays[f"grad_kernel_{layer}"].astype(np.float64)).mean(axis=(1, 2))
                            for layer in range(1, layers + 1)], axis=1)
    return engine_grad, record.arrays["grad_abs_mean"], engine_arrays, record.arrays


@pytest.mark.slow
def test_the_factory_path_gets_the_engines_gradients_at_initialisation(here):
    cell, data = _one_cell(here, depth=4, epochs=1)
    engine_grad, factory_grad, _, _ = _engine_and_factory(cell, data)
    assert factory_grad.shape == engine_grad.shape == (2, 5)
    np.testing.assert_allclose(factory_grad[0], engine_grad[0], rtol=1e-5)


@pytest.mark.slow
def test_the_factory_path_follows_the_engine_through_training(here):
    cell, data = _one_cell(here, depth=6, epochs=5)
    engine_grad, factory_grad, engine_arrays, factory_arrays = _engine_and_factory(cell, data)
    np.testing.assert_allclose(factory_grad, engine_grad, rtol=1e-3)
    np.testing.assert_allclose(factory_arrays["loss"], engine_arrays["loss"], rtol=1e-3)
    # The comparison can fail: the engine's gradients a few epochs in differ from its own start.
    assert np.max(np.abs(engine_grad[-1] / engine_grad[0] - 1)) > 1e-2
    assert not results.cell_path(here, cell.cell_id).exists()


CNN_FACTORY = '''
import keras


def build(activation, initializer, depth, width, input_shape, seed):
    inputs = keras.Input(input_shape)
    h = inputs
    for layer in range(1, depth + 1):
        h = keras.layers.Conv2D(width, 3, padding="same", activation=activation,
                                kernel_initializer=initializer(layer))(h)
    h = keras.layers.Flatten()(h)
    return keras.Model(inputs, keras.layers.Dense(3, kernel_initializer=initializer(depth + 1))(h))
'''


@pytest.mark.slow
def test_images_of_three_classes_train_with_sparse_categorical_cross_entropy(here, capsys):
    import keras

    from vanishing import factory

    rng = np.random.default_rng(0)
    np.savez(here / "images.npz", X=rng.normal(size=(40, 4, 4, 1)).astype(np.float32),
             y=np.array(["cat", "dog", "emu"] * 13 + ["cat"]))
    cfg = write_config(here, f"{write_factory(here, CNN_FACTORY)}:build", activations='["relu"]',
                       data='name = "file"\npath = "images.npz"', epochs=2)
    _train(cfg, here / "r", capsys)
    manifest = json.loads((here / "r" / "manifest.json").read_text())
    assert manifest["datasets"][0] | {"shape": [4, 4, 1], "n_classes": 3, "classes": ["cat", "dog", "emu"],
                                      "positive_fraction": None} == manifest["datasets"][0]
    entry = manifest["cells"][0]
    assert entry["n_outputs"] == 3 and [d["class"] for d in entry["layers"]] == ["Conv2D", "Conv2D", "Dense"]
    arrays = results.read_cell(here / "r", entry["cell_id"])
    # Independently: the same cell's model rebuilt (same seeds, same initial weights), plain Keras.
    cell = config.load(config=cfg).cells()[0]
    X, y = results.read_dataset(here / "r", cell.data.dataset_id)
    logits = factory.build(cell, X.shape[1:])(X)
    expected = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y.astype(np.int64), logits)
    assert arrays["loss"][0] == pytest.approx(float(expected), rel=1e-5)
    assert arrays["accuracy"][0] == pytest.approx(float(np.mean(np.argmax(logits, axis=1) == y)))
