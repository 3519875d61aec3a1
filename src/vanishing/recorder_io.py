"""A recorded run in a results directory: its cell file, its manifest entry, its metrics rows.

Several processes may record into one directory (a user's parallel sweep), so the
shared files, manifest.json and metrics.csv, are read, changed and rewritten under
a short lock on DIR/.vanishing.lock, held for that read-modify-write only: a run
never holds it while it trains. Each file is still replaced atomically, so a
reader that takes no lock (``vanishing render``) sees the old or the new file.
"""

from __future__ import annotations

import csv
import datetime as dt
import fcntl
import hashlib
import io
import math
import os
import platform
import re
import shlex
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from vanishing import __version__, results

TOP_KEYS = frozenset({"title", "created", "vanishing_version", "versions", "platform", "command",
                      "matrices", "datasets", "cells"})
SAFE_RUN = re.compile(r"[A-Za-z0-9._-]{1,100}")
LOCK_NAME = ".vanishing.lock"
ACCURACY_NAMES = ("accuracy", "acc", "binary_accuracy", "sparse_categorical_accuracy",
                  "categorical_accuracy")
# The per-layer numbers of a recorded run's rows, in METRICS_COLUMNS order.
_LAYER_COLUMNS = ("weight_mean", "weight_std", "grad_mean", "grad_std", "grad_abs_mean", "grad_norm")
_ACT_COLUMNS = ("act_mean", "act_std", "act_saturated_frac", "act_dead_frac")


@contextmanager
def locked(directory: Path) -> Iterator[None]:
    """An exclusive lock on the directory's shared files, for one read-modify-write."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / LOCK_NAME, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@contextmanager
def reading(directory: Path) -> Iterator[None]:
    """A shared lock on the directory's shared files, to read them as one consistent whole: no
    recording's or train's write of manifest.json, metrics.csv and a run's cell lands half-way.
    The lock file is opened, never created, so a reader writes nothing (and reads a read-only
    directory): every writer creates it before its first write."""
    try:
        f = open(Path(directory) / LOCK_NAME)  # noqa: SIM115 (closed by the with below)
    except OSError:
        yield  # no writer has ever locked this directory (or it is missing: the reader says so)
        return
    with f:
        fcntl.flock(f, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def check_run_name(directory: Path, run: str, overwrite: bool) -> None:
    """ValueError for a name that is unsafe as a file name, or already taken without overwrite."""
    if not isinstance(run, str) or not SAFE_RUN.fullmatch(run):
        raise ValueError(f"run={run!r}: a run's name must be 1 to 100 characters from A-Z, a-z, "
                         "0-9, '.', '_' and '-' (it names the file cells/<run>.npz)")
    if run in (".", ".."):
        raise ValueError(f"run={run!r}: '.' and '..' are not allowed as a run's name")
    if overwrite:
        return
    taken = results.cell_path(directory, run).exists() or any(
        isinstance(c, dict) and c.get("cell_id") == run for c in _read_manifest(directory).get("cells", []))
    if taken:
        raise ValueError(f"run={run!r}: {directory} already holds a run or cell of that name; "
                         "choose another name or pass overwrite=True to replace it")


def _read_manifest(directory: Path) -> dict[str, Any]:
    """The manifest as found, or {} when there is none yet; an unreadable one is an error."""
    if not (Path(directory) / "manifest.json").exists():
        return {}
    return results.read_manifest(directory)


def new_manifest() -> dict[str, Any]:
    """The top-level keys of a directory the recorder creates."""
    from vanishing.run_description import device, versions

    return {
        "title": "Recorded runs",
        "created": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        "vanishing_version": __version__,
        "versions": versions(),
        "platform": {"system": platform.system(), "release": platform.release(),
                     "machine": platform.machine(), "python": sys.version.split()[0],
                     "cpu_count": os.cpu_count(), "device": device()},
        "command": shlex.join(sys.argv),
        "matrices": [],
        "datasets": [],
        "cells": [],
    }


def publish(directory: Path, entry: dict[str, Any], lines: list[str],
            arrays: Mapping[str, np.ndarray] | None = None) -> None:
    """Put this run's manifest entry and metrics rows in place, keeping everyone else's; with
    ``arrays``, its cell file too, under the same lock, so that a reader holding the lock
    (``render``) sees the cell and its rows of the same epoch."""
    with locked(directory):
        if arrays is not None:
            # Uncompressed: rewritten after every epoch, and zlib took 20 ms of it for ~10 % less
            # size (kernels and statistics are float noise to zlib).
            results.write_cell(directory, entry, dict(arrays), compressed=False)
        manifest = _read_manifest(directory)
        if not manifest:
            manifest = new_manifest()
        elif not manifest.keys() >= TOP_KEYS:
            # A directory made by `vanishing train` or another run keeps its own description.
            for key, value in new_manifest().items():
                manifest.setdefault(key, value)
        manifest.pop("metrics_sha256_next", None)  # a killed recording's announcement: stale now
        # Three writes, so that at every moment metrics.csv matches a hash the manifest holds: the
        # new one announced (the entry still the old one: rows never lag the manifest's epochs),
        # the file replaced, then the new entry with the new hash.
        text = _metrics_text(directory, entry["cell_id"], lines)
        results.write_manifest(directory, {**manifest, "metrics_sha256_next":
                                           hashlib.sha256(text.encode("utf-8")).hexdigest()})
        manifest["metrics_sha256"] = results.write_metrics_text(directory, text)
        manifest["cells"] = [*(c for c in manifest["cells"]
                               if not (isinstance(c, dict) and c.get("cell_id") == entry["cell_id"])), entry]
        results.write_manifest(directory, manifest)


def _metrics_rows(directory: Path, keep: Callable[[str], bool]) -> list[str]:
    """The metrics.csv rows whose cell_id ``keep`` accepts, mapped onto today's columns."""
    path = Path(directory) / "metrics.csv"
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None) or list(results.METRICS_COLUMNS)
        where = {name: i for i, name in enumerate(header)}
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        for row in reader:
            if row and keep(row[where.get("cell_id", 0)]):
                writer.writerow([row[where[c]] if c in where and where[c] < len(row) else ""
                                 for c in results.METRICS_COLUMNS])
    return buffer.getvalue().splitlines()


