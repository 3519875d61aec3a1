"""`vanishing merge OUT DIR...`: the shards of a config merged equal one whole run (array for array,
row for row, in the same order), and every refusal (exit 2, one message naming the cell or file and
both directories), on fabricated or already trained cells: nothing here trains."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import fakes
import numpy as np
import pytest

from vanishing import cli, recorder_io, results, runner, shards
from vanishing.shards import Shard


def _fails(argv: list[str], capsys, *words: str) -> str:
    capsys.readouterr()  # what earlier commands of the test said
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("vanishing: error: ") and err.count("\n") == 1, err
    for word in words:
        assert word in err, (word, err)
    return err


def _merge(out: Path, *dirs: Path) -> None:
    assert cli.main(["merge", str(out), *map(str, dirs)]) == 0


def _arrays_equal(a: Path, b: Path, cell_id: str) -> None:
    x, y = results.read_cell(a, cell_id), results.read_cell(b, cell_id)
    assert x.keys() == y.keys()
    assert x.pop("cell_info") == y.pop("cell_info")
    for key in x:
        assert x[key].dtype == y[key].dtype, key
        np.testing.assert_array_equal(x[key], y[key], err_msg=f"{cell_id}: {key}")


def _same_results(whole: Path, merged: Path) -> None:
    """Every cell array for array, every dataset, metrics.csv byte for byte, the manifest's study."""
    w, m = results.read_manifest(whole), results.read_manifest(merged)
    assert m["cells"] == w["cells"]  # entries and their order
    for key in ("datasets", "matrices", "primary", "config", "preset", "overrides", "title"):
        assert m.get(key) == w.get(key), key
    for entry in w["cells"]:
        _arrays_equal(whole, merged, entry["cell_id"])
    for d in w["datasets"]:
        dataset_id = d["dataset_id"]
        for u, v in zip(results.read_dataset(whole, dataset_id), results.read_dataset(merged, dataset_id)):
            np.testing.assert_array_equal(u, v)
    assert (merged / "metrics.csv").read_bytes() == (whole / "metrics.csv").read_bytes()


def _shard_dirs(smoke_results: Path, experiment, tmp_path: Path, count: int) -> list[Path]:
    """`train --shard K/N` into directories already holding the shard's cells (copied from the
    whole run): train writes the shard's data, manifest and metrics.csv exactly as after training."""
    dirs = []
    for k in range(1, count + 1):
        d = tmp_path / f"shard-{k}"
        mine = shards.select(experiment.cells(), Shard(k, count))
        for c in mine:
            target = results.cell_path(d, c.cell_id)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(results.cell_path(smoke_results, c.cell_id), target)
        m = runner.train(experiment, d, command=f"vanishing train --preset smoke --shard {k}/{count}",
                         preset="smoke", progress=False, shard=Shard(k, count))
        assert (m["cells_trained"], m["shard"]) == (0, {"index": k, "count": count})
        assert [e["cell_id"] for e in m["cells"]] == [c.cell_id for c in mine]
        assert set(results.read_metrics(d)["cell_id"]) == {c.cell_id for c in mine}
        dirs.append(d)
    return dirs


def test_shards_merged_equal_the_whole_run(smoke_results, smoke_experiment, tmp_path, capsys):
    parts = _shard_dirs(smoke_results, smoke_experiment, tmp_path, 3)
    assert {len(results.read_manifest(d)["datasets"]) for d in parts} != {2}  # not every shard has both
    out = tmp_path / "merged"
    _merge(out, parts[2], parts[0], parts[1])  # any order
    total = len(smoke_experiment.cells())
    assert f"{out}: {total} cells from 3 directories ({total} copied)" in capsys.readouterr().err
    _same_results(smoke_results, out)
    m = results.read_manifest(out)
    assert m["command"] == f"vanishing merge {out} {parts[2]} {parts[0]} {parts[1]}"
    assert [p["shard"] for p in m["merged_from"]] == [{"index": k, "count": 3} for k in (3, 1, 2)]
    assert m["train_seconds"] == pytest.approx(sum(p["train_seconds"] for p in m["merged_from"]), abs=1e-3)
    assert "shard" not in m and "cells_trained" not in m
    # again into the same OUT (and OUT itself given as a DIR): nothing copied, nothing changes,
    # each training run named once
    _merge(out, out, *parts)
    assert f"{total} cells from 4 directories (0 copied)" in capsys.readouterr().err
    _same_results(smoke_results, out)
    assert len(results.read_manifest(out)["merged_from"]) == 3


