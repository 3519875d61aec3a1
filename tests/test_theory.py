"""theory.py against closed forms, the Keras adapter, and measured gradients of wide networks."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np
import pytest

from vanishing import theory

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def identity(z: np.ndarray) -> np.ndarray:
    return z


def ones(z: np.ndarray) -> np.ndarray:
    return np.ones_like(z)


def relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0.0)


def relu_prime(z: np.ndarray) -> np.ndarray:
    return (z > 0).astype(np.float64)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z: np.ndarray) -> np.ndarray:
    return sigmoid(z) * (1.0 - sigmoid(z))


def random_kernels(sizes: list[int], std: float, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(0.0, std, (a, b)) for a, b in itertools.pairwise(sizes)]


# --- closed forms -------------------------------------------------------------

@pytest.mark.parametrize("q", [1e-4, 0.3, 1.0, 7.5])
def test_gaussian_expectation_closed_forms(q: float) -> None:
    assert theory.gaussian_expectation(ones, q) == pytest.approx(1.0, rel=1e-12)
    assert theory.gaussian_expectation(lambda z: z**2, q) == pytest.approx(q, rel=1e-10)
    assert theory.gaussian_expectation(lambda z: z**4, q) == pytest.approx(3 * q**2, rel=1e-10)
    assert theory.gaussian_expectation(lambda z: relu(z) ** 2, q) == pytest.approx(q / 2, rel=1e-10)
    assert theory.gaussian_expectation(np.exp, q) == pytest.approx(np.exp(q / 2), rel=1e-10)
    # sigmoid(z) - 1/2 is odd, so E[sigmoid(z)] = 1/2 for every q.
    assert theory.gaussian_expectation(sigmoid, q) == pytest.approx(0.5, abs=1e-12)


def test_gaussian_expectation_of_steps_and_small_variance() -> None:
    # A step away from 0 (hard_tanh's derivative): P(|z| < 1) = erf(1/sqrt 2) for q = 1.
    from math import erf, sqrt
    inside = theory.gaussian_expectation(lambda z: (np.abs(z) < 1).astype(np.float64), 1.0)
    assert inside == pytest.approx(erf(1 / sqrt(2)), abs=2e-4)
    # relu's kink: exactly half the mass on each side.
    assert theory.gaussian_expectation(relu_prime, 2.0) == pytest.approx(0.5, abs=1e-12)
    # Tiny q: the linear regime, E[sigmoid'(z)^2] -> sigmoid'(0)^2 = 1/16.
    slope_sq = theory.gaussian_expectation(lambda z: sigmoid_prime(z) ** 2, 1e-8)
    assert slope_sq == pytest.approx(1 / 16, rel=1e-6)
    assert theory.gaussian_expectation(lambda z: z**2, 0.0) == 0.0
    with pytest.raises(ValueError, match="q must be >= 0"):
        theory.gaussian_expectation(identity, -1.0)


def test_chi_linear_is_n_weight_var_exactly() -> None:
    for q in (0.01, 1.0, 30.0):
        assert theory.chi(ones, q, weight_var=0.013, n=64) == pytest.approx(64 * 0.013, rel=1e-12)


@pytest.mark.parametrize("n", [5, 100, 1000])
def test_chi_relu_at_he_variance_is_one(n: int) -> None:
    for q in (0.1, 1.0, 10.0):  # relu is scale-free: chi does not depend on q
        assert theory.chi(relu_prime, q, weight_var=2 / n, n=n) == pytest.approx(1.0, abs=1e-3)


def test_linear_network_gradient_ratios_follow_the_product_formula() -> None:
    sizes = [2, 7, 11, 13, 1]
    kernels = random_kernels(sizes, std=0.4, seed=3)
    X = np.random.default_rng(1).normal(size=(50, 2))
    weight_var = [np.mean(W**2) for W in kernels]
    pred = theory.predict_grad_rms(identity, ones, kernels, X)
    np.testing.assert_allclose(pred["glorot"], pred["meanfield"], rtol=1e-10)
    assert pred["glorot"][-1] == 1.0
    # Layer l over layer l+1: E[h_(l-1)^2] / E[h_l^2] = 1 / (fan_in_l Var[W_l]) forward,
    # E[delta_l^2] / E[delta_(l+1)^2] = fan_out_(l+1) Var[W_(l+1)] backward.
    for i in range(len(kernels) - 1):
        expected_ms = (sizes[i + 2] * weight_var[i + 1]) / (sizes[i] * weight_var[i])
        assert (pred["glorot"][i] / pred["glorot"][i + 1]) ** 2 == pytest.approx(expected_ms, rel=1e-10)


def test_relu_he_network_is_level_in_both_theories() -> None:
    # He init, equal widths: forward and backward factors are 1 per hidden layer; the
    # linear regime reads relu's slope as the mean of squared one-sided slopes, 1/2.
    width = 100
    kernels = [np.full((width, width), np.sqrt(2 / width))] * 3  # mean square exactly 2/width
    X = np.ones((4, width))
    for name, pred in theory.predict_grad_rms(relu, relu_prime, kernels, X).items():
        np.testing.assert_allclose(pred, 1.0, rtol=1e-3, err_msg=name)
    assert theory.linear_regime_slope_sq(relu_prime) == 0.5


def test_sigmoid_meanfield_counts_the_nonzero_mean() -> None:
    # Tiny weights: mean field sees E[sigmoid^2] ~ 1/4 (the mean), the linear regime
    # f'(0)^2 q ~ 0; so the forward second moments, and with them the predictions, differ.
    kernels = random_kernels([2, 50, 50, 1], std=1e-3)
    X = np.random.default_rng(0).normal(size=(20, 2))
    pred = theory.predict_grad_rms(sigmoid, sigmoid_prime, kernels, X)
    assert theory.linear_regime_slope_sq(sigmoid_prime) == pytest.approx(1 / 16, rel=1e-9)
    assert np.all(np.isfinite(pred["meanfield"])) and np.all(np.isfinite(pred["glorot"]))
    assert not np.allclose(pred["meanfield"], pred["glorot"], rtol=0.5)


def test_predicted_attenuation_and_shape_checks() -> None:
    assert theory.predicted_attenuation(np.array([0.01, 0.1, 1.0, 1.0])) == pytest.approx(-2.0)
    assert theory.predicted_attenuation(np.array([3.0, 1.0])) == 0.0  # depth 1: first = last hidden
    with pytest.raises(ValueError, match="fan_out must equal the next fan_in"):
        theory.predict_grad_rms(identity, ones, [np.ones((2, 3)), np.ones((4, 1))], np.ones((5, 2)))
    with pytest.raises(ValueError, match="X has shape"):
        theory.predict_grad_rms(identity, ones, [np.ones((2, 3)), np.ones((3, 1))], np.ones((5, 3)))


def test_no_tensorflow_import() -> None:
    # In a fresh interpreter: importing theory (and what it imports) loads neither TF nor Keras.
    import subprocess
    import sys

    code = ("import sys, vanishing.theory; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- the Keras adapter ---------------------------------------------------------

def test_keras_activations_plug_in() -> None:
    from vanishing import zoo

    f, fprime = zoo.numpy_activation("relu")
    for q in (0.5, 3.0):
        assert theory.gaussian_expectation(lambda z: f(z) ** 2, q) == pytest.approx(q / 2, rel=1e-10)
        assert theory.chi(fprime, q, weight_var=2 / 50, n=50) == pytest.approx(1.0, abs=1e-3)
    f, fprime = zoo.numpy_activation("tanh")
    assert theory.linear_regime_slope_sq(fprime) == pytest.approx(1.0, rel=1e-9)
    z = np.linspace(-3, 3, 7)
    np.testing.assert_allclose(fprime(z), 1 - np.tanh(z) ** 2, rtol=1e-12)


# --- against measurement -------------------------------------------------------

def wide_cells(tmp_path: Path, activation: str, initializers: str, width: int, n_samples: int):
    """Depth-4 cells of one activation (seed 0), from a config of our own rather than a preset."""
    from vanishing import config

    toml = tmp_path / "wide.toml"
    toml.write_text(f"""
