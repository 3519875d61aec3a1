"""A user's own dataset, read from a file: ``[data] name = "file"``, ``path = ...``.

A data file is either

- ``.npz`` (``numpy.savez``): array ``X``, bool, integer or float, [n, features...], kept in its
  shape (tables [n, d], images [n, h, w, c], sequences [n, t, d]), and array ``y``, the n labels,
  [n] or [n, 1]. Loaded without pickle: text labels must be a string array, not objects.
- ``.csv``: UTF-8, comma separated, a header row, one row per sample. ``label = "COLUMN"`` names
  the label column; every other column is a numeric feature, z-scored on the file's rows.

Labels are classes (this tool trains classifiers): integers (1.0 is the class "1") or text. The
classes are the sorted distinct labels, numbers numerically; a sample's class index is its
label's position among them. At least 2 rows and 2 classes; no NaN or infinite values.
Numpy and the standard library only: a bad file is refused before TensorFlow is even imported.
"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vanishing.experiment import file_stem

SUFFIXES = (".npz", ".csv")
F32_MAX = float(np.finfo(np.float32).max)
# What np.load and reading an .npz member raise on a damaged file.
NPZ_ERRORS = (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error)
RowName = Callable[[int], str]  # a row index -> how a message names that row
Labels = tuple[np.ndarray, tuple[str, ...]]  # class indices, classes
Arrays = tuple[np.ndarray, np.ndarray, tuple[str, ...], tuple[str, ...]]  # X, y, classes, feature names


class DataFileError(ValueError):
    """A data file that cannot be used: the message names the file, what is wrong and what is allowed."""


# eq=False: the default __eq__ would compare the arrays element-wise and fail on their truth value.
@dataclass(frozen=True, eq=False)
class DataFile:
    """A data file as read: features X, class indices y, and where they came from."""

    path: Path  # as given (not resolved)
    sha256: str  # hex digest of the file's bytes
    X: np.ndarray  # float32 [n, *shape]
    y: np.ndarray  # int64 class indices 0..k-1, [n]
    classes: tuple[str, ...]  # the original label of each class index, as text
    feature_names: tuple[str, ...]  # .csv: the feature columns' names; .npz: ()

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.X.shape[1:])

    @property
    def stem(self) -> str:
        """The file name without suffix as [a-z0-9_], at most 40 characters: part of a dataset id."""
        return file_stem(str(self.path))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read(path: str | Path, label: str | None = None) -> DataFile:
    """The data file at ``path`` (``label``: a .csv's label column), or a DataFileError."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataFileError(f"{path}: unsupported file type {path.suffix or '(no suffix)'!r}; "
                            "allowed: .npz (arrays X and y) or .csv (with label = \"COLUMN\")")
    # Parsed from the very bytes that are hashed, so the digest is of exactly what was trained on.
    data = _read_bytes(path)
    if suffix == ".npz":
        if label is not None:
            raise DataFileError(f"{path}: label = {label!r} is for a .csv only; "
                                "an .npz's labels are its array y")
        X, y, classes, names = _from_npz(path, data)
    else:
        X, y, classes, names = _from_csv(path, data, label)
    return DataFile(path, hashlib.sha256(data).hexdigest(), X, y, classes, names)


def _read_bytes(path: Path) -> bytes:
    if path.is_dir():
        raise DataFileError(f"{path}: is a directory; expected a .npz or .csv file")
    if not path.exists():
        raise DataFileError(f"{path}: no such file (looked for {path.absolute()})")
    try:
        return path.read_bytes()
    except OSError as e:
        raise DataFileError(f"{path}: cannot read the file ({e.strerror or e})") from None


# --- checks shared by both formats ---------------------------------------------

