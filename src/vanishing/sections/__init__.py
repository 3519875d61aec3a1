"""The page, section by section: this ONE ordered list defines the page's order, ids,
titles and navigation. Adding a section = one module here + one partial template +
one line below.
"""

from __future__ import annotations

from vanishing.reader import MATRIX
from vanishing.recorded import KERAS
from vanishing.sections import (
    boundaries,
    depth,
    glorot,
    gradient_flow,
    layer_histograms,
    layer_updates,
    learning_speed,
    matrix,
    optimizers,
    real_data,
    recorded_saturation,
    reproduce,
    runs,
    saturation,
    summary,
    theory,
    through_time,
    tutorial,
    your_model,
)
from vanishing.sections.base import Part, Section

RECORDED = frozenset({KERAS})  # sections for runs the Keras recorder wrote
BOTH = frozenset({MATRIX, KERAS})

SECTIONS: tuple[Section, ...] = (
    Section("your-model", "Your model", your_model.build, your_model.EMPTY, RECORDED),
    Section("gradient-flow", "Gradient flow", gradient_flow.build, gradient_flow.EMPTY, RECORDED),
    Section("runs", "Your runs compared", runs.build, runs.EMPTY, RECORDED),
    Section("histograms", "Layer by layer", layer_histograms.build, layer_histograms.EMPTY, RECORDED),
    Section("updates", "How far each layer moves", layer_updates.build, layer_updates.EMPTY, RECORDED),
    Section("recorded-saturation", "Saturated and dead units", recorded_saturation.build,
            recorded_saturation.EMPTY, RECORDED),
    Section("through-time", "Vanishing through time", through_time.build, through_time.EMPTY, RECORDED),
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
    Section("reproduce", "Reproduce", reproduce.build, reproduce.EMPTY, BOTH),
)

__all__ = ["SECTIONS", "Part", "Section"]
