"""Config loading, --set, matrix expansion, and every bad input -> one message, exit 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vanishing import cli, config

GOOD = """
title = "t"
[train]
epochs = 2
[matrix.a]
activations = ["relu", "tanh"]
initializers = [{ name = "random_normal", stddev = 1 }, "glorot_uniform"]
depths = [2, 4]
seeds = [0, 1]
[matrix.b]
activations = ["relu"]
initializers = ["glorot_uniform"]
depths = [4, 8]
seeds = [1]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exp.toml"
    path.write_text(text)
    return path


def test_presets_load_and_expand():
    default = config.load("default")
    assert len(default.cells()) == 300 + 3 * 3 * 4 * 3  # depth 4 of the sweep is in the main matrix
    labels = {c.initializer.label for c in default.cells()}
    assert "random_normal(stddev=1.0)" in labels and "random_normal" in labels
    assert len(config.load("tutorial").cells()) == 6
    assert {"default", "tutorial", "smoke"} <= set(config.preset_names())


def test_union_of_matrices_and_labels(tmp_path):
    exp = config.load(config=write(tmp_path, GOOD))
    cells = exp.cells()
    assert len(cells) == 2 * 2 * 2 * 2 + 1  # (relu, glorot, 8, 1) is new; (relu, glorot, 4, 1) is shared
    shared = [c for c in cells if c.activation == "relu" and c.initializer.name == "glorot_uniform"
              and c.depth == 4 and c.seed == 1]
    assert len(shared) == 1 and shared[0].matrices == ("a", "b")
    assert {c.initializer.label for c in cells} == {"random_normal(stddev=1.0)", "glorot_uniform"}
    assert len({c.cell_id for c in cells}) == len(cells)
    # defaults are the tutorial's
    assert exp.data.dataset_id == "circles-n1000-noise0.1-factor0.5-seed0"
    assert (exp.train.batch_size, exp.train.optimizer.name, exp.train.learning_rate) == (32, "rmsprop", 1e-3)


def test_set_overrides(tmp_path):
    exp = config.load(config=write(tmp_path, GOOD), sets=[
        "train.epochs=7", "matrix.b.seeds=[3, 4]", "train.optimizer=adam", "data.name=moons"])
    assert exp.train.epochs == 7 and exp.train.optimizer.label == "adam"
    assert exp.matrices[1].seeds == (3, 4)
    assert exp.data.dataset_id == "moons-n1000-noise0.1-seed0"


def test_cell_id_changes_with_settings(tmp_path):
    a = config.load(config=write(tmp_path, GOOD)).cells()[0]
    b = config.load(config=write(tmp_path, GOOD), sets=["train.learning_rate=0.01"]).cells()[0]
    assert a.cell_id != b.cell_id and a.cell_id.startswith("relu-random_normal_stddev_1.0-d2-w5-s0-")


BAD = [
    # (where to change GOOD, --set items, words the message must hold)
    ('activations = ["relu", "tanh"]', 'activations = ["relu", "tanhh"]', [],
     ["exp.toml", "matrix.a.activations[1]", "'tanhh'", "allowed", "sigmoid"]),
    ('"glorot_uniform"]\ndepths = [2', '"glorot_unifrom"]\ndepths = [2', [],
     ["exp.toml", "matrix.a.initializers[1]", "'glorot_unifrom'", "he_normal"]),
    ("stddev = 1 }", "stdev = 1 }", [],
     ["exp.toml", "matrix.a.initializers[0].stdev", "its arguments: mean, stddev"]),
    ("epochs = 2", 'epochs = 2\noptimizer = "adamm"', [],
     ["exp.toml", "train.optimizer", "'adamm'", "rmsprop"]),
    ("epochs = 2", "epochs = 2\nepoch = 3", [], ["exp.toml", "train.epoch", "unknown key", "epochs"]),
    ("depths = [2, 4]", "depths = [2, 0]", [], ["exp.toml", "matrix.a.depths[1]", "0", ">= 1"]),
    ("epochs = 2", "epochs = -1", [], ["exp.toml", "train.epochs", "-1", ">= 1"]),
    ("epochs = 2", "epochs = 2\nbatch_size = 0", [], ["exp.toml", "train.batch_size", ">= 1"]),
    ("title", "title", ["model.width=0"], ["--set model.width=0", "model.width", ">= 1"]),
    ("title", "title", ["train.epochs"], ["--set 'train.epochs'", "KEY=VALUE"]),
    ("title", "title", ["train.epochs=[1,"], ["--set 'train.epochs=[1,'", "not a TOML value"]),
    ("title", "title", ["train.epochs=five"], ["--set train.epochs=five", "train.epochs", "'five'"]),
    ('title = "t"', 'title = "t', [], ["exp.toml", "not valid TOML"]),
]


