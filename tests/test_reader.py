"""reader.py (the one reader), stats.py and aggregate.py on a real smoke run, checked against
independent computations on the stored arrays."""

from __future__ import annotations

import dataclasses
import json
import math
import re

import numpy as np
import pytest

from vanishing import aggregate, fmt, reader, stats
from vanishing.results import read_cell


@pytest.fixture(scope="module")
def run(smoke_results):
    return reader.load_run(smoke_results)


def _entries(run, **match):
    return [e for e in run.manifest["cells"] if all(e.get(k) == v for k, v in match.items())]


def test_attenuation_is_log10_of_first_over_last():
    assert stats.attenuation(1e-3, 1e-1) == pytest.approx(-2.0)
    assert stats.attenuation(5.0, 0.5) == pytest.approx(1.0)
    assert stats.attenuation(0.0, 1.0) == -math.inf  # a dead first layer
    # layers 1..depth are hidden: first over the depth-th, the output layer never counts
    assert stats.layer_attenuation(np.array([1e-3, 5.0, 1e-1, 7.0]), 3) == pytest.approx(-2.0)


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
                          "grad_abs_mean": np.abs(g[epoch]).mean(),
                          "grad_norm": np.sqrt((g[epoch] ** 2).sum())}
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


def test_update_ratio_is_the_relative_change_of_the_kernel(run, smoke_results):
    cell = run.cells[0]
    k = read_cell(smoke_results, cell.cell_id)["kernel_1"].astype(np.float64)
    e = 3
    expected = np.linalg.norm(k[e] - k[e - 1]) / np.linalg.norm(k[e - 1])
    assert cell.update_ratio[e, 0] == pytest.approx(expected, rel=1e-6)
    assert math.isnan(cell.update_ratio[0, 0])


def test_activation_statistics_are_the_stored_ones(run, smoke_results):
    # act_* are checked against a numpy forward pass in test_engine; here: read, not recomputed
    for cell in run.cells[:3]:
        a = read_cell(smoke_results, cell.cell_id)
        for column in ("act_saturated_frac", "act_dead_frac", "act_mean"):
            np.testing.assert_array_equal(getattr(cell, column), a[column].astype(np.float64))


def test_summary_is_mean_and_std_over_seeds(run):
    g = next(s for s in aggregate.summarize(run.cells) if len(s.seeds) > 1)
    key = (g.activation, g.initializer, g.depth)
    mine = [c for c in run.cells if (c.activation, c.initializer, c.depth) == key]
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
    g = next(s for s in aggregate.summarize(cells) if (s.activation, s.initializer, s.depth) == key)
    ok = [c for c in run.cells if (c.activation, c.initializer, c.depth) == key and c is not target]
    assert ok, "the smoke preset runs every pair with two seeds"
    assert g.diverged == ((target.seed, 2),)
    assert g.final_loss.n == len(ok)
    assert g.final_loss.mean == pytest.approx(np.mean([c.loss[-1] for c in ok]))
    # Before training every cell counts, the diverged one too.
    assert g.attenuation_init.n == len(ok) + 1


def test_main_grid_follows_the_main_matrix(run):
    grid = aggregate.main_grid(run.matrices, aggregate.summarize(run.cells))
    main = next(m for m in run.manifest["matrices"] if m["name"] == "main")
    assert grid.activations == tuple(main["activations"])
    assert grid.initializers == tuple(main["initializers"])
    assert grid.depth in main["depths"]
    assert all(g is not None for row in grid.cells for g in row)


def test_depth_curves_cover_the_depth_sweep(run):
    curves = aggregate.depth_curves(aggregate.summarize(run.cells))
    sweep = next(m for m in run.manifest["matrices"] if m["name"] == "depth")
    pairs = {(c.activation, c.initializer) for c in curves}
    assert pairs >= {(a, i) for a in sweep["activations"] for i in sweep["initializers"]}
    for c in curves:
        assert list(c.depths) == sorted(c.depths) and len(c.depths) >= 2


def test_stat_of_nothing_and_the_formats():
    s = aggregate.Stat.of([])
    assert s.n == 0 and math.isnan(s.mean)
    assert fmt.mean_std(s.mean, s.std, s.n) == "–"
    assert fmt.mean_std(0.5, 0.25, 2, 2) == "0.50 ± 0.25" and fmt.mean_std(0.5, 0.25, 1, 2) == "0.50"
    assert fmt.sci(3.1e-4) == "3.1e−4" and fmt.sci(2.5e12) == "2.5e12" and fmt.sci(0.0) == "0"
    assert fmt.signed(-math.inf) == "−∞" and fmt.signed(1.234, 1) == "+1.2"
    assert fmt.times(-2.0, "less", "more", "as much") == "100× less than"
    assert fmt.times(0.3, "less", "more", "as much") == "2.0× more than"
    assert fmt.times(0.01, "less", "more", "as much") == "about as much as"
    assert fmt.times(float("nan"), "less", "more", "as much") == "– (no number) than"
    assert fmt.decades(-1.0) == "1.0 decade" and fmt.decades(2.14) == "2.1 decades"
    assert fmt.listing(["a", "b", "c"]) == "a, b and c"


