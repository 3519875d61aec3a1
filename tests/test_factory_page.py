"""The page of a model factory's matrix (`vanishing train` with [model] factory): the reader's two
views of each network, the matrix sections' sentences against the stored numbers, the recorder's
views network by network (and their cap), what is left out and why, and the factory's source.

The directory is fabricated in the training side's format (tests/fakes.py: factory_results):
2 activations x 2 initializers x depths 2 and 4 x 2 seeds on a 3-class data file; the factory
builds 3 weight matrices at depth 2 (L = depth + 1) and 10 at depth 4 (L = 2 depth + 2); one
network diverged.
"""

from __future__ import annotations

import json
import math

import fakes
import numpy as np
import pytest
from chromium import open_offline

from vanishing import aggregate, fmt, html, reader
from vanishing.results import cell_path, write_cell
from vanishing.sections import (
    SECTIONS,
    depth,
    learning_speed,
    matrix,
    networks,
    real_data,
    reproduce,
    summary,
)
from vanishing.sections.words import words_for

ACTS, INITS = fakes.FACTORY_AXES["activations"], fakes.FACTORY_AXES["initializers"]
DEPTHS, SEEDS = fakes.FACTORY_AXES["depths"], fakes.FACTORY_AXES["seeds"]


@pytest.fixture(scope="module")
def factory_dir(tmp_path_factory):
    return fakes.factory_results(tmp_path_factory.mktemp("factory") / "results")


@pytest.fixture(scope="module")
def run(factory_dir):
    return reader.load_run(factory_dir)


@pytest.fixture(scope="module")
def built(run):
    """The page's model, built once: drawing every network's figures is the expensive part."""
    return html.build_page(run)


@pytest.fixture(scope="module")
def page(built, tmp_path_factory):
    path = tmp_path_factory.mktemp("factory-page") / "index.html"
    path.write_text(html.render_html(built), encoding="utf-8")
    return path


def _only(*ids: str) -> tuple:
    """The page's sections with these ids, in the page's order: a page that draws only what a test reads."""
    return tuple(s for s in SECTIONS if s.id in ids)


def _expected_attenuation(act: str, init: str, d: int, seed: int = 0) -> float:
    """log10 of the first matrix's mean |g| over matrix L−1's at the start, from the fake's numbers."""
    g = fakes.factory_grad(act, init, d, seed)
    return math.log10(g[0] / g[-2])


def _diverged(act: str, init: str, d: int, seed: int) -> bool:
    return (act, init, d, seed) == fakes.FACTORY_DIVERGED[:4]


# --- the reader ------------------------------------------------------------------------------------

def test_each_factory_network_is_read_as_a_matrix_cell_and_as_a_recorded_run(run, factory_dir):
    assert run.kinds == {reader.FACTORY}
    assert len(run.cells) == len(run.recorded) == len(ACTS) * len(INITS) * len(DEPTHS) * len(SEEDS)
    recorded = {r.cell_id: r for r in run.recorded}
    for c in run.cells:
        assert c.kind == recorded[c.cell_id].kind == reader.FACTORY
        assert c.factory == fakes.FACTORY_REF
        assert c.layers == len(recorded[c.cell_id].layers) == fakes.factory_layers(c.depth)
        with np.load(cell_path(factory_dir, c.cell_id)) as z:  # the stored arrays, read apart
            g = z["grad_abs_mean"]
        with np.errstate(invalid="ignore"):
            expected = np.log10(g[:, 0]) - np.log10(g[:, c.layers - 2])
        np.testing.assert_allclose(c.attenuation, expected)
        np.testing.assert_allclose(recorded[c.cell_id].attenuation, expected)
        assert c.attenuation[0] == pytest.approx(_expected_attenuation(c.activation, c.initializer, c.depth))
    assert {(c.depth, c.layers) for c in run.cells} == {(2, 3), (4, 10)}  # L = depth + 1 only at depth 2


def test_a_factory_cell_holds_nothing_the_recorder_does_not_store(run):
    for c in run.cells:
        assert c.grad_init == () and c.act_values == () and c.delta_values == ()
        assert c.boundary is None and c.act_mean is None and c.delta_rms is None
        assert c.theory_glorot_grad_rms is None and c.grad_sample_rms_init is None
    deep = next(c for c in run.cells if c.depth == 4)
    assert deep.layer_paths[0] == "dense_in/kernel" and deep.layer_paths[-1] == "logits/kernel"
    (diverged,) = [c for c in run.cells if c.diverged]
    assert (diverged.activation, diverged.initializer, diverged.depth, diverged.seed,
            diverged.diverged_epoch) == fakes.FACTORY_DIVERGED


