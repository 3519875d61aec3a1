"""What signal-propagation theory predicts for each layer's gradient scale at initialisation.

Pure numpy: the activation arrives as two numpy callables, f and its derivative
fprime (``zoo.numpy_activation`` builds them from the Keras activation itself),
so this module never imports TensorFlow and works for any element-wise activation.

The network is the one the engine trains: ``h_0 = x`` (the data), then for
layers l = 1..L (L = depth + 1) ``z_l = h_(l-1) W_l`` (biases are zero at
initialisation), ``h_l = f(z_l)`` for the hidden layers and the output logit
``z_L`` with no activation. The back-propagated error is ``delta_L = dLoss/dz_L``
at the logit and ``delta_l = f'(z_l) * (delta_(l+1) W_(l+1)^T)`` below it, and
``dLoss/dW_l = h_(l-1)^T delta_l``. Both theories predict the mean square of
that gradient per layer as ``E[h_(l-1)^2] * E[delta_l^2]`` (each weight's
gradient multiplies one unit's input by one unit's error, taken as independent),
up to the size of the error at the logit, which is common to every layer and
which we do not model: predictions are normalised so that the output layer's is 1.

Two theories:

* ``glorot`` - Glorot & Bengio (2010), the linear regime. Around 0 the activation
  is treated as linear, ``f(z) ~ f'(0) z``, so each layer multiplies the forward
  second moment by ``fan_in Var[W] f'(0)^2`` and the backward one by
  ``fan_out Var[W] f'(0)^2``. Glorot & Bengio take f'(0) = 1 (tanh, softsign);
  we keep the f'(0)^2 factor so that the formula also says something for
  sigmoid (f'(0) = 1/4) - but it ignores f(0) = 1/2, sigmoid's non-zero mean,
  which the next layer sees as a large constant input, so for sigmoid it
  underestimates the forward signal. At a kink (relu) f'(0) is not defined;
  we use the mean of the squared one-sided slopes, ``(f'(0-)^2 + f'(0+)^2) / 2``
  (1/2 for relu: the factor of He et al. 2015), which is f'(0)^2 wherever f is smooth.
* ``meanfield`` - Poole et al. (2016), Schoenholz et al. (2017). Pre-activations
  are Gaussian, ``z_l ~ N(0, q_l)``, with ``q_1 = Var[W_1] sum_i E[x_i^2]`` from the
  data and ``q_(l+1) = Var[W_(l+1)] fan_in E[f(z_l)^2]`` (the SECOND moment, so a
  non-zero mean such as sigmoid's counts). Backward, ``E[delta_l^2] = chi_l
  E[delta_(l+1)^2]`` with ``chi_l = Var[W_(l+1)] n_(l+1) E[f'(z_l)^2]``, n_(l+1) the
  number of units a unit of layer l feeds (fan_out of W_(l+1)). ``E[h_0^2]`` is the
  inputs' mean square and ``E[h_l^2] = E[f(z_l)^2]``. Exact for wide networks
  with i.i.d. zero-mean weights; in a linear network it coincides with ``glorot``.

Var[W_l] is the ACTUAL kernel's mean square, ``np.mean(W_l**2)``, not the
initializer's nominal variance: with width 5 a kernel holds 25 weights whose
sample variance differs noticeably from the nominal one, and using the
network's own weights isolates what the theory itself gets right or wrong.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np

from vanishing.stats import layer_attenuation

Activation = Callable[[np.ndarray], np.ndarray]

# Gaussian expectations by the trapezoid rule on a uniform grid of z / sqrt(q),
# not Gauss-Hermite: for smooth integrands with Gaussian tails both converge
# exponentially fast, but activations have kinks and their derivatives steps
# (relu at 0, hard_tanh at +-1, relu6 at 6, ...), where Gauss-Hermite's few
# central nodes carry large weights: with 101 nodes, E[1(z > 0)] comes out
# 0.438 instead of 0.5 (chi of relu off by 12 %) and P(|z| < 1) 0.727 instead
# of 0.683. On this grid a step costs at most half a cell's weight (< 0.1 %),
# and an EVEN number of symmetric nodes puts none at 0, so relu's kink is exact.
GRID_HALF_WIDTH = 10.0  # standard deviations; the mass beyond is 1.5e-23
GRID_NODES = 4000

# Where the linear regime's slope is read: one-sided, either side of 0.
SLOPE_OFFSET = 1e-6


def _standard_normal_rule() -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights for E[g(u)], u ~ N(0, 1)."""
    u = np.linspace(-GRID_HALF_WIDTH, GRID_HALF_WIDTH, GRID_NODES)
    weights = np.exp(-0.5 * u**2)
    return u, weights / weights.sum()  # sum = 1 exactly, so E[constant] is exact


