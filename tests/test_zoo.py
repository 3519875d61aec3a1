"""The name tables of zoo.py agree with the installed Keras; the datasets are as documented."""

from __future__ import annotations

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