[data]
name = "circles"
n_samples = {n_samples}
[model]
width = {width}
[train]
epochs = 1
batch_size = {n_samples}
optimizer = "sgd"
[matrix.wide]
activations = ["{activation}"]
initializers = [{initializers}]
depths = [4]
seeds = [0]
""", encoding="utf-8")
    return config.load(config=toml).cells()


def wide_records(tmp_path: Path, activation: str, initializers: str, width: int, n_samples: int):
    """Train wide cells for one epoch with the engine; only epoch 0 (initialisation) is used."""
    from vanishing import engine, zoo

    cells = wide_cells(tmp_path, activation, initializers, width, n_samples)
    data = cells[0].data
    X, y = zoo.make_dataset(data.name, **data.kwargs)
    return X, engine.train_group(cells, X, y)


def measured_grad_rms(arrays: dict[str, np.ndarray], layers: int) -> np.ndarray:
    rms = np.array([np.sqrt(np.mean(arrays[f"grad_kernel_{layer}"][0].astype(np.float64) ** 2))
                    for layer in range(1, layers + 1)])
    return rms / rms[-1]


def test_wide_linear_network_matches_measured_gradients(tmp_path: Path) -> None:
    """Width 256, depth 4, linear: where the two theories coincide.

    random_normal(stddev=0.08) gives fan_in Var[W] ~ 1.64 per hidden layer: forward
    signals grow and back-propagated errors shrink by that factor per layer. (With
    equal widths the two cancel in the hidden kernels' gradients - Glorot & Bengio's
    observation - so the layer-to-layer differences come from the 2-input first and
    the 1-output last layer: a factor ~11 and ~1/16 in RMS.) At width 256 the theory's
    finite-width error of a Gaussian network is ~8 % in its worst layer typically and up
    to ~19 % (numpy draws); this one's worst (layer 3) is 18 %. Width 512 would halve
    that but costs ~50 s here: the engine's broadcast product holds [cells, n, 512, 512].
    With orthogonal kernels (gain 1.3: n Var[W] = 1.69) norms are preserved exactly,
    finite-width fluctuation vanishes and the prediction must hold to float32 accuracy.
    """
    from vanishing import zoo

    X, records = wide_records(tmp_path, "linear", '{ name = "random_normal", stddev = 0.08 }, '
                              '{ name = "orthogonal", gain = 1.3 }', width=256, n_samples=64)
    f, fprime = zoo.numpy_activation("linear")
    for record, rtol in zip(records, (0.2, 1e-3)):
        kernels = [record.arrays[f"kernel_{layer}"][0] for layer in range(1, 6)]
        measured = measured_grad_rms(record.arrays, 5)
        assert measured[0] / measured[1] > 5  # the gradients do differ across layers
        for name, pred in theory.predict_grad_rms(f, fprime, kernels, X).items():
            np.testing.assert_allclose(pred, measured, rtol=rtol,
                                       err_msg=f"{name}, {record.cell.initializer.label}")


def per_example_grad_rms(activation: str, kernels: list[np.ndarray], X: np.ndarray,
                         y: np.ndarray) -> np.ndarray:
    """RMS over examples and weights of each example's own gradient, by TensorFlow autodiff.

    Example s's gradient of kernel l is h_(l-1)(s) outer delta_l(s), whose mean
    square is |h_(l-1)(s)|^2 |delta_l(s)|^2 / (fan_in fan_out); delta_l(s) is
    d(loss_s)/d(z_l(s)), the gradient of the summed per-example losses w.r.t. z_l.
    """
    from vanishing import zoo

    _, tf = zoo.import_keras()
    act = zoo.make_activation(activation)
    h = [tf.constant(X, tf.float64)]
    ws = [tf.constant(W, tf.float64) for W in kernels]
    with tf.GradientTape() as tape:
        zs = []
        for i, W in enumerate(ws):
            zs.append(h[-1] @ W)
            tape.watch(zs[-1])
            if i < len(ws) - 1:
                h.append(act(zs[-1]))
        losses = tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.constant(y, tf.float64),
                                                         logits=zs[-1][:, 0])
        total = tf.reduce_sum(losses)
    deltas = tape.gradient(total, zs)
    rms = np.array([np.sqrt(np.mean(tf.reduce_sum(h[i] ** 2, 1) * tf.reduce_sum(deltas[i] ** 2, 1))
                            / kernels[i].size) for i in range(len(kernels))])
    return rms / rms[-1]


def test_wide_tanh_meanfield_matches_per_example_gradients(tmp_path: Path) -> None:
    """Width 256, depth 4, tanh far from its linear regime (random_normal stddev 0.3: fan_in Var[W] = 23).

    Both theories predict ONE example's gradient. The engine records the
    whole-dataset gradient, a sum over examples in which they partly cancel,
    and by how much depends on the layer (how alike different examples' signals
    and errors are there); against that, mean field misses here by up to ~2x
    (the report's caveat). Per example, mean field must hold within 20 %, and the
    linear regime, which ignores tanh's saturation, must be visibly off (so the
    case does test the non-linear part).
    """
    from vanishing import engine, zoo

    [cell] = wide_cells(tmp_path, "tanh", '{ name = "random_normal", stddev = 0.3 }', width=256,
                        n_samples=200)
    X, y = zoo.make_dataset(cell.data.name, **cell.data.kwargs)
    kernels = engine.initial_kernels(cell, X.shape[1])  # the engine's own initial weights
    measured = per_example_grad_rms("tanh", kernels, X, y)
    pred = theory.predict_grad_rms(*zoo.numpy_activation("tanh"), kernels, X)
    np.testing.assert_allclose(pred["meanfield"], measured, rtol=0.2)
    assert np.max(np.abs(np.log(pred["glorot"] / measured))) > np.log(1.5)


def test_width_five_network_gives_finite_predictions() -> None:
    from vanishing import zoo

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2)).astype(np.float32)
    for activation in ("sigmoid", "tanh", "relu"):
        f, fprime = zoo.numpy_activation(activation)
        for depth in (1, 4, 8):
            kernels = [rng.normal(0, 1.0, shape).astype(np.float32)
                       for shape in [(2, 5)] + [(5, 5)] * (depth - 1) + [(5, 1)]]
            pred = theory.predict_grad_rms(f, fprime, kernels, X)
            assert set(pred) == {"glorot", "meanfield"}
            for name, values in pred.items():
                assert values.shape == (depth + 1,), name
                assert np.all(np.isfinite(values)) and np.all(values > 0), (activation, depth, name)
                assert values[-1] == 1.0
                assert np.isfinite(theory.predicted_attenuation(values))


def test_expectations_at_several_variances_are_each_one_taken_alone():
    qs = [0.0, 0.3, 1.0, 7.5, float("nan")]
    together = theory.gaussian_expectations(lambda z: np.tanh(z) ** 2, qs)
    alone = [theory.gaussian_expectation(lambda z: np.tanh(z) ** 2, q) for q in qs]
    np.testing.assert_array_equal(together, alone)  # the same sum, bit for bit (NaN where NaN)
    assert theory.gaussian_expectations(ones, []) == []
    with pytest.raises(ValueError, match="variances must be >= 0"):
        theory.gaussian_expectations(ones, [1.0, -0.1])
    weight_vars, fans = [0.5, 0.2, 0.1, 0.04], [5, 5, 8, 64]
    slopes = [theory.gaussian_expectation(lambda z: sigmoid_prime(z) ** 2, q) for q in qs[:4]]
    assert theory.chis(sigmoid_prime, qs[:4], weight_vars, fans) == [
        w * n * e for w, n, e in zip(weight_vars, fans, slopes)]
