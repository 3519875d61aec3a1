"""The sections' sentences, each checked against the numbers it states, on runs where the old
wording used to be wrong (fabricated: tests/fakes.py) and on the trained smoke run."""

from __future__ import annotations

import dataclasses
import json

import fakes
import numpy as np
import pytest
from matplotlib.colors import to_hex

from vanishing import aggregate, fmt, html, plotting, reader
from vanishing.results import read_cell, write_dataset
from vanishing.sections import (
    SECTIONS,
    boundaries,
    depth,
    learning_speed,
    optimizers,
    real_data,
    summary,
    theory,
    tutorial,
)

SWEEP = ("random_normal(stddev=1.0)", "glorot_uniform")


def _curves(cells):
    return aggregate.depth_curves(aggregate.summarize(cells))


# --- summary: the depth finding ----------------------------------------------------------------

def test_depth_finding_says_growth_when_gradients_grow_with_depth():
    # depth 2: first hidden 1e-2 of the last (−1.0); depth 8: ten times MORE (+1.0). The old code
    # called any change that was not a worsening "Depth changes little here".
    cells = [fakes.cell("tanh", "he_normal", 2, grad=[1e-2, 1e-1, 1.0]),
             fakes.cell("tanh", "he_normal", 8, grad=[1.0, *[0.5] * 6, 1e-1, 1.0])]
    sentence = summary.depth_sentence(_curves(cells))
    assert "changes little" not in sentence
    assert sentence.startswith("With depth the gradient grows towards the input")
    assert "−1.0 at depth 2 to +1.0 at depth 8" in sentence


def test_depth_finding_never_states_a_missing_number():
    # A network whose hidden layers got exactly zero gradient: 0/0 has no attenuation. The old
    # code printed "Depth changes little here: ... to –".
    dead = [fakes.cell("relu", "zeros", d, grad=[0.0] * d + [1.0]) for d in (2, 8)]
    vanishing = [fakes.cell("sigmoid", "glorot_uniform", 2, grad=[1e-2, 1e-1, 1.0]),
                 fakes.cell("sigmoid", "glorot_uniform", 8, grad=[1e-5, *[1e-3] * 6, 1e-1, 1.0])]
    assert summary.depth_sentence(_curves(dead)) == ""
    sentence = summary.depth_sentence(_curves(dead + vanishing))
    assert fmt.NO_NUMBER not in sentence
    assert sentence.startswith("With depth it gets worse: at initialisation sigmoid with glorot_uniform")
    assert "−1.0 at depth 2 to −4.0 at depth 8" in sentence


def test_depth_finding_says_little_change_only_when_little_changed():
    cells = [fakes.cell("tanh", "he_normal", 2, grad=[0.1, 0.2, 1.0]),
             fakes.cell("tanh", "he_normal", 8, grad=[0.1, *[0.1] * 6, 0.25, 1.0])]
    assert summary.depth_sentence(_curves(cells)).startswith("Depth changes little here")


# --- summary: the stuck initializer --------------------------------------------------------------

def _grid(cells):
    summaries = aggregate.summarize(cells)
    return aggregate.main_grid(fakes.run(cells).matrices, summaries)


def _stuck_run(stuck_grad: float, stuck_weight: float):
    cells = []
    for act in ("sigmoid", "tanh", "relu"):
        cells.append(fakes.cell(act, "glorot_uniform", grad=[1e-2, 2e-2, 4e-2, 8e-2, 0.1]))
        cells.append(fakes.cell(act, "stuck_init", grad=[stuck_grad] * 5, accuracy=0.5,
                                weight_std=stuck_weight))
    return cells


def test_stuck_initializer_with_large_weights_is_not_called_tiny():
    # Stuck at chance, but with large weights and a first-layer gradient as large as the learners':
    # the old sentence blamed "tiny weights" anyway.
    sentence = summary.stuck_sentence(_grid(_stuck_run(stuck_grad=1e-2, stuck_weight=3.0)), 0.6)
    assert sentence.startswith("Some initializers leave most activations at chance: stuck_init (3 of 3")
    assert "first-layer mean |gradient| 1.0e−2, weight std 3.0e0" in sentence
    assert "small weights" not in sentence and "minute" not in sentence


