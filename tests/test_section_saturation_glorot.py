"""The saturation and Glorot sections: every sentence checked against the numbers it states,
computed here independently from the raw npz arrays (a numpy forward and backward pass on the
stored kernels, never the code under test), and every figure checked for what it draws.

Results written before the engine kept the back-propagated gradients lack delta_values: the
``run`` fixture then adds them from the same numpy backward pass (where the engine wrote them,
its own are kept, and the numpy pass checks them).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_hex

from vanishing import reader
from vanishing.html import make_environment
from vanishing.plotting import layer_colours
from vanishing.results import cell_path, dataset_path
from vanishing.sections import activation_histograms, glorot, saturation

TUTORIAL_INIT = "random_normal(stddev=1.0)"


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# f(z), f'(z) FROM THE PRE-ACTIVATION (the section derives the slope from the output), largest f'
ACTIVATIONS = {
    "sigmoid": (_sigmoid, lambda z: _sigmoid(z) * (1.0 - _sigmoid(z)), 0.25),
    "tanh": (np.tanh, lambda z: 1.0 / np.cosh(z) ** 2, 1.0),
    "relu": (lambda z: np.maximum(z, 0.0), lambda z: (z > 0).astype(np.float64), 1.0),
}


def number(text: str) -> float:
    return float(text.replace("−", "-"))


# --- independent computations from the results directory ------------------------------------------

def manifest_cells(results: Path, **want) -> list[dict]:
    """The manifest's entries of the primary study (circles, rmsprop) that did not diverge."""
    m = json.loads((results / "manifest.json").read_text())
    primary = m["matrices"][0]
    return [e for e in m["cells"] if e["status"] == "ok" and e["dataset_id"] == primary["dataset_id"]
            and e["optimizer"] == primary["optimizers"][0]["optimizer"]
            and all(e[k] == v for k, v in want.items())]


def npz(results: Path, entry: dict) -> dict[str, np.ndarray]:
    with np.load(cell_path(results, entry["cell_id"])) as z:
        return {k: z[k] for k in z.files}


def backward(results: Path, entry: dict, epoch: int = 0):
    """Numpy forward and backward pass at an epoch's stored weights on the recorded samples:
    (hidden pre-activations z_l, δ_l = d loss_i / d z_l for every layer incl. the logit)."""
    a = npz(results, entry)
    with np.load(dataset_path(results, entry["dataset_id"])) as d:
        X, y = d["X"].astype(np.float64), d["y"].astype(np.float64)
    f, df, _ = ACTIVATIONS[entry["activation"]]
    depth, sample = entry["depth"], a["act_sample_index"]
    h, zs = X[sample], []
    for layer in range(1, depth + 2):
        z = h @ a[f"kernel_{layer}"][epoch].astype(np.float64) + a[f"bias_{layer}"][epoch]
        zs.append(z)
        h = f(z)
    deltas = [None] * (depth + 1)
    deltas[depth] = _sigmoid(zs[depth]) - y[sample][:, None]  # d BCE-with-logits / d logit
    for layer in range(depth - 1, -1, -1):
        w = a[f"kernel_{layer + 2}"][epoch].astype(np.float64)
        deltas[layer] = df(zs[layer]) * (deltas[layer + 1] @ w.T)
    return zs[:depth], deltas


def rms(x) -> float:
    return float(np.sqrt(np.mean(np.square(x))))


def expected_terms(results: Path, activation: str, initializer: str):
    """(measured, ceiling, below steepest, seeds) of the sentence, from the numpy pass alone."""
    rows = []
    for e in manifest_cells(results, activation=activation, initializer=initializer, depth=4):
        zs, deltas = backward(results, e)
        _, df, largest = ACTIVATIONS[activation]
        measured = math.log10(rms(deltas[0]) / rms(deltas[3]))
        below = sum(math.log10(rms(df(z)) / largest) for z in zs[:3])
        rows.append((measured, 3 * math.log10(largest), below))
    return (*np.mean(rows, axis=0), len(rows))


