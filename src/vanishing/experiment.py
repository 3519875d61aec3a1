"""The plain data of an experiment: frozen dataclasses, shared by every module.

No parsing and no validation here (config.py makes these from TOML and checks
them), and no TensorFlow: the engine, the runner and the report all import
this module, whatever else they load.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

# Part of every cell's identity: bump when the engine's numbers for the same
# settings change, so stale results on disk are retrained rather than reused.
ENGINE_VERSION = 5


@dataclass(frozen=True)
class Spec:
    """A named Keras object with arguments: an initializer or an optimizer."""

    name: str
    args: tuple[tuple[str, Any], ...] = ()

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.args)

    @property
    def label(self) -> str:
        """``random_normal(stddev=1.0)``; the bare name when no arguments were given."""
        if not self.args:
            return self.name
        return f"{self.name}({', '.join(f'{k}={v}' for k, v in self.args)})"


@dataclass(frozen=True)
class DataSpec:
    name: str
    args: tuple[tuple[str, Any], ...] = ()  # in zoo.DATASETS order; a file's: path, label, sha256

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.args)

    @property
    def dataset_id(self) -> str:
        """``circles-n1000-noise0.1-factor0.5-seed0``; a real dataset is its name; a data file
        ``file-<stem>-<first 12 hex of its sha256>``, so an edited file is a new dataset."""
        if self.name == FILE:
            args = self.kwargs
            return file_dataset_id(str(args["path"]), str(args["sha256"]))
        short = {"n_samples": "n"}
        return "-".join([self.name, *(f"{short.get(k, k)}{v}" for k, v in self.args)])


# Up to this many hidden weights (a width-32 network of depth 4), every activation of a
# depth, width, dataset and training shares one compiled program (Cell.group_key).
SHARED_PROGRAM_WEIGHTS = 4096
FILE = "file"  # the dataset name of a user's data file ([data] name = "file")


def file_stem(path: str) -> str:
    """The file's name without its suffix, as [a-z0-9_] (at most 40 characters): a dataset id's middle."""
    stem = re.sub(r"[^a-z0-9]+", "_", PurePath(path).stem.lower()).strip("_")[:40].strip("_")
    return stem or "data"


def file_dataset_id(path: str, sha256: str) -> str:
    return f"{FILE}-{file_stem(path)}-{sha256[:12]}"


@dataclass(frozen=True)
class FactorySpec:
    """A user's model factory: ``module:callable``, and the source file it was found in."""

    ref: str
    source: str  # the module's source file, absolute
    sha256: str  # of that file's bytes: an edited factory makes new cells


@dataclass(frozen=True)
class TrainSpec:
    epochs: int
    batch_size: int
    optimizer: Spec
    learning_rate: float


@dataclass(frozen=True)
class Matrix:
    name: str
    activations: tuple[str, ...]
    initializers: tuple[Spec, ...]
    depths: tuple[int, ...]
    seeds: tuple[int, ...]
    trains: tuple[TrainSpec, ...]  # the optimizer axis; one entry when the matrix has none
    data: DataSpec


@dataclass(frozen=True)
class Cell:
    """One network of the matrix: everything that determines its numbers."""

    activation: str
    initializer: Spec
    depth: int
    width: int
    seed: int
    data: DataSpec
    train: TrainSpec
    matrices: tuple[str, ...] = field(default=(), compare=False)
    factory: FactorySpec | None = None  # None: the built-in MLP, trained by the stacked engine

    def settings(self) -> dict[str, Any]:
        # The factory's keys only when there is one: the built-in MLP's cells keep their ids.
        made_by = {} if self.factory is None else {"factory": self.factory.ref,
                                                   "factory_sha256": self.factory.sha256}
        return {
            "activation": self.activation,
            "initializer": self.initializer.label,
            "initializer_name": self.initializer.name,
            "initializer_args": self.initializer.kwargs,
            "depth": self.depth, "width": self.width, "seed": self.seed,
            "dataset_id": self.data.dataset_id,
            "optimizer": self.train.optimizer.label,
            "optimizer_name": self.train.optimizer.name,
            "optimizer_args": self.train.optimizer.kwargs,
            "learning_rate": self.train.learning_rate,
            "batch_size": self.train.batch_size,
            "epochs": self.train.epochs,
            **made_by,
        }

    @property
    def cell_id(self) -> str:
        """Readable, and unique per settings: a hash covers what the prefix leaves out."""
        digest = hashlib.sha1(
            json.dumps([ENGINE_VERSION, self.settings()], sort_keys=True).encode()
        ).hexdigest()[:8]
        init = re.sub(r"[^a-z0-9.]+", "_", self.initializer.label.lower()).strip("_")
        return f"{self.activation}-{init}-d{self.depth}-w{self.width}-s{self.seed}-{digest}"

    @property
    def group_key(self) -> tuple:
        """Cells with equal keys may train as one stacked model (DESIGN.md section 4; grouping.py
        splits them into groups of at most 100); a factory's cells train one model at a time,
        each its own group.

        Small networks of every activation share one model (stacked.PerCell): compiling its
        program is most of what such a group costs. Larger ones keep one model per activation,
        where the arithmetic is the cost and one group's memory stays what it was."""
        if self.factory is not None:
            return (self.cell_id,)
        shared = (self.depth, self.width, self.data, self.train)
        return shared if self.hidden_weights <= SHARED_PROGRAM_WEIGHTS else (self.activation, *shared)

    @property
    def hidden_weights(self) -> int:
        """Kernel weights past the first layer (the first's depend on the data's features)."""
        return self.width * self.width * (self.depth - 1) + self.width


@dataclass(frozen=True)
class Experiment:
    title: str
    description: str
    data: DataSpec
    width: int
    train: TrainSpec
    matrices: tuple[Matrix, ...]
    source: str
    raw: dict[str, Any] = field(compare=False, hash=False)
    factory: FactorySpec | None = None

    def cells(self) -> list[Cell]:
        """The union of the matrices' cells, in a stable order; a cell lists every matrix it is in."""
        found: dict[Cell, list[str]] = {}
        for m in self.matrices:
            for cell in (Cell(a, i, d, self.width, s, m.data, t) for t in m.trains for a in m.activations
                         for i in m.initializers for d in m.depths for s in m.seeds):
                found.setdefault(cell, []).append(m.name)
        return [Cell(c.activation, c.initializer, c.depth, c.width, c.seed, c.data, c.train,
                     tuple(names), self.factory) for c, names in found.items()]
