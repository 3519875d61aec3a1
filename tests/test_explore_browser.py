"""The panel in a real browser (Debian's Chromium through Playwright): a heatmap cell, a depth
point and a table row open their group's panel, whose numbers are metrics.csv's; keyboard only;
the shareable link; no error and no policy violation; no request leaves the page."""

from __future__ import annotations

import json
import math
import re
from urllib.parse import unquote

import pytest
from chromium import browse
from explorer import check_panel, panel, read_metrics

PRIMARY = "rmsprop"


@pytest.fixture(scope="module")
def smoke(smoke_page, smoke_results):
    manifest = json.loads((smoke_results / "manifest.json").read_text(encoding="utf-8"))
    return smoke_page, manifest, read_metrics(smoke_page.parent / "metrics.csv")


def _entries(manifest: dict, activation: str, initializer: str, depth: int, optimizer: str = PRIMARY,
             dataset_id: str | None = None) -> list[dict]:
    dataset_id = dataset_id or manifest["primary"]["dataset_id"]
    return [e for e in manifest["cells"] if (e["activation"], e["initializer"], e["depth"], e["optimizer"],
                                            e["dataset_id"]) == (activation, initializer, depth, optimizer,
                                                                 dataset_id)]


def test_three_marks_open_panels_whose_numbers_are_metrics_csv(smoke):
    page_path, manifest, metrics = smoke
    chosen = [  # (where the mark is, its link, the networks it stands for)
        ("#summary", "#cell=tanh/glorot_uniform/4", _entries(manifest, "tanh", "glorot_uniform", 4)),
        ("#depth", "#cell=sigmoid/random_normal%28stddev%3D1.0%29/8",
         _entries(manifest, "sigmoid", "random_normal(stddev=1.0)", 8)),
        ("#optimizers", "#cell=tanh/glorot_uniform/4&optimizer=sgd%20%28lr%200.1%29",
         _entries(manifest, "tanh", "glorot_uniform", 4, "sgd")),
        ("#matrix", "#cell=relu/he_normal/4", _entries(manifest, "relu", "he_normal", 4)),
    ]
    with browse(page_path) as s:
        for where, href, entries in chosen:
            assert entries
            s.page.locator(f'{where} a[href="{href}"]').first.click()
            shown = panel(s.page)
            e = entries[0]
            assert shown["title"].startswith(f"{e['activation']} · {e['initializer']} · depth {e['depth']}")
            assert s.page.evaluate("location.hash") == href
            check_panel(shown, entries, metrics)
            assert shown["charts"] >= len(entries) * (e["depth"] + 1)  # a line per seed and layer at least
        assert s.errors == [] and s.violations() == []
        assert set(s.requests) == {s.url}


def test_every_mark_opens_its_own_panel_and_is_named_for_a_screen_reader(smoke):
    with browse(smoke[0]) as s:
        page = s.page
        hrefs = sorted(set(page.eval_on_selector_all('a[href^="#cell="]',
                                                     "as => as.map(a => a.getAttribute('href'))")))
        assert len(hrefs) >= 15
        for href in hrefs:
            page.evaluate("h => { location.hash = h; }", href)
            act, init, depth = (unquote(x) for x in href.removeprefix("#cell=").split("&")[0].split("/"))
            assert page.text_content("#explore-title").startswith(f"{act} · {init} · depth {depth} · "), href
        names = page.eval_on_selector_all(
            "svg.marks a", "as => as.map(a => (a.querySelector(':scope > title') || {}).textContent || '')")
        assert names and all(names)
        named = page.get_by_role("link", name=re.compile(r"^tanh · glorot_uniform · depth 4 · rmsprop"))
        assert named.count() >= 3  # the summary's three heatmaps
        assert s.errors == [] and s.violations() == []