_NODES, _WEIGHTS = _standard_normal_rule()


def gaussian_expectation(g: Activation, q: float) -> float:
    """E[g(z)] for z ~ N(0, q); q = 0 gives g(0), and a NaN q (an exploded forward pass) NaN."""
    if q < 0:
        raise ValueError(f"gaussian_expectation: variance q must be >= 0, got {q!r}")
    values = np.asarray(g(np.sqrt(q) * _NODES), dtype=np.float64)
    return float(np.dot(_WEIGHTS, values))


def gaussian_expectations(g: Activation, qs: Sequence[float]) -> list[float]:
    """gaussian_expectation(g, q) of each q, from ONE call of g on all their nodes (g element-wise).
    f' is TensorFlow's eager autodiff, whose calls cost more than their arithmetic: one call for
    all the layers instead of one each halved the workers' theory seconds (2.1 -> 1.0 s on the
    default preset), the sums the same bits."""
    qs = np.asarray(qs, np.float64)
    if not len(qs):
        return []
    if np.any(qs < 0):
        raise ValueError(f"gaussian_expectations: variances must be >= 0, got {qs.tolist()!r}")
    values = np.asarray(g(np.sqrt(qs)[:, None] * _NODES), dtype=np.float64).reshape(len(qs), -1)
    return [float(np.dot(_WEIGHTS, row)) for row in values]


def chi(fprime: Activation, q: float, weight_var: float, n: int) -> float:
    """Backward growth of the error's second moment through one layer: weight_var n E[f'(z)^2].

    z ~ N(0, q) is the pre-activation of the layer the error arrives at, weight_var
    and n the mean square and fan_out of the kernel it came back through (the
    number of terms in the backward sum). chi < 1 vanishes, chi > 1 explodes.
    """
    return chis(fprime, [q], [weight_var], [n])[0]


def chis(fprime: Activation, qs: Sequence[float], weight_vars: Sequence[float],
         ns: Sequence[int]) -> list[float]:
    """chi of several layers, from one call of fprime (gaussian_expectations)."""
    slope_ms = gaussian_expectations(lambda z: np.asarray(fprime(z), np.float64) ** 2, qs)
    return [weight_var * n * m for weight_var, n, m in zip(weight_vars, ns, slope_ms, strict=True)]


def linear_regime_slope_sq(fprime: Activation) -> float:
    """f'(0)^2 of the linear regime: the mean of the squared one-sided slopes at 0.

    Equal to f'(0)^2 for a smooth f; 1/2 for relu, whose f'(0) autodiff
    reports as 0 and which the linear regime would otherwise call dead.
    """
    slopes = np.asarray(fprime(np.array([-SLOPE_OFFSET, SLOPE_OFFSET])), dtype=np.float64)
    return float(np.mean(slopes**2))


def _check_shapes(kernels: Sequence[np.ndarray], X: np.ndarray) -> None:
    if len(kernels) < 1:
        raise ValueError("predict_grad_rms: no kernels")
    if X.ndim != 2 or X.shape[1] != kernels[0].shape[0]:
        raise ValueError(f"predict_grad_rms: X has shape {X.shape}; kernel 1 expects "
                         f"[n_samples, {kernels[0].shape[0]}]")
    for i, (a, b) in enumerate(itertools.pairwise(kernels), start=1):
        if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
            raise ValueError(f"predict_grad_rms: kernel {i} has shape {a.shape} and "
                             f"kernel {i + 1} {b.shape}; fan_out must equal the next fan_in")


