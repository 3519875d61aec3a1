"""The page's explorable parts without a browser: the marks a figure carries into the page (a
hover title per heatmap cell and depth point, a link to the group's panel), the links' names,
the panel's data block, and the policy that lets exactly the page's script run."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import re
from html.parser import HTMLParser
from urllib.parse import unquote

import matplotlib.pyplot as plt
import numpy as np
import pytest
from explorer import check_panel, read_metrics

from vanishing import aggregate, explore, fmt, heatmaps, links, plotting, reader
from vanishing.html import build_page, explore_script, render_html
from vanishing.roles import training_label
from vanishing.svg_inline import inline_svg


@pytest.fixture(scope="module")
def run(smoke_results):
    return reader.load_run(smoke_results)


def _marks(svg: str) -> list[tuple[str, str]]:
    """(href, hover title) of each mark of an inline SVG."""
    # the title is the link's first child: its tooltip, and its name to a screen reader
    return [(unquote(html.unescape(href)), html.unescape(title))
            for href, title in re.findall(r'<a href="([^"]+)"><title>([^<]*)</title>', svg)]


def _titles(svg: str) -> dict[str, str]:
    """href -> hover title, for figures with one mark per group."""
    return dict(_marks(svg))


# --- inline SVG -------------------------------------------------------------------------------

def _marked_figure(label: str = "a") -> plt.Figure:
    fig, ax = plt.subplots(figsize=(2, 2))
    first = ax.add_patch(plt.Rectangle((0, 0), 1, 1))
    (second,) = ax.plot([0.5], [0.5], "o")
    ax.set_title(label)
    plotting.mark(first, "first <cell> & one", "#cell=a/b/4")
    plotting.mark(second, "second", "#cell=c/d/8&optimizer=sgd")
    return fig


def test_a_marked_figure_is_inline_svg_with_a_title_and_a_link_per_mark():
    figure = plotting.finish(_marked_figure(), "caption", "alt <text>")
    svg = figure.svg
    assert figure.uri == "" and svg.startswith("<svg ")
    assert svg.count("<title>") == 2
    assert _titles(svg) == {"#cell=a/b/4": "first <cell> & one", "#cell=c/d/8&optimizer=sgd": "second"}
    assert 'aria-label="alt &lt;text&gt;"' in svg
    # nothing that would act on the page around it: no prolog, no global style, no new tab
    assert "<?xml" not in svg and "<style" not in svg and "target=" not in svg and "<metadata" not in svg


def test_two_inline_figures_share_no_id_and_every_reference_resolves():
    one = plotting.finish(_marked_figure("one"), "c", "a").svg
    two = plotting.finish(_marked_figure("two"), "c", "a").svg
    ids_one = re.findall(r' id="([^"]+)"', one)
    ids_two = re.findall(r' id="([^"]+)"', two)
    assert ids_one and not set(ids_one) & set(ids_two)
    for svg, ids in ((one, ids_one), (two, ids_two)):
        assert len(ids) == len(set(ids))
        refs = re.findall(r'(?:url\(#|xlink:href="#)([^)"]+)', svg)
        assert refs and set(refs) <= set(ids)


def test_a_mark_that_was_never_drawn_is_an_error_not_a_silent_gap():
    with pytest.raises(ValueError, match="m7"):
        inline_svg(b'<svg width="1pt" height="1pt"><g id="mark-0"></g></svg>', {"m7": "x"}, "alt")


# --- what a hover says ------------------------------------------------------------------------

def test_every_heatmap_cell_says_mean_std_seeds_and_diverged_as_the_cells_hold_them(run):
    primary = run.primary_cells()
    grid = aggregate.main_grid(run.matrices, aggregate.summarize(primary))
    rule = links.links_for(run)
    svg = plotting.finish(heatmaps.draw_heatmap(grid, "accuracy", links=rule), "c", "a").svg
    titles = _titles(svg)
    assert len(titles) == len(grid.present()) == len(grid.activations) * len(grid.initializers)
    for act in grid.activations:
        for init in grid.initializers:
            # independent of aggregate: straight from the cells' arrays
            mine = [c for c in primary if (c.activation, c.initializer, c.depth) == (act, init, grid.depth)]
            ok = [c.accuracy[-1] for c in mine if not c.diverged]
            title = titles[f"#cell={act}/{init}/{grid.depth}"]
            lines = title.split("\n")
            assert lines[0] == f"{act} · {init} · depth {grid.depth} · rmsprop (lr 0.001)"
            expected = f"{np.mean(ok):.3f} ± {np.std(ok):.3f}" if len(ok) > 1 else f"{ok[0]:.3f}"
            assert lines[1] == f"final accuracy {expected} (mean ± std over {len(ok)} seeds)"
            diverged = [c for c in mine if c.diverged]
            assert lines[2] == (f"{len(mine)} seeds, none diverged" if not diverged else
                                f"{len(mine)} seeds, {len(diverged)} diverged (" + ", ".join(
                                    f"seed {c.seed} at epoch {c.diverged_epoch}" for c in diverged) + ")")


def test_a_diverged_seed_is_named_in_the_hover_and_left_out_of_the_mean(run):
    primary = run.primary_cells()
    g = aggregate.summarize(primary)[0]
    broken = aggregate.GroupSummary(**{**g.__dict__, "diverged": ((g.seeds[-1], 7),),
                                       "final_accuracy": aggregate.Stat(0.9, 0.0, len(g.seeds) - 1)})
    text = links.hover(broken, "final accuracy", broken.final_accuracy)
    assert f"{len(g.seeds)} seeds, 1 diverged (seed {g.seeds[-1]} at epoch 7)" in text
    assert f"(mean ± std over {len(g.seeds) - 1} seeds)" in text or "(1 seed)" in text


def test_depth_points_are_marks_of_their_group_at_that_depth(run):
    from vanishing.sections import depth

    part = depth.build(run)
    marks = _marks(part.figure.svg)
    curves = aggregate.depth_curves(aggregate.summarize(run.primary_cells()))
    expected = {f"#cell={c.activation}/{c.initializer}/{d}" for c in curves for d in c.depths}
    assert {href for href, _ in marks} == expected
    assert len(marks) <= 2 * len(expected)  # a point at initialisation and one after training
    c = curves[0]
    cells = [x for x in run.primary_cells()
             if (x.activation, x.initializer, x.depth) == (c.activation, c.initializer, c.depths[-1])]
    at_init = np.mean([x.attenuation[0] for x in cells])
    mine = [title for href, title in marks if href == f"#cell={c.activation}/{c.initializer}/{c.depths[-1]}"]
    assert any(f"attenuation at init {fmt.signed(at_init, 3)} (" in title for title in mine), mine


# --- links ------------------------------------------------------------------------------------

def test_links_are_short_for_the_primary_study_and_name_other_axes(run):
    rule = links.links_for(run)
    assert rule.href("sigmoid", "glorot_uniform", 4, "rmsprop (lr 0.001)", run.primary.dataset_id) \
        == "#cell=sigmoid/glorot_uniform/4"
    assert rule.href("tanh", "random_normal(stddev=1.0)", 4, "sgd (lr 0.1)", run.primary.dataset_id) \
        == "#cell=tanh/random_normal%28stddev%3D1.0%29/4&optimizer=sgd%20%28lr%200.1%29"
    other = next(d for d in run.datasets if d.dataset_id != run.primary.dataset_id)
    assert rule.href("relu", "he_normal", 3, "rmsprop (lr 0.001)", other.dataset_id) \
        == f"#cell=relu/he_normal/3&data={other.title}"
    # a label holding the separators stays one label
    assert rule.href("a/b&c=d", "x", 2) == "#cell=a%2Fb%26c%3Dd/x/2"


def test_every_group_of_the_run_has_a_panel_and_every_mark_opens_one(run, smoke_page):
    hrefs = {g.href for g in explore.groups(run)}
    keys = {(c.activation, c.initializer, c.depth, c.optimizer, c.learning_rate, c.dataset_id)
            for c in run.cells}
    assert len(hrefs) == len(keys)  # one panel per group, no two groups with one link
    page = smoke_page.read_text(encoding="utf-8")
    marked = {unquote(h.replace("&amp;", "&")) for h in re.findall(r'<a href="(#cell=[^"]+)"', page)}
    assert marked and marked <= {unquote(h) for h in hrefs}
    # the heatmaps of the optimizer and real-data sections link off the primary study
    assert any("&optimizer=" in h for h in marked) and any("&data=" in h for h in marked)


# --- the panel's data -------------------------------------------------------------------------

def test_a_packed_series_comes_back_within_a_byte_of_its_own_range():
    values = np.array([[1e-9, 1e-3], [np.nan, 2e-5], [0.0, 5e-1]])
    lo, hi, data = explore.pack(values, log=True)
    q = np.frombuffer(base64.b64decode(data), np.uint8).reshape(values.shape)
    assert q[1, 0] == q[2, 0] == explore.MISSING  # NaN, and 0 on a log axis: no number
    back = lo + q.astype(float) / explore.LEVELS * (hi - lo)
    ok = q != explore.MISSING
    assert np.all(np.abs(back[ok] - np.log10(values[ok])) <= (hi - lo) / explore.LEVELS / 2 + 1e-6)
    assert (lo, hi) == (-9.0, round(math.log10(0.5), 6))


def test_the_data_block_cannot_end_its_script_element(run):
    evil = "</script><script>alert(1)</script><!--"
    cell = run.cells[0]
    import dataclasses

    tampered = dataclasses.replace(run, cells=(dataclasses.replace(cell, initializer=evil), *run.cells[1:]))
    text = explore.explore_json(tampered)
    assert "<" not in text and ">" not in text and "&" not in text
    groups = json.loads(text)["groups"]
    assert evil in {g["initializer"] for g in groups}


def test_every_panel_number_is_metrics_csv_to_the_digits_shown(run, smoke_results):
    manifest = json.loads((smoke_results / "manifest.json").read_text(encoding="utf-8"))
    metrics = read_metrics(smoke_results / "metrics.csv")
    rule = links.links_for(run)
    views = explore.groups(run)
    assert len(views) == 19  # smoke: 9 + 8 + 1 + 1 groups (main, depth, optimizers, real data)
    for g in views:
        entries = [e for e in manifest["cells"] if (e["activation"], e["initializer"], e["depth"]) ==
                   (g.activation, g.initializer, g.depth)
                   and g.href == rule.href(e["activation"], e["initializer"], e["depth"],
                                           training_label(e["optimizer"], e["learning_rate"]),
                                           e["dataset_id"])]
        # the panel as the page's script lays it out: the seeds table, then a layer table per seed
        shown = {"seeds": [["seed"], *([s.name, s.status, *s.numbers] for s in g.seeds),
                           ["mean ± std", "", *g.mean]],
                 "layers": [[["layer"], *([name, *row] for name, row in zip(g.layers, s.layers))]
                            for s in g.seeds]}
        check_panel(shown, entries, metrics)


# --- the policy -------------------------------------------------------------------------------

class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[tuple[dict, str]] = []
        self.csp = ""
        self._open: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script":
            self._open = a
            self.scripts.append((a, ""))
        if tag == "meta" and a.get("http-equiv") == "Content-Security-Policy":
            self.csp = a["content"]

    def handle_data(self, data):
        if self._open is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)

    def handle_endtag(self, tag):
        if tag == "script":
            self._open = None


def test_the_policy_allows_exactly_the_inline_script_by_its_hash(run):
    html = render_html(build_page(run))
    parser = _Scripts()
    parser.feed(html)
    code = [text for attrs, text in parser.scripts if attrs.get("type") != "application/json"]
    assert code == [explore_script()]
    digest = base64.b64encode(hashlib.sha256(code[0].encode("utf-8")).digest()).decode("ascii")
    assert f"script-src 'sha256-{digest}'" in parser.csp
    assert "unsafe-inline' " not in parser.csp.split("script-src")[1].split(";")[0]
    assert "unsafe-eval" not in parser.csp and "connect-src 'none'" in parser.csp
    data = [text for attrs, text in parser.scripts if attrs.get("type") == "application/json"]
    assert len(json.loads(data[0])["groups"]) == len(explore.groups(run))


def test_fmt_sig_keeps_three_significant_digits():
    assert [fmt.sig(x) for x in (0.512345, 1.2345e-5, 1e-5, 1500.0, 0.0, -1.23456e-4, 0.1, math.nan)] \
        == ["0.512", "1.23e−5", "1.00e−5", "1.50e3", "0", "−0.000123", "0.100", "–"]
