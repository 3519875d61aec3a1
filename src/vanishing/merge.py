"""`vanishing merge OUT DIR...`: gather the cells of several results directories into one.

The normal case is the shards of one config (`train --shard K/N` on N machines): their
union is the directory one `vanishing train` would have written, cell for cell, row for
row and in the same order. What is refused (ResultsError, exit 2), before anything in OUT
is written:

- a DIR (or OUT) that is missing, or whose manifest or a listed cell or data file is
  missing or unreadable: the message names the file;
- directories made from different configs (config, matrices, primary study or factory
  source): the merged manifest has one config, one primary study and one rerun command,
  and the page is read through them. Directories holding only recorded Keras runs (no
  config) merge with any;
- a cell (or dataset) held by two directories that disagree: different settings or any
  array not equal. OUT's own cells count as one more directory, so merging into an OUT
  that already holds cells is allowed when they agree.

Only the cells a manifest lists are gathered: files a directory holds but its manifest
does not list (an interrupted run's, an older config's) are left behind.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vanishing import recorder_io, results
from vanishing.results import ResultsError

KERAS = "keras"  # the manifest's `source` of a run the Keras recorder wrote
FACTORY = "factory"
# What makes a directory's cells those of one config: equal in every directory merged.
STUDY_KEYS = ("config", "matrices", "primary", "factory")
# Top-level keys of an input's manifest that describe that one run, not the merge.
PER_RUN_KEYS = frozenset({"format", "format_version", "created", "command", "shard", "train_seconds",
                          "cells_trained", "cells_reused", "merged_from", "datasets", "cells"})
# A cell's (activation, initializer, depth, seed, optimizer, learning_rate, dataset_id): one
# cell of a config; the matrices in the manifest give their order.
ORDER_KEYS = ("activation", "initializer", "depth", "seed", "optimizer", "learning_rate", "dataset_id")


@dataclass(frozen=True)
class Source:
    """One directory to merge: where it is and its manifest as read."""

    directory: Path
    manifest: dict[str, Any]


@dataclass(frozen=True)
class Found:
    """A cell as found in one directory: its manifest entry and the settings its file carries."""

    directory: Path
    entry: dict[str, Any]
    info: dict[str, Any]


@dataclass(frozen=True)
class Merged:
    """What a merge did, for the command line's one-line summary."""

    cells: int  # matrix and factory cells in OUT
    recorded: int  # recorded Keras runs in OUT
    copied: int  # cell files OUT did not hold before
    config_cells: int  # cells in the config's matrices (0: no config)


def merge(out: Path, dirs: Sequence[Path], command: str = "") -> Merged:
    """Merge ``dirs`` (and what OUT already holds) into OUT; ResultsError before any write."""
    out = Path(out)
    sources = read_sources(out, dirs)
    check_one_study(sources)
    cells = gather_cells(out, sources)
    datasets = gather_datasets(out, sources)
    base = next((s.manifest for s in sources if _has_study(s.manifest)), sources[0].manifest)
    order = config_order(base)
    # In the order `vanishing train` writes them; a cell the matrices do not name stays as found.
    matrix = sorted((f for f in cells.values() if f.info.get("source") != KERAS),
                    key=lambda f: order.get(_order_key(f.entry), len(order)))
    recorded = [f for f in cells.values() if f.info.get("source") == KERAS]
    # Every array the table needs is read now, from the inputs: a corrupt file stops the
    # merge here, before OUT is touched.
    lines = {f.entry["cell_id"]: metric_lines(f) for f in matrix}
    rows = recorded_rows(sources, recorded)
    copied = copy_files(out, [*matrix, *recorded], datasets, sources)
    manifest = merged_manifest(base, sources, matrix + recorded, datasets, command)
    manifest["datasets"] = [with_data_hash(out, e) for e in manifest["datasets"]]
    with recorder_io.locked(out):
        sha = results.write_metrics(out, list(lines), known=lines, extra=rows)
        results.write_manifest(out, {**manifest, "metrics_sha256": sha})
    return Merged(len(matrix), len(recorded), copied, len(order))


