"""The page for runs the Keras recorder wrote: its sections, their sentences against the stored
numbers, and a directory that holds both matrix cells and recorded runs."""

from __future__ import annotations

import json
import shutil

import fakes
import numpy as np
import pytest
from matplotlib.colors import to_hex

from vanishing import fmt, html, plotting, reader, results
from vanishing.sections import (
    SECTIONS,
    gradient_flow,
    layer_updates,
    recorded_saturation,
    runs,
    through_time,
    your_model,
)

GRAD = [1e-3, 1e-2, 1e-1, 1.0]  # four weight matrices, a decade apart
GRAD_END = [1e-2, 1e-2, 1e-1, 1.0]  # after training the first has caught up with the second


@pytest.fixture
def two_runs(tmp_path):
    a = fakes.recorded_entry("sigmoid-small", 4, 3, {"activation": "sigmoid", "initializer": "random_normal"})
    b = fakes.recorded_entry("relu-he", 4, 3, {"activation": "relu", "initializer": "he_normal"})
    return fakes.recorded_dir(tmp_path / "rec", [
        (a, fakes.recorded_arrays(4, 3, GRAD, time_steps=20, grad_end=GRAD_END)),
        (b, fakes.recorded_arrays(4, 3, [0.5, 0.5, 1.0, 1.0], accuracy=0.97, seed=1))])


def _sections(text: str) -> list[str]:
    return [m.split('"')[1] for m in text.split("<section id=")[1:]]


def test_a_recorded_directory_shows_the_recorded_sections_and_says_what_is_left_out(two_runs, tmp_path):
    text = html.render_report(two_runs, tmp_path / "page").read_text(encoding="utf-8")
    recorded = [s.id for s in SECTIONS if "keras" in s.kinds]
    assert _sections(text) == recorded
    assert "Left out here: Summary, The tutorial, reproduced," in text
    assert "They study the built-in MLP matrix" in text
    assert text.count("<script") == 2  # the panel's data and code, nothing a label planted
    assert "python my_script.py" in text  # the rerun of a recorded directory is its script


def test_run_sentences_state_the_stored_numbers(two_runs):
    run = reader.load_run(two_runs)
    part = your_model.build(run)
    first = part.runs[0]
    assert first.sentences[0] == ("Attenuation (log10 of mean |gradient| of dense_1/kernel over "
                                  "dense_3/kernel, weight matrix 3 of 4): −2.00 at the start, −1.00 after "
                                  "3 epochs.")
    assert first.sentences[1] == ("At the start, dense_1/kernel got the least gradient (mean |g| 1.0e−3) and "
                                  "dense_4/kernel the most (1.0e0): 3.0 decades apart.")
    assert first.sentences[2] == ("After epoch 3, dense_1/kernel got the least gradient (mean |g| 1.0e−2) "
                                  "and dense_4/kernel the most (1.0e0): 2.0 decades apart.")
    assert first.sentences[-1] == ("The probe loss went from 0.7000 to 0.3000; accuracy from 0.500 to 0.900 "
                                   "(epoch 3).")
    assert [r.grad_start for r in first.rows] == ["1.0e−3", "1.0e−2", "1.0e−1", "1.0e0"]
    assert [r.grad_end for r in first.rows] == ["1.0e−2", "1.0e−2", "1.0e−1", "1.0e0"]
    assert "from the input side (1) to the output side" in first.order


def test_a_subclassed_model_says_its_order_is_its_own(tmp_path):
    entry = fakes.recorded_entry("sub", 4, 2, model_kind="subclassed")
    directory = fakes.recorded_dir(tmp_path / "rec", [(entry, fakes.recorded_arrays(4, 2, GRAD))])
    block = your_model.build(reader.load_run(directory)).runs[0]
    assert "the model's own trainable_weights order" in block.order


def test_two_matrices_have_no_attenuation_and_say_so(tmp_path):
    entry = fakes.recorded_entry("tiny", 2, 2)
    directory = fakes.recorded_dir(tmp_path / "rec", [(entry, fakes.recorded_arrays(2, 2, [0.1, 1.0]))])
    sentences = your_model.build(reader.load_run(directory)).runs[0].sentences
    assert sentences[0].startswith("With 2 recorded weight matrices, there is no attenuation to measure")


def test_runs_are_compared_by_their_labels(two_runs):
    part = runs.build(reader.load_run(two_runs))
    assert part.keys == ("activation", "initializer")
    assert [r.labels for r in part.rows] == [("sigmoid", "random_normal"), ("relu", "he_normal")]
    # log10(1e-3 / 1e-1) and log10(0.5 / 1.0): the first matrix over the last before the output's
    assert [(r.attenuation_start, r.final_accuracy) for r in part.rows] == [("−2.00", "0.900"),
                                                                           ("−0.30", "0.970")]
    assert len(part.figures) == 3  # accuracy, attenuation at the start and at the end


