"""Data files: good .npz and .csv files read as documented; every bad one -> one DataFileError."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vanishing import datafile
from vanishing.datafile import DataFileError
from vanishing.experiment import file_dataset_id


def write_npz(path: Path, **arrays: np.ndarray) -> Path:
    with open(path, "wb") as f:  # through a handle: savez would append .npz to any other suffix
        np.savez(f, **arrays)
    return path


def write_text(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def test_npz_table(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 3)), np.arange(20) % 2
    path = write_npz(tmp_path / "table.npz", X=X, y=y)
    d = datafile.read(path)
    assert d.X.dtype == np.float32 and d.y.dtype == np.int64
    np.testing.assert_array_equal(d.X, X.astype(np.float32))  # as stored: not standardised
    np.testing.assert_array_equal(d.y, y)
    assert d.classes == ("0", "1") and d.n_classes == 2 and d.shape == (3,) and d.feature_names == ()
    assert d.path == path and d.stem == "table"


def test_npz_images_keep_their_shape_and_float_labels_are_classes(tmp_path):
    X = np.arange(6 * 4 * 4 * 3, dtype=np.uint8).reshape(6, 4, 4, 3)
    y = np.array([[7.0], [1.0], [3.0], [1.0], [7.0], [3.0]])  # [n, 1]
    d = datafile.read(write_npz(tmp_path / "images.NPZ", X=X, y=y))
    assert d.X.shape == (6, 4, 4, 3) and d.shape == (4, 4, 3) and d.X.dtype == np.float32
    assert d.classes == ("1", "3", "7")
    np.testing.assert_array_equal(d.y, [2, 0, 1, 0, 2, 1])


def test_npz_labels_sort_numerically_and_text_as_text(tmp_path):
    X = np.ones((3, 2), dtype=bool)
    d = datafile.read(write_npz(tmp_path / "n.npz", X=X, y=np.array([10, 9, 2])))
    assert d.classes == ("2", "9", "10")  # as text, "10" < "2"
    np.testing.assert_array_equal(d.y, [2, 1, 0])
    d = datafile.read(write_npz(tmp_path / "t.npz", X=X, y=np.array(["dog", "ant", "cat"])))
    assert d.classes == ("ant", "cat", "dog")
    np.testing.assert_array_equal(d.y, [2, 0, 1])


CSV = """\ufeffsize,target,"weight, kg",const
1.5,malignant,10,3
2.5,benign,30,3

