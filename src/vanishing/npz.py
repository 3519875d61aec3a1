"""Every array of an .npz file in one pass: what ``np.load`` gives key by key, read faster; and
an .npz written as ``np.savez_compressed`` lays it out, deflated faster (deflate.py).

Rendering the default preset reads 408 cells of ~40 small arrays each; np.load parses every
array's .npy header with ``ast.literal_eval`` (half its time), though a cell's headers repeat
from cell to cell. Here each distinct header is parsed once (cached), and the array is copied
out of its member's bytes (writable, as np.load's are). The file is read whole and its zip
directory walked here (``_members``): zipfile's reader opens a file object per member, which
took 0.4 of the 1.5 s the default preset's cells take to load. A zip of another shape (a
comment, zip64 directory, encryption, another compression) is left to zipfile.

``write_all`` writes what np.savez_compressed writes, member for member, but deflates with
ISA-L where it is installed (5x faster for a cell's arrays, the same size): a zip with no
zip64 records, which np.load, zipfile and this reader read. Arrays of 2 GiB or more are left to
numpy, which writes zip64 where sizes and offsets need it.
"""

from __future__ import annotations

import ast
import functools
import math
import struct
import zipfile
from collections.abc import Mapping
from io import BytesIO
from typing import IO, Any

import numpy as np
from numpy.lib.format import descr_to_dtype, write_array

from vanishing import deflate

MAGIC = b"\x93NUMPY"
# The zip records read here (APPNOTE 4.3.7, 4.3.12, 4.3.16), with their signatures.
_LOCAL = struct.Struct("<4s5H3L2H")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_END = struct.Struct("<4s4H2LH")
_STORED, _DEFLATED = 0, 8
_ENCRYPTED, _UTF8 = 0x1, 0x800
_ZIP64 = 0xFFFFFFFF
# As zipfile writes the members np.savez adds: dated 1980-01-01 00:00 (DOS date and time),
# version 2.0, made on Unix, read-write for the owner.
_DOS_TIME, _DOS_DATE = 0, (1 << 5) | 1
_MADE_BY, _NEEDED = (3 << 8) | 20, 20
_MEMBER_MODE = 0o600 << 16
NUMPY_FROM = _ZIP64 // 2  # bytes of arrays from which numpy writes the file: sizes and offsets need zip64


def read_all(f: IO[bytes]) -> dict[str, np.ndarray]:
    """{key: array} of every member, in the file's order (np.load's ``files``). ValueError for a
    member that is not an .npy array, or an object array (np.load with allow_pickle=False);
    zipfile's and zlib's errors for a damaged file."""
    data = f.read()
    members = _members(data)
    if members is None:
        with zipfile.ZipFile(BytesIO(data)) as z:
            members = [(name, z.read(name)) for name in z.namelist()]
    return {name.removesuffix(".npy"): _array(name, raw) for name, raw in members}


def _members(data: bytes) -> list[tuple[str, bytes]] | None:
    """(name, bytes) of each member in the central directory's order, each checked against its
    size and CRC-32 as zipfile checks them; None for a zip this does not read."""
    end = data[-_END.size:]
    if len(end) < _END.size or end[:4] != b"PK\x05\x06":
        return None  # a comment after the directory, or no zip at all: zipfile says which
    _, _, _, _, count, size, offset, comment = _END.unpack(end)
    if comment or _ZIP64 in (size, offset) or offset + size > len(data) - _END.size:
        return None
    view, members, at = memoryview(data), [], offset
    for _ in range(count):
        (sig, _, _, flags, method, _, _, crc, packed, unpacked, name_len, extra_len, comment_len, _, _, _,
         local) = _CENTRAL.unpack_from(data, at)
        if (sig != b"PK\x01\x02" or flags & _ENCRYPTED or method not in (_STORED, _DEFLATED)
                or _ZIP64 in (packed, unpacked, local)):
            return None
        name = data[at + _CENTRAL.size:at + _CENTRAL.size + name_len]
        at += _CENTRAL.size + name_len + extra_len + comment_len
        raw = view[_start(data, name, local):][:packed]
        if len(raw) < packed:
            raise zipfile.BadZipFile(f"{name!r}: truncated")
        out = deflate.inflate(raw, min(unpacked, 1 << 24)) if method == _DEFLATED else bytes(raw)
        if len(out) != unpacked or deflate.crc32(out) != crc:
            raise zipfile.BadZipFile(f"{name!r}: bad CRC-32 or size")
        members.append((name.decode("utf-8" if flags & _UTF8 else "cp437"), out))
    return members


