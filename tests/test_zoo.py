"""The name tables of zoo.py agree with the installed Keras; the datasets are as documented."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest

from vanishing import zoo


def test_every_activation_is_keras_and_element_wise():
    keras, tf = zoo.import_keras()
    z = tf.constant(np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4))
    for name in zoo.ACTIVATIONS:
        f = keras.activations.get(name)
        whole = f(z).numpy()
        one_by_one = np.array([[f(z[i:i + 1, j:j + 1]).numpy()[0, 0] for j in range(4)] for i in range(3)])
        np.testing.assert_allclose(whole, one_by_one, rtol=1e-6, err_msg=name)


@pytest.mark.parametrize("name", list(zoo.INITIALIZERS))
def test_every_initializer_takes_its_arguments(name):
    example = {"mean": 0.0, "stddev": 0.5, "minval": -0.1, "maxval": 0.1, "gain": 1.0, "value": 0.1,
               "scale": 2.0, "mode": "fan_avg", "distribution": "uniform"}
    args = {a: example[a] for a in zoo.INITIALIZERS[name]}
    w = np.asarray(zoo.make_initializer(name, args, seed=3)(shape=(5, 5), dtype="float32"))
    assert w.shape == (5, 5) and np.isfinite(w).all()


@pytest.mark.parametrize("name", list(zoo.OPTIMIZERS))
def test_every_optimizer_builds(name):
    opt = zoo.make_optimizer(name, {}, 0.01)
    assert float(opt.learning_rate) == pytest.approx(0.01)
    if name == "momentum":
        assert opt.momentum == pytest.approx(0.9)


def _kind_fits_default(kind: str, name: str, arg: str, default) -> bool:
    """Does Keras' own default value have the kind our table gives the argument?"""
    if kind == zoo.BOOL:
        return isinstance(default, bool)
    if kind == zoo.CHOICE:
        return isinstance(default, str) and default in zoo.ARG_CHOICES[(name, arg)]
    if isinstance(default, bool) or not isinstance(default, (int, float)):
        return False
    return {zoo.NUMBER: True, zoo.POSITIVE: default > 0, zoo.NON_NEGATIVE: default >= 0,
            zoo.UNIT: 0 <= default <= 1}[kind]


@pytest.mark.parametrize("name", list(zoo.INITIALIZERS))
def test_initializer_arguments_are_keras_own_with_their_kinds(name):
    keras, _ = zoo.import_keras()
    parameters = inspect.signature(getattr(keras.initializers, zoo.initializer_class(name))).parameters
    # every argument Keras takes but the seed (derived from the cell's) and, in newer Keras, the
    # fan axes of kernels with more than two dimensions (ours are [fan_in, fan_out])
    assert set(zoo.INITIALIZERS[name]) <= set(parameters)
    assert set(parameters) - set(zoo.INITIALIZERS[name]) <= {"seed", "input_axes", "output_axes"}
    for arg, kind in zoo.INITIALIZERS[name].items():
        assert _kind_fits_default(kind, name, arg, parameters[arg].default), (name, arg, kind)


@pytest.mark.parametrize("name", list(zoo.OPTIMIZERS))
def test_optimizer_arguments_are_keras_own_with_their_kinds(name):
    keras, _ = zoo.import_keras()
    parameters = inspect.signature(getattr(keras.optimizers, zoo.OPTIMIZER_CLASSES[name])).parameters
    for arg, kind in zoo.OPTIMIZERS[name].items():
        assert arg in parameters, (name, arg)
        assert _kind_fits_default(kind, name, arg, parameters[arg].default), (name, arg, kind)


def test_sgd_momentum_is_a_unit_number_as_keras_checks():
    """The one range Keras enforces itself: SGD's momentum in [0, 1] (the config refuses the rest)."""
    assert zoo.OPTIMIZERS["sgd"]["momentum"] == zoo.UNIT
    for ok in (0.0, 1.0):
        zoo.make_optimizer("sgd", {"momentum": ok}, 0.1)
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="momentum"):
            zoo.make_optimizer("sgd", {"momentum": bad}, 0.1)


def test_synthetic_datasets_are_seeded_and_balanced():
    X, y = zoo.make_dataset("circles", n_samples=1000, noise=0.1, factor=0.5, seed=0)
    X2, _ = zoo.make_dataset("circles", n_samples=1000, noise=0.1, factor=0.5, seed=0)
    assert X.shape == (1000, 2) and X.dtype == np.float32 and np.array_equal(X, X2)
    assert y.mean() == 0.5
    X, y = zoo.make_dataset("moons", n_samples=300, noise=0.1, seed=1)
    assert X.shape == (300, 2) and y.mean() == 0.5


