"""Is a results directory what its writers wrote? Checks of its files that are cheap enough to
run on every `train` (each reused cell's arrays, from the npz headers alone) and every `render`
(the cells against the manifest, metrics.csv and data/*.npz against the sha256 the manifest
keeps of them).

Each check returns a problem (text) or None, or raises ResultsError naming the file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from vanishing import __version__
from vanishing.results import METRICS_COLUMNS, ResultsError, dataset_path, file_sha256, read_manifest

Shapes = Mapping[str, tuple[int, ...]]

# The settings a cell file and its manifest entry must agree on (when both name them).
SETTINGS = ("cell_id", "activation", "initializer", "depth", "width", "seed", "dataset_id", "optimizer",
            "learning_rate", "epochs", "batch_size", "factory", "factory_sha256")
# What the recorder stores per (epoch, weight matrix); the reader and metrics.csv need each.
RECORDED = ("weight_mean", "weight_std", "grad_mean", "grad_std", "grad_abs_mean", "grad_norm",
            "update_ratio")
ACT = ("act_mean", "act_std", "act_saturated_frac", "act_dead_frac")


def npz_shapes(path: Path) -> Shapes:
    """Each array's shape in an npz file, from the headers of its members: the data itself is not
    read (nor decompressed). Raises OSError, ValueError, zipfile.BadZipFile... when unreadable."""
    shapes = {}
    with zipfile.ZipFile(path) as z:
        for member in z.infolist():
            if not member.filename.endswith(".npy"):
                continue
            with z.open(member) as f:
                version = np.lib.format.read_magic(f)
                read = {(1, 0): np.lib.format.read_array_header_1_0,
                        (2, 0): np.lib.format.read_array_header_2_0}.get(version)
                if read is None:
                    raise ValueError(f"array {member.filename[:-4]!r} has .npy format version {version}")
                shapes[member.filename[:-4]] = tuple(int(n) for n in read(f)[0])
    return shapes


def cell_file_problem(path: Path, info: Mapping[str, Any]) -> str | None:
    """What is wrong with a cell file whose settings (``cell_json``) are ``info``, or None when
    it opens and holds every array the reader and metrics.csv need, in consistent shapes."""
    try:
        shapes = npz_shapes(path)
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error) as e:
        return f"not a readable cell file ({e})"
    return arrays_problem(shapes, info, every=True)


def arrays_problem(shapes: Shapes, info: Mapping[str, Any], every: bool = False) -> str | None:
    """What is wrong with a cell's arrays (given as their shapes), or None. With ``every``, the
    arrays a later format added must be there too (train makes a reused cell's metrics.csv
    rows from them); without, only those present are checked (the reader: the contract grows)."""
    try:
        if info.get("source") in ("keras", "factory"):
            return _recorded_problem(shapes, len(info["layers"]), every)
        return _matrix_problem(shapes, int(info["depth"]), every)
    except (KeyError, TypeError, ValueError) as e:
        return f"bad cell settings ({e!r})"


def _shape_problem(shapes: Shapes, expected: Mapping[str, tuple[int, ...]]) -> str | None:
    missing = [k for k in expected if k not in shapes]
    if missing:
        return f"array{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))} missing"
    for key, shape in expected.items():
        if shapes[key] != shape:
            return f"array {key!r} has shape {list(shapes[key])}, expected {list(shape)}"
    return None


def _epochs(shapes: Shapes) -> int:
    if "loss" not in shapes:
        raise ValueError("array 'loss' missing")
    if len(shapes["loss"]) != 1:
        raise ValueError(f"array 'loss' has shape {list(shapes['loss'])}, expected [epochs+1]")
    return shapes["loss"][0]


def _matrix_problem(shapes: Shapes, depth: int, every: bool) -> str | None:
    try:
        e = _epochs(shapes)
    except ValueError as err:
        return str(err)
    layers = depth + 1
    expected: dict[str, tuple[int, ...]] = {"loss": (e,), "accuracy": (e,), "step_grad_abs_mean": (e, layers),
                                            **{k: (e, depth) for k in ACT if every or k in shapes}}
    fan_in = None
    for layer in range(1, layers + 1):
        kernel = shapes.get(f"kernel_{layer}")
        if kernel is None:
            return f"array 'kernel_{layer}' missing"
        if len(kernel) != 3 or kernel[0] != e or (fan_in is not None and kernel[1] != fan_in):
            return f"array 'kernel_{layer}' has shape {list(kernel)}, which does not fit the others"
        fan_in = kernel[2]
        expected[f"grad_kernel_{layer}"] = kernel
        if f"bias_{layer}" in shapes:
            expected[f"bias_{layer}"] = (e, kernel[2])
    for key in ("delta_rms", "grad_sample_rms"):
        if key in shapes:
            expected[key] = (e, layers)
    expected |= _snapshots(shapes, [shapes[f"kernel_{layer}"][2] for layer in range(1, layers + 1)])
    if all(k in shapes for k in ("boundary_x", "boundary_y", "boundary_logit")):
        expected["boundary_logit"] = (*shapes["boundary_y"][:1], *shapes["boundary_x"][:1])
    for key in ("theory_glorot_grad_rms", "theory_meanfield_grad_rms"):
        if key in shapes:
            expected[key] = (layers,)
    return _shape_problem(shapes, expected)


def _snapshots(shapes: Shapes, fan_outs: list[int]) -> dict[str, tuple[int, ...]]:
    """The shapes of the activation and delta snapshots, when stored: [snapshots, S, fan_out]."""
    if "act_snapshot_epochs" not in shapes or "act_sample_index" not in shapes:
        return {}
    n_s = (*shapes["act_snapshot_epochs"][:1], *shapes["act_sample_index"][:1])
    out = {f"delta_values_{layer}": (*n_s, fan_out) for layer, fan_out in enumerate(fan_outs, start=1)}
    out |= {f"act_values_{layer}": (*n_s, fan_out) for layer, fan_out in enumerate(fan_outs[:-1], start=1)}
    return {k: v for k, v in out.items() if k in shapes}


def _recorded_problem(shapes: Shapes, layers: int, every: bool) -> str | None:
    try:
        e = _epochs(shapes)
    except ValueError as err:
        return str(err)
    expected = {"loss": (e,), **{k: (e, layers) for k in RECORDED}}
    expected |= {k: (e, layers) for k in ACT if every or k in shapes}
    if every or "accuracy" in shapes:
        expected["accuracy"] = (e,)
    return _shape_problem(shapes, expected)


def settings_disagree(stored: Mapping[str, Any], entry: Mapping[str, Any]) -> str | None:
    """The first setting a cell file and its manifest entry both name with different values."""
    # A recording killed between its writes leaves its cell file an epoch ahead of its entry
    # (each file whole): its epoch count is not a setting there.
    moving = ("epochs",) if entry.get("source") == "keras" else ()
    for key in SETTINGS:
        if key in stored and key in entry and key not in moving and stored[key] != entry[key]:
            return (f"its settings disagree with the manifest's entry: {key!r} is {stored[key]!r} in the "
                    f"cell file, {entry[key]!r} in manifest.json")
    return None


# --- metrics.csv and data/*.npz, at render ------------------------------------------------

def check_metrics(path: Path, data: bytes, manifest: Mapping[str, Any], sha256: str | None = None) -> None:
    """ResultsError when metrics.csv is not the one its writer wrote: against the sha256 the
    manifest keeps of it, or (older results, without one) when it is not a table of its columns.
    ``sha256``: the data's, when the caller has it already."""
    recorded = manifest.get("metrics_sha256")
    if isinstance(recorded, str):
        # metrics_sha256_next: the file a recorder was replacing metrics.csv with when it stopped.
        allowed = {recorded, manifest.get("metrics_sha256_next")}
        if (sha256 or hashlib.sha256(data).hexdigest()) not in allowed:
            raise ResultsError(f"{path}: does not match the sha256 manifest.json records of it; it was "
                               "edited or replaced since it was written (run `vanishing train` again)")
        return
    try:
        header, short = _table_shape(data.decode("utf-8"))
    except (UnicodeDecodeError, StopIteration, csv.Error) as e:
        raise ResultsError(f"{path}: not a readable CSV ({e!r})") from None
    if header[:len(METRICS_COLUMNS[:17])] != list(METRICS_COLUMNS[:17]):
        raise ResultsError(f"{path}: its header is not vanishing's metrics columns "
                           f"({', '.join(METRICS_COLUMNS[:3])}, ...)")
    if short is not None:
        raise ResultsError(f"{path}: line {short} does not have the header's {len(header)} fields")


