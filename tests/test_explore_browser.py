"""The panel in a real browser (Debian's Chromium through Playwright): a heatmap cell, a depth
point and a table row open their group's panel, whose numbers are metrics.csv's; keyboard only;
the shareable link; no error and no policy violation; no request leaves the page."""

from __future__ import annotations

import json

import pytest
from explorer import browse, check_panel, panel, read_metrics

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
        # the back button closes it; a link to networks the run does not have says so
        s.page.evaluate("location.hash = '#cell=relu/he_normal/64'")
        assert "no networks for relu · he_normal · depth 64" in s.page.text_content("#explore")
        assert s.errors == [] and s.violations() == []