@pytest.mark.parametrize(("old", "new", "sets", "words"), BAD)
def test_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, old, new, sets, words):
    path = write(tmp_path, GOOD.replace(old, new, 1))
    results = tmp_path / "results"
    results.mkdir()
    (results / "keep.txt").write_text("untouched")
    argv = ["train", "--config", str(path), "--results", str(results)]
    for s in sets:
        argv += ["--set", s]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err  # one message, one line
    for w in words:
        assert w in err, (w, err)
    assert sorted(p.name for p in results.iterdir()) == ["keep.txt"]
    assert (results / "keep.txt").read_text() == "untouched"


def test_unreadable_config_and_unknown_preset(tmp_path, capsys):
    missing = tmp_path / "nope.toml"
    assert cli.main(["train", "--config", str(missing), "--results", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "cannot read" in err
    assert cli.main(["train", "--preset", "nosuch", "--results", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "'nosuch'" in err and "smoke" in err
    assert not (tmp_path / "r").exists()


def test_presets_command_lists_each_with_a_line(capsys):
    assert cli.main(["presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in lines]
    assert {"default", "tutorial", "smoke"} <= set(names)
    assert all(len(line.split()) > 3 for line in lines)


def test_full_preset_is_the_union_of_the_studies():
    union = set()
    for name in ("default", "optimizers", "realdata"):
        union |= {c.cell_id for c in config.load(name).cells()}
    assert {c.cell_id for c in config.load("full").cells()} == union


def test_optimizer_axis_and_per_matrix_data(tmp_path):
    exp = config.load(config=write(tmp_path, GOOD + """
[matrix.opt]
activations = ["tanh"]
initializers = ["he_normal"]
optimizers = ["adam", { name = "sgd", learning_rate = 0.1, momentum = 0.5 }, "momentum"]
data = { name = "breast_cancer" }
"""))
    opt = [c for c in exp.cells() if c.matrices == ("opt",)]
    assert [(c.train.optimizer.label, c.train.learning_rate) for c in opt] == [
        ("adam", 0.001), ("sgd(momentum=0.5)", 0.1), ("momentum", 0.001)]
    assert {c.data.dataset_id for c in opt} == {"breast_cancer"}
    assert len({c.group_key for c in opt}) == 3  # each optimizer trains as its own group


@pytest.mark.parametrize(("extra", "words"), [
    ('optimizers = [{ name = "sgd", learning_rate = 0 }]', ["matrix.a.optimizers[0].learning_rate", "> 0"]),
    ('optimizers = ["lion"]', ["matrix.a.optimizers[0]", "'lion'", "rmsprop"]),
    ('data = { name = "iris" }', ["matrix.a.data.name", "'iris'", "breast_cancer"]),
    ('data = { name = "digits", n_samples = 10 }', ["matrix.a.data.n_samples", "unknown key"]),
])
def test_bad_optimizer_axis_or_data(tmp_path, capsys, extra, words):
    path = write(tmp_path, GOOD.replace("seeds = [0, 1]", "seeds = [0, 1]\n" + extra, 1))
    assert cli.main(["train", "--config", str(path), "--results", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    for w in words:
        assert w in err, (w, err)
    assert not (tmp_path / "r").exists()


def _refused(tmp_path, capsys, sets: list[str]) -> str:
    """`vanishing train` on a good config with these --set items exits 2; what it said."""
    argv = ["train", "--config", str(write(tmp_path, GOOD)), "--results", str(tmp_path / "r")]
    for s in sets:
        argv += ["--set", s]
    assert cli.main(argv) == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(("sets", "words"), [
    (["train.learning_rate=inf"], ["train.learning_rate", "inf", "finite"]),
    (["data.factor=1.5"], ["data.factor", "1.5", "< 1.0"]),
    (["data.noise=nan"], ["data.noise", "finite"]),
    (['matrix.a.initializers=[{ name = "variance_scaling", mode = "bogus" }]'],
     ["matrix.a.initializers[0].mode", "'bogus'", "fan_avg"]),
    (['matrix.a.initializers=[{ name = "random_normal", stddev = -1 }]'],
     ["matrix.a.initializers[0].stddev", "> 0"]),
    (["matrix.a.depths=[0]"], ["overridden by --set matrix.a.depths=[0]", "matrix.a.depths[0]"]),
    (["matrix.a.depths=[4, 1]"], ["matrix.a.depths[1]", ">= 2", "first and the last hidden layer"]),
])
def test_bad_values_are_refused_before_anything_runs(tmp_path, capsys, sets, words):
    err = _refused(tmp_path, capsys, sets)
    for w in words:
        assert w in err, (w, err)
    assert not (tmp_path / "r").exists()


def test_set_data_name_drops_the_other_datasets_arguments():
    exp = config.load("default", sets=["data.name=moons"])  # the preset spells out circles' factor
    assert exp.data.dataset_id == "moons-n1000-noise0.1-seed0"
    exp = config.load("default", sets=["data.name=breast_cancer"])
    assert exp.data.dataset_id == "breast_cancer"
    with pytest.raises(config.ConfigError, match=r"--set data\.noise=-1: key 'data\.noise'"):
        config.load("default", sets=["data.name=moons", "data.noise=-1"])


# --- issue 10: numbers and types that used to crash (exit 1) or pass silently ------------------

HUGE = "1" + "0" * 400  # beyond float64: float() raises OverflowError
LONGER = "1" + "0" * 5001  # beyond Python's 4300-digit limit for int(str): tomllib raises ValueError


@pytest.mark.parametrize(("sets", "words"), [
    ([f"train.learning_rate={HUGE}"], ["train.learning_rate", "finite", "401 characters"]),
    ([f"train.epochs={HUGE}"], ["train.epochs", "< 9223372036854775808"]),
    ([f"train.epochs={LONGER}"], ["train.epochs", "5002 digits"]),
    (["data.seed=4294967296"], ["data.seed", "< 4294967296"]),
    (["matrix.a.seeds=[4294967296]"], ["matrix.a.seeds[0]", "< 4294967296"]),
    (['matrix.a.initializers=[{ name = "constant", value = "x" }]'],
     ["matrix.a.initializers[0].value", "'x'", "number"]),
    (['matrix.a.initializers=[{ name = "random_normal", mean = true }]'],
     ["matrix.a.initializers[0].mean", "True", "number"]),
    (['matrix.a.initializers=[{ name = "constant", value = 1e300 }]'],
     ["matrix.a.initializers[0].value", "float32"]),
    (['train.optimizer={ name = "sgd", nesterov = "yes" }'],
     ["train.optimizer.nesterov", "'yes'", "boolean"]),
    (['train.optimizer={ name = "sgd", momentum = 1.5 }'], ["train.optimizer.momentum", "1.5", "<= 1"]),
    (['train.optimizer={ name = "adam", amsgrad = 1 }'], ["train.optimizer.amsgrad", "boolean"]),
    (['matrix.a.initializers=[{ name = "variance_scaling", mode = 3 }]'],
     ["matrix.a.initializers[0].mode", "fan_avg"]),
    (['title="\udcff"'], ["title", "surrogates"]),
    (["train.epochs=" + "[" * 600 + "]" * 600], ["train.epochs", "nested too deeply"]),
])
def test_values_that_crashed_or_slipped_through_exit_2(tmp_path, capsys, sets, words):
    err = _refused(tmp_path, capsys, sets)
    assert err.count("\n") == 1 and len(err) < 600, err  # one line, the long value cut short
    for w in words:
        assert w in err, (w, err)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(("text", "words"), [
    (f"[train]\nepochs = {LONGER}\n", ["exp.toml", "'train.epochs'", "line 2", "5002 digits"]),
    (f"[matrix.a]\nseeds = [0, {LONGER}]\n", ["exp.toml", "'matrix.a.seeds[1]'", "5002 digits"]),
    (f'[matrix."x y"]\ndata = {{ n_samples = {LONGER} }}\n', ["'matrix.x y.data.n_samples'", "line 2"]),
    (f"[train]\nlearning_rate = {HUGE}\n", ["exp.toml", "'train.learning_rate'", "finite"]),
    ("title = " + "[" * 600 + "]" * 600 + "\n", ["exp.toml", "nested too deeply"]),
])
def test_numbers_too_long_in_a_config_file_name_the_key(tmp_path, capsys, text, words):
    path = write(tmp_path, text)  # refused before the (missing) matrices are looked at
    assert cli.main(["train", "--config", str(path), "--results", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    for w in words:
        assert w in err, (w, err)


def test_the_seed_limit_is_scikit_learns_and_numpys():
    """2**32 - 1 is the largest seed both take; the config allows exactly up to it."""
    from sklearn.datasets import make_circles
    from sklearn.utils._param_validation import InvalidParameterError

    make_circles(n_samples=4, random_state=config.SEED_LIMIT - 1)
    with pytest.raises(InvalidParameterError):
        make_circles(n_samples=4, random_state=config.SEED_LIMIT)
    np.random.seed(config.SEED_LIMIT - 1)  # keras.utils.set_random_seed seeds numpy (factory cells)
    with pytest.raises(ValueError):
        np.random.seed(config.SEED_LIMIT)
    exp = config.load("tutorial", sets=[f"data.seed={config.SEED_LIMIT - 1}",
                                        f"matrix.main.seeds=[{config.SEED_LIMIT - 1}]"])
    assert exp.data.kwargs["seed"] == config.SEED_LIMIT - 1


def test_the_float_limit_is_float32s():
    """The largest number accepted is float32's largest; a little more is infinite in float32."""
    def constant(value: float) -> list[str]:
        return [f'matrix.main.initializers=[{{ name = "constant", value = {value!r} }}]']

    top = float(np.finfo(np.float32).max)
    assert config.load("tutorial", sets=constant(top)).matrices[0].initializers[0].kwargs["value"] == top
    above = top * (1 + 1e-7)
    with np.errstate(over="ignore"):
        assert np.isinf(np.float32(above))
    with pytest.raises(config.ConfigError, match="float32"):
        config.load("tutorial", sets=constant(above))


def test_arguments_keep_their_kind():
    exp = config.load("tutorial", sets=['train.optimizer={ name = "sgd", nesterov = true, momentum = 1 }',
                                        'matrix.main.initializers=[{ name = "random_normal", mean = 0 }]'])
    assert exp.train.optimizer.kwargs == {"nesterov": True, "momentum": 1.0}
    assert isinstance(exp.train.optimizer.kwargs["momentum"], float)  # Keras' SGD wants a float
    assert exp.matrices[0].initializers[0].kwargs == {"mean": 0.0}