def with_deltas(run: reader.Run) -> reader.Run:
    """The run with delta_values from the numpy pass wherever the engine did not write them."""
    cells = []
    for c in run.cells:
        if not c.delta_values and c.activation in ACTIVATIONS and c.act_snapshot_epochs:
            entry = {"cell_id": c.cell_id, "dataset_id": c.dataset_id, "activation": c.activation,
                     "depth": c.depth}
            per_epoch = [backward(run.results_dir, entry, e)[1] for e in c.act_snapshot_epochs]
            c = dataclasses.replace(c, delta_values=tuple(
                np.stack([d[layer] for d in per_epoch]).astype(np.float32) for layer in range(c.depth + 1)))
        cells.append(c)
    return dataclasses.replace(run, cells=tuple(cells))


def without_deltas(run: reader.Run) -> reader.Run:
    return dataclasses.replace(run, cells=tuple(dataclasses.replace(c, delta_values=(), delta_rms=None)
                                                for c in run.cells))


@pytest.fixture(scope="module")
def run(smoke_results) -> reader.Run:
    return with_deltas(reader.load_run(smoke_results))


@pytest.fixture(scope="module")
def sat(run) -> saturation.SaturationPart:
    part = saturation.build(run)
    assert part is not None
    return part


@pytest.fixture(scope="module")
def glo(run) -> glorot.GlorotPart:
    part = glorot.build(run)
    assert part is not None
    return part


def percent(x: float) -> str:
    return f"{100 * x:.0f} %"


def saturated_init(results: Path, activation: str, initializer: str, key: str = "act_saturated_frac"):
    """Per hidden layer, mean over seeds at initialisation and at the last epoch, from the npz."""
    series = np.stack([npz(results, e)[key] for e in manifest_cells(
        results, activation=activation, initializer=initializer, depth=4)])
    return series[:, 0].mean(0), series[:, -1].mean(0)


# --- saturation: the wording of the fractions ------------------------------------------------------

PAIRS = re.compile(r"with (\S+), (\d+) % of layer (\d)'s (\(unit, sample\) pairs are saturated|units are "
                   r"dead \(output 0 on every sample\)) at initialisation and (\d+) % after training")


def test_saturation_sentences_state_pairs_for_saturation_and_units_for_dead(sat, smoke_results):
    """The old sentence said 'X % of layer k's units are saturated' of a fraction of (unit, sample)
    pairs. Now: pairs for saturation, units only for dead units (which ARE a fraction of units)."""
    told = {s.split(":")[0]: s for s in sat.saturation_sentences}
    keys = {True: "act_dead_frac", False: "act_saturated_frac"}
    assert set(told) == {"sigmoid", "tanh", "relu"}
    assert not any("units are saturated" in s for s in sat.sentences)
    checked = 0
    for act, sentence in told.items():
        dead = act == "relu"
        for init, start_pct, layer, what, end_pct in PAIRS.findall(sentence):
            assert what.startswith("units are dead" if dead else "(unit, sample) pairs")
            start, end = saturated_init(smoke_results, act, init, keys[dead])
            assert int(layer) == int(np.argmax(np.maximum(start, end))) + 1
            assert (int(start_pct), int(end_pct)) == (round(100 * start[int(layer) - 1]),
                                                      round(100 * end[int(layer) - 1]))
            checked += 1
        for init in re.findall(r"with (\S+), no hidden layer has", sentence):
            start, end = saturated_init(smoke_results, act, init, keys[dead])
            assert max(start.max(), end.max()) == 0
            checked += 1
    assert checked == 6  # 3 activations x (the tutorial's, the normalised initializer)


def test_dead_fraction_is_a_fraction_of_units(smoke_results):
    """act_dead_frac counts units that output 0 on every sample: check it against the stored
    activations (the smoke data is small enough that every sample is recorded)."""
    for e in manifest_cells(smoke_results, activation="relu", depth=4):
        a = npz(smoke_results, e)
        assert a["act_sample_index"].size == 200
        for layer in range(4):
            h = a[f"act_values_{layer + 1}"][0]  # [samples, units] at initialisation
            assert a["act_dead_frac"][0, layer] == pytest.approx(np.mean(np.all(h == 0, axis=0)))