def test_updates_and_time_sentences_state_the_stored_numbers(two_runs):
    run = reader.load_run(two_runs)
    assert layer_updates.build(run).sentences[0] == (
        "sigmoid-small: per epoch dense_1/kernel moved least (median update ratio 1.0e−4) and "
        "dense_4/kernel most (1.0e−1).")
    (sentence,) = through_time.build(run).sentences
    assert sentence == ("sigmoid-small: log10 of the mean |dLoss / d input| at the first of 20 time steps "
                        "over that at the last: −4.0 decades at the start and −4.0 decades after epoch 3 "
                        "(below 0: the early steps get less).")


def test_gradient_flow_draws_a_line_per_matrix_in_the_layer_colours(two_runs):
    r = reader.load_run(two_runs).recorded[0]
    fig = gradient_flow.draw_flow(r)
    flow = fig.axes[0]
    colours = plotting.layer_colours(4)
    for i, colour in enumerate(colours):
        (line,) = [line for line in flow.lines if to_hex(line.get_color()) == colour]
        np.testing.assert_allclose(line.get_ydata()[[0, -1]], [GRAD[i], GRAD_END[i]])
    np.testing.assert_allclose(fig.axes[1].lines[-1].get_ydata(), [-2.0, -5 / 3, -4 / 3, -1.0])


def test_a_directory_with_matrix_cells_and_a_recorded_run_renders_both(small_results, tmp_path):
    directory = shutil.copytree(small_results, tmp_path / "both")
    entry = fakes.recorded_entry("mine", 4, 3)
    results.write_cell(directory, entry, fakes.recorded_arrays(4, 3, GRAD))
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["cells"].append(entry)
    (directory / "manifest.json").write_text(json.dumps(manifest))
    run = reader.load_run(directory)
    assert run.kinds == {"matrix", "keras"} and len(run.recorded) == 1 and len(run.cells) == 1
    text = html.render_report(directory, tmp_path / "page").read_text(encoding="utf-8")
    ids = _sections(text)
    assert ids[0] == "your-model" and "summary" in ids and "reproduce" in ids
    assert "Left out here" not in text


def test_saturation_sentences_skip_linear_layers_and_say_when_there_is_none(tmp_path):
    entry = fakes.recorded_entry("sat", 4, 3)
    entry["layers"][-1]["activation"] = "linear"  # the logits: slope 1 everywhere
    arrays = fakes.recorded_arrays(4, 3, GRAD)
    arrays["act_saturated_frac"][:, 3] = 0.0
    arrays["act_dead_frac"][:, 1] = 0.0
    directory = fakes.recorded_dir(tmp_path / "rec", [(entry, arrays)])
    r = reader.load_run(directory).recorded[0]
    assert recorded_saturation.known(r) == [0, 1]
    assert recorded_saturation.sentences(r) == (
        "sat: dense_1/kernel has the most saturated (unit, sample) pairs: 10 % at the start and 30 % "
        "after epoch 3.",
        "sat: no layer has dead units, at the start or after epoch 3.")
    fig = recorded_saturation.draw_saturation(r)
    assert [len(ax.lines) for ax in fig.axes] == [2, 2]  # the two nonlinear layers, in both panels


def test_a_diverged_run_tells_the_end_at_its_last_finite_epoch(tmp_path):
    entry = {**fakes.recorded_entry("blows", 4, 4), "status": "diverged", "diverged_epoch": 3}
    arrays = fakes.recorded_arrays(4, 4, GRAD, grad_end=GRAD_END)
    arrays["loss"][3:] = np.nan
    for key in ("grad_abs_mean", "grad_std", "grad_norm", "accuracy"):
        arrays[key][3:] = np.nan
    directory = fakes.recorded_dir(tmp_path / "rec", [(entry, arrays)])
    run = reader.load_run(directory)
    r = run.recorded[0]
    assert r.end == 2
    sentences = your_model.build(run).runs[0].sentences
    # epoch 2 of 4: the first matrix's gradient is 10 ** (−3 + 2 / 4) of the way to 1e-2
    assert sentences[0].endswith("−2.00 at the start, −1.50 after 2 epochs.")
    assert sentences[-1] == ("The probe loss became NaN or infinite at epoch 3: the run diverged, so the "
                             "numbers above that speak of the end are those of epoch 2.")
    assert fmt.NO_NUMBER not in " ".join(sentences)  # every number stated is a number
