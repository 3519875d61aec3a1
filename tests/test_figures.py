"""figures.py: layer colours, and figures that are inline images with caption and alt text."""

from __future__ import annotations

import base64

import pytest

from vanishing import analysis, figures


@pytest.fixture(scope="module")
def run(smoke_results):
    return analysis.load_run(smoke_results)


def test_layer_colours_run_from_input_to_output_and_are_distinct():
    for n in (1, 2, 5, 9, 33):
        colours = figures.layer_colours(n)
        assert len(colours) == n and len(set(colours)) == n
    # The same network depth gets the same colours in every figure and table.
    assert figures.layer_colours(5) == figures.layer_colours(5)
    assert figures.layer_colours(5)[0] == figures.layer_colours(9)[0]
    assert figures.layer_colours(5)[-1] == figures.layer_colours(9)[-1]
    assert figures.layer_label(5, 5) == "output" and figures.layer_label(1, 5) == "layer 1"


def _svg(fig: figures.Figure) -> str:
    assert fig.uri.startswith("data:image/svg+xml;base64,")
    return base64.b64decode(fig.uri.split(",", 1)[1]).decode("utf-8")


def test_heatmaps_mark_cells_not_run(run):
    summaries = analysis.summarize(run.cells)
    grid = analysis.main_grid(run.manifest, summaries)
    holey = analysis.Grid(grid.name, grid.depth, grid.activations, grid.initializers,
                          ((None, *grid.cells[0][1:]), *grid.cells[1:]))
    for what in ("accuracy", "attenuation_init", "attenuation_end"):
        fig = figures.heatmap(holey, what)
        assert "not run" in _svg(fig)
        assert fig.caption and fig.alt and fig.width > 0 and fig.height > 0


def test_tutorial_figure_has_a_line_per_layer_in_the_layer_colours(run):
    tutorial = analysis.tutorial_cells(run.cells)
    act, cells = next(iter(tutorial.items()))
    svg = _svg(figures.tutorial_figure(act, cells)).lower()
    for colour in figures.layer_colours(cells[0].depth + 1):
        assert colour.lower() in svg


def test_boundaries_figure_is_a_png(run, smoke_results):
    from vanishing.results import read_dataset

    tutorial = analysis.tutorial_cells(run.cells)
    cells = analysis.boundary_cells(tutorial, run.cells)
    X, y = read_dataset(smoke_results, cells[0].dataset_id)
    fig = figures.boundaries_figure(cells, X, y)
    assert fig.uri.startswith("data:image/png;base64,")
    assert base64.b64decode(fig.uri.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