def test_a_missing_shard_is_said(smoke_results, smoke_experiment, tmp_path, capsys):
    parts = _shard_dirs(smoke_results, smoke_experiment, tmp_path, 2)
    out = tmp_path / "merged"
    _merge(out, parts[0])
    n = len(shards.select(smoke_experiment.cells(), Shard(2, 2)))
    total = len(smoke_experiment.cells())
    assert f"; {n} of the config's {total} cells are in none of them" in capsys.readouterr().err
    _merge(out, parts[1])  # the rest later, into the same OUT
    _same_results(smoke_results, out)


# --- fabricated directories: a factory run's 16 cells (tests/fakes.py), split in two ------------

def _factory_parts(tmp_path: Path) -> tuple[Path, Path, Path]:
    """The whole fabricated run, and two directories holding its first 10 and last 8 cells (2 in both)."""
    whole = fakes.factory_results(tmp_path / "whole")
    ids = [c["cell_id"] for c in results.read_manifest(whole)["cells"]]
    return whole, _subset(whole, tmp_path / "a", ids[:10]), _subset(whole, tmp_path / "b", ids[8:])


def _subset(whole: Path, to: Path, keep: list[str]) -> Path:
    shutil.copytree(whole, to)
    manifest = results.read_manifest(to)
    for entry in manifest["cells"]:
        if entry["cell_id"] not in keep:
            results.cell_path(to, entry["cell_id"]).unlink()
    manifest["cells"] = [e for e in manifest["cells"] if e["cell_id"] in keep]
    results.write_manifest(to, manifest)
    return to


def test_factory_cells_merge_with_the_rows_train_writes(tmp_path):
    whole, a, b = _factory_parts(tmp_path)
    out = tmp_path / "out"
    _merge(out, a, b)
    entries = results.read_manifest(whole)["cells"]
    assert results.read_manifest(out)["cells"] == entries
    expected = [",".join(results.METRICS_COLUMNS)]
    for entry in entries:
        _arrays_equal(whole, out, entry["cell_id"])
        expected += runner.reused_factory_lines(whole, entry["cell_id"])  # what train writes for them
    assert (out / "metrics.csv").read_text(encoding="utf-8") == "\n".join(expected) + "\n"
    factory = results.read_manifest(out)["factory"]
    assert (out / factory["file"]).read_bytes() == (whole / factory["file"]).read_bytes()


def test_recorded_runs_are_carried_over_with_their_rows(tmp_path):
    _, a, _ = _factory_parts(tmp_path)
    entry = fakes.recorded_entry("mine", 3, 2)
    runs = fakes.recorded_dir(tmp_path / "runs", [(entry, fakes.recorded_arrays(3, 2, [0.1, 0.5, 1.0]))])
    row = ",".join({"cell_id": "mine", "epoch": "0", "layer": "1", "layer_name": "dense_1/kernel"}.get(c, "")
                   for c in results.METRICS_COLUMNS)
    with open(runs / "metrics.csv", "a", encoding="utf-8") as f:
        f.write(row + "\n")
    out = tmp_path / "out"
    _merge(out, runs, a)  # a directory of recorded runs has no config: it merges with any
    m = results.read_manifest(out)
    assert m["cells"][-1] == entry and m["matrices"] == results.read_manifest(a)["matrices"]
    assert (out / "metrics.csv").read_text(encoding="utf-8").splitlines()[-1] == row
    _arrays_equal(runs, out, "mine")