def test_stuck_initializer_with_tiny_weights_and_gradients_says_so():
    sentence = summary.stuck_sentence(_grid(_stuck_run(stuck_grad=1e-6, stuck_weight=0.01)), 0.6)
    assert "first-layer mean |gradient| 1.0e−6, weight std 1.0e−2" in sentence
    assert "typically 1.0e−2 and the weight std 5.0e−1" in sentence
    assert "With stuck_init every layer starts with small weights" in sentence


# --- fixed words that were false for some runs -----------------------------------------------------

def _page(run, *ids: str) -> dict[str, str]:
    """The HTML of the named sections of the page rendered from a run."""
    text = html.render_html(html.build_page(run, tuple(s for s in SECTIONS if s.id in ids)))
    out = {}
    for sid in ids:
        start = text.index(f'<section id="{sid}"')
        out[sid] = text[start:text.index("</section>", start)]
    return out


def test_depth_lead_names_the_depths_run():
    cells = [fakes.cell("tanh", init, d) for init in SWEEP for d in (3, 6)]
    lead = _page(fakes.run(cells), "depth")["depth"].split("<figure")[0]
    assert "networks of 3 to 6 hidden layers" in lead and "32" not in lead


def test_real_data_names_its_depths_and_datasets():
    wine = reader.Dataset("wine-test", "wine", 178, 13, 0.4)
    cells = [fakes.cell("tanh", init, d, dataset_id=wine.dataset_id) for init in SWEEP for d in (3, 5)]
    part = real_data.build(fakes.run(cells, datasets=(fakes.CIRCLES, wine)))
    assert part.setting == "This run: wine, with 3 and 5 hidden layers."
    assert part.blocks[0].facts.startswith("178 samples, 13 features, 40 % positive")
    text = _page(fakes.run(cells, datasets=(fakes.CIRCLES, wine)), "real-data")["real-data"]
    assert "8 and 16" not in text and "breast_cancer" not in text


def test_tutorial_table_says_how_many_epochs_each_side_ran():
    cells = [fakes.cell(act, "random_normal(stddev=1.0)", 4, epochs=7) for act in ("sigmoid", "tanh")]
    text = _page(fakes.run(cells), "tutorial")["tutorial"]
    assert "tutorial (100 epochs)" in text and "this run (7 epochs)" in text
    assert "7 epochs (the tutorial: 100)" in text


def test_boundaries_name_the_classes_of_the_dataset_run(tmp_path):
    moons = reader.Dataset("moons-test", "moons", 40, 2, 0.5)
    rng = np.random.default_rng(0)
    write_dataset(tmp_path, moons.dataset_id, rng.normal(size=(40, 2)), (rng.random(40) > 0.5))
    grid = np.linspace(-2, 2, 9)
    cells = [fakes.cell("tanh", "random_normal(stddev=1.0)", dataset_id=moons.dataset_id,
                        boundary=(grid, grid, np.add.outer(grid, grid)))]
    text = _page(fakes.run(cells, datasets=(moons,), results_dir=tmp_path), "boundaries")["boundaries"]
    assert "tell the lower moon from the upper moon" in text
    assert "blue: lower moon, orange: upper moon" in text
    assert "circle" not in text and "ring" not in text


def test_theory_names_the_width_run():
    cells = [fakes.cell("tanh", "glorot_uniform", 4, width=7, grad_sample_rms_init=np.logspace(-2, 0, 5),
                        grad_rms_init=np.logspace(-3, 0, 5), theory_glorot_grad_rms=np.logspace(-1, 0, 5),
                        theory_meanfield_grad_rms=np.logspace(-2, 0, 5))]
    part = theory.build(fakes.run(cells))
    assert part.widths == "7"
    # layer 1 over layer 4: per example −2 − (−0.5) = −1.5; linear regime −1 − (−0.25) = −0.75;
    # mean field as measured; whole dataset −3 − (−0.75) = −2.25, i.e. −0.75 beyond the per-example one.
    assert part.sentences[1] == ("tanh (1 network): linear regime off by 0.75 decades, mean field by "
                                 "0.00 decades; whole dataset −0.75 decades.")
    text = _page(fakes.run(cells), "theory")["theory"]
    assert "7 units wide" in text and "5 units" not in text