def test_pairs_wording_where_a_fraction_of_units_would_be_false(run):
    """Every unit saturated on a fifth of the samples: 20 % of the pairs, but 0 % of the units
    are saturated (on every sample). The sentence must say 20 % of the pairs."""
    c = next(c for c in run.primary_cells() if c.activation == "sigmoid" and c.depth == 4)
    samples = c.act_values[0].shape[1]
    h = np.full((samples, c.width), 0.5, np.float32)
    for unit in range(c.width):  # a different fifth of the samples for every unit
        h[np.arange(samples) % 5 == unit % 5, unit] = 0.9999
    slope = h * (1 - h)
    pairs = float(np.mean(slope < 0.025))
    units = float(np.mean(np.all(slope < 0.025, axis=0)))
    assert (pairs, units) == (pytest.approx(0.2, abs=0.01), 0.0)
    frac = np.full_like(c.act_saturated_frac, pairs)
    fake = dataclasses.replace(c, act_saturated_frac=frac, act_values=tuple(
        np.broadcast_to(h, v.shape).copy() for v in c.act_values))
    part = saturation.build(reader.Run(run.results_dir, (fake,), (), None))
    sentence = part.saturation_sentences[0]
    assert f"{percent(pairs)} of layer 1's (unit, sample) pairs are saturated" in sentence
    assert f"{percent(pairs)} of layer 1's units" not in sentence


def test_undefined_saturation_is_said_in_a_sentence(run, sat):
    """Activations whose slope has no maximum (the engine writes NaN): said, and only then."""
    assert not any("undefined" in s for s in sat.sentences)
    c = next(c for c in run.cells if c.activation == "tanh")
    undefined = np.full_like(c.act_saturated_frac, np.nan)
    nan = dataclasses.replace(c, activation="exponential", act_saturated_frac=undefined)
    part = saturation.build(dataclasses.replace(run, cells=(*run.cells, nan)))
    said = [s for s in part.sentences if "undefined" in s]
    assert len(said) == 1 and said[0].startswith("This run also holds exponential networks")
    alone = saturation.build(reader.Run(run.results_dir, (nan,), (), None))
    assert alone is not None and alone.sentences == tuple(said) and not alone.figures


# --- saturation: which slope effect acts --------------------------------------------------------

DECOMPOSITION = re.compile(
    r"^(?P<act>\w+) with (?P<init>\S+) \((?P<n>\d+) seeds?\): at initialisation the RMS back-propagated "
    r"gradient changes by (?P<m>[+−]\d+\.\d\d) decades from hidden layer (?P<L>\d+) to layer 1 = "
    r"(?P<c>[+−]\d+\.\d\d) slope ceiling \((?P<k>\d+) × log10 (?P<largest>\S+)\) (?P<b>[+−]\d+\.\d\d) units "
    r"below their steepest slope (?P<r>[+−]\d+\.\d\d) weights' gain and the rest; (?P<verdict>[^.]+)\. "
    r"(?P<lo>\d+) %(?:–(?P<hi>\d+) %)? of each hidden layer's \(unit, sample\) pairs are saturated\.$")


def parsed_decompositions(part) -> dict[tuple[str, str], re.Match]:
    out = {}
    for s in part.decomposition_sentences:
        m = DECOMPOSITION.match(s)
        assert m, s
        out[m["act"], m["init"]] = m
    return out