def test_the_dataset_and_the_factory_are_typed(run):
    (data,) = run.datasets
    assert (data.shape, data.n_classes, data.classes) == ((8, 8, 1), 3, ("a", "b", "c"))
    assert data.positive_fraction is None and data.title == "mine.npz"
    f = run.provenance.factory
    assert (f.ref, f.source, f.problem) == (fakes.FACTORY_REF, fakes.FACTORY_SOURCE, "")
    assert f.file.startswith("factory/models-") and len(f.sha256) == 64


def test_an_older_dataset_entry_has_no_shape_or_classes(tmp_path):
    entry = fakes.recorded_entry("mine", 4, 2)
    arrays = fakes.recorded_arrays(4, 2, [1e-3, 1e-2, 0.1, 1])
    directory = fakes.recorded_dir(tmp_path / "rec", [(entry, arrays)])
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["datasets"] = [{"dataset_id": "circles-x", "name": "circles", "n_samples": 10, "n_features": 2,
                             "positive_fraction": 0.5}]
    (directory / "manifest.json").write_text(json.dumps(manifest))
    (data,) = reader.load_run(directory).datasets
    assert (data.shape, data.n_classes, data.classes, data.title) == ((), None, (), "circles")
    assert reader.load_run(directory).provenance.factory is None


# --- the page: which sections, and why the others are left out ----------------------------------

def _section_ids(text: str) -> list[str]:
    return [m.split('"')[1] for m in text.split("<section id=")[1:]]


def test_the_page_is_the_matrix_page_with_the_networks_and_says_what_it_leaves_out(page, run):
    text = page.read_text(encoding="utf-8")
    shown = [s for s in SECTIONS if reader.FACTORY in s.kinds]
    assert _section_ids(text) == [s.id for s in shown]
    assert {"summary", "depth", "matrix", "networks", "reproduce"} <= set(_section_ids(text))
    left_out = [s.title for s in SECTIONS if s.kinds == {reader.MATRIX}]
    assert left_out == ["The tutorial, reproduced", "Saturation", "Standard vs. Glorot initialisation",
                        "Theory beside measurement", "What the networks learned"]
    assert f"Left out here: {fmt.listing(left_out)}: they need arrays only the built-in MLP" in text
    # ... and the factory's networks indeed hold none of those arrays (the claim above, checked).
    assert not any(c.act_values or c.delta_values or c.grad_init or c.boundary is not None
                   or c.theory_meanfield_grad_rms is not None for c in run.cells)
    assert "16 networks trained by the model factory models:build · 4 epochs each" in text
    assert text.count("<script") == 2  # the panel's data and code, nothing a label planted


def test_chromium_opens_the_factory_page_offline(page):
    visit = open_offline(page)
    assert visit.requests == (visit.url,) and visit.errors == () and visit.broken_images == ()
    assert list(visit.sections) == [s.id for s in SECTIONS if reader.FACTORY in s.kinds]


# --- the summary's sentences against the fake's numbers ----------------------------------------------

def _pair_attenuation(act: str, init: str, d: int) -> float:
    return float(np.mean([_expected_attenuation(act, init, d, s) for s in SEEDS]))


def test_summary_sentences_state_the_factory_networks_numbers(run):
    part = summary.build(run)
    deep = max(DEPTHS)
    learned = sum(fakes.factory_accuracy(a, deep) >= 0.9 for a in ACTS for _ in INITS)
    chance = 1 / 3 + 0.1  # 3 balanced classes, plus the margin
    stuck = sum(fakes.factory_accuracy(a, deep) < chance for a in ACTS for _ in INITS)
    assert part.findings[0] == (
        f"{learned} of {len(ACTS) * len(INITS)} activation × initializer pairs with depth {deep} learned "
        f"the mine.npz task after 4 epochs (mean final accuracy ≥ 0.9); {stuck} stayed near chance "
        f"(< {chance:.2f}).")
    worst = min(((a, i) for a in ACTS for i in INITS), key=lambda p: _pair_attenuation(*p, deep))
    assert worst == ("sigmoid", "he_normal")
    assert part.findings[1] == (
        f"With depth {deep}, the strongest vanishing at initialisation is sigmoid with he_normal: the first "
        "weight matrix's mean |gradient| is smaller than the next-to-last weight matrix's by "
        f"{fmt.orders(_pair_attenuation('sigmoid', 'he_normal', deep))} (final accuracy "
        f"{fakes.factory_accuracy('sigmoid', deep):.2f} ± 0.00).")
    sigmoid = np.mean([_pair_attenuation("sigmoid", i, deep) for i in INITS])
    assert part.findings[2] == ("Averaged over initializers, gradients vanish by more than an order of "
                                f"magnitude in the networks of depth {deep} at initialisation for: sigmoid "
                                f"({fmt.signed(sigmoid, 1)}).")
    shallow = _pair_attenuation("sigmoid", "he_normal", min(DEPTHS))
    assert (f"With depth it gets worse: at initialisation sigmoid with he_normal goes from "
            f"{fmt.signed(shallow, 1)} at depth {min(DEPTHS)} to "
            f"{fmt.signed(_pair_attenuation('sigmoid', 'he_normal', deep), 1)} at depth {deep} (log10 of the "
            "first over the next-to-last weight matrix).") in part.findings
    assert part.findings[-1].startswith("1 cell diverged")
    assert len(part.figures) == 3  # final accuracy, attenuation at the start and after training
    assert "1/3 = 0.33 on balanced 3-class data" in part.figures[0].caption
    assert ("log10 of the first weight matrix's mean |gradient| over the next-to-last weight matrix's"
            in part.figures[1].caption)
    assert (part.first, part.last) == ("the first weight matrix", "the next-to-last weight matrix")