def with_data_hash(out: Path, entry: dict[str, Any]) -> dict[str, Any]:
    """A dataset's entry with the sha256 of the copy OUT holds (the entry may be another input's)."""
    path = results.dataset_path(out, entry["dataset_id"])
    kept = {k: v for k, v in entry.items() if k != "npz_sha256"}
    return {**kept, "npz_sha256": results.file_sha256(path)} if path.exists() else kept


def merged_manifest(base: dict[str, Any], sources: Sequence[Source], cells: Sequence[Found],
                    datasets: dict[str, tuple[Path | None, dict[str, Any]]], command: str) -> dict[str, Any]:
    """OUT's manifest: the config and study as the inputs give them, the union of their cells and
    datasets (in the order train writes them), how OUT was made and from which runs."""
    used = {d: i for i, d in enumerate(dict.fromkeys(f.entry.get("dataset_id") for f in cells))}
    ordered = sorted(datasets.items(), key=lambda item: used.get(item[0], len(used)))
    provenance = merged_from(sources)
    seconds = [p["train_seconds"] for p in provenance if isinstance(p.get("train_seconds"), (int, float))]
    return {
        **{key: value for key, value in base.items() if key not in PER_RUN_KEYS},
        "created": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        "command": command,
        "datasets": [entry for _, (_, entry) in ordered],
        "train_seconds": round(sum(seconds), 3),  # machine time: the runs' own times added up
        "merged_from": provenance,
        "cells": [f.entry for f in cells],
    }


# --- reading and checking -----------------------------------------------------

def read_sources(out: Path, dirs: Sequence[Path]) -> list[Source]:
    """OUT first when it already holds a results directory, then each DIR once."""
    if out.exists() and not out.is_dir():
        raise ResultsError(f"{out}: exists and is not a directory (OUT must be a results directory "
                           "or a new one)")
    found: dict[Path, Path] = {}
    if (out / "manifest.json").exists():
        found[out.resolve()] = out
    for d in map(Path, dirs):
        found.setdefault(d.resolve(), d)
    sources = []
    for d in found.values():
        if not d.is_dir():  # read_manifest's own message would suggest --results, which merge has not
            raise ResultsError(f"{d}: no such results directory (each DIR is one `vanishing train` wrote)")
        manifest = results.read_manifest(d)  # names a missing or unreadable manifest
        for key, field in (("cells", "cell_id"), ("datasets", "dataset_id")):
            for entry in manifest.get(key) or []:
                name = entry.get(field) if isinstance(entry, dict) else None
                # The name becomes a file name in OUT: never a path that leaves OUT/cells or OUT/data.
                if not results.safe_name(name):
                    raise ResultsError(f"{d / 'manifest.json'}: key {key!r} holds an entry whose {field} is "
                                       f"{name!r}; expected letters, digits, '.', '_', '+' and '-'")
        sources.append(Source(d, manifest))
    return sources


def _has_study(manifest: dict[str, Any]) -> bool:
    """False for a directory of recorded Keras runs only: no config, nothing but recorded runs."""
    return "config" in manifest or any(c.get("source") != KERAS for c in manifest["cells"])


def check_one_study(sources: Sequence[Source]) -> None:
    studied = [s for s in sources if _has_study(s.manifest)]
    for s in studied[1:]:
        ref = studied[0]
        for key in STUDY_KEYS:
            where = first_difference(ref.manifest.get(key), s.manifest.get(key), key)
            if where is not None:
                path, ref_value, value = where
                raise ResultsError(
                    f"{s.directory / 'manifest.json'}: made from another config than "
                    f"{ref.directory / 'manifest.json'} (key {path!r}: {value!r} here, {ref_value!r} there); "
                    "merge gathers the shards of one config (and directories of recorded Keras runs)")


