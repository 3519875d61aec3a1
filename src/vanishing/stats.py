"""The per-layer statistics, defined once: metrics.csv, the report and theory all use these.

Plain numpy on arrays shaped [epochs+1, ...]; nothing here reads or writes files.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

KERNEL_STATISTICS = ("weight_mean", "weight_std", "grad_mean", "grad_std", "grad_abs_mean", "grad_norm")


def attenuation(first_hidden: np.ndarray | float, last_hidden: np.ndarray | float) -> np.ndarray:
    """log10(gradient scale of the first hidden layer / that of the last hidden layer).

    The number the report is organised around. Negative: the layer nearest the
    input gets less gradient than the one nearest the output (vanishing); -2 is a
    hundredfold. A first layer whose gradient is exactly zero gives -inf; 0/0 NaN.
    """
    first = np.asarray(first_hidden, dtype=np.float64)
    last = np.asarray(last_hidden, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(first) - np.log10(last)


def layer_attenuation(per_layer: np.ndarray, depth: int) -> np.ndarray:
    """attenuation() of a [..., layers] array whose layers 1..depth are hidden (axis -1)."""
    per_layer = np.asarray(per_layer)
    return attenuation(per_layer[..., 0], per_layer[..., depth - 1])


def relative_change(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """||after - before|| / ||before|| over the last axis (entries flattened there)."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return np.linalg.norm(after - before, axis=-1) / np.linalg.norm(before, axis=-1)


def update_ratio(kernels: np.ndarray) -> np.ndarray:
    """||W_e - W_(e-1)|| / ||W_(e-1)|| per epoch (NaN at epoch 0): how far a layer moved."""
    k = kernels.reshape(kernels.shape[0], -1).astype(np.float64)
    out = np.full(k.shape[0], np.nan)
    out[1:] = relative_change(k[:-1], k[1:])
    return out


def matrix_statistics(kernel: np.ndarray, grad: np.ndarray) -> dict[str, np.ndarray]:
    """Each of KERNEL_STATISTICS over the last axis of a kernel and its gradient (float64,
    entries flattened there): one number per leading index, or one number for 1-D input."""
    k, g = np.asarray(kernel, np.float64), np.asarray(grad, np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        values = (k.mean(-1), k.std(-1), g.mean(-1), g.std(-1), np.abs(g).mean(-1),
                  np.sqrt((g * g).sum(-1)))
    return dict(zip(KERNEL_STATISTICS, values))


def kernel_statistics(arrays: Mapping[str, np.ndarray], layers: int) -> dict[str, np.ndarray]:
    """Each of KERNEL_STATISTICS as [epochs+1, layers], over each layer's kernel (biases excluded)."""
    out: dict[str, list[np.ndarray]] = {name: [] for name in KERNEL_STATISTICS}
    for layer in range(1, layers + 1):
        k, g = arrays[f"kernel_{layer}"], arrays[f"grad_kernel_{layer}"]
        per_epoch = matrix_statistics(np.reshape(k, (k.shape[0], -1)), np.reshape(g, (g.shape[0], -1)))
        for name, value in per_epoch.items():
            out[name].append(value)
    return {name: np.stack(values, axis=1) for name, values in out.items()}


def rms(values: np.ndarray) -> float:
    """sqrt(mean(x**2)) of every entry; NaN for an empty array."""
    v = np.asarray(values, dtype=np.float64)
    return float(np.sqrt(np.mean(v * v))) if v.size else float("nan")
