"""TOML -> frozen dataclasses: validation, ``--set`` overrides, matrix expansion into cells.

A config is plain data::

    title = "..."                 # shown on the report
    description = "..."           # one line, for `vanishing presets`
    [data]  name = "circles" | "moons" (n_samples, noise, factor, seed) | "breast_cancer" | "digits"
            | "file" (path: a .npz with X and y, or a .csv with label = "column"; datafile.py)
    [model] width, factory ("module:callable": your own Keras model, factory.py)
    [train] epochs, batch_size, optimizer (name or { name = ..., args }), learning_rate
    [matrix.<name>] activations, initializers (name or { name = ..., args }), depths, seeds,
                    optimizers (optional axis: name or { name = ..., learning_rate = ..., args }),
                    data (optional table: this matrix's dataset, replacing [data])

Missing keys take the tutorial's values (``DEFAULTS``). A config may hold several
matrices; its cells are their union. Nothing here imports TensorFlow, so a bad
config is refused in a fraction of a second, before anything is written.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from vanishing import datafile, zoo
from vanishing.config_text import (
    INT_LIMIT,
    ConfigError,
    apply_sets,
    parse_set,
    parse_toml,
    preset_names,
    preset_text,
    printable,
    read_source,
    shown,
)

# The dataclasses live in experiment.py (plain data, no parsing); re-exported so
# that config.Cell, config.Experiment, ... keep working for every reader.
from vanishing.experiment import (
    ENGINE_VERSION,
    FILE,
    Cell,
    DataSpec,
    Experiment,
    FactorySpec,
    Matrix,
    Spec,
    TrainSpec,
)

__all__ = [
    "ENGINE_VERSION", "Cell", "ConfigError", "DataSpec", "Experiment", "Matrix", "Spec", "TrainSpec",
    "Validator", "apply_sets", "load", "load_text", "parse_set", "parse_toml", "preset_names",
    "preset_text", "read_source", "shown",
]

DEFAULTS: dict[str, Any] = {
    "title": "The vanishing-gradient matrix",
    "description": "",
    "data": {"name": "circles"},
    "model": {"width": 5},
    "train": {"epochs": 100, "batch_size": 32, "optimizer": "rmsprop", "learning_rate": 0.001},
}
DATA_DEFAULTS: dict[str, dict[str, Any]] = {
    "circles": {"n_samples": 1000, "noise": 0.1, "factor": 0.5, "seed": 0},
    "moons": {"n_samples": 1000, "noise": 0.1, "seed": 0},
    "breast_cancer": {},
    "digits": {},
    "file": {},
}
MATRIX_DEFAULTS: dict[str, Any] = {"depths": [4], "seeds": [0]}
# numpy's and scikit-learn's random seeds are 32-bit (make_circles refuses 2**32).
SEED_LIMIT = 2**32
# Keras, the data and the engine compute in float32: a larger number is infinite there.
F32_MAX = datafile.F32_MAX
TOP_KEYS = ("title", "description", "data", "model", "train", "matrix")


def load(preset: str | None = None, config: Path | None = None, sets: list[str] | None = None) -> Experiment:
    return load_text(*read_source(preset, config), sets)


def load_text(source: str, text: str, sets: list[str] | None = None) -> Experiment:
    """An Experiment from TOML text (``source`` names it in messages) and --set overrides."""
    raw, origin = apply_sets(parse_toml(source, text), sets or [])
    return Validator(source, origin).experiment(raw)


# --- validation --------------------------------------------------------------

class Validator:
    """Turns a raw dict into an Experiment, or raises ConfigError naming source, key, value."""

    def __init__(self, source: str, origin: dict[str, str] | None = None) -> None:
        self.source = source
        self.origin = origin or {}
        self.files: dict[DataSpec, tuple[str, datafile.DataFile]] = {}  # data files read, by key

    def fail(self, key: str, value: Any, allowed: str) -> ConfigError:
        where = self.source
        for k, item in self.origin.items():
            # the key itself, a key below it, or a table a --set made a key in (--set x.y=1: 'x')
            if key == k or key.startswith((k + ".", k + "[")) or k.startswith(key + "."):
                where = f"{self.source}, overridden by {printable(item)}"
        return ConfigError(f"{where}: key {key!r} has value {shown(value)}; {allowed}")

    def table(self, value: Any, key: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, value, "expected a table")
        for k in value:
            if k not in allowed:
                raise self.fail(f"{key}.{k}" if key else k, value[k],
                                f"unknown key; allowed keys here: {', '.join(allowed) or 'none'}")
        return value

    def positive_int(self, value: Any, key: str, minimum: int = 1, limit: int = INT_LIMIT,
                     why: str = "") -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value < limit:
            raise self.fail(key, value, f"expected an integer >= {minimum} and < {limit}{why}")
        return value

    def seed(self, value: Any, key: str) -> int:
        return self.positive_int(value, key, minimum=0, limit=SEED_LIMIT,
                                 why=" (2**32: numpy's and scikit-learn's seeds are 32-bit)")

    def number(self, value: Any, key: str, positive: bool = False, below: float | None = None,
               at_most: float | None = None) -> float:
        """A number >= 0 (> 0 when ``positive``; < ``below``, <= ``at_most`` when given)."""
        value = self.finite(value, key)
        if positive and not value > 0:
            raise self.fail(key, value, "expected a number > 0")
        if not positive and value < 0:
            raise self.fail(key, value, "expected a number >= 0")
        if below is not None and not value < below:
            raise self.fail(key, value, f"expected a number >= 0 and < {below}")
        if at_most is not None and not value <= at_most:
            raise self.fail(key, value, f"expected a number >= 0 and <= {at_most}")
        return value

    def finite(self, value: Any, key: str) -> float:
        """A number float32 holds as a finite value (compared exactly: a 400-digit integer too)."""
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or (isinstance(value, float) and not math.isfinite(value)) or abs(value) > F32_MAX):
            raise self.fail(key, value, f"expected a finite number, at most {F32_MAX:.4g} in size "
                            "(training computes in float32)")
        return float(value)

    def text(self, value: Any, key: str) -> str:
        if not isinstance(value, str):
            raise self.fail(key, value, "expected a string")
        try:
            value.encode("utf-8")  # it goes into the manifest and the page, both UTF-8
        except UnicodeEncodeError:
            raise self.fail(key, value, "expected text without unpaired surrogates "
                            "(not valid Unicode)") from None
        return value

    def argument(self, value: Any, key: str, kind: str, choices: tuple[str, ...] | None) -> Any:
        """An initializer's or optimizer's argument, of the kind zoo's tables give it."""
        if kind == zoo.CHOICE:
            if not isinstance(value, str) or value not in (choices or ()):
                raise self.fail(key, value, f"allowed: {', '.join(choices or ())}")
            return value
        if kind == zoo.BOOL:
            if not isinstance(value, bool):
                raise self.fail(key, value, "expected a boolean, true or false (Keras takes a bool)")
            return value
        if kind == zoo.NUMBER:
            return self.finite(value, key)  # stddev=1 and 1.0: one cell
        return self.number(value, key, positive=kind == zoo.POSITIVE,
                           at_most=1.0 if kind == zoo.UNIT else None)

    def nonempty_list(self, value: Any, key: str) -> list[Any]:
        if not isinstance(value, list) or not value:
            raise self.fail(key, value, "expected a non-empty list")
        return value

    def spec(self, value: Any, key: str, names: dict[str, dict[str, str]], what: str) -> Spec:
        """A name, or a table { name = ..., arg = value, ... } of one of ``names``."""
        if isinstance(value, str):
            name, args = value, {}
        elif isinstance(value, dict):
            args = dict(value)
            name = args.pop("name", None)
            if not isinstance(name, str):
                raise self.fail(key, value, f"a {what} table needs a string 'name' key")
        else:
            raise self.fail(key, value, f"expected a {what} name or a table {{ name = ..., ... }}")
        if name not in names:
            raise self.fail(key, name, f"unknown {what}; allowed: {', '.join(names)}")
        clean: list[tuple[str, Any]] = []
        for arg, v in args.items():
            if arg not in names[name]:
                allowed = ", ".join(names[name]) or "none"
                raise self.fail(f"{key}.{arg}", v, f"{name} takes no argument {shown(arg)}; "
                                f"its arguments: {allowed}")
            kind = names[name][arg]
            clean.append((arg, self.argument(v, f"{key}.{arg}", kind, zoo.ARG_CHOICES.get((name, arg)))))
        return Spec(name, tuple(sorted(clean)))

    def experiment(self, raw: dict[str, Any]) -> Experiment:
        self.table(raw, "", TOP_KEYS)
        for k in ("data", "model", "train"):
            if k in raw and not isinstance(raw[k], dict):
                raise self.fail(k, raw[k], "expected a table")
        merged = {k: ({**v, **raw.get(k, {})} if isinstance(v, dict) else raw.get(k, v))
                  for k, v in DEFAULTS.items()}
        title = self.text(merged["title"], "title")
        description = self.text(merged["description"], "description")

        data = self.data(merged["data"], "data")
        model = self.table(merged["model"], "model", ("width", "factory"))
        width = self.positive_int(model["width"], "model.width")
        made_by = self.factory(model["factory"], "model.factory") if "factory" in model else None

        t = self.table(merged["train"], "train", ("epochs", "batch_size", "optimizer", "learning_rate"))
        train = TrainSpec(
            epochs=self.positive_int(t["epochs"], "train.epochs"),
            batch_size=self.positive_int(t["batch_size"], "train.batch_size"),
            optimizer=self.spec(t["optimizer"], "train.optimizer", zoo.OPTIMIZERS, "optimizer"),
            learning_rate=self.number(t["learning_rate"], "train.learning_rate", positive=True),
        )

        tables = raw.get("matrix")
        if not isinstance(tables, dict) or not tables:
            raise self.fail("matrix", tables, "expected at least one table [matrix.NAME] with "
                            "activations and initializers")
        matrices = tuple(self.matrix(n, m, data, train, made_by is not None) for n, m in tables.items())
        if made_by is None:
            self.check_mlp_data()
        return Experiment(title, description, data, width, train, matrices, self.source, raw, made_by)

    def factory(self, value: Any, key: str) -> FactorySpec:
        from vanishing import factory

        ref = self.text(value, key)
        try:
            return factory.spec(ref)
        except factory.FactoryError as e:
            raise self.fail(key, ref, str(e)) from None

    def check_mlp_data(self) -> None:
        """The built-in MLP has one logit over a flat feature vector: two classes, 2-D X."""
        for key, found in self.files.values():
            if found.n_classes != 2 or len(found.shape) != 1:
                raise self.fail(f"{key}.path", str(found.path),
                                f"the built-in MLP takes [samples, features] inputs and two classes; this "
                                f"file has inputs of shape {found.shape} per sample and {found.n_classes} "
                                "classes: name your own model, [model] factory = \"module:callable\"")

    def data_file(self, d: dict[str, Any], key: str) -> DataSpec:
        self.table(d, key, ("name", *zoo.DATASETS[FILE]))
        if "path" not in d:
            raise self.fail(f"{key}.path", None, "required with name = \"file\": a .npz (arrays X, y) "
                            "or a .csv (with label = \"COLUMN\")")
        path = self.text(d["path"], f"{key}.path")
        label = self.text(d["label"], f"{key}.label") if "label" in d else None
        try:
            found = datafile.read(path, label)
        except datafile.DataFileError as e:
            raise self.fail(f"{key}.path", path, str(e)) from None
        spec = DataSpec(FILE, (("label", label or ""), ("path", path), ("sha256", found.sha256)))
        self.files[spec] = (key, found)
        return spec

    def data(self, d: Any, key: str) -> DataSpec:
        d = dict(self.table(d, key, ("name", *{a for args in zoo.DATASETS.values() for a in args})))
        name = self.text(d.pop("name", "circles"), f"{key}.name")
        if name not in zoo.DATASETS:
            raise self.fail(f"{key}.name", name, f"unknown dataset; allowed: {', '.join(zoo.DATASETS)}")
        if name == FILE:
            return self.data_file(d, key)
        if self.origin.get(f"{key}.name"):
            # --set data.name=moons on a circles config: the config's circles-only
            # arguments (factor, ...) do not carry over; those set by --set do.
            d = {k: v for k, v in d.items() if k in zoo.DATASETS[name] or f"{key}.{k}" in self.origin}
        d = {**DATA_DEFAULTS[name], **d}
        self.table(d, key, zoo.DATASETS[name])
        args = []
        for k in zoo.DATASETS[name]:
            if k == "n_samples":
                args.append((k, self.positive_int(d[k], f"{key}.{k}", minimum=2)))
            elif k == "seed":
                args.append((k, self.seed(d[k], f"{key}.{k}")))
            else:  # noise; factor is the inner circle's radius over the outer's
                args.append((k, self.number(d[k], f"{key}.{k}", below=1.0 if k == "factor" else None)))
        return DataSpec(name, tuple(args))

    def optimizers(self, value: Any, key: str, default: TrainSpec) -> tuple[TrainSpec, ...]:
        trains = []
        for i, v in enumerate(self.nonempty_list(value, key)):
            learning_rate = default.learning_rate
            if isinstance(v, dict) and "learning_rate" in v:
                v = dict(v)
                learning_rate = self.number(v.pop("learning_rate"), f"{key}[{i}].learning_rate",
                                            positive=True)
            spec = self.spec(v, f"{key}[{i}]", zoo.OPTIMIZERS, "optimizer")
            trains.append(TrainSpec(default.epochs, default.batch_size, spec, learning_rate))
        return tuple(trains)

    def matrix(self, name: str, m: Any, data: DataSpec, train: TrainSpec, factory: bool = False) -> Matrix:
        key = f"matrix.{name}"
        self.text(name, key)  # a matrix's name goes into the manifest (UTF-8)
        m = {**MATRIX_DEFAULTS, **self.table(m, key, ("activations", "initializers", "depths", "seeds",
                                                       "optimizers", "data"))}
        for k in ("activations", "initializers"):
            if k not in m:
                raise self.fail(f"{key}.{k}", None, "required: a non-empty list")
        activations = []
        for i, a in enumerate(self.nonempty_list(m["activations"], f"{key}.activations")):
            if not isinstance(a, str) or a not in zoo.ACTIVATIONS:
                raise self.fail(f"{key}.activations[{i}]", a,
                                f"unknown activation; allowed (Keras names): {', '.join(zoo.ACTIVATIONS)}")
            activations.append(a)
        initializers = [self.spec(v, f"{key}.initializers[{i}]", zoo.INITIALIZERS, "initializer")
                        for i, v in enumerate(self.nonempty_list(m["initializers"], f"{key}.initializers"))]
        depths = [self.positive_int(v, f"{key}.depths[{i}]")
                  for i, v in enumerate(self.nonempty_list(m["depths"], f"{key}.depths"))]
        for i, v in enumerate(depths):
            if v < 2 and not factory:  # attenuation compares the first hidden layer with the last
                raise self.fail(f"{key}.depths[{i}]", v, "expected an integer >= 2 (attenuation "
                                "compares the first and the last hidden layer)")
        seeds = [self.seed(v, f"{key}.seeds[{i}]")
                 for i, v in enumerate(self.nonempty_list(m["seeds"], f"{key}.seeds"))]
        if "optimizers" in m:
            trains = self.optimizers(m["optimizers"], f"{key}.optimizers", train)
        else:
            trains = (train,)
        if "data" in m:
            data = self.data(m["data"], f"{key}.data")
        return Matrix(name, *(tuple(dict.fromkeys(x)) for x in (activations, initializers, depths, seeds)),
                      tuple(dict.fromkeys(trains)), data)
