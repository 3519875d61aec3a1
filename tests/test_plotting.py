"""plotting.py and heatmaps.py: layer colours, and what a heatmap draws."""

from __future__ import annotations

import base64
import dataclasses

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import TwoSlopeNorm, to_hex

from vanishing import aggregate, heatmaps, plotting, reader
from vanishing.results import read_cell


@pytest.fixture(scope="module")
def run(smoke_results):
    return reader.load_run(smoke_results)


def test_layer_colours_run_from_input_blue_to_output_orange_and_are_distinct():
    for n in (1, 2, 5, 9, 33):
        colours = plotting.layer_colours(n)
        assert len(colours) == n and len(set(colours)) == n
    # Any depth starts on the same dark blue and ends on the same orange.
    assert plotting.layer_colours(5)[0] == plotting.layer_colours(9)[0] == "#1d3a8a"
    assert plotting.layer_colours(5)[-1] == plotting.layer_colours(9)[-1] == "#d9541e"
    assert plotting.layer_label(5, 5) == "output" and plotting.layer_label(1, 5) == "layer 1"


def test_finish_makes_an_svg_or_png_data_uri_of_the_drawn_size():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [0, 1])
    svg = plotting.finish(fig, "a caption", "alt text")
    assert svg.uri.startswith("data:image/svg+xml;base64,")
    assert b"<svg" in base64.b64decode(svg.uri.split(",", 1)[1])
    fig, ax = plt.subplots(figsize=(3, 2))
    png = plotting.finish(fig, "c", "a", fmt="png")
    assert base64.b64decode(png.uri.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert 0 < png.width < 400 and 0 < png.height < 300  # 3 x 2 inches, tight bbox


def test_heatmap_draws_one_cell_per_pair_with_its_value_and_marks_pairs_not_run(run, smoke_results):
    grid = aggregate.main_grid(run.matrices, aggregate.summarize(run.primary_cells()))
    holey = aggregate.Grid(grid.name, grid.depth, grid.activations, grid.initializers,
                           ((None, *grid.cells[0][1:]), *grid.cells[1:]))
    fig = heatmaps.draw_heatmap(holey, "accuracy")
    ax = fig.axes[0]
    cells = _cells(ax)
    assert len(cells) == len(grid.activations) * len(grid.initializers) - 1
    assert (0, 0) not in cells  # not run: no cell drawn
    texts = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts}
    assert texts[(0, 0)] == "not run"
    # tanh x the third initializer: the seeds' final accuracies as stored
    act, init = grid.activations[1], grid.initializers[2]
    finals = [read_cell(smoke_results, e["cell_id"])["accuracy"][-1] for e in run.manifest["cells"]
              if (e["activation"], e["initializer"], e["depth"]) == (act, init, grid.depth)
              and e["dataset_id"] == run.primary.dataset_id and e["optimizer"] == run.primary.optimizer]
    assert len(finals) == 2
    assert texts[(1, 2)] == f"{np.mean(finals):.2f}"
    assert [t.get_text() for t in ax.get_yticklabels()] == list(grid.activations)


def test_attenuation_panels_share_one_scale_per_row(run):
    grid = aggregate.main_grid(run.matrices, aggregate.summarize(run.primary_cells()))
    # A second grid whose one pair vanishes by 5.3 decades: both panels of the row take its scale.
    g = grid.cells[0][0]
    deep = dataclasses.replace(g, attenuation_init=aggregate.Stat(-5.3, 0.0, 1))
    other = aggregate.Grid("other", grid.depth, grid.activations, grid.initializers,
                           ((deep, *grid.cells[0][1:]), *grid.cells[1:]))
    fig = heatmaps.draw_panels([grid, other], ("accuracy", "attenuation_init"), ["a", "b"])
    panels = [_cells(ax) for ax in fig.axes if _cells(ax)]
    assert len(panels) == 4
    # the row's scale is the deep pair's, +-6 decades, in both panels
    norm, cmap = TwoSlopeNorm(0.0, -6.0, 6.0), plt.get_cmap(heatmaps.DIVERGING)
    assert to_hex(panels[3][(0, 0)].get_facecolor()) == to_hex(cmap(norm(-5.3)))
    # the same attenuation has the same colour in both panels, and that colour is on the +-6 scale
    value = grid.cells[1][1].attenuation_init.mean
    assert to_hex(panels[2][(1, 1)].get_facecolor()) == to_hex(panels[3][(1, 1)].get_facecolor()) \
        == to_hex(cmap(norm(value)))
    accuracy = grid.cells[1][1].final_accuracy.mean
    viridis = plt.get_cmap("viridis")
    assert to_hex(panels[0][(1, 1)].get_facecolor()) == to_hex(viridis((accuracy - 0.5) / 0.5))


def _cells(ax) -> dict:
    """(row, column) -> the heatmap's rectangle there: the cells drawn, each a mark."""
    return {(round(p.get_y() + 0.5), round(p.get_x() + 0.5)): p for p in ax.patches if p.get_gid()}
