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

import copy
import math
import re
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from vanishing import datafile, zoo

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
    "preset_text", "read_source",
]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

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
# Numeric arguments of initializers and optimizers that must be > 0 or >= 0; the rest need only be finite.
POSITIVE_ARGS = frozenset({"stddev", "gain", "scale", "epsilon"})
NON_NEGATIVE_ARGS = frozenset({"momentum", "rho", "beta_1", "beta_2", "weight_decay",
                               "initial_accumulator_value"})
TOP_KEYS = ("title", "description", "data", "model", "train", "matrix")


class ConfigError(Exception):
    """A config a user wrote wrong: the message names the source, key, value and what is allowed."""


# --- loading -----------------------------------------------------------------

def preset_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("vanishing.presets").iterdir()
                  if p.name.endswith(".toml"))


def preset_text(name: str) -> str:
    names = preset_names()
    if name not in names:
        raise ConfigError(f"--preset: unknown preset {name!r}; allowed: {', '.join(names)}")
    return resources.files("vanishing.presets").joinpath(f"{name}.toml").read_text("utf-8")


def read_source(preset: str | None, config: Path | None) -> tuple[str, str]:
    """(source name for messages, TOML text) of a preset or a config file."""
    if config is not None:
        try:
            return str(config), Path(config).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"{config}: cannot read the config file ({e.__class__.__name__}: "
                              f"{getattr(e, 'strerror', None) or e})") from None
    name = preset or "default"
    return f"preset {name!r}", preset_text(name)


def parse_toml(source: str, text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{source}: not valid TOML ({e})") from None


_BARE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


def parse_set(item: str) -> tuple[list[str], Any]:
    """``train.epochs=5`` -> (["train", "epochs"], 5). Values are TOML; a bare word is a string."""
    key, sep, value = item.partition("=")
    path = key.strip().split(".")
    if not sep or not all(re.fullmatch(r"[A-Za-z0-9_\-]+", p) for p in path):
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE with a dotted key, "
                          "e.g. train.epochs=5 or matrix.main.seeds=[0,1]")
    try:
        return path, tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        if _BARE.match(value.strip()):
            return path, value.strip()
        raise ConfigError(f"--set {item!r}: value {value.strip()!r} is not a TOML value "
                          '(e.g. 5, 0.1, relu, "relu", [0, 1], { name = "sgd" })') from None


def apply_sets(raw: dict[str, Any], sets: list[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """raw with the overrides applied, and which dotted keys came from which --set."""
    raw = copy.deepcopy(raw)
    origin: dict[str, str] = {}
    for item in sets:
        path, value = parse_set(item)
        table = raw
        for i, part in enumerate(path[:-1]):
            table = table.setdefault(part, {})
            if not isinstance(table, dict):
                raise ConfigError(f"--set {item!r}: key {'.'.join(path[:i + 1])!r} is not a table")
        table[path[-1]] = value
        origin[".".join(path)] = f"--set {item}"
    return raw, origin


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
            if key == k or key.startswith((k + ".", k + "[")):
                where = f"{self.source}, overridden by {item}"
        return ConfigError(f"{where}: key {key!r} has value {value!r}; {allowed}")

    def table(self, value: Any, key: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, value, "expected a table")
        for k in value:
            if k not in allowed:
                raise self.fail(f"{key}.{k}" if key else k, value[k],
                                f"unknown key; allowed keys here: {', '.join(allowed) or 'none'}")
        return value

    def positive_int(self, value: Any, key: str, minimum: int = 1) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(key, value, f"expected an integer >= {minimum}")
        return value

    def number(self, value: Any, key: str, positive: bool = False, below: float | None = None) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.fail(key, value, "expected a finite number")
        if positive and not value > 0:
            raise self.fail(key, value, "expected a number > 0")
        if not positive and value < 0:
            raise self.fail(key, value, "expected a number >= 0")
        if below is not None and not value < below:
            raise self.fail(key, value, f"expected a number >= 0 and < {below}")
        return float(value)

    def finite(self, value: Any, key: str) -> float:
        if not math.isfinite(value):
            raise self.fail(key, value, "expected a finite number")
        return float(value)

    def text(self, value: Any, key: str) -> str:
        if not isinstance(value, str):
            raise self.fail(key, value, "expected a string")
        return value

    def nonempty_list(self, value: Any, key: str) -> list[Any]:
        if not isinstance(value, list) or not value:
            raise self.fail(key, value, "expected a non-empty list")
        return value

    def spec(self, value: Any, key: str, names: dict[str, tuple[str, ...]], what: str) -> Spec:
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
                raise self.fail(f"{key}.{arg}", v, f"{name} takes no argument {arg!r}; "
                                f"its arguments: {allowed}")
            choices = zoo.ARG_CHOICES.get((name, arg))
            if choices is not None and v not in choices:
                raise self.fail(f"{key}.{arg}", v, f"allowed: {', '.join(map(str, choices))}")
            if isinstance(v, (bool, str)):
                clean.append((arg, v))
            elif isinstance(v, (int, float)):
                clean.append((arg, self.number(v, f"{key}.{arg}", positive=arg in POSITIVE_ARGS)
                               if arg in POSITIVE_ARGS or arg in NON_NEGATIVE_ARGS
                               else self.finite(v, f"{key}.{arg}")))  # stddev=1 and 1.0: one cell
            else:
                raise self.fail(f"{key}.{arg}", v, "expected a number, string or boolean")
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
                args.append((k, self.positive_int(d[k], f"{key}.{k}", minimum=0)))
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
        seeds = [self.positive_int(v, f"{key}.seeds[{i}]", minimum=0)
                 for i, v in enumerate(self.nonempty_list(m["seeds"], f"{key}.seeds"))]
        if "optimizers" in m:
            trains = self.optimizers(m["optimizers"], f"{key}.optimizers", train)
        else:
            trains = (train,)
        if "data" in m:
            data = self.data(m["data"], f"{key}.data")
        return Matrix(name, *(tuple(dict.fromkeys(x)) for x in (activations, initializers, depths, seeds)),
                      tuple(dict.fromkeys(trains)), data)