def test_a_stuck_initializer_of_a_factory_speaks_of_weight_matrices():
    # Factory cells with 6 weight matrices at depth 4: every matrix of stuck_init small in weights
    # and gradient beside glorot_uniform's, which learned.
    cells = []
    for act in ("sigmoid", "tanh"):
        cells.append(fakes.cell(act, "glorot_uniform", grad=[1e-2, 2e-2, 4e-2, 8e-2, 0.1, 1.0],
                                kind=reader.FACTORY))
        cells.append(fakes.cell(act, "stuck_init", grad=[1e-6] * 6, accuracy=0.5, weight_std=0.01,
                                kind=reader.FACTORY))
    grid = aggregate.main_grid(fakes.run(cells).matrices, aggregate.summarize(cells))
    sentence = summary.stuck_sentence(grid, 0.6, words_for(cells))
    assert ("stuck_init (2 of 2 activations, first-matrix mean |gradient| 1.0e−6, weight std 1.0e−2)"
            in sentence)
    assert "the first-matrix mean |gradient| is typically 1.0e−2 and the weight std 5.0e−1" in sentence
    assert "With stuck_init every weight matrix starts with small weights" in sentence


def test_the_primary_note_of_a_factory_names_the_sections_it_has():
    main = [fakes.cell(a, "glorot_uniform", grad=[1e-2, 0.1, 0.3, 0.5, 0.8, 1.0], kind=reader.FACTORY)
            for a in ("tanh", "relu")]
    other = [fakes.cell("tanh", "glorot_uniform", grad=[0.1] * 6, dataset_id="digits", kind=reader.FACTORY)]
    note = summary.primary_note(fakes.run(main + other), words_for(main))
    assert note.startswith(f"The summary, depth, matrix and network-by-network sections use the {len(main)} "
                           "networks of the primary study, circles (200 samples) trained with rmsprop")
    assert note.endswith(f"The other {len(other)} (other optimizers, other datasets) appear in the "
                         "learning-speed, optimizer and real-data sections.")


def test_learning_speed_compares_the_first_and_the_next_to_last_matrix(run):
    part = learning_speed.build(run)
    d = max(DEPTHS)
    ok = [s for s in SEEDS if not _diverged("sigmoid", "glorot_uniform", d, s)]
    # The fake's update ratio is its mean |g| / 10 every epoch: the gap is the attenuation.
    gap = np.mean([_expected_attenuation("sigmoid", "glorot_uniform", d, s) for s in ok])
    assert part.speed.note == f"Networks: sigmoid, depth {d} (the deepest run), glorot_uniform."
    assert part.speed.sentences == (
        f"sigmoid with glorot_uniform: per epoch the first weight matrix moved "
        f"{fmt.times(gap, 'less', 'more', 'as far')} the next-to-last weight matrix, relative to its "
        f"weights (median over epochs, mean over {fmt.plural(len(ok), 'seed')}).",)


def test_real_data_names_the_file_its_shape_classes_and_depths(run):
    (block,) = real_data.build(run).blocks
    assert real_data.build(run).setting == "This run: mine.npz, with depths 2 and 4."
    assert block.facts == ("300 samples, 64 features, 3 classes, each sample 8×8×1, trained with adam "
                           f"(lr 0.001), {len(run.cells)} networks")


# --- depth ----------------------------------------------------------------------------------------