def first_difference(a: Any, b: Any, path: str) -> tuple[str, Any, Any] | None:
    """The dotted key where two JSON values first differ, and both values there; None if equal."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in [*a, *(k for k in b if k not in a)]:
            found = first_difference(a.get(key, "(missing)"), b.get(key, "(missing)"), f"{path}.{key}")
            if found is not None:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            found = first_difference(x, y, f"{path}[{i}]")
            if found is not None:
                return found
        return None
    return None if a == b else (path, a, b)


def gather_cells(out: Path, sources: Sequence[Source]) -> dict[str, Found]:
    """Every listed cell once, in the order found; a cell two directories hold must agree."""
    cells: dict[str, Found] = {}
    for s in sources:
        for entry in s.manifest["cells"]:
            cell_id = entry["cell_id"]
            with results.open_cell(s.directory, cell_id) as (info, _):  # missing or corrupt: named
                found = Found(s.directory, entry, info)
            if cell_id in cells:
                check_cells_agree(cell_id, cells[cell_id], found)
            else:
                cells[cell_id] = found
    for cell_id, found in cells.items():  # a file OUT holds without listing it is overwritten only if equal
        if results.cell_path(out, cell_id).exists() and not _same_dir(found.directory, out):
            with results.open_cell(out, cell_id) as (info, _):
                check_cells_agree(cell_id, found, Found(out, {}, info))
    return cells


def _same_dir(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


def check_cells_agree(cell_id: str, a: Found, b: Found) -> None:
    setting = first_difference(a.info, b.info, "settings")
    files = results.cell_path(a.directory, cell_id), results.cell_path(b.directory, cell_id)
    why = (f"{setting[0]} is {setting[1]!r} in the first, {setting[2]!r} in the second" if setting
           else _array_difference(*files))
    if why:
        raise ResultsError(f"cell {cell_id!r} differs between {a.directory} and {b.directory}: {why}; a "
                           "cell is merged only when every directory holding it agrees (keep it in one of "
                           "them, or retrain it in both with the same versions)")


def _array_difference(a: Path, b: Path) -> str:
    """How two cell files' arrays differ ("" when they do not): names, then dtype and shape,
    then values, NaN equal to NaN.

    Equal bytes are equal arrays (numpy's npz members carry no timestamps); unequal bytes need
    not mean unequal arrays (another zlib or numpy compresses differently): then every array is read.
    """
    if a.read_bytes() == b.read_bytes():
        return ""
    try:
        with np.load(a, allow_pickle=False) as x, np.load(b, allow_pickle=False) as y:
            if sorted(x.files) != sorted(y.files):
                return (f"the first holds arrays {sorted(set(x.files) - set(y.files))} the second does not, "
                        f"the second {sorted(set(y.files) - set(x.files))}")
            for key in x.files:
                u, v = x[key], y[key]
                if u.dtype != v.dtype or u.shape != v.shape:
                    return (f"array {key!r} is {u.dtype} {list(u.shape)} in the first, "
                            f"{v.dtype} {list(v.shape)} in the second")
                if not _equal(u, v):
                    return f"array {key!r} holds other values"
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise ResultsError(f"{a} or {b}: not a readable cell file ({e})") from None
    return ""


def gather_datasets(out: Path, sources: Sequence[Source]) -> dict[str, tuple[Path | None, dict[str, Any]]]:
    """dataset_id -> (the directory whose data file OUT gets, None when none has one; its entry).
    Two directories' files of one dataset must hold equal arrays."""
    datasets: dict[str, tuple[Path | None, dict[str, Any]]] = {}
    for s in sources:
        for entry in s.manifest.get("datasets") or []:
            dataset_id = entry["dataset_id"]
            where, first = datasets.get(dataset_id, (None, entry))
            if results.dataset_path(s.directory, dataset_id).exists():
                check_datasets_agree(dataset_id, where, s.directory)
                where = where or s.directory
            datasets[dataset_id] = (where, first)
    for dataset_id, (where, _) in datasets.items():  # a file OUT holds without listing it
        if where is not None and not _same_dir(where, out) and results.dataset_path(out, dataset_id).exists():
            check_datasets_agree(dataset_id, where, out)
    return datasets


def check_datasets_agree(dataset_id: str, a: Path | None, b: Path) -> None:
    """Reads b's data file (a corrupt one is named); refuses it when a's holds other arrays."""
    X, y = results.read_dataset(b, dataset_id)
    if a is None or _same_dir(a, b):
        return
    X0, y0 = results.read_dataset(a, dataset_id)
    if not (_equal(X0, X) and _equal(y0, y)):
        raise ResultsError(f"dataset {dataset_id!r} differs between {a} and {b} (data/{dataset_id}.npz: "
                           "X or y not equal); one dataset id must hold one dataset")


def _equal(u: np.ndarray, v: np.ndarray) -> bool:
    """Same dtype, shape and values; NaN equals NaN."""
    return u.dtype == v.dtype and u.shape == v.shape and np.array_equal(u, v, equal_nan=u.dtype.kind in "fc")


def config_order(manifest: dict[str, Any]) -> dict[str, int]:
    """Each cell of the config's matrices -> its place in the order `vanishing train` writes
    them (Experiment.cells: matrix, optimizer, activation, initializer, depth, seed)."""
    order: dict[tuple, int] = {}
    try:
        for m in manifest.get("matrices") or []:
            for t in m["optimizers"]:
                for a in m["activations"]:
                    for i in m["initializers"]:
                        for d in m["depths"]:
                            for s in m["seeds"]:
                                key = [a, i, d, s, t["optimizer"], t["learning_rate"], m["dataset_id"]]
                                order.setdefault(json.dumps(key), len(order))
    except (TypeError, KeyError):  # an older or hand-made manifest: the cells stay in the order found
        return {}
    return order


def _order_key(entry: dict[str, Any]) -> str:
    return json.dumps([entry.get(k) for k in ORDER_KEYS])  # as JSON: any value a manifest holds


# --- what OUT gets ------------------------------------------------------------

def metric_lines(found: Found) -> list[str]:
    """A cell's metrics.csv lines from its file: a factory cell's rows per recorded weight
    matrix (as runner.reused_factory_lines), a matrix cell's per layer."""
    with results.open_cell(found.directory, found.entry["cell_id"]) as (info, arrays):
        if info.get("source") == FACTORY:
            return recorder_io.metric_lines(info, arrays)
        return results.cell_metric_lines(info, arrays)


def recorded_rows(sources: Sequence[Source], recorded: Sequence[Found]) -> list[str]:
    """The metrics.csv rows of the recorded Keras runs, each from the directory it is taken from."""
    rows: list[str] = []
    for s in sources:
        mine = {f.entry["cell_id"] for f in recorded if _same_dir(f.directory, s.directory)}
        others = frozenset(c["cell_id"] for c in s.manifest["cells"] if c["cell_id"] not in mine)
        # No lock: an input may be read-only, and its files are replaced atomically anyway.
        rows += recorder_io.recorded_runs(s.directory, others)[1]
    return rows


def copy_files(out: Path, cells: Sequence[Found], datasets: dict[str, tuple[Path | None, dict[str, Any]]],
               sources: Sequence[Source]) -> int:
    """Copy into OUT the cell, data and factory files it does not hold yet; how many cells."""
    copied = 0
    for f in cells:
        cell_id = f.entry["cell_id"]
        copied += _copy(results.cell_path(f.directory, cell_id), results.cell_path(out, cell_id))
    for dataset_id, (where, _) in datasets.items():
        if where is not None:
            _copy(results.dataset_path(where, dataset_id), results.dataset_path(out, dataset_id))
    for s in sources:
        file = (s.manifest.get("factory") or {}).get("file")
        parts = Path(file).parts if isinstance(file, str) else ()
        # Only a copy train made (factory/<module>-<hash>.py): nothing outside OUT/factory.
        if len(parts) == 2 and parts[0] == "factory" and results.safe_name(parts[1]) \
                and (s.directory / file).is_file():
            _copy(s.directory / file, out / file)
    return copied


def _copy(source: Path, target: Path) -> int:
    """1 when copied; 0 when OUT already holds it (checked equal before) or it is the same file."""
    if target.exists():
        return 0
    with results.atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)
    return 1


def merged_from(sources: Sequence[Source]) -> list[dict[str, Any]]:
    """Each training run behind OUT once: an input that is itself a merge gives its own list."""
    runs: dict[str, dict[str, Any]] = {}
    for s in sources:
        m = s.manifest
        given = m.get("merged_from")
        entries = given if isinstance(given, list) else [{
            "results": str(s.directory), "command": m.get("command"), "created": m.get("created"),
            "shard": m.get("shard"), "cells": len(m["cells"]), "train_seconds": m.get("train_seconds"),
            "vanishing_version": m.get("vanishing_version"), "versions": m.get("versions"),
            "platform": m.get("platform")}]
        for e in entries:
            if isinstance(e, dict):  # one run = its command and when it ran
                runs.setdefault(json.dumps([e.get("command"), e.get("created")]), e)
    return list(runs.values())
