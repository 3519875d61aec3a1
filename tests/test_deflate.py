"""Cells and the published table compressed by deflate.py (ISA-L, else zlib): the files are the
formats numpy, zipfile and gzip read, whichever library wrote them."""

from __future__ import annotations

import gzip
import io
import zipfile
import zlib

import numpy as np
import pytest

from vanishing import deflate, npz

ARRAYS = {
    "kernel_1": np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 7,
    "fortran": np.asfortranarray(np.arange(12, dtype=np.float64).reshape(3, 4)),
    "loss": np.array([0.69, np.nan, np.inf], np.float32),
    "flags": np.array([True, False]),
    "empty": np.zeros((0, 3), np.int8),
    "cell_json": np.array('{"cell_id": "tanh-x"}'),
}


def _written(compressed: bool = True) -> bytes:
    f = io.BytesIO()
    npz.write_all(f, ARRAYS, compressed)
    return f.getvalue()


def _assert_as_numpy_reads(data: bytes) -> None:
    """np.load gives every array back as np.savez_compressed's file of the same arrays gives it."""
    by_numpy = io.BytesIO()
    np.savez_compressed(by_numpy, **ARRAYS)
    by_numpy.seek(0)
    with np.load(io.BytesIO(data), allow_pickle=False) as got, np.load(by_numpy) as want:
        assert got.files == want.files == list(ARRAYS)
        for key in want.files:
            assert (got[key].dtype, got[key].shape) == (want[key].dtype, want[key].shape), key
            assert got[key].flags.f_contiguous == want[key].flags.f_contiguous, key
            np.testing.assert_array_equal(got[key], want[key])


@pytest.mark.parametrize("compressed", [True, False])
def test_a_written_npz_is_what_numpy_zipfile_and_the_reader_read(compressed):
    data = _written(compressed)
    _assert_as_numpy_reads(data)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.testzip() is None  # every member's CRC-32
        kinds = {info.compress_type for info in z.infolist()}
    assert kinds == {zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED}
    assert npz._members(data) is not None  # the one-pass reader's own path, not zipfile's
    got = npz.read_all(io.BytesIO(data))
    for key, want in ARRAYS.items():
        np.testing.assert_array_equal(got[key], want)


def test_no_time_goes_into_the_file_members_are_named_and_dated_as_numpy_does():
    """What would make the same arrays give other bytes on another day: the members' dates."""
    by_numpy = io.BytesIO()
    np.savez_compressed(by_numpy, **ARRAYS)
    with zipfile.ZipFile(io.BytesIO(_written())) as ours, zipfile.ZipFile(by_numpy) as numpys:
        assert ([(i.filename, i.date_time) for i in ours.infolist()]
                == [(i.filename, i.date_time) for i in numpys.infolist()])
        assert {i.date_time for i in ours.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_without_isal_zlib_writes_the_same_formats(monkeypatch):
    with_isal = _written()
    table = b"cell_id,epoch,loss\n" + b"tanh-x,1,0.693147182\n" * 500
    monkeypatch.setattr(deflate, "_zlib", zlib)
    monkeypatch.setattr(deflate, "_gzip", gzip)
    monkeypatch.setattr(deflate, "CELL_LEVEL", 6)
    monkeypatch.setattr(deflate, "TABLE_LEVEL", 6)
    _assert_as_numpy_reads(_written())
    assert npz.read_all(io.BytesIO(with_isal)).keys() == ARRAYS.keys()  # zlib inflates ISA-L's
    assert gzip.decompress(deflate.gzip(table)) == table


def test_the_published_table_is_one_gzip_member_with_no_time_or_name():
    table = b"cell_id,epoch,loss\n" + b"relu-x,2,0.5\n" * 1000
    packed = deflate.gzip(table)
    assert gzip.decompress(packed) == table
    unpack = zlib.decompressobj(wbits=31)
    assert unpack.decompress(packed) == table and unpack.eof and not unpack.unused_data
    assert packed[3] == 0 and packed[4:8] == bytes(4)  # no FNAME or other flags; mtime 0


def test_a_damaged_stream_is_a_zlib_error_whichever_library_reads_it():
    packed = deflate.deflate(b"some bytes " * 100)
    with pytest.raises(zlib.error):
        deflate.inflate(b"\xff" + packed[1:], 1100)


def test_arrays_too_large_for_a_plain_zip_are_left_to_numpy(monkeypatch):
    monkeypatch.setattr(npz, "NUMPY_FROM", 1)
    data = _written()
    _assert_as_numpy_reads(data)
    local_extra = int.from_bytes(data[28:30], "little")
    assert local_extra > 0  # numpy's zip64 field, which write_all never writes