def test_breast_cancer_standardised_on_the_data_as_trained():
    X, y = zoo.make_dataset("breast_cancer")
    assert X.shape == (569, 30) and X.dtype == np.float32
    assert int(y.sum()) == 357 and set(np.unique(y)) == {0.0, 1.0}  # 357 benign, 212 malignant
    np.testing.assert_allclose(X.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(X.std(0), 1, atol=1e-4)


def test_digits_low_vs_high():
    from sklearn.datasets import load_digits

    X, y = zoo.make_dataset("digits")
    raw = load_digits()
    assert X.shape == (1797, 64) and X.min() == 0 and X.max() == 1
    np.testing.assert_array_equal(y, (raw.target >= 5).astype(np.float32))
    assert int(y.sum()) == 896 and int((1 - y).sum()) == 901  # nearly balanced, as documented


def finite_difference_slopes(name: str, z: np.ndarray) -> np.ndarray:
    """|f'| by differences of Keras' f in float64: no autodiff, so no convention at kinks.

    Where f' is continuous across [z - h, z + h] the forward and backward differences
    agree; a stencil across a kink (or hard_shrink's jump) makes them disagree, and is
    left out (NaN): the grid approaches the kink from both sides instead.
    """
    keras, tf = zoo.import_keras()
    f = keras.activations.get(name)
    h = 1e-6 * np.maximum(1.0, np.abs(z))

    def value(x):
        return np.asarray(f(tf.constant(x, tf.float64)), np.float64)

    with np.errstate(over="ignore", invalid="ignore"):
        at = value(z)
        forward, backward = (value(z + h) - at) / h, (at - value(z - h)) / h
        smooth = np.abs(forward - backward) <= 1e-3 * np.maximum(np.abs(forward), np.abs(backward)) + 1e-9
        return np.where(smooth, np.abs(forward + backward) / 2, np.nan)


def fd_max(name: str, half_width: float, far: bool = False) -> float:
    """The steepest finite-difference slope on a 0.0005 grid over +-half_width (and far out)."""
    z = np.linspace(-half_width, half_width, round(2000 * half_width) + 1)
    if far:  # suprema reached only at +-infinity: softplus, squareplus, tanh_shrink, ...
        z = np.concatenate([z, 10.0 ** np.arange(2, 7), -(10.0 ** np.arange(2, 7))])
    return float(np.nanmax(finite_difference_slopes(name, z)))


@pytest.mark.parametrize("name", zoo.ACTIVATIONS)
def test_reference_slope_is_the_supremum_of_finite_difference_slopes(name):
    reference = zoo.reference_slope(name)
    # unbounded: widening the window keeps doubling the steepest slope seen
    growing = fd_max(name, 80.0) > 2 * fd_max(name, 40.0)
    assert (reference is None) == growing
    if reference is not None:
        seen = fd_max(name, 40.0, far=True)
        # a central difference is the mean of f' over its stencil: it never exceeds the
        # supremum (celu's autodiff says 2 at 0; the curve's slope never passes 1), and the
        # grid gets within 0.1 % of it
        assert seen <= reference * (1 + 1e-6)
        assert seen >= reference * (1 - 1e-3)


def test_reference_slopes_in_closed_form():
    selu_scale, selu_alpha = 1.0507009873554805, 1.6732632423543772
    expected = {
        "sigmoid": 0.25, "tanh": 1.0, "relu": 1.0, "celu": 1.0, "elu": 1.0, "softsign": 1.0,
        "selu": selu_scale * selu_alpha,  # approached from the left of 0
        "hard_silu": 1.5,  # (2z + 3) / 6 as z -> 3 from the left
        "hard_sigmoid": 1 / 6, "squareplus": 1.0, "log_sigmoid": 1.0,
        "gelu": 0.5 + np.sqrt(2) * np.exp(-1) / np.sqrt(2 * np.pi) + 0.5 * math.erf(1.0),  # at z = sqrt(2)
    }
    for name, value in expected.items():
        assert zoo.reference_slope(name) == pytest.approx(value, rel=1e-9), name
    assert zoo.reference_slope("exponential") is None
