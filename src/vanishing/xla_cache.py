"""TensorFlow's persistent XLA compilation cache: a group's compiled program kept on disk, so a
rerun, a --force, new seeds, the test suite or CI with the directory kept skip compiling.

Compiling is most of a run (benchmarks/breakdown.py); the compiled CPU executables serialize, and
TensorFlow reads and writes them itself when TF_XLA_FLAGS names a directory. The flag is read
when TensorFlow first compiles, so it is set in the environment before anything imports
TensorFlow: the worker processes inherit it (a remote Dask worker does not: it compiles).

An entry is keyed by the program and the compile options, so a cached program is the program
that would have been compiled, and results stay identical array for array (the identity test,
tests/test_xla_cache.py). TensorFlow's version names a subdirectory, so an upgrade never meets
another version's executables.

TensorFlow writes an entry to a temporary file and renames it (strace shows it), so runs and
workers share a directory safely. But it fails a run on an entry it cannot read ("Read less
bytes than requested"): one cut short by a full disk or a partial copy. So before a run uses
the directory, every
entry is parsed as protocol-buffer wire format (the schema is TensorFlow's own, not shipped in
its wheel; a truncated message is a wire-format error all the same) and one that does not parse
is removed: it is compiled again.
"""

from __future__ import annotations

import os
import re
from importlib import metadata
from pathlib import Path

FLAG = "--tf_xla_persistent_cache_directory"
DEFAULT = Path("build/xla-cache")
OFF = "none"


def _other_flags() -> list[str]:
    """TF_XLA_FLAGS as set, less any cache directory."""
    return re.sub(rf"{FLAG}=\S*", "", os.environ.get("TF_XLA_FLAGS", "")).split()


def directory_for(root: Path) -> Path:
    """root/tf-<version>: one TensorFlow's executables."""
    try:
        version = metadata.version("tensorflow")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return Path(root) / f"tf-{version}"


def remove_unreadable(directory: Path) -> list[Path]:
    """Remove the entries that are not whole protocol-buffer messages; returns them."""
    from google.protobuf import empty_pb2
    from google.protobuf.message import DecodeError

    removed = []
    for entry in sorted(Path(directory).glob("*.pb")):
        try:
            empty_pb2.Empty().ParseFromString(entry.read_bytes())
        except (DecodeError, OSError):
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


def enable(root: Path) -> Path:
    """Point this process and the ones it starts at root's cache; returns the directory used."""
    directory = directory_for(root).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    remove_unreadable(directory)
    os.environ["TF_XLA_FLAGS"] = " ".join([*_other_flags(), f"{FLAG}={directory}"])
    return directory


def disable() -> None:
    """No persistent cache: every group compiles (what --xla-cache none asks for)."""
    flags = _other_flags()
    if flags:
        os.environ["TF_XLA_FLAGS"] = " ".join(flags)
    else:
        os.environ.pop("TF_XLA_FLAGS", None)
