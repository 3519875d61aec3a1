"""The results directory: layout and columns of DESIGN.md section 3, reuse, resume."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from vanishing import cli, config, results, runner

TINY = """
[data]
n_samples = 64
[train]
epochs = 2
[matrix.m]
activations = ["relu", "sigmoid"]
initializers = ["glorot_uniform"]
depths = [2, 3]
seeds = [0]
"""


def test_layout_and_manifest(smoke_results, smoke_experiment):
    manifest = results.read_manifest(smoke_results)
    cells = smoke_experiment.cells()
    assert [c["cell_id"] for c in manifest["cells"]] == [c.cell_id for c in cells]
    for entry in manifest["cells"]:
        for key in ("cell_id", "activation", "initializer", "depth", "width", "seed", "dataset_id",
                    "status", "diverged_epoch"):
            assert key in entry
        assert entry["status"] == "ok" and entry["diverged_epoch"] is None
        assert (smoke_results / "cells" / f"{entry['cell_id']}.npz").is_file()
    for key in ("config", "versions", "platform", "created", "command", "matrices"):
        assert manifest[key]
    assert manifest["versions"]["keras"].startswith("3.")
    X, y = results.read_dataset(smoke_results, manifest["datasets"][0]["dataset_id"])
    assert X.dtype == np.float32 and X.shape == (200, 2) and y.dtype == np.float32
    assert set(np.unique(y)) == {0.0, 1.0}


def test_manifest_names_the_primary_study(smoke_results):
    """The smoke preset's top-level [data] and [train], in the labels its cells carry."""
    manifest = results.read_manifest(smoke_results)
    primary = manifest["primary"]
    assert primary == {"dataset_id": "circles-n200-noise0.1-factor0.5-seed0", "optimizer": "rmsprop",
                       "learning_rate": 0.001}

    def in_primary(cell):
        return all(cell[key] == value for key, value in primary.items())

    assert all(in_primary(c) for c in manifest["cells"] if "main" in c["matrices"])
    others = [c for c in manifest["cells"] if not in_primary(c)]  # the optimizer and real-data studies
    assert {(c["optimizer"], c["dataset_id"]) for c in others} == {
        ("sgd", primary["dataset_id"]), ("rmsprop", "breast_cancer")}


def test_npz_shapes(smoke_results, smoke_experiment):
    cell = next(c for c in smoke_experiment.cells() if c.depth == 8)
    a = results.read_cell(smoke_results, cell.cell_id)
    e = cell.train.epochs + 1
    assert a["kernel_1"].shape == (e, 2, 5) and a["kernel_5"].shape == (e, 5, 5)
    assert a["kernel_9"].shape == a["grad_kernel_9"].shape == (e, 5, 1)
    assert a["bias_9"].shape == (e, 1) and a["loss"].shape == a["accuracy"].shape == (e,)
    assert a["step_grad_abs_mean"].shape == a["delta_rms"].shape == (e, 9)
    snapshots, samples = len(a["act_snapshot_epochs"]), len(a["act_sample_index"])
    assert a["delta_values_1"].shape == a["act_values_8"].shape == (snapshots, samples, 5)
    assert a["delta_values_9"].shape == (snapshots, samples, 1) and "act_values_9" not in a
    assert "kernel_10" not in a
    assert a["boundary_logit"].shape == (len(a["boundary_y"]), len(a["boundary_x"]))


