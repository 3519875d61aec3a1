"""Corrupt results (issue 10): `render` refuses a results directory whose files are not what its
writers wrote, with exit 2 and one message naming the file, and leaves the previous page as it
was; `train` retrains a cell whose file cannot be reused, and says so.

The render tests start from copies of the one-cell ``small_results`` and render pages without
sections; the plan tests read a copy of ``smoke_results``. Nothing trains here but the test
marked slow.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vanishing import cli, integrity, runner
from vanishing import html as report_html
from vanishing.reader import load_run
from vanishing.results import ResultsError, cell_path, read_manifest
from vanishing.sections import SECTIONS


@pytest.fixture
def quick(monkeypatch):
    """Pages without sections: what is tested is whether a page is written at all."""
    real = report_html.build_page
    monkeypatch.setattr(report_html, "build_page", lambda run, sections=SECTIONS: real(run, ()))


def _manifest(d: Path) -> dict:
    return json.loads((d / "manifest.json").read_text(encoding="utf-8"))


def _edit_manifest(d: Path, edit: Callable[[dict], None]) -> None:
    m = _manifest(d)
    edit(m)
    (d / "manifest.json").write_text(json.dumps(m), encoding="utf-8")


def _cell_file(d: Path) -> Path:
    return cell_path(d, _manifest(d)["cells"][0]["cell_id"])


def _rewrite_cell(path: Path, change: Callable[[dict], None]) -> None:
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    change(arrays)
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _set_entry(key: str, value) -> Callable[[Path], str]:
    def corrupt(d: Path) -> str:
        named = repr(value) if key == "cell_id" else _cell_file(d).name
        _edit_manifest(d, lambda m: m["cells"][0].__setitem__(key, value))
        return named
    return corrupt


def _truncated_cell(d: Path) -> str:
    _truncate(_cell_file(d))
    return _cell_file(d).name


def _garbage_cell(d: Path) -> str:
    _cell_file(d).write_bytes(b"not a zip file at all" * 10)
    return _cell_file(d).name


def _missing_array(d: Path) -> str:
    _rewrite_cell(_cell_file(d), lambda a: a.pop("grad_kernel_3"))
    return "grad_kernel_3"


def _wrong_shape(d: Path) -> str:
    _rewrite_cell(_cell_file(d), lambda a: a.__setitem__("kernel_2", a["kernel_2"][:, :, :1]))
    return _cell_file(d).name


def _wrong_snapshot(d: Path) -> str:
    _rewrite_cell(_cell_file(d), lambda a: a.__setitem__("act_values_2", a["act_values_2"][:, :, :2]))
    return "'act_values_2'"


def _manifest_gone(d: Path) -> str:
    (d / "manifest.json").unlink()
    return "manifest.json"


def _manifest_not_json(d: Path) -> str:
    (d / "manifest.json").write_text('{"format": "vanishing-results", "cells": [', encoding="utf-8")
    return "manifest.json"


def _manifest_newer(d: Path) -> str:
    _edit_manifest(d, lambda m: m.__setitem__("format_version", 99))
    return "manifest.json"


def _metrics_gone(d: Path) -> str:
    (d / "metrics.csv").unlink()
    return "metrics.csv"


def _metrics_edited(d: Path) -> str:
    lines = (d / "metrics.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    lines[5] = lines[5].replace(",0.", ",1.", 1)  # one number, the file otherwise well-formed
    (d / "metrics.csv").write_text("".join(lines), encoding="utf-8")
    return "metrics.csv"


def _metrics_garbage_older(d: Path) -> str:
    """An older results directory keeps no sha256 of metrics.csv: its header is checked."""
    _edit_manifest(d, lambda m: m.pop("metrics_sha256"))
    (d / "metrics.csv").write_text("garbage,more\n1,2\n", encoding="utf-8")
    return "metrics.csv"


def _metrics_torn_older(d: Path) -> str:
    _edit_manifest(d, lambda m: m.pop("metrics_sha256"))
    text = (d / "metrics.csv").read_text(encoding="utf-8")
    (d / "metrics.csv").write_text(text[: len(text) // 2 + 7], encoding="utf-8")
    return "metrics.csv"


def _data_edited(d: Path) -> str:
    path = next((d / "data").glob("*.npz"))
    with np.load(path) as z:
        X, y = z["X"], z["y"]
    with open(path, "wb") as f:
        np.savez_compressed(f, X=X + 1, y=y)
    return f"data/{path.name}"


def _unsafe_dataset_id(d: Path) -> str:
    _edit_manifest(d, lambda m: m["datasets"][0].__setitem__("dataset_id", "../../outside"))
    return "'../../outside'"


CORRUPTIONS = {
    "truncated cell": _truncated_cell,
    "garbage cell": _garbage_cell,
    "cell missing an array": _missing_array,
    "cell with a wrong-shape array": _wrong_shape,
    "cell with a wrong-shape snapshot": _wrong_snapshot,
    "cell settings disagree": _set_entry("width", 7),
    "depth not a number": _set_entry("depth", "abc"),
    "cell id is an absolute path": _set_entry("cell_id", "/etc/passwd"),
    "cell id climbs out": _set_entry("cell_id", "../../outside"),
    "manifest missing": _manifest_gone,
    "manifest not JSON": _manifest_not_json,
    "manifest of a newer format": _manifest_newer,
    "metrics.csv missing": _metrics_gone,
    "metrics.csv edited": _metrics_edited,
    "metrics.csv garbage, older results": _metrics_garbage_older,
    "metrics.csv torn, older results": _metrics_torn_older,
    "data file edited": _data_edited,
    "dataset id climbs out": _unsafe_dataset_id,
}
# The file a message names when it is not in the results directory's own: an unsafe id is the
# manifest's fault.
NAMES = {"cell id is an absolute path": "manifest.json", "cell id climbs out": "manifest.json",
         "dataset id climbs out": "manifest.json"}


@pytest.mark.parametrize("corrupt", CORRUPTIONS, ids=list(CORRUPTIONS))
def test_render_refuses_corrupt_results_and_keeps_the_page(corrupt, quick, small_results, tmp_path, capsys):
    d, out = tmp_path / "results", tmp_path / "report"
    shutil.copytree(small_results, d)
    assert cli.main(["render", "--results", str(d), "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()

    named = CORRUPTIONS[corrupt](d)
    assert cli.main(["render", "--results", str(d), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vanishing: error: ") and err.count("\n") == 1, err
    assert named in err and "Traceback" not in err
    assert str(d / NAMES.get(corrupt, "")) in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_train_keeps_the_hashes_render_checks(smoke_results):
    m = read_manifest(smoke_results)
    assert m["metrics_sha256"] == hashlib.sha256((smoke_results / "metrics.csv").read_bytes()).hexdigest()
    assert m["datasets"] and all(len(e["npz_sha256"]) == 64 for e in m["datasets"])
    integrity.check_datasets(smoke_results, m)  # as written: no complaint


# --- train: a cell file that cannot be reused is trained again ---------------------------------

def test_every_cell_train_writes_passes_the_reuse_check(smoke_experiment, smoke_results):
    p = runner.plan(smoke_experiment, smoke_results)
    assert p.done == {c.cell_id for c in p.cells} and not p.groups and p.unreadable == ()


@pytest.mark.parametrize("corrupt", ["truncated", "garbage", "missing array", "wrong shape"])
def test_plan_trains_again_a_cell_it_cannot_reuse(corrupt, smoke_experiment, smoke_results, tmp_path):
    d = tmp_path / "results"
    shutil.copytree(smoke_results, d)
    cell_id = smoke_experiment.cells()[3].cell_id
    path = cell_path(d, cell_id)
    if corrupt == "truncated":
        _truncate(path)
    elif corrupt == "garbage":
        path.write_bytes(b"\0" * 100)
    elif corrupt == "missing array":
        _rewrite_cell(path, lambda a: a.pop("act_dead_frac"))
    else:
        _rewrite_cell(path, lambda a: a.__setitem__("grad_kernel_1", a["grad_kernel_1"][:-1]))
    p = runner.plan(smoke_experiment, d)
    assert p.unreadable == (cell_id,)
    # its group trains whole (grouping.py), the cells of it on disk are not written again
    assert [c.cell_id for g in p.groups for c in g if c.cell_id not in p.done] == [cell_id]
    assert p.done == {c.cell_id for c in p.cells} - {cell_id}


def test_a_missing_cell_is_not_called_unreadable(smoke_experiment, smoke_results, tmp_path):
    d = tmp_path / "results"
    shutil.copytree(smoke_results, d)
    cell_id = smoke_experiment.cells()[0].cell_id
    cell_path(d, cell_id).unlink()
    p = runner.plan(smoke_experiment, d)
    assert p.unreadable == ()
    assert [c.cell_id for g in p.groups for c in g if c.cell_id not in p.done] == [cell_id]


@pytest.mark.slow
def test_train_retrains_exactly_the_unreadable_cell_and_says_so(smoke_experiment, smoke_results, tmp_path,
                                                                 capsys):
    d = tmp_path / "results"
    shutil.copytree(smoke_results, d)
    cell_id = smoke_experiment.cells()[5].cell_id
    path = cell_path(d, cell_id)
    original = dict(np.load(cell_path(smoke_results, cell_id)))
    _rewrite_cell(path, lambda a: a.__setitem__("kernel_2", a["kernel_2"][:, :1]))
    assert cli.main(["train", "--preset", "smoke", "--results", str(d)]) == 0
    err = capsys.readouterr().err
    assert "trained again" in err and cell_id in err
    m = read_manifest(d)
    assert m["cells_trained"] == 1 and m["cells_reused"] == len(m["cells"]) - 1
    with np.load(path) as z:
        assert sorted(z.files) == sorted(original)
        for k in original:
            np.testing.assert_array_equal(z[k], original[k])
    assert (d / "metrics.csv").read_bytes() == (smoke_results / "metrics.csv").read_bytes()


# --- fuzz: whatever manifest.json holds, the reader answers or refuses -----------------------------

LEAF = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
JSON = (LEAF | st.lists(LEAF, max_size=3) | st.dictionaries(st.text(max_size=5), LEAF, max_size=3)
        | st.lists(st.dictionaries(st.text(max_size=5), LEAF, max_size=2), max_size=2))
TOP_KEYS = ["format", "format_version", "cells", "datasets", "matrices", "primary", "factory", "versions",
            "platform", "overrides", "train_seconds", "title", "metrics_sha256", "config"]
CELL_KEYS = ["cell_id", "depth", "width", "seed", "activation", "initializer", "status", "diverged_epoch",
             "learning_rate", "matrices", "source", "layers", "dataset_id"]
PART_KEYS = ["name", "classes", "shape", "n_samples", "n_features", "positive_fraction", "path", "npz_sha256",
             "depths", "activations", "initializers", "optimizer"]


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(where=st.sampled_from(["top", "cell", "dataset", "matrix"]),
       key=st.sampled_from(TOP_KEYS + CELL_KEYS + PART_KEYS), value=JSON)
def test_any_manifest_is_read_or_refused(where, key, value, small_results, tmp_path_factory):
    d = tmp_path_factory.getbasetemp() / "fuzz-manifest"
    if not d.exists():
        shutil.copytree(small_results, d)
    m = json.loads((small_results / "manifest.json").read_text(encoding="utf-8"))
    target = {"top": m, "cell": m["cells"][0], "dataset": m["datasets"][0],
              "matrix": (m.get("matrices") or [{}])[0]}[where]
    target[key] = value
    (d / "manifest.json").write_text(json.dumps(m), encoding="utf-8")
    try:
        run = load_run(d)
        integrity.check_metrics(d / "metrics.csv", (d / "metrics.csv").read_bytes(), run.manifest)
        integrity.check_datasets(d, run.manifest)
    except ResultsError:
        pass
