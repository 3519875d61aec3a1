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
