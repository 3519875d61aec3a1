"""The persistent compilation cache (xla_cache.py) changes no number: a run that loads its
programs from the cache gives the same arrays, bit for bit, as one that compiled them, and a
cache entry that cannot be read is compiled again (subprocesses: TensorFlow reads the flag when
it starts)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from vanishing.results import read_cell, read_manifest
from vanishing.xla_cache import FLAG, directory_for, disable, enable

SMALL = ["--preset", "smoke", "--set", "train.epochs=3", "--jobs", "1"]


def _train(results, *extra: str) -> None:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("TF_XLA_FLAGS", None)
    subprocess.run([sys.executable, "-m", "vanishing.cli", "train", *SMALL, "--results", str(results),
                    *extra], check=True, env=env, capture_output=True)


def _arrays(results) -> dict[str, dict[str, np.ndarray]]:
    return {e["cell_id"]: read_cell(results, e["cell_id"]) for e in read_manifest(results)["cells"]}


def _same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for cell_id in a:
        assert a[cell_id].keys() == b[cell_id].keys()
        for name, value in a[cell_id].items():
            if name == "cell_info":
                continue
            np.testing.assert_array_equal(value, b[cell_id][name], err_msg=f"{cell_id}: {name}")


@pytest.mark.slow
def test_programs_from_the_cache_give_the_same_arrays_as_compiled_ones(tmp_path):
    cache = tmp_path / "cache"
    _train(tmp_path / "compiled", "--xla-cache", "none")
    _train(tmp_path / "filling", "--xla-cache", str(cache))
    entries = sorted(directory_for(cache).glob("*"))
    assert entries, "the run wrote no compiled program to the cache"
    before = {e.name: (e.stat().st_mtime_ns, e.read_bytes()) for e in entries}
    _train(tmp_path / "cached", "--xla-cache", str(cache))
    # every program was found: none written again, none added
    assert {e.name: (e.stat().st_mtime_ns, e.read_bytes()) for e in directory_for(cache).glob("*")} == before
    compiled = _arrays(tmp_path / "compiled")
    _same(compiled, _arrays(tmp_path / "filling"))
    _same(compiled, _arrays(tmp_path / "cached"))
    # an entry cut short (a process killed while writing it) is compiled again, same numbers
    for entry in entries:
        entry.write_bytes(entry.read_bytes()[: len(entry.read_bytes()) // 2])
    _train(tmp_path / "truncated", "--xla-cache", str(cache))
    _same(compiled, _arrays(tmp_path / "truncated"))
    assert all(len(e.read_bytes()) > 1000 for e in directory_for(cache).glob("*.pb"))  # written anew


def test_the_flag_names_one_directory_per_tensorflow_and_goes_when_turned_off(tmp_path, monkeypatch):
    monkeypatch.setenv("TF_XLA_FLAGS", f"--tf_xla_auto_jit=0 {FLAG}=/elsewhere")
    directory = enable(tmp_path / "c")
    assert directory.is_dir() and directory.parent == tmp_path / "c" and directory.name.startswith("tf-")
    assert os.environ["TF_XLA_FLAGS"] == f"--tf_xla_auto_jit=0 {FLAG}={directory}"
    disable()
    assert os.environ["TF_XLA_FLAGS"] == "--tf_xla_auto_jit=0"