def test_depth_names_depth_as_the_factory_defines_it_and_draws_the_measured_curves(run):
    part = depth.build(run)
    assert part.span == f"depth {min(DEPTHS)} to {max(DEPTHS)}" and part.note == depth.FACTORY_NOTE
    assert "against depth as the factory defines it (2 and 4; log2 axis)" in part.figure.caption
    curves = aggregate.depth_curves(aggregate.summarize(run.primary_cells()))
    fig = depth.draw_depth(curves, words_for(run.cells))
    sigmoid = next(ax for ax in fig.axes if ax.get_title(loc="left") == "sigmoid")
    assert sigmoid.get_xlabel() == "depth, as the factory defines it"
    expected = [_pair_attenuation("sigmoid", "he_normal", d) for d in DEPTHS]
    drawn = [line.get_ydata() for line in sigmoid.lines if len(line.get_ydata()) == len(expected)]
    assert any(np.allclose(y, expected) for y in drawn)


# --- the whole-matrix table -----------------------------------------------------------------------

def test_the_matrix_table_has_a_column_per_recorded_matrix_of_each_depth(run):
    part = matrix.build(run)
    assert [t.depth for t in part.tables] == [4, 2]  # the summary grid's depth first
    assert part.columns == matrix.FACTORY_COLUMNS
    for t in part.tables:
        n = fakes.factory_layers(t.depth)
        assert [k.label for k in t.layers] == [f"M{i}" for i in range(1, n + 1)]
        assert t.caption == f"depth {t.depth}" and len(t.paths) == n
        for row in t.rows:
            seeds = [fakes.factory_grad(row.activation, row.initializer, t.depth, s) for s in SEEDS]
            ok = [g for s, g in zip(SEEDS, seeds)
                  if not _diverged(row.activation, row.initializer, t.depth, s)]
            assert [a for a, _ in row.grads] == [fmt.sci(v) for v in np.mean(seeds, axis=0)]
            assert [b for _, b in row.grads] == [fmt.sci(v) for v in np.mean(ok, axis=0)]
            att = [_expected_attenuation(row.activation, row.initializer, t.depth, s) for s in SEEDS]
            assert row.attenuation_init == fmt.mean_std(np.mean(att), np.std(att), len(att), 2, sign=True)
            assert row.seeds == f"{len(ok)}/{len(SEEDS)}"
    assert part.diverged == ("factory-sigmoid-glorot_uniform-d4-s1 (epoch 3)",)


def test_the_matrix_table_reads_in_the_page(page):
    text = page.read_text(encoding="utf-8")
    assert 'title="block_4_b/kernel"' in text and "<caption>depth 2</caption>" in text


# --- network by network ---------------------------------------------------------------------------

def test_each_combination_first_seed_gets_the_recorders_views_in_the_table_order(run, built):
    part = next(v.part for v in built.sections if v.id == "networks")
    rows = [(r.activation, r.initializer, t.depth) for t in matrix.build(run).tables for r in t.rows]
    assert [n.run.name for n in part.networks] == [f"factory-{a}-{i}-d{d}-s{min(SEEDS)}" for a, i, d in rows]
    n_networks = len(ACTS) * len(INITS) * len(DEPTHS) * len(SEEDS)
    assert part.note == (f"Layer by layer, {len(rows)} of the {n_networks} networks of the primary study: "
                         "the lowest seed of each activation × initializer × depth, in the whole-matrix "
                         "table's order. Every network's numbers, per weight matrix and epoch, are in "
                         "metrics.csv.")
    first = part.networks[0]
    a, i, d = rows[0]
    att = _expected_attenuation(a, i, d)
    assert first.title == (f"{a} × {i}, depth {d}, seed 0: attenuation {fmt.signed(att)} at the start, "
                           f"{fmt.signed(att)} after epoch 4; accuracy {fakes.factory_accuracy(a, d):.3f}")
    assert len(first.run.rows) == fakes.factory_layers(d)
    # gradient flow, histograms, update ratios, saturation (the fake records it on matrix 1)
    assert len(first.figures) == 4
    assert any("moved least" in s for s in first.sentences)


def test_at_most_shown_max_networks_spread_through_the_table(run, monkeypatch):
    monkeypatch.setattr(networks, "SHOWN_MAX", 3)
    chosen = networks.selection(run)
    combinations = len(ACTS) * len(INITS) * len(DEPTHS)
    rows = [(r.activation, r.initializer, t.depth) for t in matrix.build(run).tables for r in t.rows]
    picked = [rows[0], rows[round((combinations - 1) / 2)], rows[-1]]
    assert [(c.activation, c.initializer, c.depth, c.seed) for c in chosen.cells] == [(*p, 0) for p in picked]
    part = networks.build(run)
    assert len(part.networks) == 3
    assert part.note.startswith(f"Layer by layer, 3 of the {len(run.cells)} networks of the primary study")
    assert (f"; of the {combinations} combinations run, 3 spread evenly through that order are shown, the "
            "first and the last among them.") in part.note