def _start(data: bytes, name: bytes, local: int) -> int:
    """Where the member whose local header is at ``local`` begins; that header must name it."""
    sig, *_, name_len, extra_len = _LOCAL.unpack_from(data, local)
    after = local + _LOCAL.size
    if sig != b"PK\x03\x04" or data[after:after + name_len] != name:
        raise zipfile.BadZipFile(f"{name!r}: bad local file header")
    return after + name_len + extra_len


def _array(name: str, data: bytes) -> np.ndarray:
    if data[:6] != MAGIC or len(data) < 10:
        raise ValueError(f"{name}: not an .npy array")
    major = data[6]
    if major == 1:
        start = 10 + int.from_bytes(data[8:10], "little")
    elif major in (2, 3):
        start = 12 + int.from_bytes(data[8:12], "little")
    else:
        raise ValueError(f"{name}: .npy format version {major} is not one numpy writes")
    dtype, shape, fortran = _header(data[10 if major == 1 else 12:start], major)
    count = math.prod(shape)
    if len(data) - start < count * dtype.itemsize:
        raise ValueError(f"{name}: holds fewer bytes than its {shape} {dtype} array")
    flat = np.frombuffer(data, dtype=dtype, count=count, offset=start).copy()
    # As numpy.lib.format.read_array lays out a Fortran-ordered array.
    return flat.reshape(shape[::-1]).transpose() if fortran else flat.reshape(shape)


@functools.lru_cache(maxsize=1024)
def _header(text: bytes, major: int) -> tuple[np.dtype, tuple[int, ...], bool]:
    """(dtype, shape, fortran_order) of one .npy header, parsed as numpy.lib.format does."""
    d = ast.literal_eval(text.decode("utf8" if major == 3 else "latin1"))
    if (not isinstance(d, dict) or sorted(d) != ["descr", "fortran_order", "shape"]
            or not isinstance(d["shape"], tuple) or not all(isinstance(x, int) and x >= 0 for x in d["shape"])
            or not isinstance(d["fortran_order"], bool)):
        raise ValueError(f"not an .npy header: {text[:80]!r}")
    dtype = descr_to_dtype(d["descr"])
    if dtype.hasobject:
        raise ValueError("holds Python objects, which are not read (allow_pickle=False)")
    return dtype, d["shape"], d["fortran_order"]


def write_all(f: IO[bytes], arrays: Mapping[str, Any], compressed: bool = True) -> None:
    """np.savez_compressed(f, **arrays) (np.savez's stored members when not ``compressed``)."""
    members = []
    for key, value in arrays.items():
        buf = BytesIO()
        write_array(buf, np.asanyarray(value), allow_pickle=False)
        members.append((f"{key}.npy".encode(), buf.getvalue()))
    if sum(len(raw) for _, raw in members) >= NUMPY_FROM:
        (np.savez_compressed if compressed else np.savez)(f, **arrays)
        return
    central, at = [], 0
    for name, raw in members:
        packed = deflate.deflate(raw) if compressed else raw
        method, crc = (_DEFLATED if compressed else _STORED), deflate.crc32(raw)
        fields = (method, _DOS_TIME, _DOS_DATE, crc, len(packed), len(raw), len(name))
        f.write(_LOCAL.pack(b"PK\x03\x04", _NEEDED, 0, *fields, 0) + name)
        f.write(packed)
        no_extra_comment_disk_or_text = (0, 0, 0, 0)
        central.append(_CENTRAL.pack(b"PK\x01\x02", _MADE_BY, _NEEDED, 0, *fields,
                                     *no_extra_comment_disk_or_text, _MEMBER_MODE, at) + name)
        at += _LOCAL.size + len(name) + len(packed)
    directory = b"".join(central)
    f.write(directory + _END.pack(b"PK\x05\x06", 0, 0, len(central), len(central), len(directory), at, 0))
