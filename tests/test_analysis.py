"""analysis.py on a real smoke run, checked against independent computations."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from vanishing import analysis
from vanishing.results import read_cell


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


def test_layer_statistics_match_numpy_on_the_stored_arrays(run, smoke_results):
    for cell in run.cells[:4]:
        a = read_cell(smoke_results, cell.cell_id)
        for layer in range(1, cell.depth + 2):
            k, g = a[f"kernel_{layer}"].astype(np.float64), a[f"grad_kernel_{layer}"].astype(np.float64)
            for epoch in (0, cell.epochs):
                expect = {"weight_mean": k[epoch].mean(), "weight_std": k[epoch].std(),
                          "grad_mean": g[epoch].mean(), "grad_std": g[epoch].std(),
                          "grad_abs_mean": np.abs(g[epoch]).mean()}
                for column, value in expect.items():
                    assert getattr(cell, column)[epoch, layer - 1] == pytest.approx(value, rel=1e-9), column
        np.testing.assert_array_equal(cell.loss, a["loss"].astype(np.float64))


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


# --- the primary study and the issue-4 sections ---------------------------------------------------

def _entries(run, **match):
    return [e for e in run.manifest["cells"] if all(e.get(k) == v for k, v in match.items())]


def test_primary_study_is_the_configs_data_and_training(run):
    circles = next(d["dataset_id"] for d in run.manifest["datasets"] if d["name"] == "circles")
    assert run.primary == analysis.Study(circles, "rmsprop", 0.001)
    primary = run.primary_cells()
    assert {c.dataset_id for c in primary} == {circles}
    assert {c.training for c in primary} == {("rmsprop", 0.001)}
    # The smoke run mixes studies: an sgd cell and a breast_cancer cell are left out.
    assert _entries(run, optimizer="sgd") and _entries(run, dataset_id="breast_cancer")
    assert len(primary) == len(run.cells) - 2


def test_primary_summary_never_averages_other_studies_in(run, smoke_results):
    summaries = analysis.summarize(run.primary_cells())
    grid = analysis.main_grid(run.manifest, summaries)
    g = grid.cells[grid.activations.index("tanh")][grid.initializers.index("glorot_uniform")]
    # Independent witness: the accuracy arrays as stored, for the rmsprop circles cells only.
    ok = [e for e in _entries(run, activation="tanh", initializer="glorot_uniform", depth=4,
                              optimizer="rmsprop") if e["dataset_id"] == run.primary.dataset_id]
    finals = [read_cell(smoke_results, e["cell_id"])["accuracy"][-1] for e in ok]
    assert g.seeds == (0, 1) and g.final_accuracy.n == 2
    assert g.final_accuracy.mean == pytest.approx(np.mean(finals))
    sgd = _entries(run, activation="tanh", initializer="glorot_uniform", optimizer="sgd")
    assert sgd and all(e["cell_id"] not in {c.cell_id for c in run.primary_cells()} for e in sgd)
    # Before this filter, the summary mixed the sgd seed in: three seeds, one of them seed 0 twice.
    mixed = next(s for s in analysis.summarize(run.cells)
                 if (s.activation, s.initializer, s.depth) == ("tanh", "glorot_uniform", 4))
    assert len(mixed.seeds) == 3


def test_primary_study_falls_back_to_the_first_matrix_without_a_config(run):
    manifest = {k: v for k, v in run.manifest.items() if k != "config"}
    study = analysis.primary_study(manifest, run.cells)
    assert study == run.primary


def test_activation_statistics_are_the_stored_ones(run, smoke_results):
    # act_* are checked against a numpy forward pass in test_engine; here: read, not recomputed
    for cell in run.cells[:3]:
        a = read_cell(smoke_results, cell.cell_id)
        for column in ("act_saturated_frac", "act_dead_frac", "act_mean"):
            np.testing.assert_array_equal(getattr(cell, column), a[column].astype(np.float64))


def test_update_ratio_is_the_relative_change_of_the_kernel(run, smoke_results):
    cell = run.cells[0]
    k = read_cell(smoke_results, cell.cell_id)["kernel_1"].astype(np.float64)
    e = 3
    expected = np.linalg.norm(k[e] - k[e - 1]) / np.linalg.norm(k[e - 1])
    assert cell.update_ratio[e, 0] == pytest.approx(expected, rel=1e-6)
    assert math.isnan(cell.update_ratio[0, 0])


def test_saturation_uses_the_tutorial_networks_and_names_the_standard_init(run):
    comparisons = analysis.saturation_comparisons(run.primary_cells())
    assert [c.activation for c in comparisons] == ["sigmoid", "tanh", "relu"]
    for c in comparisons:
        assert c.depth == analysis.TUTORIAL_DEPTH
        inits = [i for i, _ in c.initializers]
        assert inits[0] == analysis.TUTORIAL_INITIALIZER and inits[-1] == "glorot_uniform"
        # The same "standard" as the Glorot section.
        assert analysis.standard_initializer(inits) == analysis.glorot_comparison(
            run.primary_cells(), c.depth).standard or c.activation != "tanh"
    facts = analysis.saturation_facts(comparisons)
    assert len(facts) == 3 and "dead" in facts[2]


def test_optimizer_study_and_the_step_contrast(run, smoke_results):
    study = analysis.optimizer_study(run)
    assert study is not None
    assert study.trainings == (("sgd", 0.1), ("rmsprop", 0.001))
    assert study.depth == 4
    assert {(c.activation, c.initializer) for c in study.cells} == {("tanh", "glorot_uniform")}
    contrasts = analysis.step_contrasts(study, "tanh", "glorot_uniform")
    sgd = next(e for e in _entries(run, optimizer="sgd"))
    arrays = read_cell(smoke_results, sgd["cell_id"])
    first = np.abs(arrays["grad_kernel_1"][1:]).reshape(arrays["loss"].size - 1, -1).mean(1)
    last = np.abs(arrays["grad_kernel_4"][1:]).reshape(arrays["loss"].size - 1, -1).mean(1)
    assert contrasts[0].gradient.mean == pytest.approx(np.median(np.log10(first / last)),
                                                       rel=1e-5)
    sentence = analysis.optimizer_sentence("tanh", "glorot_uniform", contrasts)
    assert "sgd (lr 0.1)" in sentence and "rmsprop (lr 0.001)" in sentence


def test_no_optimizer_study_without_an_optimizer_axis(run):
    single = dataclasses.replace(run, cells=run.primary_cells())
    assert analysis.optimizer_study(single) is None


def test_real_data_studies_hold_only_datasets_with_more_than_two_features(run):
    studies = analysis.real_data_studies(run)
    assert [s.name for s in studies] == ["breast_cancer"]
    s = studies[0]
    assert s.n_features == 30 and [g.depth for g in s.grids] == [3]
    assert s.grids[0].cells[0][0].final_accuracy.n == 1


def test_theory_points_need_both_predictions(run):
    bare = [dataclasses.replace(c, theory_glorot_grad_rms=None, theory_meanfield_grad_rms=None)
            for c in run.cells]
    assert analysis.theory_points(bare) == ()  # absent from the results: no points
    half = [dataclasses.replace(c, theory_meanfield_grad_rms=None) for c in run.cells]
    assert analysis.theory_points(half) == ()
    cells = [dataclasses.replace(c, theory_glorot_grad_rms=c.grad_sample_rms_init * 2.0,
                                 theory_meanfield_grad_rms=c.grad_sample_rms_init
                                 * np.linspace(1.0, 0.1, c.depth + 1)[::-1])
             for c in run.cells]
    points = analysis.theory_points(cells)
    # Same initial weights trained by two optimizers count once.
    assert len(points) == len(run.cells) - 1
    p = points[0]
    assert p.glorot == pytest.approx(p.measured)  # a constant factor cancels in the ratio
    # measured is per example (what theory predicts); measured_dataset is the trained-on gradient
    c = p.cell
    per_example = c.grad_sample_rms_init
    assert p.measured == pytest.approx(np.log10(per_example[0] / per_example[c.depth - 1]))
    assert p.measured_dataset == pytest.approx(np.log10(c.grad_rms_init[0] / c.grad_rms_init[c.depth - 1]))
    text = analysis.theory_statements(points)
    assert any(s.startswith("sigmoid") for s in text)
