"""The results directory (DESIGN.md section 3): write it, read it, know what is done.

Layout::

    DIR/manifest.json          config as run, versions, platform, one entry per cell
    DIR/metrics.csv            tidy table, one row per (cell, epoch, layer)
    DIR/cells/<cell_id>.npz    the raw arrays of one cell
    DIR/data/<dataset_id>.npz  X and y as trained on

Each cell's npz is the unit of work: it is written atomically as soon as its
group has trained, and carries its own settings (``cell_json``), so an
interrupted run loses only the group in flight and the next run resumes.
``manifest.json`` and ``metrics.csv`` are derived from the cells at the end.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import socket
import tempfile
import time
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from vanishing import npz
from vanishing.stats import kernel_statistics, update_ratio

FORMAT = "vanishing-results"
# Bump only when a reader of version N could misread version N+1; adding keys,
# columns or npz arrays is not such a change (the contract only grows).
FORMAT_VERSION = 1

METRICS_COLUMNS: tuple[str, ...] = (
    "cell_id", "activation", "initializer", "depth", "width", "seed", "epoch", "layer",
    "loss", "accuracy",
    "weight_mean", "weight_std", "grad_mean", "grad_std", "grad_abs_mean", "grad_norm",
    "step_grad_abs_mean",
    # added by the saturation / learning-speed / optimizer / real-data study (issue 4)
    "act_mean", "act_std", "act_saturated_frac", "act_dead_frac", "update_ratio",
    "optimizer", "learning_rate", "dataset_id",
    # added by the recorder (issue 8): the recorded variable's Keras path; for matrix cells
    # hidden_<l>/kernel and output/kernel
    "layer_name",
)


class ResultsError(Exception):
    """A results directory that cannot be read: the message names the file."""


# A temporary file names the process writing it, so that a later run can tell one left by a
# killed writer (removed) from one a live writer is still filling (left alone):
# .<name>.vanishing-<pid>-<host>-<random>.tmp, host as a short hash of the host name.
HOST_ID = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]
_TEMP = re.compile(r"\..+\.vanishing-(?P<pid>\d+)-(?P<host>[0-9a-f]{8})-[a-z0-9_]+\.tmp")
# Before pids were in the name (.<name>.<random>.tmp): whose it is cannot be known, so only an old one goes.
_OLD_TEMP = re.compile(r"\..+\.(npz|json|csv|py|html)\.[a-z0-9_]{8}\.tmp")
# A temporary file lives for the seconds its write takes; one this old was left by a dead writer
# (on another host, or by a pid that is now someone else's).
STALE_TEMP_SECONDS = 3600.0


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; rename it over ``path`` only on success.

    A reader (or a crash) never sees a half-written file: either the old file
    or the complete new one. A kill -9 leaves the temporary file behind; its
    name lets ``remove_stale_temp`` recognise it later.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.vanishing-{os.getpid()}-{HOST_ID}-", suffix=".tmp",
                               dir=path.parent)
    os.close(fd)
    # mkstemp makes the file private (0600); give it the mode a plain open() would,
    # so a published page or shared results directory stays readable.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def pid_alive(pid: int) -> bool:
    """Whether a process of that pid runs on this host (a reused pid counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def stale_temp(path: Path, now: float | None = None) -> bool:
    """Whether ``path`` is a temporary file of ours whose writer is gone."""
    path = Path(path)
    try:
        age = (time.time() if now is None else now) - path.stat().st_mtime
    except FileNotFoundError:
        return False
    m = _TEMP.fullmatch(path.name)
    if m is not None:
        if m["host"] == HOST_ID and not pid_alive(int(m["pid"])):
            return True
        return age > STALE_TEMP_SECONDS
    return _OLD_TEMP.fullmatch(path.name) is not None and age > STALE_TEMP_SECONDS


def remove_stale_temp(directory: Path, subdirs: Iterable[str] = ("cells", "data", "factory")) -> list[Path]:
    """Remove the temporary files that killed writers left in ``directory`` and its ``subdirs``;
    never another file, never one a live writer is still filling. Returns those removed."""
    removed = []
    for folder in (Path(directory), *(Path(directory) / s for s in subdirs)):
        try:
            names = [e.name for e in os.scandir(folder) if e.name.endswith(".tmp")]
        except (FileNotFoundError, NotADirectoryError):
            continue
        for name in names:
            if stale_temp(folder / name):
                (folder / name).unlink(missing_ok=True)
                removed.append(folder / name)
    return removed


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_npz(path: Path, arrays: dict[str, Any], compressed: bool = True) -> None:
    """np.savez_compressed (np.savez: not ``compressed``), deflated faster (npz.write_all)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        npz.write_all(f, arrays, compressed)


# --- cells -------------------------------------------------------------------

# Cell ids, dataset ids and recorded runs' names are plain file names: a manifest naming
# "../x" or "/etc/x" must not make a reader open a file outside the results directory.
SAFE_NAME = re.compile(r"[A-Za-z0-9._+-]{1,200}")  # '+': a number's exponent (noise3.4e+38)


def safe_name(name: object) -> bool:
    return isinstance(name, str) and SAFE_NAME.fullmatch(name) is not None and name not in (".", "..")


def _checked(results_dir: Path, kind: str, name: str) -> str:
    if not safe_name(name):
        raise ResultsError(f"{Path(results_dir) / 'manifest.json'}: {kind} id {name!r} is not a plain file "
                           "name (letters, digits, '.', '_', '+', '-'); refused")
    return name


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def cell_path(results_dir: Path, cell_id: str) -> Path:
    return Path(results_dir) / "cells" / f"{_checked(results_dir, 'cell', cell_id)}.npz"


def write_cell(results_dir: Path, cell_info: dict[str, Any], arrays: dict[str, np.ndarray],
               compressed: bool = True) -> None:
    """Write one cell's arrays with its settings and status embedded as JSON."""
    payload = dict(arrays)
    payload["cell_json"] = np.array(json.dumps(cell_info, sort_keys=True))
    write_npz(cell_path(results_dir, cell_info["cell_id"]), payload, compressed)


@contextmanager
def open_cell(results_dir: Path, cell_id: str) -> Iterator[tuple[dict[str, Any], Mapping[str, np.ndarray]]]:
    """(settings, arrays) of one cell; arrays are read from disk only when accessed.

    A missing, corrupt or foreign file raises ResultsError naming it.
    """
    path = cell_path(results_dir, cell_id)
    try:
        f = open(path, "rb")  # noqa: SIM115 (closed below; np.load(path) leaks it on a bad file)
    except FileNotFoundError:
        raise ResultsError(f"{path}: missing (the manifest lists cell {cell_id!r})") from None
    except OSError as e:
        raise ResultsError(f"{path}: not a readable cell file ({e})") from None
    with f:
        try:
            z = np.load(f, allow_pickle=False)
        except Exception as e:  # zipfile.BadZipFile, ValueError, OSError, ...
            raise ResultsError(f"{path}: not a readable cell file ({e})") from None
        with z:
            if "cell_json" not in z.files:
                raise ResultsError(f"{path}: no 'cell_json' key; not written by vanishing")
            try:
                yield json.loads(str(z["cell_json"])), z
            except KeyError as e:
                raise ResultsError(f"{path}: array {e} missing") from None
            except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:  # read lazily
                raise ResultsError(f"{path}: not a readable cell file ({e})") from None


def read_cell(results_dir: Path, cell_id: str) -> dict[str, np.ndarray]:
    """All arrays of one cell (``cell_json`` decoded into ``cell_info``), read in one pass
    (npz.read_all: the renderer reads every array of every cell). Errors as ``open_cell``'s."""
    path = cell_path(results_dir, cell_id)
    try:
        with open(path, "rb") as f:
            arrays: dict[str, Any] = npz.read_all(f)
    except FileNotFoundError:
        raise ResultsError(f"{path}: missing (the manifest lists cell {cell_id!r})") from None
    except Exception as e:  # zipfile.BadZipFile, ValueError, OSError, zlib.error, EOFError, ...
        raise ResultsError(f"{path}: not a readable cell file ({e})") from None
    if "cell_json" not in arrays:
        raise ResultsError(f"{path}: no 'cell_json' key; not written by vanishing")
    try:
        arrays["cell_info"] = json.loads(str(arrays.pop("cell_json")))
    except ValueError as e:
        raise ResultsError(f"{path}: not a readable cell file ({e})") from None
    return arrays


def read_cell_info(results_dir: Path, cell_id: str) -> dict[str, Any] | None:
    """The settings a stored cell was trained with, or None when absent or unreadable."""
    try:
        with open(cell_path(results_dir, cell_id), "rb") as f, np.load(f, allow_pickle=False) as z:
            return json.loads(str(z["cell_json"]))
    except Exception:
        return None


# --- datasets ----------------------------------------------------------------

def dataset_path(results_dir: Path, dataset_id: str) -> Path:
    return Path(results_dir) / "data" / f"{_checked(results_dir, 'dataset', dataset_id)}.npz"


def write_dataset(results_dir: Path, dataset_id: str, X: np.ndarray, y: np.ndarray) -> str:
    """Write data/<dataset_id>.npz; the sha256 of the file's bytes (the manifest's npz_sha256)."""
    path = dataset_path(results_dir, dataset_id)
    write_npz(path, {"X": np.asarray(X, np.float32), "y": np.asarray(y, np.float32)})
    return file_sha256(path)


def read_dataset(results_dir: Path, dataset_id: str) -> tuple[np.ndarray, np.ndarray]:
    path = dataset_path(results_dir, dataset_id)
    try:
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as z:
            return z["X"], z["y"]
    except FileNotFoundError:
        raise ResultsError(f"{path}: missing (the manifest lists dataset {dataset_id!r})") from None
    except Exception as e:
        raise ResultsError(f"{path}: not a readable dataset file ({e})") from None


# --- manifest ----------------------------------------------------------------

def write_manifest(results_dir: Path, manifest: dict[str, Any]) -> None:
    body = {"format": FORMAT, "format_version": FORMAT_VERSION, **manifest}
    write_text(Path(results_dir) / "manifest.json", json.dumps(body, indent=1) + "\n")


def read_manifest(results_dir: Path) -> dict[str, Any]:
    """The manifest, checked for format and version; ResultsError names the file otherwise."""
    path = Path(results_dir) / "manifest.json"
    if not Path(results_dir).is_dir():
        raise ResultsError(f"{results_dir}: no such results directory "
                           "(run `vanishing train` first, or pass --results DIR)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(f"{path}: missing; is {results_dir} a results directory? "
                           "(run `vanishing train` to make one)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ResultsError(f"{path}: not valid JSON ({e})") from None
    found = manifest.get("format") if isinstance(manifest, dict) else None
    if found != FORMAT:
        raise ResultsError(f"{path}: key 'format' is {found!r}, expected {FORMAT!r}")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise ResultsError(f"{path}: key 'format_version' is {version!r}; this vanishing reads "
                           f"versions 1..{FORMAT_VERSION} (a newer vanishing wrote it?)")
    if not isinstance(manifest.get("cells"), list):
        raise ResultsError(f"{path}: key 'cells' is missing or not a list")
    return manifest


# --- metrics.csv -------------------------------------------------------------

# Per row: loss, accuracy, the kernel statistics, then the per-layer activation and update numbers.
_FLOATS = ("loss", "accuracy", "weight_mean", "weight_std", "grad_mean", "grad_std", "grad_abs_mean",
           "grad_norm", "step_grad_abs_mean", "act_mean", "act_std", "act_saturated_frac",
           "act_dead_frac", "update_ratio")


def _row_format(head: str, output_layer: bool, epoch0: bool) -> str:
    """A %-format for one row; %.0s prints an empty field: not applicable there."""
    empty = set()
    if epoch0:  # no step taken yet
        empty |= {"step_grad_abs_mean", "update_ratio"}
    if output_layer:  # the output logit has no activation
        empty |= {"act_mean", "act_std", "act_saturated_frac", "act_dead_frac"}
    # %.9g round-trips float32; NaN and inf are written as nan and inf.
    return head + ",%d,%d" + "".join(",%.0s" if f in empty else ",%.9g" for f in _FLOATS)


def cell_metric_lines(info: dict[str, Any], arrays: Mapping[str, np.ndarray]) -> list[str]:
    """The metrics.csv lines of one cell, computed from its stored arrays.

    Vectorised over epochs and formatted a row at a time with one ``%``: the
    default preset has ~300k rows, and per-value formatting took seconds.
    """
    depth = int(info["depth"])
    epochs, layers = arrays["loss"].shape[0], depth + 1
    stats = np.full((epochs, layers, len(_FLOATS)), np.nan, np.float64)
    column = {name: i for i, name in enumerate(_FLOATS)}
    stats[:, :, column["loss"]] = arrays["loss"][:, None]
    stats[:, :, column["accuracy"]] = arrays["accuracy"][:, None]
    stats[:, :, column["step_grad_abs_mean"]] = arrays["step_grad_abs_mean"]
    for name in ("act_mean", "act_std", "act_saturated_frac", "act_dead_frac"):
        stats[:, :depth, column[name]] = arrays[name]
    for name, values in kernel_statistics(arrays, layers).items():
        stats[:, :, column[name]] = values
    for layer in range(1, layers + 1):
        stats[:, layer - 1, column["update_ratio"]] = update_ratio(arrays[f"kernel_{layer}"])
    head = ",".join(_csv_field(str(info[k])) for k in
                    ("cell_id", "activation", "initializer", "depth", "width", "seed"))
    tail = "," + ",".join(_csv_field(str(info[k])) for k in ("optimizer", "learning_rate", "dataset_id"))
    formats = {(out, e0): _row_format(head, out, e0) + tail for out in (False, True) for e0 in (False, True)}
    names = [f",hidden_{layer}/kernel" for layer in range(1, depth + 1)] + [",output/kernel"]
    return [formats[(layer == depth, e == 0)] % (e, layer + 1, *stats[e, layer]) + names[layer]
            for e in range(epochs) for layer in range(layers)]


def _csv_field(text: str) -> str:
    if any(ch in text for ch in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def write_metrics(results_dir: Path, cell_ids: Iterable[str],
                  known: dict[str, list[str]] | None = None, extra: Iterable[str] = ()) -> str:
    """metrics.csv for the given cells, in that order, then the ``extra`` lines (rows kept as
    they are, e.g. a recorded run's); the sha256 of what it wrote (the manifest's metrics_sha256).

    ``known`` holds lines already computed (by the workers that trained those
    cells, from the arrays in memory); the others come from their npz files,
    reading only the arrays the table needs.
    """
    known = known or {}
    parts = [",".join(METRICS_COLUMNS)]
    for cell_id in cell_ids:
        if cell_id in known:
            parts.extend(known[cell_id])
            continue
        with open_cell(results_dir, cell_id) as (info, arrays):
            parts.extend(cell_metric_lines(info, arrays))
    parts.extend(extra)
    return write_metrics_text(results_dir, "\n".join(parts) + "\n")


def write_metrics_text(results_dir: Path, text: str) -> str:
    data = text.encode("utf-8")
    with atomic_path(Path(results_dir) / "metrics.csv") as tmp:
        tmp.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def read_metrics(results_dir: Path) -> dict[str, np.ndarray]:
    """metrics.csv as columns: strings for the labels, ints and floats for the rest."""
    path = Path(results_dir) / "metrics.csv"
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader)
            rows = list(reader)
    except FileNotFoundError:
        raise ResultsError(f"{path}: missing") from None
    except (OSError, UnicodeDecodeError, StopIteration, csv.Error) as e:
        raise ResultsError(f"{path}: not a readable CSV ({e!r})") from None
    missing = [c for c in METRICS_COLUMNS if c not in header]
    if missing:
        raise ResultsError(f"{path}: missing columns {missing}")
    cols = list(zip(*rows)) if rows else [()] * len(header)
    out: dict[str, np.ndarray] = {}
    for name, values in zip(header, cols):
        if name in ("cell_id", "activation", "initializer", "optimizer", "dataset_id", "layer_name"):
            out[name] = np.array(values, dtype=str)
        elif name in ("depth", "width", "seed") and not all(values):
            # a recorded run has no width, and depth and seed only when labelled: NaN there
            out[name] = np.array([float(v) if v else np.nan for v in values], dtype=np.float64)
        elif name in ("depth", "width", "seed", "epoch", "layer"):
            out[name] = np.array(values, dtype=np.int64)
        else:
            out[name] = np.array([float(v) if v else np.nan for v in values], dtype=np.float64)
    return out