4.0,malignant,20,3
-1.0,benign,25,3
"""


def test_csv_features_are_z_scored_and_text_labels_sorted(tmp_path):
    path = write_text(tmp_path / "cancer.csv", CSV)
    d = datafile.read(str(path), label="target")
    assert d.path == path  # a str path is kept as given, as a Path
    assert d.feature_names == ("size", "weight, kg", "const")  # the byte-order mark is not a name
    assert d.classes == ("benign", "malignant")
    np.testing.assert_array_equal(d.y, [1, 0, 1, 0])
    assert d.X.dtype == np.float32 and d.X.shape == (4, 3) and d.y.dtype == np.int64
    raw = np.array([[1.5, 10], [2.5, 30], [4.0, 20], [-1.0, 25]])
    expected = (raw - raw.mean(axis=0)) / raw.std(axis=0)
    np.testing.assert_allclose(d.X[:, :2], expected, rtol=1e-6)
    np.testing.assert_allclose(d.X[:, :2].mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(d.X[:, :2].std(axis=0), 1, rtol=1e-6)
    np.testing.assert_array_equal(d.X[:, 2], 0)  # a constant column: centred only


def test_csv_constant_column_is_exactly_zero(tmp_path):
    # 0.1 ten times: its floating-point mean is not exactly 0.1, nor its std exactly 0.
    text = "a,y\n" + "".join(f"0.1,{i % 2}\n" for i in range(10))
    d = datafile.read(write_text(tmp_path / "c.csv", text), label="y")
    np.testing.assert_array_equal(d.X, 0)


def test_csv_numeric_labels(tmp_path):
    d = datafile.read(write_text(tmp_path / "n.csv", "y,x\n1,0.5\n0,0.25\n1.0,1\n"), label="y")
    assert d.classes == ("0", "1")  # 1 and 1.0 are one class
    np.testing.assert_array_equal(d.y, [1, 0, 1])
    assert d.feature_names == ("x",)


def test_sha256_and_dataset_id(tmp_path):
    path = write_npz(tmp_path / "h.npz", X=np.eye(2), y=np.array([0, 1]))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    d = datafile.read(path)
    assert d.sha256 == digest == datafile.file_sha256(path)
    assert file_dataset_id(str(d.path), d.sha256) == f"file-h-{digest[:12]}"
    assert file_dataset_id("data/mine.npz", "0123456789abcdef") == "file-mine-0123456789ab"


@pytest.mark.parametrize(("name", "stem"), [
    ("mine.npz", "mine"),
    ("My Data-Set (v2).csv", "my_data_set_v2"),
    ("__x__.npz", "x"),
    ("a.b.npz", "a_b"),
    ("Ünïcode.npz", "n_code"),
    ("---.csv", "data"),
    ("a" * 39 + "-b" + "c" * 20 + ".npz", "a" * 39),  # cut at 40 characters, then stripped of "_"
])
def test_stem(name, stem):
    d = datafile.DataFile(Path("dir") / name, "0" * 64, np.zeros((2, 1), np.float32),
                          np.array([0, 1]), ("0", "1"), ())
    assert d.stem == stem


def test_no_tensorflow():
    code = "import sys, vanishing.datafile; assert 'tensorflow' not in sys.modules, 'imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unreadable_file(tmp_path, monkeypatch):
    path = write_npz(tmp_path / "locked.npz", X=np.eye(2), y=np.array([0, 1]))

    def refuse(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(DataFileError, match="cannot read the file \\(Permission denied\\)") as e:
        datafile.read(path)
    assert str(path) in str(e.value)


# --- every bad input: (file name, how to write it, label, what the message must say) ----------

X4, Y4 = np.arange(8.0).reshape(4, 2), np.array([0, 1, 0, 1])


def nan_at(index: tuple[int, ...], value: float = np.nan) -> np.ndarray:
    X = X4.copy()
    X[index] = value
    return X


def corrupt_member(path: Path) -> None:
    write_npz(path, X=X4, y=Y4)
    data = bytearray(path.read_bytes())
    data[100:110] = b"\0" * 10  # inside X's member: its CRC check fails
    path.write_bytes(bytes(data))


def objects(path: Path) -> None:
    with open(path, "wb") as f:
        np.savez(f, X=X4, y=np.array(["a", 1, None, 2.0], dtype=object))


def csv(text: str):
    return lambda path: write_text(path, text)


def npz(**arrays: np.ndarray):
    return lambda path: write_npz(path, **arrays)


BAD = [
    ("missing", "nope.npz", lambda p: None, None, ["no such file"]),
    ("suffix", "d.txt", csv("a,b\n"), None, ["unsupported file type '.txt'", ".npz", ".csv"]),
    ("no suffix", "data", csv("a,b\n"), None, ["unsupported file type '(no suffix)'"]),
    ("directory", "d.npz", lambda p: p.mkdir(), None, ["is a directory"]),
    ("random bytes", "d.npz", lambda p: p.write_bytes(np.random.default_rng(0).bytes(500)), None,
     ["not a valid .npz", "not a zip archive"]),
    ("corrupt member", "d.npz", corrupt_member, None, ["array 'X' cannot be read"]),
    ("no X", "d.npz", npz(y=Y4, Z=X4), None, ["no array 'X'", "arrays: y, Z"]),
    ("no y", "d.npz", npz(X=X4), None, ["no array 'y'", "arrays: X"]),
    ("object array", "d.npz", objects, None, ["array 'y' is an object array", "not allowed"]),
    ("text X", "d.npz", npz(X=np.array([["a"], ["b"]]), y=Y4[:2]), None, ["'X' has dtype <U1", "float"]),
    ("rows", "d.npz", npz(X=X4, y=Y4[:3]), None, ["'X' has 4 rows but array 'y' has 3"]),
    ("1-D X", "d.npz", npz(X=np.arange(4.0), y=Y4), None, ["'X' has shape (4,)", "at least 2 dimensions"]),
    ("2-D y", "d.npz", npz(X=X4, y=np.zeros((4, 2))), None, ["'y' has shape (4, 2)", "[n] or [n, 1]"]),
    ("one row", "d.npz", npz(X=X4[:1], y=Y4[:1]), None, ["1 row(s); at least 2"]),
    ("label for npz", "d.npz", npz(X=X4, y=Y4), "y", ["label = 'y' is for a .csv only"]),
    ("nan X npz", "d.npz", npz(X=nan_at((2, 1)), y=Y4), None,
     ["array 'X' has 1 NaN or infinite value(s)", "row index 2"]),
    ("inf X npz", "d.npz", npz(X=nan_at((np.s_[1:], 0), -np.inf), y=Y4), None,
     ["array 'X' has 3 NaN or infinite value(s)", "row index 1"]),
    ("beyond float32", "d.npz", npz(X=nan_at((3, 0), 1e39), y=Y4), None,
     ["array 'X' has 1 value(s) beyond float32's range", "row index 3"]),
    ("nan label npz", "d.npz", npz(X=X4, y=np.array([0, 1, np.nan, 1])), None,
     ["array 'y' has 1 NaN or infinite value(s)", "row index 2"]),
    ("one class npz", "d.npz", npz(X=X4, y=np.ones(4)), None, ["found 1 class(es) ['1']", "at least 2"]),
    ("fractional label", "d.npz", npz(X=X4, y=np.array([0, 1, 0.37, 1])), None,
     ["label 0.37 in row index 2 is not a whole number", "integers or text"]),
    ("bytes labels", "d.npz", npz(X=X4, y=np.array([b"a", b"b", b"a", b"b"])), None, ["'y' has dtype |S1"]),
    ("no label arg", "d.csv", csv("a,b,target\n1,2,x\n"), None,
     ['a .csv needs label = "COLUMN"', "'a', 'b', 'target'"]),
    ("no label column", "d.csv", csv("a,b,target\n1,2,x\n"), "tgt",
     ["no column 'tgt'", "'a', 'b', 'target'"]),
    ("only label", "d.csv", csv("target\nx\ny\n"), "target", ["at least 1 feature column"]),
    ("not a number", "d.csv", csv("a,b,y\n1,2,0\n3,abc,1\n"), "y",
     ["column 'b', line 3 (data row 2): value 'abc' is not a number"]),
    ("missing value", "d.csv", csv("a,b,y\n1,,0\n3,4,1\n"), "y",
     ["column 'b', line 2 (data row 1): value ''"]),
    ("ragged", "d.csv", csv("a,b,y\n1,2,0\n3,1\n"), "y", ["line 3 has 2 field(s)", "header has 3"]),
    ("header only", "d.csv", csv("a,b,y\n"), "y", ["a header but no data rows"]),
    ("empty", "d.csv", csv(""), "y", ["empty file", "header row"]),
    ("not utf-8", "d.csv", lambda p: p.write_bytes(b"a,y\n\xff,1\n"), "y", ["not UTF-8 text (byte 4)"]),
    ("repeated column", "d.csv", csv("a,a,y\n1,2,0\n"), "y", ["the header repeats 'a'"]),
    ("nan X csv", "d.csv", csv("a,y\n1,0\n2,1\n\nnan,0\n"), "y",
     ["column 'a' has 1 NaN or infinite value(s)", "line 5 (data row 3)"]),
    ("inf X csv", "d.csv", csv("a,y\n1,0\n-inf,1\n"), "y", ["column 'a' has 1 NaN or infinite value(s)"]),
    ("nan label csv", "d.csv", csv("a,y\n1,0\n2,nan\n"), "y",
     ["label column 'y' has 1 NaN or infinite value(s)", "line 3 (data row 2)"]),
    ("no label csv", "d.csv", csv("a,y\n1,0\n2,\n"), "y", ["label column 'y': no label in line 3"]),
    ("one class csv", "d.csv", csv("a,y\n1,cat\n2,cat\n"), "y", ["found 1 class(es) ['cat']", "at least 2"]),
    ("fractional label csv", "d.csv", csv("a,y\n1,0\n2,0.5\n"), "y", ["label 0.5 in line 3 (data row 2)"]),
]


@pytest.mark.parametrize(("name", "write", "label", "fragments"),
                         [pytest.param(*case[1:], id=case[0]) for case in BAD])
def test_bad_file(tmp_path, name, write, label, fragments):
    path = tmp_path / name
    write(path)
    with pytest.raises(DataFileError) as e:
        datafile.read(path, label=label)
    message = str(e.value)
    assert message.startswith(f"{path}: ")
    for fragment in fragments:
        assert fragment in message
