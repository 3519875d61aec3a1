"""What the networks learned: decision regions over the plane for the tutorial's networks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure as MplFigure

from vanishing import fmt
from vanishing.plotting import STYLE, Figure, finish
from vanishing.reader import CellStats, Run
from vanishing.roles import NORMALISED_INITIALIZERS, TASKS, TUTORIAL_INITIALIZER, ordered, short
from vanishing.sections.tutorial import tutorial_cells

EMPTY = "No decision regions recorded for the tutorial's networks in this run."
POSITIVE, NEGATIVE = "#1f5fa8", "#c8561b"  # class 1 blue, class 0 orange


@dataclass(frozen=True)
class BoundariesPart:
    task: str  # 'tell the inner circle from the outer ring'
    figure: Figure


def boundary_cells(run: Run) -> list[CellStats]:
    """First seed of each tutorial activation, with the tutorial's, the normalised and He's init."""
    primary = run.primary_cells()
    tutorial = tutorial_cells(primary)
    if not tutorial:
        return []
    depth = next(iter(tutorial.values()))[0].depth
    out = []
    for act in tutorial:
        for init in (TUTORIAL_INITIALIZER, NORMALISED_INITIALIZERS[0], "he_normal"):
            mine = sorted((c for c in primary if c.activation == act and c.initializer == init
                           and c.depth == depth and c.boundary is not None), key=lambda c: c.seed)
            if mine:
                out.append(mine[0])
    return out


def build(run: Run) -> BoundariesPart | None:
    cells = boundary_cells(run)
    if not cells:
        return None
    dataset = run.dataset(cells[0].dataset_id)
    name = dataset.name if dataset else ""
    X = y = None
    if cells[0].dataset_id:
        X, y = run.read_dataset(cells[0].dataset_id)
    _, positive, negative = TASKS.get(name, ("", "class 1", "class 0"))
    return BoundariesPart(f"tell the {positive} from the {negative}",
                          figure(cells, X, y, positive, negative))


def draw_boundaries(cells: Sequence[CellStats], X: np.ndarray | None, y: np.ndarray | None) -> MplFigure:
    """Rows: activations; columns: initializers; regions, the boundary and the data."""
    acts, inits = ordered(c.activation for c in cells), ordered(c.initializer for c in cells)
    region = LinearSegmentedColormap.from_list("region", ["#f6c9a8", "#fbf7f2", "#b7cfe8"])
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(len(acts), len(inits), figsize=(2.7 * len(inits), 2.7 * len(acts)),
                                 squeeze=False)
        for ax in axes.flat:
            ax.set_visible(False)
        for c in cells:
            ax = axes[acts.index(c.activation), inits.index(c.initializer)]
            ax.set_visible(True)
            bx, by, logit = c.boundary
            with np.errstate(all="ignore"):
                prob = 1 / (1 + np.exp(-np.clip(logit, -50, 50)))
            ax.contourf(bx, by, np.nan_to_num(prob, nan=0.5), levels=np.linspace(0, 1, 11), cmap=region)
            if np.isfinite(logit).all() and logit.min() < 0 < logit.max():
                ax.contour(bx, by, logit, levels=[0], colors="#333", linewidths=1.0)
            if X is not None and y is not None:
                ax.scatter(X[:, 0], X[:, 1], c=np.where(y > 0.5, POSITIVE, NEGATIVE), s=3,
                           linewidths=0, alpha=0.7)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            ax.set_aspect("equal")
            status = "diverged" if c.diverged else f"acc {fmt.fixed(c.accuracy[-1], 2)}"
            ax.set_title(f"{c.activation} · {short(c.initializer)}\n{status}", fontsize=8.5, loc="left")
        fig.tight_layout()
    return fig


def figure(cells: Sequence[CellStats], X, y, positive: str, negative: str) -> Figure:
    caption = ("What each network learned: the shaded regions are the predicted class over the "
               f"plane (blue: {positive}, orange: {negative}), the black line is the decision "
               "boundary, dots are the training data (first seed). A network whose first layers "
               "got no gradient can only draw what its last layers manage alone.")
    alt = (f"Grid of decision-region plots for {', '.join(ordered(c.activation for c in cells))} with "
           f"{', '.join(ordered(c.initializer for c in cells))}, data points overlaid.")
    # Filled contours over a grid are dense: a PNG is smaller than the SVG.
    return finish(draw_boundaries(cells, X, y), caption, alt, fmt="png")