def _check_values(values: np.ndarray, what: str, row_name: RowName) -> None:
    """NaN, inf, or beyond float32's range (X is cast to float32): how many, and the first row."""
    if values.dtype.kind != "f":
        return  # bool and integers are finite and well inside float32's range
    flat = values.reshape(len(values), -1)
    bad, kind = ~np.isfinite(flat), "NaN or infinite value(s)"
    if not bad.any():
        bad, kind = np.abs(flat) > F32_MAX, f"value(s) beyond float32's range (|value| > {F32_MAX:.4g})"
    if bad.any():
        first = int(np.flatnonzero(bad.any(axis=1))[0])
        raise DataFileError(f"{what} has {int(bad.sum())} {kind}, the first in {row_name(first)}; "
                            "every value must be a finite number within float32's range")


def _classes(y: np.ndarray, what: str, row_name: RowName) -> Labels:
    """Labels -> (int64 class indices, the classes as text), the classes sorted."""
    if y.dtype.kind == "b":
        y = y.astype(np.int64)
    if y.dtype.kind == "f":
        _check_values(y, what, row_name)
        fractional = np.flatnonzero(y != np.floor(y))
        if fractional.size:
            i = int(fractional[0])
            raise DataFileError(f"{what}: label {float(y[i])!r} in {row_name(i)} is not a whole number; "
                                "labels must be classes (integers or text): this tool trains classifiers")
    elif y.dtype.kind not in "iuU":
        raise DataFileError(f"{what} has dtype {y.dtype}; labels must be integers, integer-valued "
                            "floats or text (a string array)")
    values, index = np.unique(y, return_inverse=True)
    as_text = str if y.dtype.kind == "U" else (lambda v: str(int(v)))  # 1.0 is the class "1"
    classes = tuple(as_text(v) for v in values)
    if len(classes) < 2:
        raise DataFileError(f"{what}: found {len(classes)} class(es) {list(classes)}; "
                            "at least 2 are needed to train a classifier")
    return index.reshape(-1).astype(np.int64), classes


# --- .npz ----------------------------------------------------------------------

def _npz_array(path: Path, npz: np.lib.npyio.NpzFile, name: str) -> np.ndarray:
    if name not in npz.files:
        raise DataFileError(f"{path}: no array {name!r}; an .npz needs arrays X (features) and y "
                            f"(labels); the file's arrays: {', '.join(npz.files) or 'none'}")
    try:
        array = npz[name]
    except NPZ_ERRORS as e:
        if "allow_pickle" in str(e):
            raise DataFileError(f"{path}: array {name!r} is an object array; object arrays are not "
                                "allowed (store numbers, or text as np.array(..., dtype=str))") from None
        raise DataFileError(f"{path}: array {name!r} cannot be read ({e})") from None
    if not isinstance(array, np.ndarray):
        raise DataFileError(f"{path}: member {name!r} is not a numpy array (.npy)")
    return array


def _from_npz(path: Path, data: bytes) -> Arrays:
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise DataFileError(f"{path}: not a valid .npz (not a zip archive); write one with "
                            "numpy.savez(path, X=..., y=...)")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            X, y = _npz_array(path, npz, "X"), _npz_array(path, npz, "y")
    except DataFileError:
        raise  # a ValueError too, but already says what is wrong
    except NPZ_ERRORS as e:
        raise DataFileError(f"{path}: not a valid .npz ({e})") from None
    if X.dtype.kind not in "biuf":
        raise DataFileError(f"{path}: array 'X' has dtype {X.dtype}; allowed: bool, integer or float")
    if X.ndim < 2 or 0 in X.shape[1:]:
        raise DataFileError(f"{path}: array 'X' has shape {X.shape}; expected [n, features...] with at "
                            "least 2 dimensions and at least 1 feature (one feature: X[:, None])")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.reshape(-1)
    if y.ndim != 1:
        raise DataFileError(f"{path}: array 'y' has shape {y.shape}; expected [n] or [n, 1]")
    if len(y) != len(X):
        raise DataFileError(f"{path}: array 'X' has {len(X)} rows but array 'y' has {len(y)}; "
                            "they must have the same number of rows")
    if len(X) < 2:
        raise DataFileError(f"{path}: {len(X)} row(s); at least 2 are needed")
    row_name = "row index {}".format
    _check_values(X, f"{path}: array 'X'", row_name)
    y, classes = _classes(y, f"{path}: array 'y'", row_name)
    return np.ascontiguousarray(X, dtype=np.float32), y, classes, ()