def test_decomposition_sentences_match_a_numpy_backward_pass(sat, smoke_results):
    """measured = ceiling + below steepest + rest, each term recomputed from the stored kernels
    and data (slopes from the pre-activations, not from the outputs as the section does)."""
    told = parsed_decompositions(sat)
    inits = (TUTORIAL_INIT, "glorot_uniform")
    assert set(told) == {(a, i) for a in ("sigmoid", "tanh", "relu") for i in inits}
    for (act, init), m in told.items():
        measured, ceiling, below, seeds = expected_terms(smoke_results, act, init)
        assert int(m["n"]) == seeds == 2 and (m["L"], m["k"]) == ("4", "3")
        assert number(m["m"]) == pytest.approx(measured, abs=0.006)
        assert number(m["c"]) == pytest.approx(ceiling, abs=0.006)
        assert number(m["b"]) == pytest.approx(below, abs=0.006)
        assert number(m["r"]) == pytest.approx(measured - ceiling - below, abs=0.006)
        assert number(m["m"]) == pytest.approx(number(m["c"]) + number(m["b"]) + number(m["r"]), abs=0.015)
        assert m["largest"] == {"sigmoid": "¼"}.get(act, "1")
        larger = "the slope ceiling costs more" if abs(ceiling) > abs(below) else "units below their steepest"
        assert m["verdict"].startswith(larger)
        start, _ = saturated_init(smoke_results, act, init)
        lo, hi = round(100 * start.min()), round(100 * start.max())
        assert (int(m["lo"]), int(m["hi"] or m["lo"])) == (lo, hi)


def test_sigmoid_vanishes_by_its_slope_ceiling_not_by_saturation(sat, smoke_results):
    """The tutorial's sigmoid x random_normal(stddev=1.0): few saturated pairs, yet the gradient
    shrinks; the old lead blamed saturation. The sentence must name the ceiling."""
    m = parsed_decompositions(sat)["sigmoid", TUTORIAL_INIT]
    start, _ = saturated_init(smoke_results, "sigmoid", TUTORIAL_INIT)
    assert start.max() < 0.25  # most pairs are not saturated...
    measured, ceiling, below, _ = expected_terms(smoke_results, "sigmoid", TUTORIAL_INIT)
    assert measured < -0.5 and ceiling < below < 0  # ...and yet the gradient shrinks, mostly by 1/4 a layer
    assert m["verdict"] == "the slope ceiling costs more than units below their steepest slope"


def test_decomposition_from_delta_rms_alone(run, sat):
    """Results with the whole-run delta_rms but no per-example delta_values: the same split
    when delta_rms holds the RMS over the same samples."""
    cells = []
    for c in run.cells:
        if c.delta_values:
            per_layer = [float(np.sqrt(np.mean(np.square(d[0], dtype=np.float64)))) for d in c.delta_values]
            c = dataclasses.replace(c, delta_values=(), delta_rms=np.tile(per_layer, (c.epochs + 1, 1)))
        cells.append(c)
    part = saturation.build(dataclasses.replace(run, cells=tuple(cells)))
    for a, b in zip(part.decompositions, sat.decompositions, strict=True):
        assert (a.measured, a.ceiling, a.below_steepest, a.rest) == pytest.approx(
            (b.measured, b.ceiling, b.below_steepest, b.rest), abs=1e-5)


def test_results_without_back_propagated_gradients_say_so(run):
    bare = without_deltas(run)
    sat, glo = saturation.build(bare), glorot.build(bare)
    assert not sat.decompositions and not sat.decomposition_figures
    assert sat.decomposition_sentences == (
        "These results hold no back-propagated gradients (delta_values, delta_rms; written by newer "
        "vanishing versions), so the attenuation is not decomposed here. Train again to see it.",)
    assert sat.saturation_figures and sat.histogram_figures  # the rest still shows
    assert not any(s.quantity == glorot.DELTA for s in glo.spreads)
    assert any("no back-propagated gradients" in s for s in glo.sentences)
    assert len(glo.figures) == 2 and not any("fig. 7" in f.caption for f in glo.figures)


# --- saturation: what the figures draw ------------------------------------------------------------

def colour(artist) -> str:
    c = artist.get_color() if hasattr(artist, "get_xydata") else artist.get_edgecolor()
    return to_hex(c)