# --- the primary study ---------------------------------------------------------------------

def test_primary_study_is_the_configs_data_and_training(run, smoke_results):
    circles = next(d["dataset_id"] for d in run.manifest["datasets"] if d["name"] == "circles")
    assert run.primary == reader.Study(circles, "rmsprop", 0.001)
    # The training side writes it into the manifest: the reader does not re-validate the config.
    assert json.loads((smoke_results / "manifest.json").read_text())["primary"]["dataset_id"] == circles
    primary = run.primary_cells()
    assert {c.dataset_id for c in primary} == {circles}
    assert {c.training for c in primary} == {("rmsprop", 0.001)}
    # The smoke run mixes studies: an sgd cell and a breast_cancer cell are left out.
    assert _entries(run, optimizer="sgd") and _entries(run, dataset_id="breast_cancer")
    assert len(primary) == len(run.cells) - 2


def test_older_manifests_without_the_primary_study_derive_it(run):
    older = {k: v for k, v in run.manifest.items() if k not in ("primary", "config")}
    assert reader.primary_study(older, list(run.cells)) == run.primary
    hand_edited = {**older, "primary": {"dataset_id": "x"}}  # incomplete: derived, not trusted
    assert reader.primary_study(hand_edited, list(run.cells)) == run.primary


def test_primary_summary_never_averages_other_studies_in(run, smoke_results):
    grid = aggregate.main_grid(run.matrices, aggregate.summarize(run.primary_cells()))
    g = grid.cells[grid.activations.index("tanh")][grid.initializers.index("glorot_uniform")]
    # Independent witness: the accuracy arrays as stored, for the rmsprop circles cells only.
    ok = [e for e in _entries(run, activation="tanh", initializer="glorot_uniform", depth=4,
                              optimizer="rmsprop") if e["dataset_id"] == run.primary.dataset_id]
    finals = [read_cell(smoke_results, e["cell_id"])["accuracy"][-1] for e in ok]
    assert g.seeds == (0, 1) and g.final_accuracy.n == 2
    assert g.final_accuracy.mean == pytest.approx(np.mean(finals))
    # Without the filter the summary would mix the sgd seed in: three seeds, seed 0 twice.
    mixed = next(s for s in aggregate.summarize(run.cells)
                 if (s.activation, s.initializer, s.depth) == ("tanh", "glorot_uniform", 4))
    assert len(mixed.seeds) == 3


def test_a_run_read_in_two_halves_is_the_run_read_in_one(smoke_results, monkeypatch):
    monkeypatch.setattr(reader, "SPLIT_FROM", 10**9)
    whole = reader.load_run(smoke_results)
    monkeypatch.setattr(reader, "SPLIT_FROM", 0)
    halves = reader.load_run(smoke_results)
    entries = list(enumerate(whole.manifest["cells"]))
    assert 0 < reader._halfway(smoke_results, entries) < len(entries)
    assert halves.missing == whole.missing and len(halves.recorded) == len(whole.recorded)
    assert [c.cell_id for c in halves.cells] == [c.cell_id for c in whole.cells]
    for got, want in zip(halves.cells, whole.cells):
        for name, value in dataclasses.asdict(want).items():
            _assert_same(getattr(got, name), value)


def _assert_same(got, want) -> None:
    """Equal, arrays element for element (NaN where NaN), tuples item by item."""
    if isinstance(want, np.ndarray):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    elif isinstance(want, tuple):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            _assert_same(g, w)
    else:
        assert got == want or (got != got and want != want)  # NaN


@pytest.mark.parametrize("damaged", [["last"], ["first", "last"]])
def test_a_damaged_cell_read_in_either_half_is_named_the_first_in_order(smoke_results, tmp_path, monkeypatch,
                                                                       damaged):
    import shutil

    from vanishing.results import ResultsError, cell_path

    monkeypatch.setattr(reader, "SPLIT_FROM", 0)
    results = tmp_path / "results"
    shutil.copytree(smoke_results, results)
    ids = [e["cell_id"] for e in json.loads((results / "manifest.json").read_text())["cells"]]
    paths = {"first": cell_path(results, ids[0]), "last": cell_path(results, ids[-1])}
    for which in damaged:
        paths[which].write_bytes(paths[which].read_bytes()[:100])
    with pytest.raises(ResultsError, match=re.escape(str(paths[damaged[0]]))):
        reader.load_run(results)