def _normalised_rms(h_ms: Sequence[float], delta_ms: Sequence[float]) -> np.ndarray:
    """sqrt(E[h_(l-1)^2] E[delta_l^2]) per layer, divided by the output layer's.

    A theory that predicts no signal at all (an activation with f = 0 around 0)
    gives 0 / 0: NaN, not an error, so one odd activation does not stop a run.
    """
    grad_ms = np.asarray(h_ms, np.float64) * np.asarray(delta_ms, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt(grad_ms / grad_ms[-1])


def predict_grad_rms(f: Activation, fprime: Activation, kernels: Sequence[np.ndarray],
                     X: np.ndarray) -> dict[str, np.ndarray]:
    """Predicted RMS of dLoss/dW_l for layers 1..L, normalised so the output layer's is 1.

    ``kernels``: the initial kernels, kernel l of shape [fan_in, fan_out], the
    last one the output layer (no activation after it); biases are zero.
    ``X``: the inputs [n_samples, features]. Returns {"glorot": [L], "meanfield": [L]}.
    """
    kernels = [np.asarray(W, dtype=np.float64) for W in kernels]
    X = np.asarray(X, dtype=np.float64)
    _check_shapes(kernels, X)
    L = len(kernels)
    # The network's own weights, not the initializer's nominal variance (module docstring).
    weight_var = [float(np.mean(W**2)) for W in kernels]
    fan_in = [W.shape[0] for W in kernels]
    fan_out = [W.shape[1] for W in kernels]
    input_ms = float(np.mean(X**2))  # E[h_0^2]: mean over samples AND features

    # Index i is layer i + 1. h_ms[i] = E[h_i^2], the input of layer i + 1;
    # delta_ms[i] = E[delta_(i+1)^2], 1 at the logit (the common factor we drop).

    # --- Glorot & Bengio: linear regime ---
    slope_sq = linear_regime_slope_sq(fprime)
    h_ms = [input_ms]
    for i in range(L - 1):
        h_ms.append(h_ms[-1] * fan_in[i] * weight_var[i] * slope_sq)
    delta_ms = [1.0]
    for i in range(L - 2, -1, -1):
        delta_ms.insert(0, delta_ms[0] * fan_out[i + 1] * weight_var[i + 1] * slope_sq)
    glorot = _normalised_rms(h_ms, delta_ms)

    # --- mean field: Gaussian pre-activations, second moments through f ---
    def f_sq(z: np.ndarray) -> np.ndarray:
        return np.asarray(f(z), np.float64) ** 2

    q = [weight_var[0] * fan_in[0] * input_ms]  # = Var[W_1] sum_i E[x_i^2]
    h_ms = [input_ms]
    for i in range(L - 1):
        h_ms.append(gaussian_expectation(f_sq, q[i]))
        q.append(weight_var[i + 1] * fan_in[i + 1] * h_ms[-1])
    growth = chis(fprime, q[:L - 1], weight_var[1:], fan_out[1:])
    delta_ms = [1.0]
    for i in range(L - 2, -1, -1):  # hidden layer i + 1 receives from layer i + 2
        delta_ms.insert(0, delta_ms[0] * growth[i])
    meanfield = _normalised_rms(h_ms, delta_ms)

    return {"glorot": glorot, "meanfield": meanfield}


def predicted_attenuation(pred: np.ndarray) -> float:
    """stats.attenuation of a prediction per layer (the last entry is the output layer).

    The report measures attenuation on mean |gradient| rather than RMS; where a
    layer's gradient entries are Gaussian (the theories' own assumption) mean |g| =
    sqrt(2/pi) RMS, so the factor cancels in the ratio and the two are comparable.
    """
    pred = np.asarray(pred, dtype=np.float64)
    if pred.shape[0] < 2:
        raise ValueError("predicted_attenuation: needs at least one hidden layer and the output layer")
    return float(layer_attenuation(pred, pred.shape[0] - 1))


def scaled_predictions(f, fprime, arrays: dict[str, np.ndarray], X: np.ndarray) -> dict[str, np.ndarray]:
    """Each layer's per-example gradient RMS at init as theory predicts it (predict_grad_rms).

    Theory predicts ratios between layers, not the error at the logit; the
    predictions are scaled to the measured output layer, so layer by layer they
    read in the same units as ``grad_sample_rms``.
    """
    layers = arrays["grad_sample_rms"].shape[1]
    kernels = [arrays[f"kernel_{layer}"][0] for layer in range(1, layers + 1)]
    predicted = predict_grad_rms(f, fprime, kernels, X)
    scale = arrays["grad_sample_rms"][0, -1]
    return {f"theory_{name}_grad_rms": (values * scale).astype(np.float32)
            for name, values in predicted.items()}