def test_the_curves_drawn_are_metrics_csv_within_a_pixel(smoke):
    page_path, manifest, metrics = smoke
    entries = _entries(manifest, "tanh", "glorot_uniform", 4)
    with browse(page_path, "#cell=tanh/glorot_uniform/4") as s:
        panel(s.page)
        for series, layer in (("loss", 1), ("grad_abs_mean", 1), ("grad_abs_mean", 3)):
            figure = f'#explore figure[data-series="{series}"]'
            lo, hi, top, bottom = json.loads(s.page.get_attribute(figure, "data-scale"))
            column = 0 if series == "loss" else layer - 1
            for e in entries:
                d = s.page.get_attribute(f'{figure} path[data-line="{e["seed"]}/{column}"]', "d")
                ys = [float(y) for y in re.findall(r"[ML][\d.]+ ([\d.]+)", d)]
                assert len(ys) == 1 + max(ep for (c, ep, _) in metrics if c == e["cell_id"])
                values = [math.log10(float(metrics[(e["cell_id"], epoch, layer)][series]))
                          for epoch in range(len(ys))]
                expected = [top + (1 - (v - lo) / (hi - lo)) * (bottom - top) for v in values]
                # a byte of the series' own range is under 0.3 px; the path's coordinates, 0.05
                assert max(abs(a - b) for a, b in zip(ys, expected)) < 0.4, (series, e["seed"])


def test_the_keyboard_reaches_a_mark_opens_its_panel_and_closes_it(smoke):
    with browse(smoke[0]) as s:
        page = s.page
        page.focus('.toc a[href="#summary"]')
        for _ in range(60):  # Tab through the page until a heatmap cell has the focus
            page.keyboard.press("Tab")
            href = page.evaluate("() => document.activeElement.getAttribute('href') || ''")
            if href.startswith("#cell="):
                break
        assert href.startswith("#cell="), "no heatmap cell is reachable with Tab"
        page.keyboard.press("Enter")
        shown = panel(page)
        assert page.evaluate("document.activeElement.id") == "explore-title"
        act = href.removeprefix("#cell=").split("/")[0]
        assert shown["title"].startswith(f"{act} · ")
        page.keyboard.press("Escape")
        assert page.is_hidden("#explore")
        assert page.evaluate("() => document.activeElement.getAttribute('href')") == href
        assert page.evaluate("location.hash") == ""
        assert s.errors == [] and s.violations() == []


def test_a_link_with_a_cell_in_its_fragment_opens_on_that_panel(smoke):
    page_path, manifest, metrics = smoke
    other = next(d["dataset_id"] for d in manifest["datasets"]
                 if d["dataset_id"] != manifest["primary"]["dataset_id"])
    with browse(page_path, "#cell=relu/he_normal/3&data=breast_cancer") as s:
        shown = panel(s.page)
        assert shown["title"] == "relu · he_normal · depth 3 · rmsprop (lr 0.001) · breast_cancer"
        check_panel(shown, _entries(manifest, "relu", "he_normal", 3, dataset_id=other), metrics)
        # a link to networks the run does not have says so
        s.page.evaluate("location.hash = '#cell=relu/he_normal/64'")
        assert "no networks for relu · he_normal · depth 64" in s.page.text_content("#explore")
        assert s.errors == [] and s.violations() == []



# --- recorded runs of your own model ------------------------------------------------------------

@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """Three recorded runs: two sigmoid runs (seeds 0 and 1) that share a heatmap cell, and a
    relu run; metrics.csv holds their rows as the recorder writes them."""
    import fakes

    from vanishing import recorder_io
    from vanishing.html import render_report
    from vanishing.results import METRICS_COLUMNS

    root = tmp_path_factory.mktemp("recorded")
    runs = []
    for name, labels, grad, seed in (
            ("sigmoid-a", {"activation": "sigmoid", "initializer": "random_normal", "seed": 0},
             [1e-4, 1e-3, 1e-2, 0.1], 0),
            ("sigmoid-b", {"activation": "sigmoid", "initializer": "random_normal", "seed": 1},
             [2e-4, 3e-3, 2e-2, 0.2], 1),
            ("relu-he", {"activation": "relu", "initializer": "he_normal"}, [0.5, 0.5, 1.0, 1.0], 2)):
        runs.append((fakes.recorded_entry(name, 4, 3, labels), fakes.recorded_arrays(4, 3, grad, seed=seed)))
    results = fakes.recorded_dir(root / "rec", runs)
    lines = [line for entry, arrays in runs for line in recorder_io.metric_lines(entry, arrays)]
    table = "\n".join([",".join(METRICS_COLUMNS), *lines]) + "\n"
    (results / "metrics.csv").write_text(table, encoding="utf-8")
    fakes.rehash_metrics(results)
    page = render_report(results, root / "out")
    return page, [entry for entry, _ in runs], read_metrics(root / "out" / "metrics.csv")