def test_metrics_csv_matches_the_arrays(smoke_results, smoke_experiment):
    with open(smoke_results / "metrics.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0][: len(results.METRICS_COLUMNS)]) == results.METRICS_COLUMNS
    cells = smoke_experiment.cells()
    assert len(rows) - 1 == sum((c.train.epochs + 1) * (c.depth + 1) for c in cells)
    cols = {name: i for i, name in enumerate(rows[0])}
    # an independent recomputation for a few rows, straight from the npz
    for row in rows[1::97]:
        a = results.read_cell(smoke_results, row[cols["cell_id"]])
        epoch, layer = int(row[cols["epoch"]]), int(row[cols["layer"]])
        k, g = a[f"kernel_{layer}"][epoch], a[f"grad_kernel_{layer}"][epoch]
        expect = {
            "loss": a["loss"][epoch], "accuracy": a["accuracy"][epoch],
            "weight_mean": k.mean(), "weight_std": k.std(), "grad_mean": g.mean(),
            "grad_std": g.std(), "grad_abs_mean": np.abs(g).mean(), "grad_norm": np.linalg.norm(g),
        }
        for name, value in expect.items():
            assert float(row[cols[name]]) == pytest.approx(float(value), rel=1e-5, abs=1e-12), name
        step = row[cols["step_grad_abs_mean"]]
        if epoch == 0:
            assert step == ""
        else:
            assert float(step) == pytest.approx(float(a["step_grad_abs_mean"][epoch, layer - 1]), rel=1e-6)
    parsed = results.read_metrics(smoke_results)
    assert parsed["epoch"].max() == 5 and np.isnan(parsed["step_grad_abs_mean"][parsed["epoch"] == 0]).all()


def test_accuracy_is_logit_above_zero(smoke_results, smoke_experiment):
    """Recompute final accuracy from the weights with numpy, for a relu cell."""
    cell = next(c for c in smoke_experiment.cells() if c.activation == "relu")
    a = results.read_cell(smoke_results, cell.cell_id)
    X, y = results.read_dataset(smoke_results, cell.data.dataset_id)
    h = X.astype(np.float64)
    for layer in range(1, cell.depth + 2):
        h = h @ a[f"kernel_{layer}"][-1] + a[f"bias_{layer}"][-1]
        if layer <= cell.depth:
            h = np.maximum(h, 0)
    assert a["accuracy"][-1] == pytest.approx(np.mean((h[:, 0] > 0) == (y > 0.5)), abs=1e-6)


@pytest.mark.slow  # several trainings
def test_reuse_force_and_resume_after_interruption(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text(TINY)
    exp = config.load(config=path)
    out = tmp_path / "results"

    class Interrupted(Exception):
        pass

    def stop_after_first(group, total):
        raise Interrupted

    with pytest.raises(Interrupted):
        runner.train(exp, out, on_group=stop_after_first, progress=False)
    written = sorted(p.name for p in (out / "cells").iterdir())
    # the first group is kept: relu and sigmoid at the deepest depth, one stack (grouping.py)
    assert len(written) == 2
    assert not (out / "manifest.json").exists()

    m = runner.train(exp, out, progress=False)
    assert (m["cells_trained"], m["cells_reused"]) == (2, 2)
    first = (out / "cells" / written[0]).read_bytes()
    m = runner.train(exp, out, progress=False)
    assert (m["cells_trained"], m["cells_reused"]) == (0, 4)
    assert (out / "cells" / written[0]).read_bytes() == first
    from_disk = (out / "metrics.csv").read_bytes()  # every row read back from the npz files
    m = runner.train(exp, out, force=True, progress=False)
    assert (m["cells_trained"], m["cells_reused"]) == (4, 0)
    assert (out / "metrics.csv").read_bytes() == from_disk  # rows made from the arrays in memory
    # a changed setting is a different cell, never a stale reuse
    m = runner.train(config.load(config=path, sets=["train.epochs=3"]), out, progress=False)
    assert (m["cells_trained"], m["cells_reused"]) == (4, 0)
    assert len(json.loads((out / "manifest.json").read_text())["cells"]) == 4


@pytest.mark.slow  # a training through the command line, in nox -s slow
def test_cli_train_end_to_end(tmp_path, capsys):
    path = tmp_path / "exp.toml"
    path.write_text(TINY)
    out = tmp_path / "r"
    assert cli.main(["train", "--config", str(path), "--results", str(out), "--jobs", "1",
                     "--set", "matrix.m.depths=[2]"]) == 0
    manifest = results.read_manifest(out)
    assert len(manifest["cells"]) == 2
    assert manifest["command"].endswith("--set 'matrix.m.depths=[2]'")  # shell-quoted, ready to paste
    assert manifest["overrides"] == ["matrix.m.depths=[2]"]
    from vanishing.html import render_report

    page = render_report(out, tmp_path / "page").read_text(encoding="utf-8")
    assert "vanishing report --config config.toml --set &#39;matrix.m.depths=[2]&#39;" in page
    assert "2 cells (2 trained, 0 reused, 0 diverged)" in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["missing", "not json", "wrong version"])
def test_reading_a_bad_results_directory_names_the_file(tmp_path, damage):
    (tmp_path / "cells").mkdir()
    manifest = tmp_path / "manifest.json"
    if damage == "not json":
        manifest.write_text("{oops")
    elif damage == "wrong version":
        manifest.write_text(json.dumps({"format": results.FORMAT, "format_version": 99, "cells": []}))
    with pytest.raises(results.ResultsError, match=r"manifest\.json"):
        results.read_manifest(tmp_path)


def test_update_ratio_and_new_columns_against_the_stored_kernels(smoke_results, smoke_experiment):
    parsed = results.read_metrics(smoke_results)
    for cell in smoke_experiment.cells()[::4]:
        a = results.read_cell(smoke_results, cell.cell_id)
        rows = parsed["cell_id"] == cell.cell_id
        for layer in range(1, cell.depth + 2):
            at = rows & (parsed["layer"] == layer)
            k = a[f"kernel_{layer}"].astype(np.float64)
            expect = [np.nan] + [np.linalg.norm(k[e] - k[e - 1]) / np.linalg.norm(k[e - 1])
                                 for e in range(1, len(k))]
            np.testing.assert_allclose(parsed["update_ratio"][at], expect, rtol=1e-6)
            hidden = layer <= cell.depth
            assert np.isnan(parsed["act_mean"][at]).all() != hidden  # the output logit has none
        assert set(parsed["optimizer"][rows]) == {"rmsprop"}
        assert set(parsed["dataset_id"][rows]) == {cell.data.dataset_id}
        assert np.all(parsed["learning_rate"][rows] == 0.001)


def test_theory_predictions_are_stored_in_the_measured_units(smoke_results, smoke_experiment):
    from vanishing import theory, zoo

    for cell in smoke_experiment.cells()[::6]:
        a = results.read_cell(smoke_results, cell.cell_id)
        X, _ = results.read_dataset(smoke_results, cell.data.dataset_id)
        kernels = [a[f"kernel_{layer}"][0] for layer in range(1, cell.depth + 2)]
        f, fprime = zoo.numpy_activation(cell.activation)
        predicted = theory.predict_grad_rms(f, fprime, kernels, X)
        for name in ("glorot", "meanfield"):
            stored = a[f"theory_{name}_grad_rms"]
            assert stored.shape == (cell.depth + 1,)
            # scaled to the measured output layer: equal there, same ratios elsewhere
            assert stored[-1] == pytest.approx(a["grad_sample_rms"][0, -1], rel=1e-6)
            np.testing.assert_allclose(stored / stored[-1], predicted[name], rtol=1e-5)


def test_progress_bar_speaks_only_to_a_terminal(capsys):
    quiet = runner.Progress(total_groups=2, total_model_epochs=10.0)  # stderr is captured: no tty
    quiet.tick(5.0)
    quiet.group_done()
    quiet.close()
    assert capsys.readouterr().err == ""
    loud = runner.Progress(total_groups=2, total_model_epochs=10.0, enabled=True)
    loud.tick(5.0)
    loud.group_done()
    loud.close()
    err = capsys.readouterr().err
    assert "groups 1/2" in err and "model-epochs 5/10" in err and "/s" in err


@pytest.mark.slow  # real worker processes, two trainings
def test_worker_processes_give_the_same_numbers_as_one_process(tmp_path):
    """--jobs N trains groups in spawned workers; a cell's numbers must not depend on it."""
    path = tmp_path / "exp.toml"
    path.write_text(TINY)
    exp = config.load(config=path)
    one, two = tmp_path / "one", tmp_path / "two"
    runner.train(exp, one, jobs=1, progress=False)
    m = runner.train(exp, two, jobs=2, progress=False)
    assert m["cells_trained"] == 4
    for entry in m["cells"]:
        a, b = results.read_cell(one, entry["cell_id"]), results.read_cell(two, entry["cell_id"])
        assert a.keys() == b.keys()
        for key in a:
            if key != "cell_info":
                np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert (one / "metrics.csv").read_bytes() == (two / "metrics.csv").read_bytes()


def test_train_keeps_the_runs_the_recorder_wrote_into_the_directory(tmp_path):
    import fakes

    out = tmp_path / "r"
    entry = fakes.recorded_entry("mine", 3, 2)
    fakes.recorded_dir(out, [(entry, fakes.recorded_arrays(3, 2, [0.1, 0.5, 1.0]))])
    # the recorder's rows, as the recorder's own writer leaves them in metrics.csv
    fields = {"cell_id": "mine", "epoch": "0", "layer": "1", "loss": "0.7", "layer_name": "dense_1/kernel"}
    row = ",".join(fields.get(column, "") for column in results.METRICS_COLUMNS)
    with open(out / "metrics.csv", "a", encoding="utf-8") as f:
        f.write(row + "\n")
    path = tmp_path / "exp.toml"
    path.write_text(TINY)
    exp = config.load(config=path, sets=["matrix.m.activations=['relu']", "matrix.m.depths=[2]"])
    runner.train(exp, out, progress=False)
    manifest = results.read_manifest(out)
    assert [c.get("source") for c in manifest["cells"]] == [None, "keras"]
    assert manifest["cells"][-1] == entry
    metrics = results.read_metrics(out)
    assert list(metrics["cell_id"]).count("mine") == 1 and "dense_1/kernel" in set(metrics["layer_name"])
    assert (out / "cells" / "mine.npz").exists()


# --- what a killed writer leaves ------------------------------------------------------------------

def _temp_of(directory, pid: int, host: str = results.HOST_ID, age: float = 0.0):
    """A temporary file as atomic_path names it, as if process ``pid`` on ``host`` were writing it."""
    import os
    import time

    path = directory / f".x.npz.vanishing-{pid}-{host}-{int(age):08d}.tmp"
    path.write_bytes(b"half a file")
    os.utime(path, (time.time() - age, time.time() - age))
    return path


def test_atomic_path_names_its_temporary_file_after_its_writer(tmp_path):
    import os

    with results.atomic_path(tmp_path / "cells" / "a.npz") as tmp:
        assert tmp.name.startswith(f".a.npz.vanishing-{os.getpid()}-{results.HOST_ID}-")
        assert tmp.name.endswith(".tmp") and not results.stale_temp(tmp)  # its writer is alive


def test_only_what_dead_writers_left_is_removed(tmp_path):
    import os
    import subprocess
    import sys
    import time

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    cells = tmp_path / "cells"
    cells.mkdir()
    gone = [_temp_of(cells, dead.pid),  # a killed worker's half-written cell
            _temp_of(tmp_path, 4242, host="0123abcd", age=2 * results.STALE_TEMP_SECONDS)]  # elsewhere, old
    old = tmp_path / ".manifest.json.k2j4h5g6.tmp"  # named the way older versions did, and old
    old.write_text("{")
    os.utime(old, (time.time() - 2 * results.STALE_TEMP_SECONDS,) * 2)
    gone.append(old)
    kept = [_temp_of(cells, os.getpid()),  # a live writer's (a recorder writing right now)
            _temp_of(tmp_path, 4242, host="0123abcd"),  # another host's, recent: it may be writing
            tmp_path / ".metrics.csv.a1b2c3d4.tmp",  # older naming, recent: whose, is unknown
            cells / "not-ours.tmp", tmp_path / "metrics.csv", cells / "x.npz"]
    for path in kept[2:]:
        path.touch()
    assert sorted(results.remove_stale_temp(tmp_path)) == sorted(gone)
    assert all(p.exists() for p in kept) and not any(p.exists() for p in gone)
