"""The render's speed-ups change no byte (issue 13): sections built in forked workers give the
page one process gives; the one-pass cell reader gives np.load's arrays; the fast field count
gives csv's verdict; and a render says where its time went (VANISHING_TIMINGS)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vanishing import forked, integrity
from vanishing.results import read_cell, read_manifest

# A fresh process, so that the sections' workers may fork: the process that trained the smoke
# run holds TensorFlow, beside which the render builds everything in one process (forked.can_fork).
RENDER = """
import sys
from vanishing import forked
from vanishing.html import render_report
assert forked.can_fork(), "this process could not fork the sections' workers"
render_report(sys.argv[1], sys.argv[2])
"""


def _render(results: Path, out: Path, jobs: int, timings: Path) -> bytes:
    env = {**os.environ, forked.ENV: str(jobs), "VANISHING_TIMINGS": str(timings),
           "PYTHONPATH": os.pathsep.join(p for p in (str(Path(forked.__file__).parents[1]),
                                                     os.environ.get("PYTHONPATH", "")) if p)}
    subprocess.run([sys.executable, "-c", RENDER, str(results), str(out)], check=True, env=env)
    return (out / "index.html").read_bytes()


def test_parallel_and_serial_render_the_same_bytes(smoke_results, tmp_path):
    serial = _render(smoke_results, tmp_path / "serial", 1, tmp_path / "t1")
    parallel = _render(smoke_results, tmp_path / "parallel", 2, tmp_path / "t2")
    assert parallel == serial
    assert ((tmp_path / "parallel" / "metrics.csv.gz").read_bytes()
            == (tmp_path / "serial" / "metrics.csv.gz").read_bytes())
    # Where the time went, the workers' sections and figures included.
    (written,) = (tmp_path / "t2").glob("*.json")
    spans = json.loads(written.read_text(encoding="utf-8"))
    assert spans["role"] == "render"
    for name in ("render: load cells", "render: gzip metrics.csv (beside the load)", "render: build page",
                 "render: section summary", "render: figures: savefig svg", "render: explore json",
                 "render: template", "render: write"):
        assert spans["seconds"].get(name, 0) > 0, name


def test_the_one_pass_reader_reads_what_np_load_reads(smoke_results):
    for entry in read_manifest(smoke_results)["cells"]:
        arrays = read_cell(smoke_results, entry["cell_id"])
        with np.load(smoke_results / "cells" / f"{entry['cell_id']}.npz", allow_pickle=False) as z:
            assert list(arrays) == [k for k in z.files if k != "cell_json"] + ["cell_info"]
            assert arrays["cell_info"] == json.loads(str(z["cell_json"]))
            for key in z.files:
                if key == "cell_json":
                    continue
                want, got = z[key], arrays[key]
                assert (got.dtype, got.shape, got.flags.writeable) == (want.dtype, want.shape, True), key
                np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("order", ["C", "F"])
def test_the_one_pass_reader_lays_out_arrays_as_numpy(tmp_path, order):
    from vanishing import npz

    a = np.asarray(np.arange(24, dtype=np.float32).reshape(2, 3, 4), order=order)
    np.savez_compressed(tmp_path / "a.npz", a=a, s=np.array("text"), z=np.zeros((0, 3)))
    with open(tmp_path / "a.npz", "rb") as f:
        got = npz.read_all(f)
    with np.load(tmp_path / "a.npz") as want:
        for key in ("a", "s", "z"):
            assert got[key].dtype == want[key].dtype
            assert got[key].flags.f_contiguous == want[key].flags.f_contiguous
            np.testing.assert_array_equal(got[key], want[key])


def _npz_bytes(tmp_path: Path, save=np.savez_compressed) -> bytes:
    save(tmp_path / "a.npz", a=np.arange(6.0).reshape(2, 3), b=np.array([1, 2], np.int8))
    return (tmp_path / "a.npz").read_bytes()


def _read(data: bytes) -> dict:
    from vanishing import npz

    return npz.read_all(io.BytesIO(data))


def test_the_one_pass_reader_reads_stored_members_and_hands_other_zips_to_zipfile(tmp_path):
    import zipfile

    from vanishing import npz

    stored = _npz_bytes(tmp_path, np.savez)
    assert npz._members(stored) is not None
    got = _read(stored)
    np.testing.assert_array_equal(got["a"], np.arange(6.0).reshape(2, 3))
    with zipfile.ZipFile(tmp_path / "a.npz", "a") as z:  # a comment after the directory: zipfile's
        z.comment = b"a comment"
    commented = (tmp_path / "a.npz").read_bytes()
    assert npz._members(commented) is None
    assert _read(commented)["b"].tolist() == [1, 2]


@pytest.mark.parametrize("damage", ["crc", "truncated", "local name", "not a zip"])
def test_the_one_pass_reader_refuses_a_damaged_zip(tmp_path, damage):
    import struct
    import zipfile
    import zlib

    data = bytearray(_npz_bytes(tmp_path))
    if damage == "crc":  # one byte of the first member's deflated data
        data[30 + data[26] + data[28] + 4] ^= 0xFF
    elif damage == "truncated":
        data = data[: len(data) // 2] + data[-22:]
    elif damage == "local name":
        data[30] ^= 0x20
    else:
        data = bytearray(b"PK" + bytes(100))
    with pytest.raises((zipfile.BadZipFile, zlib.error, ValueError, struct.error)):
        _read(bytes(data))


def _csv_verdict(text: str) -> object:
    try:
        rows = csv.reader(io.StringIO(text, newline=""))
        header = next(rows)
        numbered = enumerate(rows, start=2)
        return header, next((n for n, row in numbered if row and len(row) != len(header)), None)
    except (StopIteration, csv.Error) as e:
        return type(e)


@given(st.text(alphabet='ab1 ,\n\r"\0', max_size=40))
def test_the_fast_field_count_agrees_with_csv(text):
    try:
        verdict = integrity._table_shape(text)
    except (StopIteration, csv.Error) as e:
        verdict = type(e)
    assert verdict == _csv_verdict(text)


@pytest.fixture
def quick(monkeypatch):
    """Pages without sections: what is tested is the data beside the page."""
    from vanishing import html

    real = html.build_page
    monkeypatch.setattr(html, "build_page", lambda run, sections=(): real(run, ()))


@pytest.mark.parametrize("damage", [b"", b"not a gzip", "other table", "truncated", "trailing"])
def test_a_render_keeps_its_earlier_gzip_only_when_it_holds_the_same_table(quick, small_results, tmp_path,
                                                                           damage):
    import gzip

    from vanishing.html import compress_metrics, linked_name, render_report

    out = tmp_path / "out"
    render_report(small_results, out)
    data = (small_results / "metrics.csv").read_bytes()
    linked = out / linked_name(data)
    good = linked.read_bytes()
    assert gzip.decompress(good) == data
    render_report(small_results, out)  # the same table: the same file, kept
    assert linked.read_bytes() == good
    damaged = {"other table": compress_metrics(data + b"1,2\n"), "truncated": good[:-9],
               "trailing": good + compress_metrics(b"x")}.get(damage, damage)
    linked.write_bytes(damaged)
    render_report(small_results, out)
    assert linked.read_bytes() == good
    assert (out / "metrics.csv.gz").read_bytes() == good


def test_a_render_pauses_the_cyclic_collector_and_leaves_it_as_it_was(quick, small_results, tmp_path,
                                                                      monkeypatch):
    import gc

    from vanishing import html

    seen = []
    real = html.render_html
    monkeypatch.setattr(html, "render_html", lambda page, env: seen.append(gc.isenabled()) or real(page, env))
    assert gc.isenabled()
    html.render_report(small_results, tmp_path / "on")
    assert seen == [False] and gc.isenabled()
    gc.disable()
    try:
        html.render_report(small_results, tmp_path / "off")
        assert not gc.isenabled()
    finally:
        gc.enable()