def test_a_recorded_run_opens_its_panel_from_the_table_and_the_heatmap(recorded):
    page_path, entries, metrics = recorded
    sigmoid = [e for e in entries if e["cell_id"].startswith("sigmoid")]
    with browse(page_path) as s:
        s.page.locator('#runs table a[href="#run=relu-he"]').click()
        shown = panel(s.page)
        assert shown["title"] == "relu · he_normal · depth 3 · recorded"
        check_panel(shown, [entries[2]], metrics, recorded=True)
        # the heatmap's sigmoid cell stands for both sigmoid runs: its panel has both
        s.page.keyboard.press("Escape")
        s.page.locator('#runs svg a[href="#run=sigmoid-a"]').first.click()
        shown = panel(s.page)
        check_panel(shown, sigmoid, metrics, recorded=True)
        assert s.errors == [] and s.violations() == []
    with browse(page_path, "#run=sigmoid-b") as s:  # a link to either run opens their group
        check_panel(panel(s.page), sigmoid, metrics, recorded=True)


# --- networks that diverged, died and learned (trains: slow) -------------------------------------

THREE_ENDINGS = """
title = "Three ways a network ends"
[data]
name = "circles"
n_samples = 300
noise = 0.1
factor = 0.5
seed = 0
[model]
width = 5
[train]
epochs = 40
batch_size = 32
optimizer = "rmsprop"
learning_rate = 0.01
[matrix.main]
activations = ["relu", "tanh"]
initializers = ["random_normal", "glorot_uniform"]
depths = [4]
seeds = [0, 1]
# A linear stack with the tutorial's large weights and plain SGD at a step of 100: the loss
# overflows in the first epoch. Beside it the same network under the primary study's rmsprop,
# so the optimizers section shows both.
[matrix.blowup]
activations = ["linear"]
initializers = [{ name = "random_normal", stddev = 1.0 }]
depths = [4]
seeds = [0]
optimizers = [{ name = "sgd", learning_rate = 100.0 }, { name = "rmsprop", learning_rate = 0.01 }]
"""


@pytest.fixture(scope="module")
def endings(tmp_path_factory):
    from vanishing import config, runner
    from vanishing.html import render_report

    root = tmp_path_factory.mktemp("endings")
    experiment = config.load_text("three endings", THREE_ENDINGS)
    runner.train(experiment, root / "results", command="vanishing train", progress=False)
    page = render_report(root / "results", root / "out")
    manifest = json.loads((root / "results" / "manifest.json").read_text(encoding="utf-8"))
    return page, manifest, read_metrics(root / "out" / "metrics.csv")


@pytest.mark.slow
def test_a_diverged_a_dead_and_a_learned_network_show_metrics_csv_in_their_panels(endings):
    page_path, manifest, metrics = endings
    diverged = _entries(manifest, "linear", "random_normal(stddev=1.0)", 4, "sgd")
    dead = _entries(manifest, "relu", "random_normal", 4)
    learned = _entries(manifest, "tanh", "glorot_uniform", 4)
    last = {e["cell_id"]: max(ep for (c, ep, _) in metrics if c == e["cell_id"]) for e in manifest["cells"]}
    # what the three are, from metrics.csv, before the page is asked about them
    assert [e["status"] for e in diverged] == ["diverged"]
    assert all(float(metrics[(e["cell_id"], last[e["cell_id"]], 4)]["act_dead_frac"]) == 1.0 for e in dead)
    assert all(float(metrics[(e["cell_id"], last[e["cell_id"]], 1)]["accuracy"]) > 0.9 for e in learned)
    chosen = [("#optimizers", "#cell=linear/random_normal%28stddev%3D1.0%29/4&optimizer=sgd%20%28lr%20100%29",
               diverged),
              ("#summary", "#cell=relu/random_normal/4", dead),
              ("#summary", "#cell=tanh/glorot_uniform/4", learned)]
    with browse(page_path) as s:
        for where, href, entries in chosen:
            s.page.locator(f'{where} a[href="{href}"]').first.click()
            shown = panel(s.page)
            check_panel(shown, entries, metrics)
        assert shown["title"] == "tanh · glorot_uniform · depth 4 · rmsprop (lr 0.01) · circles"
        assert s.errors == [] and s.violations() == []
        assert set(s.requests) == {s.url}
    # the diverged seed is named as such, and its end numbers are none
    with browse(page_path, chosen[0][1]) as s:
        row = panel(s.page)["seeds"][1]
        assert row[1] == f"diverged at epoch {diverged[0]['diverged_epoch']}" and row[2] == "–"