def unchanged_metrics(results_dir: Path, cell_ids: list[str]) -> str | None:
    """metrics.csv's sha256 when the file is the table a train that trained nothing would write
    again (3 s of reading 408 cells and formatting 88 MB, on the default preset): the manifest
    lists these very cells in this order, was written by this version, records the file's
    sha256 and no recording was half-way; else None (write it)."""
    try:
        manifest = read_manifest(results_dir)
        listed = [c.get("cell_id") for c in manifest.get("cells", [])]
        sha = manifest.get("metrics_sha256")
        if (listed != cell_ids or manifest.get("vanishing_version") != __version__ or not isinstance(sha, str)
                or manifest.get("metrics_sha256_next")):
            return None
        return sha if file_sha256(results_dir / "metrics.csv") == sha else None
    except (ResultsError, OSError, AttributeError):
        return None


def _table_shape(text: str) -> tuple[list[str], int | None]:
    """The CSV's header and the number of the first line whose field count differs, as
    csv.reader reads them. A table with no quotes, carriage returns or NULs (what vanishing
    writes) is split on its commas directly: 3x faster on the default preset's 88 MB."""
    if text[:1] in ("", "\n") or any(c in text for c in ('"', "\r", "\0")):
        rows = csv.reader(io.StringIO(text, newline=""))
        header = next(rows)
        return header, next((n for n, row in enumerate(rows, start=2) if row and len(row) != len(header)),
                            None)
    lines = text.split("\n")
    header, commas = lines[0].split(","), lines[0].count(",")
    rows = enumerate(lines[1:], start=2)
    return header, next((n for n, line in rows if line and line.count(",") != commas), None)


def check_datasets(results_dir: Path, manifest: Mapping[str, Any]) -> None:
    """ResultsError for a dataset id that is no plain file name, or a data/*.npz whose bytes do
    not match the sha256 (``npz_sha256``) the manifest keeps of it."""
    entries = manifest.get("datasets")
    for entry in entries if isinstance(entries, list) else ():
        if not isinstance(entry, dict) or "dataset_id" not in entry:
            continue
        path = dataset_path(results_dir, entry["dataset_id"])
        recorded = entry.get("npz_sha256")
        if not isinstance(recorded, str):
            continue
        try:
            found = file_sha256(path)
        except FileNotFoundError:
            raise ResultsError(f"{path}: missing (the manifest lists it, with its sha256)") from None
        except OSError as e:
            raise ResultsError(f"{path}: not readable ({e})") from None
        if found != recorded:
            raise ResultsError(f"{path}: does not match the sha256 manifest.json records of it; it was "
                               "edited or replaced since it was written (run `vanishing train` again)")
