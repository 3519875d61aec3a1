"""The page, section by section: this ONE ordered list defines the page's order, ids,
titles and navigation. Adding a section = one module here + one partial template +
one line below.
"""

from __future__ import annotations

from vanishing.sections import (
    boundaries,
    depth,
    glorot,
    learning_speed,
    matrix,
    optimizers,
    real_data,
    reproduce,
    saturation,
    summary,
    theory,
    tutorial,
)
from vanishing.sections.base import Part, Section

SECTIONS: tuple[Section, ...] = (
    Section("summary", "Summary", summary.build, summary.EMPTY),
    Section("tutorial", "The tutorial, reproduced", tutorial.build, tutorial.EMPTY),
    Section("saturation", "Saturation", saturation.build, saturation.EMPTY),
    Section("learning-speed", "How fast each layer learns", learning_speed.build, learning_speed.EMPTY),
    Section("glorot", "Standard vs. Glorot initialisation", glorot.build, glorot.EMPTY),
    Section("theory", "Theory beside measurement", theory.build, theory.EMPTY),
    Section("depth", "Depth", depth.build, depth.EMPTY),
    Section("optimizers", "Optimizers", optimizers.build, optimizers.EMPTY),
    Section("real-data", "Real data", real_data.build, real_data.EMPTY),
    Section("matrix", "The whole matrix", matrix.build, matrix.EMPTY),
    Section("boundaries", "What the networks learned", boundaries.build, boundaries.EMPTY),
    Section("reproduce", "Reproduce", reproduce.build, reproduce.EMPTY),
)

__all__ = ["SECTIONS", "Part", "Section"]
