"""What gets published (issue 11): the metrics gzipped, every number as written, the page's link
to them working; `render --publish` leaves no uncompressed metrics.csv. No training: the
session's smoke run and its page only."""

from __future__ import annotations

import csv
import gzip
import io
import re
import zlib
from pathlib import Path

import numpy as np
import pytest

from vanishing import html as report_html
from vanishing.cli import main
from vanishing.html import render_report
from vanishing.results import read_cell
from vanishing.sections import SECTIONS


@pytest.fixture
def quick(monkeypatch):
    """Pages without sections: for tests of how a page is written, not of what it shows."""
    real = report_html.build_page
    monkeypatch.setattr(report_html, "build_page", lambda run, sections=SECTIONS: real(run, ()))


def _inflate(data: bytes) -> bytes:
    """gzip, decoded by zlib itself (not by the gzip module that wrote it)."""
    d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    out = d.decompress(data) + d.flush()
    assert d.eof and not d.unused_data, "one whole gzip member, nothing after it"
    return out


def _href(page: Path) -> str:
    (href,) = set(re.findall(r'href="(metrics[^"]*)"', page.read_text(encoding="utf-8")))
    return href


def test_published_metrics_are_the_csv_bytes_gzipped(smoke_page, smoke_results):
    out = smoke_page.parent
    data = (smoke_results / "metrics.csv").read_bytes()
    href = _href(smoke_page)
    assert re.fullmatch(r"metrics-[0-9a-f]{12}\.csv\.gz", href)
    assert (out / href).is_file(), "the page links to a file that is not beside it"
    packed = (out / "metrics.csv.gz").read_bytes()
    assert (out / href).read_bytes() == packed
    assert packed[:2] == b"\x1f\x8b" and _inflate(packed) == data
    assert gzip.decompress(packed) == data
    # A fixed header: no time (mtime 0) and no file name, so a render of the same data is the same file.
    assert packed[4:8] == b"\0\0\0\0" and not packed[3] & 0x08
    # Named by the CSV's own sha256: what `sha256sum` of the decompressed file says.
    import hashlib
    assert href == f"metrics-{hashlib.sha256(data).hexdigest()[:12]}.csv.gz"


def test_published_numbers_are_the_cells_float32(smoke_page, smoke_results):
    """Read back from the gzip with the csv module: each stored per-epoch number of a few cells
    parses to the very float32 in the cell's arrays."""
    text = _inflate((smoke_page.parent / _href(smoke_page)).read_bytes()).decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    by_cell: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_cell.setdefault(row["cell_id"], []).append(row)
    cell_ids = sorted(by_cell)
    checked = 0
    for cell_id in cell_ids[:: max(1, len(cell_ids) // 4)]:
        arrays = read_cell(smoke_results, cell_id)
        depth = int(arrays["cell_info"]["depth"])
        for row in by_cell[cell_id]:
            e, layer = int(row["epoch"]), int(row["layer"]) - 1

            def same(column: str, want: np.float32, row=row, cell_id=cell_id) -> None:
                got = np.float32(float(row[column]))
                assert got.tobytes() == np.float32(want).tobytes() or (np.isnan(got) and np.isnan(want)), \
                    (cell_id, row["epoch"], row["layer"], column, row[column], want)

            same("loss", arrays["loss"][e])
            same("accuracy", arrays["accuracy"][e])
            if e > 0:
                same("step_grad_abs_mean", arrays["step_grad_abs_mean"][e, layer])
            if layer < depth:
                for column in ("act_mean", "act_std", "act_saturated_frac", "act_dead_frac"):
                    same(column, arrays[column][e, layer])
            checked += 1
    assert checked >= 4 * 10


def test_the_metrics_shrink_at_least_3x(smoke_page, smoke_results):
    plain = (smoke_results / "metrics.csv").stat().st_size
    packed = (smoke_page.parent / "metrics.csv.gz").stat().st_size
    assert plain / packed >= 3, f"{plain:,} bytes -> {packed:,} bytes: only {plain / packed:.1f}x"


def test_publish_leaves_the_page_and_one_compressed_copy(quick, small_results, tmp_path):
    out = tmp_path / "out"
    render_report(small_results, out)  # an earlier render, with metrics.csv and metrics.csv.gz
    assert (out / "metrics.csv").exists()
    before = (out / "metrics.csv.gz").read_bytes()
    page = render_report(small_results, out, publish=True)
    href = _href(page)
    assert sorted(p.name for p in out.iterdir()) == sorted(["index.html", href])
    assert (out / href).read_bytes() == before  # the same bytes on every render
    assert gzip.decompress(before) == (small_results / "metrics.csv").read_bytes()
    assert (out / href).stat().st_mode & 0o777 == 0o644


def test_older_uncompressed_linked_copies_are_removed(quick, small_results, tmp_path):
    """A directory an earlier version rendered (its page linked to metrics-<hash>.csv) ends with
    the compressed copy only."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "metrics-0123456789ab.csv").write_text("old,data\n", encoding="utf-8")
    page = render_report(small_results, out)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["index.html", "metrics.csv", "metrics.csv.gz", _href(page)])


def test_cli_render_publish(quick, small_results, tmp_path, capsys):
    out = tmp_path / "site"
    assert main(["render", "--results", str(small_results), "--out", str(out), "--publish"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(["index.html", _href(out / "index.html")])