# --- the trained smoke run: sentences against the stored arrays ------------------------------------

@pytest.fixture(scope="module")
def smoke(smoke_results):
    return reader.load_run(smoke_results)


def _first_over_last(arrays, depth: int, key: str = "grad_kernel") -> float:
    first = np.abs(arrays[f"{key}_1"][0]).mean()
    return float(np.log10(first / np.abs(arrays[f"{key}_{depth}"][0]).mean()))


def test_tutorial_sentences_state_the_stored_numbers(smoke, smoke_results):
    part = tutorial.build(smoke)
    cells = tutorial.tutorial_cells(smoke.primary_cells())
    assert len(part.sentences) == len(cells) == 3
    for sentence, (act, mine) in zip(part.sentences, cells.items()):
        arrays = [read_cell(smoke_results, c.cell_id) for c in mine]
        att = np.mean([_first_over_last(a, mine[0].depth) for a in arrays])
        start = np.mean([a["loss"][0] for a in arrays])
        end = np.mean([a["loss"][-1] for a in arrays])
        assert sentence.startswith(f"{act}: ")
        assert f"(attenuation {fmt.signed(att, 1)})" in sentence
        assert f"from {start:.3f} to {end:.3f}" in sentence
        ratio = "smaller than" if att < -0.05 else ("larger than" if att > 0.05 else "the same as")
        assert ratio in sentence


def test_learning_speed_sentences_state_the_stored_update_ratios(smoke, smoke_results):
    cmp = learning_speed.learning_speed_comparison(smoke.primary_cells())
    sentences = learning_speed.speed_sentences(cmp)
    assert len(sentences) == sum(1 for cells in cmp.cells if cells)
    (init, _), cells = cmp.initializers[0], cmp.cells[0]
    gaps = []
    for c in cells:
        arrays = read_cell(smoke_results, c.cell_id)
        k = [arrays[f"kernel_{layer}"].astype(np.float64) for layer in (1, c.depth)]
        moved = [np.linalg.norm((w[1:] - w[:-1]).reshape(len(w) - 1, -1), axis=1)
                 / np.linalg.norm(w[:-1].reshape(len(w) - 1, -1), axis=1) for w in k]
        gaps.append(np.median(np.log10(moved[0] / moved[1])))
    expected = fmt.times(float(np.mean(gaps)), "less", "more", "as far")
    assert sentences[0] == (f"{cmp.activation} with {init}: per epoch the first hidden layer moved "
                            f"{expected} the last hidden layer, relative to its weights (median over "
                            "epochs, mean "
                            f"over {fmt.plural(len(cells), 'seed')}).")


def test_depth_section_draws_a_panel_per_activation_and_two_lines_per_initializer(smoke):
    curves = aggregate.depth_curves(aggregate.summarize(smoke.primary_cells()))
    fig = depth.draw_depth(curves)
    acts = {c.activation for c in curves}
    panels = [ax for ax in fig.axes if ax.get_title(loc="left") in acts]
    assert len(panels) == len(acts)
    for ax in panels:
        mine = [c for c in curves if c.activation == ax.get_title(loc="left")]
        # errorbar: a data line per curve and time (init solid, end dashed)
        styles = [line.get_linestyle() for line in ax.lines if len(line.get_xdata()) == len(mine[0].depths)]
        assert styles.count("-") == len(mine) and styles.count("--") == len(mine)


def test_boundaries_draw_one_panel_per_network(smoke):
    cells = boundaries.boundary_cells(smoke)
    fig = boundaries.draw_boundaries(cells, None, None)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == len(cells)
    assert {ax.get_title(loc="left").split("\n")[0] for ax in visible} == {
        f"{c.activation} · {c.initializer.replace('random_normal(stddev=1.0)', 'random_normal(σ=1)')}"
        for c in cells}


def _lines_in(ax, colour: str) -> list:
    return [line for line in ax.lines if to_hex(line.get_color()) == colour]