def test_draw_saturation_one_line_per_hidden_layer_in_its_colour(run, smoke_results):
    comparisons = saturation.saturation_comparisons(run.primary_cells())
    fig = saturation.draw_saturation(comparisons)
    axes = np.array(fig.axes[: 3 * 2]).reshape(3, 2)  # activations x (tutorial's, normalised)
    assert [c.activation for c in comparisons] == ["sigmoid", "tanh", "relu"]
    hidden = layer_colours(5)[:4]
    for row, cmp in zip(axes, comparisons):
        for ax, (init, _) in zip(row, cmp.initializers):
            assert ax.get_visible() and init.split("(")[0] in ax.get_title(loc="left")
            solid = [ln for ln in ax.lines if ln.get_linestyle() == "-"]
            dotted = [ln for ln in ax.lines if ln.get_linestyle() == ":"]
            assert [colour(ln) for ln in solid] == list(hidden)
            assert [colour(ln) for ln in dotted] == (list(hidden) if cmp.activation == "relu" else [])
            series = np.stack([npz(smoke_results, e)["act_saturated_frac"] for e in manifest_cells(
                smoke_results, activation=cmp.activation, initializer=init, depth=4)])
            for layer, line in enumerate(solid):  # the mean over seeds, epoch by epoch
                np.testing.assert_allclose(line.get_ydata(), series[:, :, layer].mean(0), atol=1e-6)
    assert "pairs" in axes[0, 0].get_ylabel() and "dead units" in axes[2, 0].get_ylabel()


def test_draw_decomposition_bars_add_up_to_the_measured_change(sat):
    ds = sat.decompositions
    fig = saturation.draw_decomposition(ds)
    ax = fig.axes[0]
    bars = ax.patches
    assert len(bars) == 3 * len(ds)
    for y, d in enumerate(ds):
        row = bars[3 * y: 3 * y + 3]
        assert [b.get_width() for b in row] == pytest.approx([d.ceiling, d.below_steepest, d.rest])
        assert [to_hex(b.get_facecolor()) for b in row] == list(saturation.TERM_COLOURS)
        # the negative terms stack leftwards from 0, the positive ones rightwards
        assert min(b.get_x() + min(b.get_width(), 0) for b in row) == pytest.approx(
            sum(b.get_width() for b in row if b.get_width() < 0))
        diamond = ax.lines[y]
        assert diamond.get_xdata()[0] == pytest.approx(sum(b.get_width() for b in row))
        assert diamond.get_xdata()[0] == pytest.approx(d.measured)
    assert [t.get_text() for t in ax.get_yticklabels()] == [f"{d.activation} · {d.initializer}".replace(
        TUTORIAL_INIT, "random_normal(σ=1)") for d in ds]


def test_draw_activation_histograms_rows_initializers_columns_snapshots(run):
    cmp = saturation.saturation_comparisons(run.primary_cells())[1]  # tanh
    fig = activation_histograms.draw_activation_histograms(cmp)
    snapshots = cmp.cells[0][0].act_snapshot_epochs
    assert snapshots == (0, 2, 5)
    axes = np.array(fig.axes).reshape(len(cmp.initializers), len(snapshots))
    for r, (init, _) in enumerate(cmp.initializers):
        assert init.split("(")[0] in axes[r, 0].get_ylabel()
        for s, ax in enumerate(axes[r]):
            assert [colour(p) for p in ax.patches] == list(layer_colours(5)[:4])
            assert ax.get_xlim()[0] <= -1 and ax.get_xlim()[1] >= 1  # tanh's whole range
            # each step histogram is normalised: its bar heights are fractions summing to 1
            values = np.concatenate([c.act_values[0][s].ravel() for c in cmp.cells[r]])
            heights = ax.patches[0].get_xy()[1:-1:2, 1]
            assert heights.sum() == pytest.approx(1.0, abs=1e-6)
            expected = np.histogram(np.clip(values, -1, 1), bins=np.linspace(-1, 1, 41))[0] / values.size
            np.testing.assert_allclose(heights, expected, atol=1e-6)
    assert "at initialisation (epoch 0)" in axes[0, 0].get_title(loc="left")


# --- Glorot: back-propagated and kernel gradients, each named --------------------------------------

def glorot_values(results: Path, initializer: str, quantity: str) -> list[np.ndarray]:
    """Per hidden layer of the tanh networks at depth 4, every value at initialisation over the
    seeds: δ from the numpy pass, or the stored kernel gradients."""
    entries = manifest_cells(results, activation="tanh", initializer=initializer, depth=4)
    if quantity == glorot.DELTA:
        per_cell = [backward(results, e)[1] for e in entries]
        return [np.concatenate([d[layer].ravel() for d in per_cell]) for layer in range(4)]
    return [np.concatenate([npz(results, e)[f"grad_kernel_{layer + 1}"][0].ravel() for e in entries])
            for layer in range(4)]