def test_networks_are_shown_collapsed_but_the_first(page):
    text = page.read_text(encoding="utf-8")
    section = text.split('<section id="networks">')[1].split("</section>")[0]
    assert section.count('<details class="network" open>') == 1
    assert section.count('<details class="network"') == len(ACTS) * len(INITS) * len(DEPTHS)


# --- reproduce ------------------------------------------------------------------------------------

def test_reproduce_shows_the_factory_and_its_source_escaped(page, run):
    part = reproduce.build(run)
    assert part.factory.ref == fakes.FACTORY_REF and part.factory.source == fakes.FACTORY_SOURCE
    assert part.factory.sha256 == run.provenance.factory.sha256[:12] and part.factory.problem == ""
    assert part.lead == reproduce.FACTORY_LEAD
    f = run.provenance.factory
    assert part.factory.sentence == (f"Every network was built by the model factory {fakes.FACTORY_REF}; its "
                                     f"source file's sha256 began {f.sha256[:12]} when it trained; the "
                                     f"results directory keeps a copy as {f.file}.")
    text = page.read_text(encoding="utf-8")
    assert "Builds a &lt;b&gt;residual&lt;/b&gt; MLP" in text and "<b>residual</b>" not in text
    assert "blocks &amp; friends" in text
    assert "vanishing report --config config.toml" in text  # the rerun command, as for any config


def test_a_missing_copy_of_the_factory_is_said_not_fatal(tmp_path):
    directory = fakes.factory_results(tmp_path / "results", source=None)
    f = reader.load_run(directory).provenance.factory
    assert f.source == "" and f.problem == f"its copy {f.file} is missing from the results directory"
    text = html.render_html(html.build_page(reader.load_run(directory), _only("reproduce")))
    assert f"Its source is not shown: its copy {f.file} is missing from the results directory." in text
    assert reproduce.factory_part(f).sentence == (f"Every network was built by the model factory "
                                                  f"{fakes.FACTORY_REF}; its source file's sha256 began "
                                                  f"{f.sha256[:12]} when it trained.")


def test_a_changed_copy_is_shown_with_a_warning_and_a_copy_outside_is_not_read(tmp_path):
    directory = fakes.factory_results(tmp_path / "results")
    f = reader.load_run(directory).provenance.factory
    (directory / f.file).write_text("edited = True\n", encoding="utf-8")
    changed = reader.load_run(directory).provenance.factory
    assert changed.source == "edited = True\n" and "does not match the sha256" in changed.problem
    assert reproduce.factory_part(changed).problem.startswith("Careful: its copy")
    (tmp_path / "outside.py").write_text("secret = 1\n", encoding="utf-8")
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["factory"]["file"] = "../outside.py"
    (directory / "manifest.json").write_text(json.dumps(manifest))
    outside = reader.load_run(directory).provenance.factory
    assert outside.source == "" and "inside the results directory" in outside.problem


# --- a directory with a factory's matrix and a script's recorded run ---------------------------------

def test_recorded_runs_and_factory_networks_keep_to_their_own_sections(tmp_path, monkeypatch):
    monkeypatch.setattr(networks, "SHOWN_MAX", 2)  # the test reads which runs, not their figures
    directory = fakes.factory_results(tmp_path / "results")
    entry = fakes.recorded_entry("mine", 4, 3, {"activation": "tanh", "initializer": "glorot_uniform"})
    write_cell(directory, entry, fakes.recorded_arrays(4, 3, [1e-3, 1e-2, 1e-1, 1.0]))
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["cells"].append(entry)
    (directory / "manifest.json").write_text(json.dumps(manifest))
    run = reader.load_run(directory)
    assert run.kinds == {reader.FACTORY, "keras"}
    page = html.build_page(run, _only("your-model", "networks", "matrix", "reproduce"))
    by_id = {v.id: v.part for v in page.sections}
    assert [r.name for r in by_id["your-model"].runs] == ["mine"]  # not the factory's networks
    assert "mine" not in [n.run.name for n in by_id["networks"].networks]
    assert len(by_id["matrix"].tables[0].rows) == len(ACTS) * len(INITS)  # not the recorded run
    assert page.subtitle.startswith("16 networks trained by the model factory models:build · 1 recorded run")
    assert dict((kv.key, kv.value) for kv in by_id["reproduce"].facts)["recorded runs"] == "mine"