def test_tutorial_figure_draws_each_layer_in_its_colour_on_five_panels_and_the_loss(smoke, smoke_results):
    cells = next(iter(tutorial.tutorial_cells(smoke.primary_cells()).values()))
    fig = tutorial.draw_activation(cells)
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert [t for t in titles if t] == [title for _, title, _ in tutorial.PANELS]
    colours = plotting.layer_colours(cells[0].depth + 1)
    grad_panel = fig.axes[titles.index("Mean |gradient|")]
    assert grad_panel.get_yscale() == "log"
    for layer, colour in enumerate(colours, start=1):
        (line,) = _lines_in(grad_panel, colour)
        # the geometric mean over seeds of the stored mean |gradient| of that layer
        stored = np.stack([np.abs(read_cell(smoke_results, c.cell_id)[f"grad_kernel_{layer}"])
                           .reshape(c.epochs + 1, -1).mean(1) for c in cells])
        np.testing.assert_allclose(line.get_ydata(), 10 ** np.log10(stored).mean(0), rtol=1e-5)
    loss_panel = fig.axes[titles.index("Loss and accuracy")]
    assert [to_hex(line.get_color()) for line in loss_panel.lines] == ["#222222"]


def test_learning_speed_figure_has_a_panel_per_initializer_and_a_line_per_layer(smoke):
    cmp = learning_speed.learning_speed_comparison(smoke.primary_cells())
    fig = learning_speed.draw_speed(cmp)
    panels = [ax for ax in fig.axes if ax.get_title(loc="left")]
    assert len(panels) == sum(1 for cells in cmp.cells if cells)
    for ax in panels:
        assert ax.get_yscale() == "log"
        assert sorted(to_hex(line.get_color()) for line in ax.lines) == sorted(
            plotting.layer_colours(cmp.depth + 1))
        assert all(line.get_xdata()[0] == 1 for line in ax.lines)  # no update ratio at epoch 0


def test_optimizer_steps_figure_has_a_column_per_training(smoke):
    study = optimizers.optimizer_study(smoke)
    act, init = learning_speed.contrast_focus(study)
    fig = learning_speed.draw_steps(study, act, init)
    tops = [ax for ax in fig.axes if ax.get_title(loc="left")]
    assert [ax.get_title(loc="left") for ax in tops] == ["sgd (lr 0.1)", "rmsprop (lr 0.001)"]
    colours = plotting.layer_colours(study.depth + 1)
    for ax in fig.axes:  # the first and the last hidden layer, nothing else
        assert {to_hex(line.get_color()) for line in ax.lines} == {colours[0], colours[study.depth - 1]}


def test_theory_scatter_puts_every_network_on_both_panels(smoke, smoke_results):
    points = theory.theory_points(smoke.cells)
    # one point per initial network: the optimizer axis trains one of them twice
    assert len(points) == len(smoke.cells) - 1
    fig = theory.draw_scatter(points)
    assert [ax.get_title(loc="left") for ax in fig.axes] == [name for _, name, _ in theory.THEORIES]
    for ax, (key, _, _) in zip(fig.axes, theory.THEORIES):
        offsets = np.concatenate([c.get_offsets() for c in ax.collections])
        lo, hi = ax.get_xlim()
        expected = []
        for p in points:  # from the stored arrays: first hidden layer over the last, in decades
            a = read_cell(smoke_results, p.cell.cell_id)
            d = p.cell.depth
            measured = np.log10(a["grad_sample_rms"][0][0] / a["grad_sample_rms"][0][d - 1])
            predicted = a[f"theory_{key}_grad_rms"]
            expected.append(np.clip([np.log10(predicted[0] / predicted[d - 1]), measured], lo, hi))
        assert sorted(map(tuple, np.round(offsets, 4))) == sorted(map(tuple, np.round(expected, 4)))


def test_theory_layers_figure_draws_four_lines_per_activation(smoke):
    tutorial_part = tutorial.tutorial_cells(smoke.primary_cells())
    fig = theory.draw_layers(tutorial_part)
    panels = [ax for ax in fig.axes if ax.get_title(loc="left")]
    assert len(panels) == len(tutorial_part)
    for ax in panels:
        assert [line.get_label() for line in ax.lines] == [label for *_, label in theory.LAYER_LINES]
        assert all(len(line.get_xdata()) == next(iter(tutorial_part.values()))[0].depth + 1
                   for line in ax.lines)


