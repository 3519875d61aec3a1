"""analysis.py on a real smoke run, checked against independent computations."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from vanishing import analysis
from vanishing.results import read_cell, read_metrics


@pytest.fixture(scope="module")
def run(smoke_results):
    return analysis.load_run(smoke_results)


def test_attenuation_is_log10_of_first_over_last():
    assert analysis.attenuation(1e-3, 1e-1) == pytest.approx(-2.0)
    assert analysis.attenuation(5.0, 0.5) == pytest.approx(1.0)
    assert analysis.attenuation(0.0, 1.0) == -math.inf  # a dead first layer


def test_every_manifest_cell_is_read(run):
    assert run.missing == ()
    assert {c.cell_id for c in run.cells} == {e["cell_id"] for e in run.manifest["cells"]}


def test_layer_statistics_match_metrics_csv(run, smoke_results):
    # metrics.csv is written by results.py's own code path: an independent witness.
    metrics = read_metrics(smoke_results)
    for cell in run.cells[:4]:
        rows = metrics["cell_id"] == cell.cell_id
        for column in ("weight_mean", "weight_std", "grad_mean", "grad_std", "grad_abs_mean"):
            expected = np.full_like(getattr(cell, column), np.nan)
            expected[metrics["epoch"][rows], metrics["layer"][rows] - 1] = metrics[column][rows]
            np.testing.assert_allclose(getattr(cell, column), expected, rtol=1e-6, atol=1e-12,
                                       err_msg=f"{cell.cell_id} {column}")
        np.testing.assert_allclose(cell.loss[metrics["epoch"][rows]], metrics["loss"][rows],
                                   rtol=1e-6)


def test_attenuation_of_a_cell_uses_first_and_last_hidden_layer(run, smoke_results):
    cell = run.cells[0]
    arrays = read_cell(smoke_results, cell.cell_id)
    first = np.abs(arrays["grad_kernel_1"][0]).mean()
    last = np.abs(arrays[f"grad_kernel_{cell.depth}"][0]).mean()
    assert cell.attenuation[0] == pytest.approx(np.log10(first / last), rel=1e-5)
    assert cell.attenuation.shape == (cell.epochs + 1,)


def test_summary_is_mean_and_std_over_seeds(run):
    summaries = analysis.summarize(run.cells)
    g = next(s for s in summaries if len(s.seeds) > 1)
    mine = [c for c in run.cells if (c.activation, c.initializer, c.depth)
            == (g.activation, g.initializer, g.depth)]
    finals = np.array([c.accuracy[-1] for c in mine])
    assert g.final_accuracy.n == len(mine)
    assert g.final_accuracy.mean == pytest.approx(finals.mean())
    assert g.final_accuracy.std == pytest.approx(finals.std())
    assert len(g.grad_abs_mean_init) == g.depth + 1


def test_diverged_cells_are_never_averaged_in(run):
    target = run.cells[0]
    key = (target.activation, target.initializer, target.depth)
    poisoned = dataclasses.replace(target, status="diverged", diverged_epoch=2,
                                   loss=np.full_like(target.loss, np.nan))
    cells = [poisoned if c is target else c for c in run.cells]
    g = next(s for s in analysis.summarize(cells)
             if (s.activation, s.initializer, s.depth) == key)
    ok = [c for c in run.cells if (c.activation, c.initializer, c.depth) == key and c is not target]
    assert g.diverged == ((target.seed, 2),)
    assert g.final_loss.n == len(ok)
    if ok:
        assert g.final_loss.mean == pytest.approx(np.mean([c.loss[-1] for c in ok]))
    else:
        assert math.isnan(g.final_loss.mean)
    # Before training every cell counts, the diverged one too.
    assert g.attenuation_init.n == len(ok) + 1


def test_main_grid_follows_the_main_matrix(run):
    grid = analysis.main_grid(run.manifest, analysis.summarize(run.cells))
    main = next(m for m in run.manifest["matrices"] if m["name"] == "main")
    assert grid is not None
    assert grid.activations == tuple(main["activations"])
    assert grid.initializers == tuple(main["initializers"])
    assert grid.depth in main["depths"]
    assert all(g is not None for row in grid.cells for g in row)


def test_depth_curves_cover_the_depth_sweep(run):
    curves = analysis.depth_curves(analysis.summarize(run.cells))
    sweep = next(m for m in run.manifest["matrices"] if m["name"] == "depth")
    pairs = {(c.activation, c.initializer) for c in curves}
    assert pairs >= {(a, i) for a in sweep["activations"] for i in sweep["initializers"]}
    for c in curves:
        assert list(c.depths) == sorted(c.depths) and len(c.depths) >= 2


def test_tutorial_table_compares_with_the_cells_measured(run):
    tutorial = analysis.tutorial_cells(run.cells)
    rows = analysis.tutorial_table(tutorial)
    assert [r.activation for r in rows] == ["sigmoid", "tanh", "relu"]
    sigmoid = next(r for r in rows if r.activation == "sigmoid")
    assert (sigmoid.reported_loss, sigmoid.reported_accuracy) == (0.665, 0.588)
    cells = tutorial["sigmoid"]
    assert all(c.initializer == analysis.TUTORIAL_INITIALIZER for c in cells)
    assert sigmoid.measured_loss.mean == pytest.approx(np.mean([c.loss[-1] for c in cells]))


def test_findings_are_sentences_about_this_run(run):
    summaries = analysis.summarize(run.cells)
    grid = analysis.main_grid(run.manifest, summaries)
    text = analysis.findings(grid, analysis.depth_curves(summaries), 0, ("gone-1",), 5)
    present = len(grid.present())
    assert f"of {present} activation × initializer pairs" in text[0]
    assert any("1 cell listed in the manifest" in s for s in text)
    assert analysis.findings(None, (), 0, (), None)  # no grid: says so, does not crash


def test_stat_of_nothing():
    s = analysis.Stat.of([])
    assert s.n == 0 and math.isnan(s.mean)
    assert analysis.format_stat(s) == "–"
    assert analysis.format_sci(3.1e-4) == "3.1e−4"
    assert analysis.format_signed(-math.inf) == "−∞"
