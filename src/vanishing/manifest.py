"""The manifest's facts about a run as a whole, typed: its datasets, its matrices' axes, and
how it was made (provenance, with a model factory's source as copied beside the results).

Part of the one reader (vanishing.reader re-exports these types); what older manifests
lack is left empty here.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any


@dataclass(frozen=True)
class Dataset:
    dataset_id: str
    name: str  # "circles", "digits"...; "file" for a user's data file
    n_samples: int | None = None
    n_features: int | None = None  # the product of shape
    positive_fraction: float | None = None  # None with more than two classes
    shape: tuple[int, ...] = ()  # one sample's shape, e.g. (8, 8, 1); () when not recorded
    n_classes: int | None = None
    classes: tuple[str, ...] = ()
    path: str = ""  # a data file's path, as given in the config

    @property
    def title(self) -> str:
        """How the page names it: its name, or a data file's file name."""
        return PurePath(self.path).name if self.name == "file" and self.path else self.name


@dataclass(frozen=True)
class MatrixAxes:
    """One [matrix.NAME] table of the config as run."""

    name: str
    activations: tuple[str, ...]
    initializers: tuple[str, ...]
    depths: tuple[int, ...]


@dataclass(frozen=True)
class Provenance:
    """How the run was made, as its manifest records it (every field may be empty)."""

    title: str = ""
    created: str = ""  # ISO 8601, UTC
    vanishing_version: str = ""
    command: str = ""
    preset: str = ""  # empty for a config file
    overrides: tuple[str, ...] = ()
    config_toml: str = ""
    versions: tuple[tuple[str, str], ...] = ()
    platform: tuple[tuple[str, str], ...] = ()
    train_seconds: float | None = None
    factory: FactorySource | None = None  # None: the built-in MLP


@dataclass(frozen=True)
class FactorySource:
    """The model factory every network of a factory run was built by, and its source as copied
    into the results directory (``source`` empty and ``problem`` saying why when unreadable)."""

    ref: str  # "module:callable"
    sha256: str  # of the factory's source file when it trained
    file: str  # the copy, relative to the results directory
    source: str = ""
    problem: str = ""


def _int_or_none(x: Any) -> int | None:
    try:
        return int(x)
    except (TypeError, ValueError):
        return None


def _list(x: Any) -> list[Any]:
    """A list from the manifest; anything else (a hand-edited number, text, table) as empty."""
    return x if isinstance(x, list) else []


def read_datasets(manifest: dict[str, Any]) -> tuple[Dataset, ...]:
    out = []
    for d in _list(manifest.get("datasets")):
        if not isinstance(d, dict) or "dataset_id" not in d:
            continue
        fraction = d.get("positive_fraction")
        shape = d.get("shape") if isinstance(d.get("shape"), list) else []
        out.append(Dataset(str(d["dataset_id"]), str(d.get("name") or d["dataset_id"]),
                           _int_or_none(d.get("n_samples")), _int_or_none(d.get("n_features")),
                           float(fraction) if isinstance(fraction, (int, float)) else None,
                           shape=tuple(n for n in map(_int_or_none, shape) if n is not None),
                           n_classes=_int_or_none(d.get("n_classes")),
                           classes=tuple(map(str, _list(d.get("classes")))), path=str(d.get("path") or "")))
    return tuple(out)


def read_matrices(manifest: dict[str, Any]) -> tuple[MatrixAxes, ...]:
    out = []
    for m in _list(manifest.get("matrices")):
        if not isinstance(m, dict):
            continue
        depths = tuple(d for d in (_int_or_none(x) for x in _list(m.get("depths"))) if d is not None)
        out.append(MatrixAxes(str(m.get("name", "")), tuple(map(str, _list(m.get("activations")))),
                              tuple(map(str, _list(m.get("initializers")))), depths))
    return tuple(out)


def _pairs(d: Any) -> tuple[tuple[str, str], ...]:
    return tuple((str(k), str(v)) for k, v in d.items()) if isinstance(d, dict) else ()


def factory_source(results_dir: Path, given: Any) -> FactorySource | None:
    """The manifest's "factory" entry with the source of its copy; a copy that is missing, outside
    the results directory or unreadable is not fatal: ``problem`` says so."""
    if not isinstance(given, dict) or not given.get("ref"):
        return None
    ref, sha, file = str(given["ref"]), str(given.get("sha256") or ""), str(given.get("file") or "")
    found = FactorySource(ref, sha, file)
    root = results_dir.resolve()
    path = (results_dir / file).resolve()
    if not file or not path.is_relative_to(root):
        return dataclasses.replace(found, problem="the manifest names no copy of its source inside the "
                                                  "results directory")
    if not path.is_file():
        return dataclasses.replace(found, problem=f"its copy {file} is missing from the results directory")
    try:
        data = path.read_bytes()
        source = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        return dataclasses.replace(found, problem=f"its copy {file} could not be read "
                                                  f"({type(e).__name__})")
    if sha and hashlib.sha256(data).hexdigest() != sha:
        return dataclasses.replace(found, source=source, problem=f"its copy {file} does not match the "
                                   "sha256 recorded when it trained: it was changed since")
    return dataclasses.replace(found, source=source)


def read_provenance(m: dict[str, Any], results_dir: Path) -> Provenance:
    seconds = m.get("train_seconds")
    return Provenance(
        title=str(m.get("title") or ""), created=str(m.get("created") or ""),
        vanishing_version=str(m.get("vanishing_version") or ""), command=str(m.get("command") or ""),
        preset=str(m.get("preset") or ""), overrides=tuple(str(o) for o in _list(m.get("overrides"))),
        config_toml=str(m.get("config_toml") or ""), versions=_pairs(m.get("versions")),
        platform=_pairs(m.get("platform")),
        train_seconds=float(seconds) if isinstance(seconds, (int, float)) else None,
        factory=factory_source(results_dir, m.get("factory")))