# --- the summary's other findings, on a fabricated grid with known numbers -------------------------

def _findings_grid():
    # sigmoid: vanishes (−2.0 and −1.5) and stays at chance; relu: explodes (+1.2); tanh: balanced, learns.
    cells = [fakes.cell("sigmoid", "glorot_uniform", grad=[1e-3, 1e-2, 1e-2, 1e-1, 1.0], accuracy=0.55),
             fakes.cell("sigmoid", "he_normal", grad=[10 ** -1.5, 1e-2, 1e-2, 1.0, 1.0], accuracy=0.52),
             fakes.cell("relu", "glorot_uniform", grad=[10 ** 1.2, 1.0, 1.0, 1.0, 1.0], accuracy=0.95),
             fakes.cell("relu", "he_normal", grad=[1.0] * 5, accuracy=0.7),
             fakes.cell("tanh", "glorot_uniform", grad=[0.5, 1.0, 1.0, 1.0, 1.0], accuracy=0.97),
             fakes.cell("tanh", "he_normal", grad=[2.0, 1.0, 1.0, 1.0, 1.0], accuracy=0.93)]
    return cells, _grid(cells)


def test_learned_and_chance_counts_follow_the_final_accuracies():
    _, grid = _findings_grid()
    # learned: relu×glorot (0.95), tanh×glorot (0.97), tanh×he (0.93); near chance: both sigmoids
    assert summary.learned_sentence(grid, 7, "the circles", 0.6) == (
        "3 of 6 activation × initializer pairs with 4 hidden layers learned the circles after 7 epochs "
        "(mean final accuracy ≥ 0.9); 2 stayed near chance (< 0.60).")


def test_chance_is_the_larger_class_plus_a_margin():
    cells, _ = _findings_grid()
    skewed = reader.Dataset("bc", "breast_cancer", 569, 30, 0.63)
    assert summary.chance_accuracy(fakes.run(cells)) == pytest.approx(0.6)
    assert summary.chance_accuracy(fakes.run(cells, datasets=(skewed,))) == pytest.approx(0.73)
    # relu × he_normal at 0.70 is within 0.1 of always answering "benign" (0.63): near chance there
    sentence = summary.learned_sentence(_findings_grid()[1], None, "the task", 0.73)
    assert sentence.endswith("3 stayed near chance (< 0.73).")


def test_attenuation_findings_state_the_grids_numbers():
    _, grid = _findings_grid()
    strongest, averaged, opposite, balanced = summary.attenuation_sentences(grid)
    assert strongest == ("With 4 hidden layers, the strongest vanishing at initialisation is sigmoid with "
                         "glorot_uniform: the first hidden layer's mean |gradient| is smaller than the last "
                         "hidden layer's by 2.0 orders of magnitude (final accuracy 0.55).")
    assert averaged.endswith("at initialisation for: sigmoid (−1.8).")  # mean of −2.0 and −1.5
    assert opposite.endswith("happens for relu with glorot_uniform.")
    # tanh × glorot −0.3 and tanh × he +0.3 learned; relu × he_normal (0.0) did not
    assert balanced == ("2 pairs started within half an order of magnitude and learned, spread over "
                        "2 initializers (glorot_uniform most often).")


def test_casualties_count_the_whole_run_and_agree_in_number():
    assert summary.casualty_sentences(1, 1) == (
        "1 cell diverged (loss became NaN or infinite); it is marked and left out of every "
        "end-of-training average.",
        "1 cell listed in the manifest has no results file and is left out.")
    assert summary.casualty_sentences(0, 3) == (
        "3 cells listed in the manifest have no results file and are left out.",)