def _metrics_text(directory: Path, run: str, lines: list[str]) -> str:
    """metrics.csv with this run's rows replaced; other rows kept, mapped onto today's columns."""
    kept = _metrics_rows(directory, lambda cell_id: cell_id != run)
    return "\n".join([",".join(results.METRICS_COLUMNS), *kept, *lines]) + "\n"


def recorded_runs(directory: Path, exclude: frozenset[str] = frozenset()
                  ) -> tuple[list[dict[str, Any]], list[str]]:
    """The recorded runs' manifest entries and metrics.csv rows (but those named in ``exclude``):
    what `vanishing train`, which rewrites both files from its matrix cells, keeps. Call it
    under ``locked``."""
    try:
        manifest = _read_manifest(directory)
    except results.ResultsError:
        return [], []  # train overwrites an unreadable manifest; there is nothing to keep in it
    entries = [c for c in manifest.get("cells", []) if isinstance(c, dict) and c.get("source") == "keras"
               and c.get("cell_id") not in exclude]
    names = {str(c.get("cell_id")) for c in entries}
    return entries, _metrics_rows(directory, lambda cell_id: cell_id in names)


def accuracy_name(metric_names: list[str]) -> str | None:
    return next((n for n in ACCURACY_NAMES if n in metric_names), None)


def _field(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    return '"' + text.replace('"', '""') + '"' if any(ch in text for ch in ',"\n\r') else text


def _number(value: float, empty_when_nan: bool) -> str:
    value = float(value)
    return "" if empty_when_nan and math.isnan(value) else f"{value:.9g}"


def metric_lines(entry: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> list[str]:
    """A recorded run's metrics.csv rows, one per (epoch, recorded variable)."""
    head = ",".join(_field(entry[k]) for k in
                    ("cell_id", "activation", "initializer", "depth", "width", "seed"))
    tail = ",".join(_field(x) for x in (entry["optimizer"], entry["learning_rate"], entry.get("dataset_id")))
    # Each array read once: from a cell file (an NpzFile) every arrays[name] reads it from the zip again.
    arrays = {name: np.asarray(arrays[name]) for name in
              ("loss", "accuracy", *_LAYER_COLUMNS, *_ACT_COLUMNS, "update_ratio")}
    lines = []
    for epoch in range(arrays["loss"].shape[0]):
        for layer, info in enumerate(entry["layers"]):
            numbers = [_number(arrays["loss"][epoch], False), _number(arrays["accuracy"][epoch], True)]
            numbers += [_number(arrays[c][epoch, layer], False) for c in _LAYER_COLUMNS]
            numbers.append("")  # step_grad_abs_mean: a callback never sees fit's steps' gradients
            numbers += [_number(arrays[c][epoch, layer], True) for c in _ACT_COLUMNS]
            numbers.append(_number(arrays["update_ratio"][epoch, layer], True))
            lines.append(",".join([head, str(epoch), str(layer + 1), *numbers, tail, _field(info["path"])]))
    return lines


def json_safe(value: Any) -> Any:
    """A label value as JSON can hold it: numbers, strings, booleans and None as they are."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return str(value)


def label_int(value: Any) -> int | None:
    """depth and seed labels as integers; None when absent or not a whole number."""
    value = json_safe(value)
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() else None