def log_medians(values: list[np.ndarray]) -> np.ndarray:
    return np.array([np.log10(np.median(np.abs(v[v != 0]))) for v in values])


SPREAD = re.compile(r"(\d+\.\d\d) decades? with (\S+) \((standard|normalised); smallest in layer (\d)\)")


def test_glorot_sentences_state_the_spread_of_the_quantity_they_name(glo, smoke_results):
    """The old caption called kernel gradients 'back-propagated' and said the standard
    initialisation spreads the layers apart; now each quantity is named, and the verdict
    follows the measured spread of the layers' medians."""
    assert len(glo.sentences) == 2
    for sentence, quantity, head in zip(glo.sentences, (glorot.DELTA, glorot.KERNEL),
                                        ("Back-propagated gradients δ = d loss_i / d z_l (per example)",
                                         "Kernel gradients d loss / d W_l (whole dataset)")):
        assert sentence.startswith(f"{head} at initialisation, tanh with 4 hidden layers: "), sentence
        told = SPREAD.findall(sentence)
        assert [(init, role) for _, init, role, _ in told] == [(TUTORIAL_INIT, "standard"),
                                                               ("glorot_uniform", "normalised")]
        spans = []
        for span, init, _, smallest in told:
            medians = log_medians(glorot_values(smoke_results, init, quantity))
            spans.append(medians.max() - medians.min())
            assert float(span) == pytest.approx(spans[-1], abs=0.006)
            assert int(smallest) == int(np.argmin(medians)) + 1
        gap = spans[0] - spans[1]
        verdict = sentence.rsplit(": ", 1)[1]
        if abs(gap) < glorot.ALIKE_DECADES:
            assert verdict == f"the two spread about alike (within {glorot.ALIKE_DECADES:g} decades)."
        else:
            which = "standard" if gap > 0 else "normalised"
            assert verdict == f"the {which} initialisation spreads the layers further apart."


def test_glorot_figures_captioned_with_the_quantity_they_show(glo):
    delta, kernel, scale = glo.figures
    assert "fig. 7" in delta.caption and "log10 |δ|" in delta.caption and "pre-activations" in delta.caption
    assert kernel.caption.startswith("Kernel (weight) gradients") and "fig. 7" not in kernel.caption
    assert "back-propagated" not in kernel.caption.lower() and "Bengio (§4.2.2)" in kernel.caption
    assert "kernel gradient" in scale.caption


@pytest.mark.parametrize("quantity", [glorot.DELTA, glorot.KERNEL])
def test_draw_log_histograms_one_panel_per_initializer_one_step_per_layer(run, smoke_results, quantity):
    cmp = glorot.glorot_comparison(run.primary_cells(), 4)
    assert (cmp.activation, cmp.standard, cmp.normalised) == ("tanh", TUTORIAL_INIT, "glorot_uniform")
    fig = glorot.draw_log_histograms(cmp, quantity)
    assert len(fig.axes) == 2
    logs = {init: [np.log10(np.abs(v[v != 0])) for v in glorot_values(smoke_results, init, quantity)]
            for init in (TUTORIAL_INIT, "glorot_uniform")}
    everything = np.concatenate([x for per_layer in logs.values() for x in per_layer])
    bins = np.linspace(np.floor(everything.min()), np.ceil(everything.max()), 36)
    for ax, (init, role) in zip(fig.axes, ((TUTORIAL_INIT, "standard"), ("glorot_uniform", "normalised"))):
        assert ax.get_title(loc="left").endswith(role)
        assert ("δ" in ax.get_xlabel()) == (quantity == glorot.DELTA)
        assert [colour(p) for p in ax.patches] == list(layer_colours(5)[:4])  # hidden layers only
        for patch, x in zip(ax.patches, logs[init]):
            heights = patch.get_xy()[1:-1:2, 1]
            np.testing.assert_allclose(heights, np.histogram(x, bins=bins)[0] / x.size, atol=1e-9)