def test_stuck_initializer_needs_every_layer_small_to_be_called_tiny():
    cells = _stuck_run(stuck_grad=1e-6, stuck_weight=0.01)
    # One layer of the stuck networks gets as much gradient as the learners': not "minute everywhere".
    cells = [dataclasses.replace(c, grad_abs_mean=c.grad_abs_mean * np.array([1, 1, 1, 1, 1e5]))
             if c.initializer == "stuck_init" else c for c in cells]
    sentence = summary.stuck_sentence(_grid(cells), 0.6)
    assert sentence.startswith("Some initializers leave most activations at chance: stuck_init")
    assert "small weights" not in sentence


def test_primary_note_counts_the_networks_left_out(smoke, smoke_results):
    manifest = json.loads((smoke_results / "manifest.json").read_text())
    p = manifest["primary"]
    inside = [e for e in manifest["cells"] if e["dataset_id"] == p["dataset_id"]
              and e["optimizer"] == p["optimizer"] and e["learning_rate"] == p["learning_rate"]]
    note = summary.primary_note(smoke)
    assert f"use the {len(inside)} networks of the primary study" in note
    assert f"The other {len(manifest['cells']) - len(inside)} (other optimizers" in note


def test_optimizer_sentences_count_learned_pairs_and_the_median_attenuation():
    cells = []
    for optimizer, lr, accuracy, grads in (("sgd", 0.1, 0.5, ([1e-3, 1, 1, 1, 1], [0.0, 0, 0, 1, 1])),
                                           ("rmsprop", 0.001, 0.95, ([0.1, 1, 1, 1, 1], [0.01, 1, 1, 1, 1]))):
        for init, grad in zip(("glorot_uniform", "he_normal"), grads):
            cells.append(dataclasses.replace(fakes.cell("tanh", init, grad=grad, accuracy=accuracy),
                                             cell_id=f"{optimizer}-{init}", optimizer=optimizer,
                                             learning_rate=lr))
    study = optimizers.optimizer_study(fakes.run(cells))
    assert optimizers.optimizer_sentences(study) == (
        # sgd: −3 and −∞ (a first layer with no gradient): the median of the two is −∞, not −3
        "sgd (lr 0.1): 0 of 2 activation × initializer pairs learned (mean accuracy ≥ 0.9); median "
        "attenuation after training −∞.",
        "rmsprop (lr 0.001): 2 of 2 activation × initializer pairs learned (mean accuracy ≥ 0.9); median "
        "attenuation after training −1.5.")


def test_sgd_against_adaptive_sentence_states_the_stored_gaps(smoke, smoke_results):
    study = optimizers.optimizer_study(smoke)
    act, init = learning_speed.contrast_focus(study)
    (sentence,) = learning_speed.steps_part(study).sentences
    assert sentence.startswith(f"{act} with {init} (median over epochs, mean over seeds): ")
    for t in study.trainings:
        mine = [c for c in study.cells if (c.activation, c.initializer, c.training) == (act, init, t)]
        grad_gaps, step_gaps = [], []
        for c in mine:
            a = read_cell(smoke_results, c.cell_id)
            g = [np.abs(a[f"grad_kernel_{layer}"][1:]).reshape(c.epochs, -1).mean(1)
                 for layer in (1, c.depth)]
            w = [a[f"kernel_{layer}"].astype(np.float64).reshape(c.epochs + 1, -1) for layer in (1, c.depth)]
            moved = [np.linalg.norm(k[1:] - k[:-1], axis=1) / np.linalg.norm(k[:-1], axis=1) for k in w]
            grad_gaps.append(np.median(np.log10(g[0] / g[1])))
            step_gaps.append(np.median(np.log10(moved[0] / moved[1])))
        label = f"{t[0]} (lr {t[1]:g})"
        got = fmt.times(float(np.mean(grad_gaps)), "less gradient", "more gradient", "as much gradient")
        moved = fmt.times(float(np.mean(step_gaps)), "less", "more", "as far")
        assert (f"with {label} the first hidden layer got {got} the last hidden layer and moved {moved} "
                "it per epoch") in sentence


def test_saturation_largest_slopes_are_the_activations_own():
    from vanishing import zoo
    from vanishing.sections import saturation

    for activation, (largest, _, _) in saturation.SLOPES.items():
        assert zoo.reference_slope(activation) == pytest.approx(largest, rel=1e-6), activation
