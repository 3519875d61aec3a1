"""A train that finds every cell on disk (what `vanishing report` does before it renders, every
time): it writes no metrics.csv the manifest already vouches for, and imports no TensorFlow."""

from __future__ import annotations

import shutil
import subprocess
import sys

from vanishing import runner


def test_a_train_that_trains_nothing_keeps_metrics_csv(smoke_results, smoke_experiment, tmp_path):
    results = shutil.copytree(smoke_results, tmp_path / "results")
    metrics = results / "metrics.csv"
    before, written = metrics.read_bytes(), metrics.stat().st_mtime_ns
    manifest = runner.train(smoke_experiment, results, progress=False)
    assert manifest["cells_trained"] == 0
    assert metrics.stat().st_mtime_ns == written  # not written again
    # a table that is not the one the manifest records is written again, as the cells make it
    metrics.write_bytes(before.replace(b",rmsprop,", b",RMSprop,", 1))
    runner.train(smoke_experiment, results, progress=False)
    assert metrics.read_bytes() == before


def test_a_train_that_trains_nothing_imports_no_tensorflow(smoke_results, tmp_path):
    results = shutil.copytree(smoke_results, tmp_path / "results")
    argv = ["train", "--preset", "smoke", "--results", str(results), "--xla-cache", "none"]
    code = (f"import sys; from vanishing import cli; code = cli.main({argv!r}); "
            "print('tensorflow' in sys.modules); sys.exit(code)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr
