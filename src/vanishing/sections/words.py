"""How the page names a network's layers and its depth, for the networks a section shows.

The built-in MLP has ``depth`` hidden layers and an output layer; attenuation compares its
first hidden layer with its last. A model factory's network has whatever the factory builds
at a depth (a residual block may hold two weight matrices, a CNN conv blocks and a dense
head): the page speaks of the weight matrices the recorder records, 1..L, and attenuation
compares the first with the next-to-last, L−1 (for the MLP, L = depth + 1: the same two
layers). Each sentence takes its words from here, so it stays true for either.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from vanishing import fmt
from vanishing.plotting import layer_label
from vanishing.reader import FACTORY, CellStats


@dataclass(frozen=True)
class LayerWords:
    first: str  # the layer attenuation's numerator
    last: str  # its denominator
    pair: str  # both, in one phrase
    first_adjective: str  # 'first-layer mean |gradient|'
    every: str  # 'every layer starts with small weights'
    ratio: str  # what attenuation is, in a parenthesis
    label: str  # what attenuation is, on a colour bar
    axis: str  # the depth axis of a figure
    factory: bool

    def depth(self, depth: int) -> str:
        """'4 hidden layers' / 'depth 4'."""
        return f"depth {depth}" if self.factory else f"{depth} hidden layers"

    def depths(self, depths: Sequence[int]) -> str:
        """'2, 4 and 8 hidden layers' / 'depths 2, 4 and 8'."""
        listed = fmt.listing([str(d) for d in depths])
        if self.factory:
            return f"depth{'s' if len(depths) > 1 else ''} {listed}"
        return f"{listed} hidden layers"

    def span(self, shallowest: int, deepest: int) -> str:
        """'2 to 32 hidden layers' / 'depth 2 to 32'."""
        return (f"depth {shallowest} to {deepest}" if self.factory
                else f"{shallowest} to {deepest} hidden layers")

    def depth_of_width(self, depth: int, width: int) -> str:
        """'4 hidden layers of 5' / 'depth 4, width 5' (a factory's width as it was given)."""
        if self.factory:
            return f"depth {depth}" + (f", width {width}" if width else "")
        return f"{depth} hidden layers of {width}"

    def layer(self, layer: int, layers: int) -> str:
        """A legend's name of layer 1..L: 'layer 2', 'output' / 'matrix 2'."""
        return f"matrix {layer}" if self.factory else layer_label(layer, layers)

    def across(self, depth: int) -> str:
        """Where attenuation is measured: 'across 4 hidden layers' / 'in the networks of depth 4'."""
        return f"in the networks of depth {depth}" if self.factory else f"across {depth} hidden layers"


MLP = LayerWords(
    first="the first hidden layer", last="the last hidden layer", pair="the first and last hidden layer",
    first_adjective="first-layer", every="every layer", ratio="log10 of first over last hidden layer",
    label="log10(first / last hidden layer)",
    axis="hidden layers", factory=False)

FACTORY_WORDS = LayerWords(
    first="the first weight matrix", last="the next-to-last weight matrix",
    pair="the first and the next-to-last weight matrix", first_adjective="first-matrix",
    every="every weight matrix", ratio="log10 of the first over the next-to-last weight matrix",
    label="log10(first / next-to-last matrix)",
    axis="depth, as the factory defines it", factory=True)

# What the next-to-last is, for the definition beside the heatmaps.
FACTORY_DEFINITION = ("The weight matrices are those the recorder records in the factory's networks (every "
                      "kernel, numbered 1..L in the model's trainable_weights order); the next-to-last, "
                      "L−1, is the last before the final one (for a Dense output layer, the last before "
                      "the output's). For the built-in MLP these are its first and last hidden layer.")


def words_for(cells: Iterable[CellStats]) -> LayerWords:
    """A factory's words when any of the cells is a factory's network (they are true of the MLP
    too, where the next-to-last weight matrix is the last hidden layer); else the MLP's."""
    return FACTORY_WORDS if any(c.kind == FACTORY for c in cells) else MLP