def test_equal_arrays_in_other_bytes_agree(tmp_path):
    """A cell written on another machine (another zlib) has other bytes, the same arrays."""
    _, a, b = _factory_parts(tmp_path)
    shared = results.read_manifest(b)["cells"][0]["cell_id"]  # in both
    arrays = results.read_cell(b, shared)
    results.write_cell(b, arrays.pop("cell_info"), arrays, compressed=False)
    assert results.cell_path(a, shared).read_bytes() != results.cell_path(b, shared).read_bytes()
    _merge(tmp_path / "out", a, b)


def _rewrite(directory: Path, cell_id: str, change) -> None:
    arrays = results.read_cell(directory, cell_id)
    info = arrays.pop("cell_info")
    change(info, arrays)
    results.write_cell(directory, info, arrays)


def test_refuses_a_cell_whose_arrays_differ(tmp_path, capsys):
    _, a, b = _factory_parts(tmp_path)
    shared = results.read_manifest(b)["cells"][1]["cell_id"]
    _rewrite(b, shared, lambda info, arrays: arrays["grad_abs_mean"].__setitem__((2, 1), 1.5))
    _fails(["merge", str(tmp_path / "out"), str(a), str(b)], capsys, f"cell {shared!r}",
           f"between {a} and {b}", "array 'grad_abs_mean' holds other values")
    assert not (tmp_path / "out").exists()


def test_refuses_a_cell_whose_settings_differ(tmp_path, capsys):
    _, a, b = _factory_parts(tmp_path)
    shared = results.read_manifest(b)["cells"][0]["cell_id"]
    _rewrite(b, shared, lambda info, arrays: info.update(batch_size=64))
    _fails(["merge", str(tmp_path / "out"), str(a), str(b)], capsys, f"cell {shared!r}", str(a), str(b),
           "settings.batch_size is 32 in the first, 64 in the second")
    assert not (tmp_path / "out").exists()


def test_refuses_an_array_of_another_shape(tmp_path, capsys):
    _, a, b = _factory_parts(tmp_path)
    shared = results.read_manifest(b)["cells"][0]["cell_id"]
    _rewrite(b, shared, lambda info, arrays: arrays.update(loss=arrays["loss"][:-1]))
    _fails(["merge", str(tmp_path / "out"), str(a), str(b)], capsys, f"cell {shared!r}",
           "array 'loss' is float64 [5] in the first, float64 [4] in the second")


@pytest.mark.parametrize("key, value, where", [
    ("matrices", [{"name": "main", **fakes.FACTORY_AXES, "seeds": [0, 1, 2]}], "'matrices[0].seeds'"),
    ("config", {"train": {"epochs": 5}}, "'config'"),
    ("primary", {"dataset_id": "other", "optimizer": "adam", "learning_rate": 0.001}, "'primary.dataset_id'"),
    ("factory", {"ref": fakes.FACTORY_REF, "file": "factory/models-0.py", "sha256": "0" * 64},
     "'factory.file'"),
])
def test_refuses_directories_of_other_configs(tmp_path, capsys, key, value, where):
    _, a, b = _factory_parts(tmp_path)
    manifest = results.read_manifest(b)
    manifest[key] = value
    results.write_manifest(b, manifest)
    _fails(["merge", str(tmp_path / "out"), str(a), str(b)], capsys,
           f"{b / 'manifest.json'}: made from another config than {a / 'manifest.json'}", f"key {where}")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("damage", ["no such directory", "no manifest", "corrupt manifest",
                                    "cell file missing", "corrupt cell file", "corrupt cell array"])
def test_refuses_a_missing_or_corrupt_input_naming_it(tmp_path, capsys, damage):
    _, a, b = _factory_parts(tmp_path)
    first = results.read_manifest(b)["cells"][-1]["cell_id"]
    named = {"no such directory": b, "no manifest": b / "manifest.json",
             "corrupt manifest": b / "manifest.json"}.get(damage, results.cell_path(b, first))
    if damage == "no such directory":
        shutil.rmtree(b)
    elif damage == "no manifest":
        (b / "manifest.json").unlink()
    elif damage == "corrupt manifest":
        (b / "manifest.json").write_text("{oops", encoding="utf-8")
    elif damage == "cell file missing":
        results.cell_path(b, first).unlink()
    elif damage == "corrupt cell file":
        results.cell_path(b, first).write_bytes(b"garbage")
    else:  # the zip's directory intact, one member's compressed bytes broken: found only reading arrays
        _corrupt_member(results.cell_path(b, first), "grad_abs_mean.npy")
    err = _fails(["merge", str(tmp_path / "out"), str(a), str(b)], capsys, str(named))
    assert "--results" not in err  # merge has no such option
    assert not (tmp_path / "out").exists()