def test_draw_scale_one_line_per_initializer_run(run, smoke_results):
    cmp = glorot.glorot_comparison(run.primary_cells(), 4)
    fig = glorot.draw_scale(cmp)
    ax = fig.axes[0]
    inits = [i for i, _ in cmp.by_initializer]
    assert sorted(inits) == sorted([TUTORIAL_INIT, "glorot_uniform", "he_normal"])
    assert len(ax.lines) == len(inits)
    for line, init in zip(ax.lines, inits):
        entries = manifest_cells(smoke_results, activation="tanh", initializer=init, depth=4)
        grads = np.stack([[np.abs(npz(smoke_results, e)[f"grad_kernel_{layer}"][0]).mean()
                           for layer in range(1, 6)] for e in entries])
        np.testing.assert_allclose(line.get_ydata(), 10 ** np.log10(grads).mean(0), rtol=1e-5)
        assert line.get_linewidth() == (2.4 if init in (TUTORIAL_INIT, "glorot_uniform") else 1.2)
    assert [to_hex(t.get_color()) for t in ax.get_xticklabels()] == list(layer_colours(5))


def test_glorot_without_standard_or_normalised(run):
    no_standard = dataclasses.replace(run, cells=tuple(c for c in run.cells
                                                       if c.initializer != TUTORIAL_INIT))
    part = glorot.build(no_standard)
    assert "no standard (unnormalised) initializer" in part.note
    assert all(s.endswith("no standard initializer was run to compare with.") for s in part.sentences)
    assert len(part.spreads) == 2  # δ and kernel, normalised only
    no_normalised = dataclasses.replace(run, cells=tuple(c for c in run.cells
                                                         if not c.initializer.startswith("glorot")))
    assert glorot.build(no_normalised) is None


# --- the partials only lay out -------------------------------------------------------------------

def render(section: str, part, empty: str) -> str:
    return make_environment().get_template(f"partials/{section}.html.j2").render(part=part, empty=empty)


def test_partials_lay_out_every_sentence_and_figure(sat, glo):
    import markupsafe

    for section, part, empty in (("saturation", sat, saturation.EMPTY), ("glorot", glo, glorot.EMPTY)):
        html = render(section, part, empty)
        assert "<h2" not in html and "<section" not in html  # base.html.j2 provides them
        assert html.count("<img") == len(part.figures)
        for sentence in part.sentences:
            assert str(markupsafe.escape(sentence)) in html
        assert part.note and str(markupsafe.escape(part.note)) in html
        assert empty not in html
        bare = render(section, None, empty)
        assert str(markupsafe.escape(empty)) in bare and "<img" not in bare


def test_saturation_lead_tells_both_causes(sat):
    """Fixed prose, true for any run: the slope ceiling AND saturation, not saturation alone."""
    lead = render("saturation", None, "").split("</p>")[0]
    assert "slope ceiling" in lead and "at most ¼" in lead and "whether or not any unit is saturated" in lead
    assert "Saturation:" in lead and "10 %" in lead


@pytest.mark.slow
def test_tutorial_sigmoid_vanishes_by_the_ceiling(tmp_path):
    """The tutorial's own networks (1000 samples, 100 epochs): sigmoid x random_normal(stddev=1.0)
    starts with few saturated pairs and still loses more than a decade of δ, by its slope ceiling."""
    from vanishing import config, runner

    out = tmp_path / "results"
    runner.train(config.load("tutorial"), out, command="vanishing train --preset tutorial",
                 preset="tutorial", progress=False)
    m = parsed_decompositions(saturation.build(with_deltas(reader.load_run(out))))["sigmoid", TUTORIAL_INIT]
    measured, ceiling, below, _ = expected_terms(out, "sigmoid", TUTORIAL_INIT)
    start, _ = saturated_init(out, "sigmoid", TUTORIAL_INIT)
    assert start.max() <= 0.15 and measured < -1.0 and abs(ceiling) > abs(below)
    assert number(m["m"]) == pytest.approx(measured, abs=0.006)
    assert m["verdict"] == "the slope ceiling costs more than units below their steepest slope"
