"""`vanishing train --cluster`: groups trained on a Dask cluster's workers, written by the driver,
equal a local run array for array and row for row; and what --cluster refuses (exit 2)."""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest

from vanishing import cli, cluster, results, runner


def _fails(argv: list[str], capsys, *words: str) -> None:
    capsys.readouterr()
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("vanishing: error: --cluster") and err.count("\n") == 1, err
    for word in words:
        assert word in err, (word, err)


def test_a_local_cluster_trains_what_a_local_run_does(smoke_results, tmp_path, monkeypatch, capsys):
    """The local run is the session's smoke run; the cluster (two worker processes) trains its
    smallest group again (depth 2: sigmoid and relu, two cells each) in a copy holding the rest.

    Whole groups: a cell trained in a stack of another size can differ in the last bit (a group
    of one vs two, found here, not a matter of the cluster; see the report of issue 11).
    """
    remote = tmp_path / "cluster"
    shutil.copytree(smoke_results, remote)
    entries = results.read_manifest(smoke_results)["cells"]
    again = [e["cell_id"] for e in entries if e["depth"] == 2]
    assert len(again) == 4
    for cell_id in again:  # resume: every other cell stays
        results.cell_path(remote, cell_id).unlink()
    (remote / "metrics.csv").unlink()
    (remote / "manifest.json").unlink()
    shown = []
    monkeypatch.setattr(runner.Progress, "show", lambda self: shown.append((self.groups_done, self.done)))
    capsys.readouterr()
    assert cli.main(["train", "--preset", "smoke", "--results", str(remote), "--jobs", "2",
                     "--cluster", "local"]) == 0
    assert f"({len(again)} trained, {len(entries) - len(again)} reused, " in capsys.readouterr().err
    # the bar ticks as the group comes back: its cells x 5 epochs x (depth 2 + 1) / 5
    assert [g for g, _ in shown] == [0, 1]
    assert [round(e, 6) for _, e in shown] == [12, 12]
    assert results.read_manifest(remote)["cells"] == entries
    for cell_id in again:
        x, y = results.read_cell(smoke_results, cell_id), results.read_cell(remote, cell_id)
        assert x.keys() == y.keys()
        for key in x:
            if key != "cell_info":
                assert x[key].dtype == y[key].dtype, key
                np.testing.assert_array_equal(x[key], y[key], err_msg=f"{cell_id}: {key}")
    assert (remote / "metrics.csv").read_bytes() == (smoke_results / "metrics.csv").read_bytes()


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
