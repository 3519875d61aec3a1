"""A user's model factory: found from ``module:callable``, called per cell, its model checked.

    [model]
    factory = "mypackage.models:build"
    # build(activation, initializer, depth, width, input_shape, seed) -> keras.Model (uncompiled)

The module is imported from the current directory (put first on the import path, in
the workers too) and ``PYTHONPATH``. Every mistake is a FactoryError whose message
says what is wrong and what is allowed; config.py and runner.py add the file and key.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vanishing.experiment import Cell, FactorySpec

ARGUMENTS = ("activation", "initializer", "depth", "width", "input_shape", "seed")
SIGNATURE = "build(activation, initializer, depth, width, input_shape, seed) -> keras.Model"


class FactoryError(ValueError):
    """A factory that cannot be used; the message says why and what is allowed."""


def split_ref(ref: str) -> tuple[str, str]:
    """``"pkg.models:build"`` -> ("pkg.models", "build")."""
    module, sep, name = ref.partition(":")
    if not sep or not module.strip() or not name.strip() or ":" in name:
        raise FactoryError("expected 'module:callable', e.g. 'mypackage.models:build' (an import path, "
                           "a colon, the callable's name)")
    return module.strip(), name.strip()


def _import(module: str):
    """The module, imported with the current directory first on the import path."""
    from vanishing import zoo

    zoo.import_keras()  # the factory imports keras: TensorFlow's start-up chatter, muted once here
    here = os.getcwd()
    if here not in sys.path:
        sys.path.insert(0, here)
    importlib.invalidate_caches()  # a module written after this process started is found too
    try:
        return importlib.import_module(module)
    except Exception as e:  # ImportError, or whatever the module raises while it runs
        first = (str(e).strip().splitlines() or [""])[0]
        raise FactoryError(f"cannot import module {module!r} ({type(e).__name__}: {first}); it is "
                           f"looked for in the current directory ({here}) and on PYTHONPATH") from None


def resolve(ref: str) -> Callable[..., Any]:
    """The callable ``ref`` names, checked to take the six keyword arguments."""
    module_name, name = split_ref(ref)
    module = _import(module_name)
    fn: Any = module
    for part in name.split("."):
        if not hasattr(fn, part):
            raise FactoryError(f"module {module_name!r} has no attribute {name!r}")
        fn = getattr(fn, part)
    if not callable(fn):
        raise FactoryError(f"{name!r} in module {module_name!r} is a {type(fn).__name__}, not callable; "
                           f"expected a function {SIGNATURE}")
    try:
        inspect.signature(fn).bind(**{a: None for a in ARGUMENTS})
    except TypeError as e:
        raise FactoryError(f"{name!r} cannot be called with the keyword arguments {', '.join(ARGUMENTS)} "
                           f"({e}); expected {SIGNATURE}") from None
    except ValueError:
        pass  # a builtin without a signature: its first call will tell
    return fn


def spec(ref: str) -> FactorySpec:
    """The factory checked, with its module's source file and that file's hash."""
    resolve(ref)
    module = sys.modules[split_ref(ref)[0]]
    source = getattr(module, "__file__", None)
    if not source or not source.endswith(".py") or not Path(source).is_file():
        raise FactoryError(f"module {module.__name__!r} has no Python source file ({source}); the factory "
                           "must live in a .py file, which the results directory keeps a copy of")
    path = Path(source).resolve()
    return FactorySpec(ref, str(path), hashlib.sha256(path.read_bytes()).hexdigest())


def initializer_for(cell: Cell) -> Callable[[int], Any]:
    """``initializer(layer)``: a fresh Keras initializer for that layer, seeded exactly as the
    stacked engine seeds the built-in MLP's layer (a shared instance would give every layer the
    same weights: the tutorial's fourth pitfall)."""
    from vanishing import engine, zoo

    def initializer(layer: int):
        if isinstance(layer, bool) or not isinstance(layer, int) or layer < 1:
            raise ValueError(f"initializer(layer): layer must be an integer >= 1, got {layer!r}")
        return zoo.make_initializer(cell.initializer.name, cell.initializer.kwargs,
                                    engine.init_seed(cell.seed, layer))

    return initializer


def build(cell: Cell, input_shape: tuple[int, ...]):
    """The cell's model from the factory (keyword arguments), checked to be a Keras model."""
    import keras

    if cell.factory is None:
        raise ValueError("build: the cell has no factory (the built-in MLP trains in the stacked engine)")
    fn = resolve(cell.factory.ref)
    now = hashlib.sha256(Path(cell.factory.source).read_bytes()).hexdigest()
    if now != cell.factory.sha256:
        raise FactoryError(f"{cell.factory.source} changed since training started (sha256 "
                           f"{cell.factory.sha256[:12]} -> {now[:12]}); run again to train the edited one")
    try:
        model = fn(activation=cell.activation, initializer=initializer_for(cell), depth=cell.depth,
                   width=cell.width, input_shape=tuple(input_shape), seed=cell.seed)
    except Exception as e:
        raise FactoryError(f"calling it for activation={cell.activation!r}, initializer="
                           f"{cell.initializer.label!r}, depth={cell.depth}, width={cell.width}, "
                           f"input_shape={tuple(input_shape)} raised {type(e).__name__}: {e}") from e
    if not isinstance(model, keras.Model):
        raise FactoryError(f"it returned a {type(model).__module__}.{type(model).__name__}, not a "
                           "keras.Model; expected an uncompiled keras.Model")
    return model


def output_units(model, X, n_classes: int) -> int:
    """The model's logits per sample, checked against the data: 1 (two classes) or one per class."""
    sample = X[:2]
    try:
        out = model(sample, training=False)
    except Exception as e:
        first = (str(e).strip().splitlines() or [""])[0]
        raise FactoryError(f"its model does not take the data's inputs of shape {tuple(X.shape[1:])} "
                           f"per sample ({type(e).__name__}: {first})") from None
    shape = tuple(int(d) for d in getattr(out, "shape", ()))
    if len(shape) != 2 or shape[0] != len(sample):
        raise FactoryError(f"its model's output has shape {shape} for {len(sample)} samples; expected "
                           f"({len(sample)}, units): logits, 1 unit for two classes or one per class")
    units = shape[1]
    if not (units == n_classes or (units == 1 and n_classes == 2)):
        allowed = "1 (binary cross-entropy from the logit) or 2" if n_classes == 2 else str(n_classes)
        raise FactoryError(f"its model outputs {units} logits per sample; the data has {n_classes} "
                           f"classes, so {allowed} are allowed")
    return units
