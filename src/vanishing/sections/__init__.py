"""The page, section by section: this ONE ordered list defines the page's order, ids,
titles and navigation. Adding a section = one module here + one partial template +
one line below.

Each section names the kinds of networks it applies to; it is shown when the directory
holds one of them, and sees only those (reader.Run.only). A model factory's matrix
(FACTORY) gets the matrix page's sections that need no more than the recorder measures
(summary, learning speed, depth, optimizers, real data, the whole matrix), the recorder's
views of its networks in "Network by network", and Reproduce; the sections that need the
built-in MLP's own arrays are left out (html.build_page says which, and why).
"""

from __future__ import annotations

from vanishing.reader import FACTORY, MATRIX
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
    networks,
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

RECORDED = frozenset({KERAS})  # sections for runs a script recorded with the Keras recorder
MATRICES = frozenset({MATRIX, FACTORY})  # sections of a matrix, the built-in MLP's or a factory's
ALL = frozenset({MATRIX, KERAS, FACTORY})

SECTIONS: tuple[Section, ...] = (
    Section("your-model", "Your model", your_model.build, your_model.EMPTY, RECORDED),
    Section("gradient-flow", "Gradient flow", gradient_flow.build, gradient_flow.EMPTY, RECORDED),
    Section("runs", "Your runs compared", runs.build, runs.EMPTY, RECORDED),
    Section("histograms", "Layer by layer", layer_histograms.build, layer_histograms.EMPTY, RECORDED),
    Section("updates", "How far each layer moves", layer_updates.build, layer_updates.EMPTY, RECORDED),
    Section("recorded-saturation", "Saturated and dead units", recorded_saturation.build,
            recorded_saturation.EMPTY, RECORDED),
    Section("through-time", "Vanishing through time", through_time.build, through_time.EMPTY, RECORDED),
    Section("summary", "Summary", summary.build, summary.EMPTY, MATRICES),
    Section("tutorial", "The tutorial, reproduced", tutorial.build, tutorial.EMPTY),
    Section("saturation", "Saturation", saturation.build, saturation.EMPTY),
    Section("learning-speed", "How fast each layer learns", learning_speed.build, learning_speed.EMPTY,
            MATRICES),
    Section("glorot", "Standard vs. Glorot initialisation", glorot.build, glorot.EMPTY),
    Section("theory", "Theory beside measurement", theory.build, theory.EMPTY),
    Section("depth", "Depth", depth.build, depth.EMPTY, MATRICES),
    Section("optimizers", "Optimizers", optimizers.build, optimizers.EMPTY, MATRICES),
    Section("real-data", "Real data", real_data.build, real_data.EMPTY, MATRICES),
    Section("matrix", "The whole matrix", matrix.build, matrix.EMPTY, MATRICES),
    Section("networks", "Network by network", networks.build, networks.EMPTY, frozenset({FACTORY})),
    Section("boundaries", "What the networks learned", boundaries.build, boundaries.EMPTY),
    Section("reproduce", "Reproduce", reproduce.build, reproduce.EMPTY, ALL),
)

__all__ = ["SECTIONS", "Part", "Section"]
