"""Small networks of several activations train as one stacked model (issue 13): each cell's
numbers are those of its own activation's group, up to the order XLA sums in."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from killing import assert_same_results
from test_engine import dataset, load

from vanishing import cli, config, engine, results, runner

# exponential with stddev 1 overflows within three layers: its cells diverge beside the others
MIXED = """
[data]
n_samples = 100
[train]
epochs = 3
[matrix.m]
activations = ["tanh", "exponential", "relu", "sigmoid"]
initializers = [{ name = "random_normal", stddev = 1.0 }, "glorot_uniform", "he_normal"]
depths = [3]
seeds = [0, 1]
"""
# A group sums its cells' gradients over the samples in an order that can depend on how many
# cells it holds (XLA's choice of loop), so a cell is compared with its own group, not bit for bit.
GRADIENT_RTOL = 1e-6
ACCURACY_ATOL = 0.01


def relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def test_a_group_with_a_cell_missing_trains_whole_and_writes_only_that_cell(smoke_results, tmp_path, capsys):
    """A resumed run stacks a missing cell with the same cells as the first run did, so its last
    bits are the first run's; the cells on disk are trained again but not written."""
    out = tmp_path / "results"
    shutil.copytree(smoke_results, out)
    entries = results.read_manifest(out)["cells"]
    missing = next(e for e in entries if e["activation"] == "relu" and e["depth"] == 2)
    results.cell_path(out, missing["cell_id"]).unlink()
    p = runner.plan(config.load("smoke"), out)
    # depth 2: sigmoid and relu, one seed of two initializers each, train as one stack
    assert [sorted(c.cell_id for c in g) for g in p.groups] == [
        sorted(e["cell_id"] for e in entries if e["depth"] == 2)]
    assert sum(c.cell_id in p.done for g in p.groups for c in g) == 3  # on disk, trained again
    assert cli.main(["train", "--preset", "smoke", "--results", str(out), "--dry-run"]) == 0
    said = capsys.readouterr().out
    assert "1 to train) in 1 group, beside 3 on disk trained again with their group" in said
    before = {e["cell_id"]: results.cell_path(out, e["cell_id"]).stat().st_mtime_ns for e in entries
              if e["cell_id"] != missing["cell_id"]}
    assert cli.main(["train", "--preset", "smoke", "--results", str(out), "--jobs", "1"]) == 0
    assert "(1 trained, 27 reused, " in capsys.readouterr().err
    assert before == {i: results.cell_path(out, i).stat().st_mtime_ns for i in before}  # not rewritten
    assert_same_results(out, smoke_results)


@pytest.mark.slow  # trains the matrix five times: once together, once per activation
def test_each_cell_of_a_shared_program_matches_its_own_activations_group(tmp_path):
    exp = load(tmp_path, MIXED)
    cells = exp.cells()[::-1]  # the activations interleaved the wrong way round: records keep this order
    X, y = dataset(exp)
    shared = engine.train_group(cells, X, y)
    assert [r.cell for r in shared] == cells
    alone = {r.cell: r for a in {c.activation for c in cells}
             for r in engine.train_group([c for c in cells if c.activation == a], X, y)}
    diverged = [r.cell.activation for r in shared if r.status == "diverged"]
    assert diverged and set(diverged) == {"exponential"}  # the isolation below is exercised
    for r in shared:
        own = alone[r.cell]
        assert (r.status, r.diverged_epoch) == (own.status, own.diverged_epoch), r.cell.cell_id
        assert np.array_equal(np.isnan(r.arrays["act_saturated_frac"]),
                              np.isnan(own.arrays["act_saturated_frac"]))
        if r.status == "diverged":
            continue
        for layer in range(1, r.cell.depth + 2):
            key = f"grad_kernel_{layer}"
            assert relative(r.arrays[key][0], own.arrays[key][0]) <= GRADIENT_RTOL, (r.cell.cell_id, key)
        assert abs(r.arrays["accuracy"][-1] - own.arrays["accuracy"][-1]) <= ACCURACY_ATOL
    # saturation is each cell's own activation's: unbounded exponential NaN, bounded tanh a number
    by_activation = {r.cell.activation: r for r in shared if r.status == "ok"}
    assert np.isfinite(by_activation["tanh"].arrays["act_saturated_frac"]).all()