def _corrupt_member(path: Path, member: str) -> None:
    """Zero 16 bytes of one member's compressed data: the zip's directory still reads."""
    import zipfile

    with zipfile.ZipFile(path) as z:
        offset = z.getinfo(member).header_offset
    data = bytearray(path.read_bytes())
    name, extra = (int.from_bytes(data[offset + i:offset + i + 2], "little") for i in (26, 28))
    start = offset + 30 + name + extra + 8  # the local header's own lengths, then a little way in
    data[start:start + 16] = bytes(16)
    path.write_bytes(bytes(data))


def _with_data(directory: Path, X: np.ndarray) -> Path:
    results.write_dataset(directory, fakes.FILE_DATASET["dataset_id"], X, np.arange(len(X)) % 3)
    return directory


def test_datasets_are_copied_and_must_agree(tmp_path, capsys):
    _, a, b = _factory_parts(tmp_path)
    X = np.linspace(0, 1, 300 * 64, dtype=np.float32).reshape(300, 8, 8, 1)
    _with_data(a, X)
    _merge(tmp_path / "out", a, b)  # b has no data file: a's is taken
    for u, v in zip(results.read_dataset(a, fakes.FILE_DATASET["dataset_id"]),
                    results.read_dataset(tmp_path / "out", fakes.FILE_DATASET["dataset_id"])):
        np.testing.assert_array_equal(u, v)
    # OUT's manifest keeps the sha256 of its own copies, which render checks
    merged = results.read_manifest(tmp_path / "out")
    assert [e["npz_sha256"] for e in merged["datasets"]] == [
        results.file_sha256(results.dataset_path(tmp_path / "out", fakes.FILE_DATASET["dataset_id"]))]
    assert merged["metrics_sha256"] == results.file_sha256(tmp_path / "out" / "metrics.csv")
    X[5, 1, 1, 0] += 1
    _with_data(b, X)
    _fails(["merge", str(tmp_path / "out2"), str(a), str(b)], capsys,
           f"dataset {fakes.FILE_DATASET['dataset_id']!r} differs between {a} and {b}")
    results.dataset_path(b, fakes.FILE_DATASET["dataset_id"]).write_bytes(b"garbage")
    _fails(["merge", str(tmp_path / "out2"), str(a), str(b)], capsys,
           str(results.dataset_path(b, fakes.FILE_DATASET["dataset_id"])))
    assert not (tmp_path / "out2").exists()


def test_into_an_out_that_holds_cells(tmp_path, capsys):
    """Allowed when they agree; a disagreeing cell there, listed or not, is refused and OUT left as it was."""
    _, a, b = _factory_parts(tmp_path)
    out = tmp_path / "out"
    _merge(out, a)
    _merge(out, b)  # the union: OUT's cells are kept
    assert len(results.read_manifest(out)["cells"]) == 16
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    shared = results.read_manifest(b)["cells"][0]["cell_id"]
    _rewrite(out, shared, lambda info, arrays: arrays.update(loss=arrays["loss"] * 2))
    changed = results.cell_path(out, shared).read_bytes()
    _fails(["merge", str(out), str(b)], capsys, f"cell {shared!r} differs between {out} and {b}")
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == {**before, results.cell_path(out, shared): changed}
    # a cell file OUT holds without listing it
    fresh = tmp_path / "fresh"
    results.cell_path(fresh, shared).parent.mkdir(parents=True)
    shutil.copyfile(results.cell_path(out, shared), results.cell_path(fresh, shared))
    _fails(["merge", str(fresh), str(b)], capsys, f"cell {shared!r} differs between {b} and {fresh}")
    assert not (fresh / "manifest.json").exists()


@pytest.mark.parametrize("key, field, name", [
    ("cells", "cell_id", "../../outside"), ("datasets", "dataset_id", "/etc/x"), ("cells", "cell_id", None)])
def test_refuses_a_name_that_is_not_a_file_name(tmp_path, capsys, key, field, name):
    _, a, _ = _factory_parts(tmp_path)
    manifest = results.read_manifest(a)
    manifest[key][0][field] = name
    results.write_manifest(a, manifest)
    _fails(["merge", str(tmp_path / "out" / "merged"), str(a)], capsys, str(a / "manifest.json"), repr(key),
           f"{field} is {name!r}")
    assert not (tmp_path / "out").exists()


def test_refuses_an_out_that_is_a_file(tmp_path, capsys):
    _, a, _ = _factory_parts(tmp_path)
    out = tmp_path / "out"
    out.write_text("keep me")
    _fails(["merge", str(out), str(a)], capsys, str(out), "not a directory")
    assert out.read_text() == "keep me"


def test_reading_inputs_takes_no_lock_and_writes_nothing_there(tmp_path):
    """An input may be read-only (a downloaded artifact, a shared disk)."""
    _, a, b = _factory_parts(tmp_path)
    before = sorted(p.relative_to(a) for p in a.rglob("*"))
    _merge(tmp_path / "out", a, b)
    assert sorted(p.relative_to(a) for p in a.rglob("*")) == before
    assert (tmp_path / "out" / recorder_io.LOCK_NAME).exists()


def test_merge_help_lists_it(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "merge" in capsys.readouterr().out


def test_the_merged_directory_reads_as_one_run(tmp_path):
    """The one reader takes the merged directory as the whole run: same cells, nothing missing, and
    its provenance names the merge and the training time of the runs behind it."""
    from vanishing import reader

    whole, a, b = _factory_parts(tmp_path)
    _merge(tmp_path / "out", a, b)
    merged, expected = reader.load_run(tmp_path / "out"), reader.load_run(whole)
    assert [c.cell_id for c in merged.cells] == [c.cell_id for c in expected.cells] and not merged.missing
    assert merged.provenance.command.startswith(f"vanishing merge {tmp_path / 'out'} ")
    m = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert [p["results"] for p in m["merged_from"]] == [str(a)]  # a and b: copies of one fabricated run


# Five groups of three costs (depth 4, 3 on moons, 2): each of 3 shards gets one or two, and one
# shard holds both datasets.
TINY = """
[data]
n_samples = 64
[train]
epochs = 2
[matrix.m]
activations = ["relu", "sigmoid"]
initializers = ["glorot_uniform", "he_normal"]
depths = [2, 4]
seeds = [0]
[matrix.moons]
activations = ["tanh"]
initializers = ["glorot_uniform"]
depths = [3]
seeds = [0, 1]
data = { name = "moons", n_samples = 64 }
"""


@pytest.mark.slow  # four trainings
def test_trained_shards_merged_equal_one_run(tmp_path, capsys):
    """The real thing, through the command line: train 1/3, 2/3, 3/3, merge, against one train."""
    path = tmp_path / "tiny.toml"
    path.write_text(TINY, encoding="utf-8")
    from vanishing import config

    cells = config.load(config=path).cells()
    parts = [tmp_path / f"shard-{k}" for k in (1, 2, 3)]
    for k, part in enumerate(parts, start=1):
        assert cli.main(["train", "--config", str(path), "--results", str(part), "--shard", f"{k}/3",
                         "--jobs", "1"]) == 0
        mine = [c.cell_id for c in shards.select(cells, Shard(k, 3))]
        assert mine and sorted(p.stem for p in (part / "cells").iterdir()) == sorted(mine)
    assert cli.main(["train", "--config", str(path), "--results", str(parts[0]), "--shard", "1/3"]) == 0
    assert "(0 trained, " in capsys.readouterr().err  # a shard resumes as a whole run does
    whole = tmp_path / "whole"
    assert cli.main(["train", "--config", str(path), "--results", str(whole), "--jobs", "1"]) == 0
    out = tmp_path / "merged"
    _merge(out, *parts)
    _same_results(whole, out)
    assert len(results.read_manifest(out)["datasets"]) == 2
