"""`vanishing train --cluster`: groups trained on a Dask cluster's workers, written by the driver,
equal a local run array for array and row for row; and what --cluster refuses (exit 2)."""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest

from vanishing import cli, cluster, results, runner

# Two groups of two cells (one per activation; seeds stack), 2 epochs on 40 samples: compiling
# dominates, and starting the cluster's two worker processes (each imports TensorFlow).
TINY = """
title = "cluster"
[data]
name = "circles"
n_samples = 40
seed = 0
[model]
width = 3
[train]
epochs = 2
batch_size = 16
optimizer = "rmsprop"
learning_rate = 0.001
[matrix.main]
activations = ["tanh", "relu"]
initializers = ["glorot_uniform"]
depths = [2]
seeds = [0, 1]
"""


def _fails(argv: list[str], capsys, *words: str) -> None:
    capsys.readouterr()
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("vanishing: error: --cluster") and err.count("\n") == 1, err
    for word in words:
        assert word in err, (word, err)


def test_a_local_cluster_trains_what_a_local_run_does(tmp_path, monkeypatch, capsys):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY, encoding="utf-8")
    local, remote = tmp_path / "local", tmp_path / "cluster"
    assert cli.main(["train", "--config", str(config), "--results", str(local), "--jobs", "1"]) == 0
    entries = results.read_manifest(local)["cells"]
    assert len(entries) == 4
    # resume: one cell is already there; the cluster trains its group's other cell, and the other group
    kept = entries[0]["cell_id"]
    results.cell_path(remote, kept).parent.mkdir(parents=True)
    shutil.copyfile(results.cell_path(local, kept), results.cell_path(remote, kept))
    shown = []
    monkeypatch.setattr(runner.Progress, "show", lambda self: shown.append((self.groups_done, self.done)))
    capsys.readouterr()
    assert cli.main(["train", "--config", str(config), "--results", str(remote), "--jobs", "2",
                     "--cluster", "local"]) == 0
    assert "(3 trained, 1 reused, 0 diverged)" in capsys.readouterr().err
    # the bar ticks as each group comes back: its cells x 2 epochs x (depth 2 + 1) / 5
    assert [g for g, _ in shown] == [0, 1, 1, 2]
    assert [round(e, 6) for _, e in shown] in ([1.2, 1.2, 3.6, 3.6], [2.4, 2.4, 3.6, 3.6])
    m = results.read_manifest(remote)
    assert m["cells"] == entries
    for e in entries:
        x, y = results.read_cell(local, e["cell_id"]), results.read_cell(remote, e["cell_id"])
        assert x.keys() == y.keys()
        for key in x:
            if key != "cell_info":
                assert x[key].dtype == y[key].dtype, key
                np.testing.assert_array_equal(x[key], y[key], err_msg=f"{e['cell_id']}: {key}")
    assert (remote / "metrics.csv").read_bytes() == (local / "metrics.csv").read_bytes()


def test_what_cluster_refuses(tmp_path, monkeypatch, capsys):
    base = ["train", "--preset", "smoke", "--results", str(tmp_path / "r"), "--set", "train.epochs=1"]
    _fails([*base, "--cluster", "tcp://no-port"], capsys, "'tcp://no-port'", "tcp://host:8786")
    monkeypatch.setattr(cluster, "CONNECT_SECONDS", 0.5)
    _fails([*base, "--cluster", "tcp://127.0.0.1:9"], capsys, "no Dask scheduler answered", "dask scheduler")
    assert not results.cell_path(tmp_path / "r", "x").parent.exists()  # nothing trained
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    _fails([*base, "--cluster", "local"], capsys, "not installed", "pip install 'vanishing[dask]'")


@pytest.mark.parametrize("address", ["local", "tcp://h:8786", "h:8786", "tls://h:1"])
def test_addresses_allowed(address):
    cluster.check_address(address)
