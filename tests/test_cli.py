"""`vanishing render` and `vanishing report` through cli.main: success, and every way a user
can get exit code 2 (one message naming the file or option, nothing written)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from exits import fails as _fails

from vanishing import cli


@pytest.fixture
def results(small_results, tmp_path) -> Path:
    return Path(shutil.copytree(small_results, tmp_path / "results"))


def test_render_writes_the_page(results, tmp_path, capsys):
    out = tmp_path / "page"
    assert cli.main(["render", "--results", str(results), "--out", str(out)]) == 0
    assert f"wrote {out / 'index.html'}" in capsys.readouterr().err
    assert 'id="summary"' in (out / "index.html").read_text(encoding="utf-8")


@pytest.mark.slow  # a whole smoke report: render included, in nox -s slow
def test_report_with_everything_on_disk_trains_nothing_and_renders(smoke_results, tmp_path, capsys):
    results, out = shutil.copytree(smoke_results, tmp_path / "results"), tmp_path / "page"
    cells = len(json.loads((results / "manifest.json").read_text())["cells"])
    assert cli.main(["report", "--preset", "smoke", "--results", str(results), "--out", str(out),
                     "--jobs", "1"]) == 0
    err = capsys.readouterr().err
    assert f"{cells} cells (0 trained, {cells} reused, 0 diverged)" in err
    assert (out / "index.html").is_file() and (out / "metrics.csv").is_file()


def test_render_with_a_templates_dir_that_does_not_exist(results, tmp_path, capsys):
    missing = tmp_path / "no-templates"
    _fails(["render", "--results", str(results), "--out", str(tmp_path / "o"), "--templates", str(missing)],
           capsys, "--templates", str(missing))
    assert not (tmp_path / "o").exists()


def test_render_with_results_that_is_a_file(tmp_path, capsys):
    f = tmp_path / "results.txt"
    f.write_text("not a directory")
    _fails(["render", "--results", str(f), "--out", str(tmp_path / "o")], capsys, str(f))


def test_render_without_results(tmp_path, capsys):
    _fails(["render", "--results", str(tmp_path / "nope"), "--out", str(tmp_path / "o")], capsys,
           str(tmp_path / "nope"), "vanishing train")


def test_render_with_a_corrupt_manifest(results, tmp_path, capsys):
    (results / "manifest.json").write_text("{not json", encoding="utf-8")
    _fails(["render", "--results", str(results), "--out", str(tmp_path / "o")], capsys,
           str(results / "manifest.json"), "not valid JSON")


def test_render_with_a_corrupt_cell(results, tmp_path, capsys):
    cell_id = json.loads((results / "manifest.json").read_text())["cells"][0]["cell_id"]
    (results / "cells" / f"{cell_id}.npz").write_bytes(b"garbage")
    _fails(["render", "--results", str(results), "--out", str(tmp_path / "o")], capsys, f"{cell_id}.npz")


def test_render_onto_an_out_that_is_a_file(results, tmp_path, capsys):
    out = tmp_path / "page"
    out.write_text("keep me")
    _fails(["render", "--results", str(results), "--out", str(out)], capsys, "--out", str(out))
    assert out.read_text() == "keep me"


@pytest.mark.parametrize("command", ["train", "report"])
def test_jobs_zero(command, tmp_path, capsys):
    _fails([command, "--preset", "smoke", "--results", str(tmp_path / "r"), "--jobs", "0"], capsys,
           "--jobs", "0", ">= 1")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("command", ["train", "report"])
def test_results_that_is_a_file(command, tmp_path, capsys):
    f = tmp_path / "r"
    f.write_text("x")
    _fails([command, "--preset", "smoke", "--results", str(f)], capsys, "--results", str(f))


# --- issue 10: paths checked before any work, --dry-run, runs that do not fit -------------------

@pytest.mark.parametrize("command", ["train", "report"])
def test_results_under_a_regular_file(command, tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    _fails([command, "--preset", "smoke", "--results", str(f / "results")], capsys,
           "--results", str(f / "results"), "not a directory")
    assert f.read_text() == "x"


@pytest.mark.parametrize("command", ["train", "report"])
def test_results_that_cannot_be_written(command, tmp_path, capsys):
    # /proc takes no new directory, even from root (for whom os.access says yes to everything)
    out = ["--out", str(tmp_path / "o")] if command == "report" else []
    _fails([command, "--preset", "smoke", "--results", "/proc/vanishing-test/results", *out], capsys,
           "--results", "/proc/vanishing-test/results", "cannot be written")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("command", ["render", "report"])
def test_out_under_a_regular_file_or_unwritable(command, tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    results = tmp_path / "r"
    _fails([command, "--preset", "smoke", "--results", str(results), "--out", str(f / "page")]
           if command == "report" else [command, "--results", str(results), "--out", str(f / "page")],
           capsys, "--out", "not a directory")
    _fails([command, "--results", str(results), "--out", "/proc/vanishing-test"], capsys,
           "--out", "cannot be written")
    assert not results.exists()


@pytest.mark.parametrize("command", ["render", "report"])
def test_out_and_results_the_same_directory(command, tmp_path, capsys):
    same = tmp_path / "same"
    _fails([command, "--results", str(same), "--out", str(tmp_path / "." / "same")], capsys,
           "--out and --results are the same directory")
    assert not same.exists()


def test_report_checks_templates_before_training(tmp_path, capsys):
    """It used to train the whole matrix, then exit 2."""
    _fails(["report", "--preset", "smoke", "--results", str(tmp_path / "r"), "--out", str(tmp_path / "o"),
            "--templates", str(tmp_path / "nope")], capsys, "--templates", str(tmp_path / "nope"))
    assert not (tmp_path / "r").exists() and not (tmp_path / "o").exists()


@pytest.mark.parametrize("command", ["train", "report"])
def test_dry_run_prints_the_plan_and_writes_nothing(command, tmp_path, capsys):
    argv = [command, "--preset", "smoke", "--results", str(tmp_path / "r"), "--jobs", "2", "--dry-run"]
    assert cli.main(argv + (["--out", str(tmp_path / "o")] if command == "report" else [])) == 0
    out = capsys.readouterr().out
    assert "nothing is trained or written" in out and "rough estimates" in out
    # sigmoid, tanh and relu share a group at each depth
    assert f"cells      28 (0 already in {tmp_path / 'r'}, 28 to train) in 5 groups" in out
    assert "147 model-epochs" in out
    assert "at the peak with --jobs 2" in out and "available on this machine" in out
    assert "time       about" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_dry_run_counts_the_cells_already_trained(smoke_results, capsys):
    assert cli.main(["train", "--preset", "smoke", "--results", str(smoke_results), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "28 already in" in out and "0 to train) in 0 groups" in out


SIXTEEN_GB = 16 * 2**30


@pytest.mark.parametrize(("sets", "words"), [
    (["model.width=4096", "matrix.main.depths=[64]", "data.n_samples=10000"],
     ["per-epoch arrays", "model.width", "matrix.main.depths", "train.epochs"]),
    (["train.epochs=100000000"], ["train.epochs"]),
    (["train.batch_size=1000000000000"], ["mini-batches", "train.batch_size"]),
    (["model.width=100000000"], ["model.width"]),
    (["data.n_samples=10000000000"], ["data.n_samples"]),
    (["matrix.main.depths=[5000]"], ["compiled program", "matrix.main.depths"]),
])
def test_runs_that_do_not_fit_are_refused_up_front(tmp_path, capsys, monkeypatch, sets, words):
    from vanishing import estimate

    monkeypatch.setattr(estimate, "available_memory", lambda: SIXTEEN_GB)
    argv = ["train", "--preset", "tutorial", "--results", str(tmp_path / "r")]
    for s in sets:
        argv += ["--set", s]
    err = _fails(argv, capsys, "would not fit in memory", "16.0 GB available", "rough estimate", *words)
    assert err.count("\n") == 1
    assert not (tmp_path / "r").exists()


def test_fewer_jobs_when_only_fewer_fit(tmp_path, capsys, monkeypatch):
    from vanishing import config, estimate, runner

    plan = runner.plan(config.load("smoke"), tmp_path / "r")
    one, two = (estimate.make(plan, jobs, None).peak_bytes for jobs in (1, 2))
    monkeypatch.setattr(estimate, "available_memory", lambda: (one + two) // 2)
    assert cli.main(["train", "--preset", "smoke", "--results", str(tmp_path / "r"), "--jobs", "2",
                     "--dry-run"]) == 0
    assert "at the peak with --jobs 1 (one process" in capsys.readouterr().out