# --- .csv ----------------------------------------------------------------------

def _csv_rows(path: Path, data: bytes) -> tuple[list[str], list[list[str]], list[int]]:
    """(header, data rows, each row's line number): cells stripped, blank lines skipped."""
    try:
        text = data.decode("utf-8-sig")  # -sig: a byte-order mark (as Excel writes) is not a column name
    except UnicodeDecodeError as e:
        raise DataFileError(f"{path}: not UTF-8 text (byte {e.start}); save the .csv as UTF-8") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        for row in reader:
            if not row:
                continue
            cells = [c.strip() for c in row]
            if header is None:
                header = cells
            elif len(cells) != len(header):
                raise DataFileError(f"{path}: line {reader.line_num} has {len(cells)} field(s); "
                                    f"the header has {len(header)}: every row needs one per column")
            else:
                rows.append(cells)
                lines.append(reader.line_num)
    except csv.Error as e:
        raise DataFileError(f"{path}: not a valid .csv at line {reader.line_num} ({e})") from None
    if header is None:
        raise DataFileError(f"{path}: empty file; a .csv needs a header row of column names, then data rows")
    if not rows:
        raise DataFileError(f"{path}: a header but no data rows; a .csv needs at least 2 rows of data")
    duplicates = sorted({c for c in header if header.count(c) > 1})
    if duplicates:
        raise DataFileError(f"{path}: the header repeats {', '.join(map(repr, duplicates))}; "
                            "column names must be unique")
    return header, rows, lines


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _csv_numbers(what: str, values: list[str], row_name: RowName) -> np.ndarray:
    numbers = [_number(v) for v in values]
    if None in numbers:
        i = numbers.index(None)
        raise DataFileError(f"{what}, {row_name(i)}: value {values[i]!r} is not a number; every "
                            "column but the label column is a feature and must be numeric")
    return np.array(numbers, dtype=np.float64)


def _from_csv(path: Path, data: bytes, label: str | None) -> Arrays:
    header, rows, lines = _csv_rows(path, data)
    columns = ", ".join(map(repr, header))
    if label is None:
        raise DataFileError(f'{path}: a .csv needs label = "COLUMN" naming its label column; '
                            f"its columns: {columns}")
    if label not in header:
        raise DataFileError(f"{path}: no column {label!r} (the label); the header's columns: {columns}")
    j = header.index(label)
    features = [k for k in range(len(header)) if k != j]
    if not features:
        raise DataFileError(f"{path}: only the label column {label!r}; at least 1 feature column is needed")

    def row_name(i: int) -> str:
        return f"line {lines[i]} (data row {i + 1})"

    X = np.empty((len(rows), len(features)), np.float64)
    for c, k in enumerate(features):
        what = f"{path}: column {header[k]!r}"
        X[:, c] = _csv_numbers(what, [r[k] for r in rows], row_name)
        _check_values(X[:, c], what, row_name)
    labels = [r[j] for r in rows]
    if "" in labels:
        raise DataFileError(f"{path}: label column {label!r}: no label in {row_name(labels.index(''))}; "
                            "every row needs one")
    # All numbers: numeric classes (1 and 1.0 are one class); any text: every label is text.
    numbers = [_number(v) for v in labels]
    y = np.array(labels, dtype=str) if None in numbers else np.array(numbers, dtype=np.float64)
    y, classes = _classes(y, f"{path}: label column {label!r}", row_name)
    return _zscore(X), y, classes, tuple(header[k] for k in features)


def _zscore(X: np.ndarray) -> np.ndarray:
    """Each column to mean 0, std 1 (population std, as zoo.py standardises breast_cancer)."""
    # A constant column is only centred, to exactly 0: its std in floating point may be a tiny
    # rounding error rather than 0, and dividing by it would blow the rounding up to +-1.
    constant = (X[0] == X).all(axis=0)
    mean, std = X.mean(axis=0), np.where(constant, 1.0, X.std(axis=0))
    return np.where(constant, 0.0, (X - mean) / std).astype(np.float32)
