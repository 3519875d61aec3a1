"""What every figure shares: the style, the layer colours, bands over seeds, and the
step from a drawn matplotlib figure to an inline image with its caption and alt text.

Sections draw with these (each section's figures live in its own module) and call
``finish`` once per figure; tests inspect the matplotlib figure a ``draw_*`` returns.
"""

from __future__ import annotations

import base64
import io
import re
import struct
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LinearSegmentedColormap, to_hex
from matplotlib.figure import Figure as MplFigure

from vanishing import timing
from vanishing.aggregate import geometric_mean
from vanishing.reader import CellStats
from vanishing.svg_inline import inline_svg

STYLE = {
    # Text stays text in the SVG: smaller files, crisp at any zoom, no glyph ids to collide.
    "svg.fonttype": "none",
    "svg.hashsalt": "vanishing",  # deterministic ids: the same run renders the same bytes
    "font.family": "sans-serif",
    "font.sans-serif": ["Helvetica Neue", "Helvetica", "Arial", "DejaVu Sans"],
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#666",
    "axes.grid": True,
    "grid.color": "#e6e6e6",
    "grid.linewidth": 0.6,
    "legend.frameon": False,
    "legend.fontsize": 8,
    "xtick.color": "#444",
    "ytick.color": "#444",
    "figure.dpi": 100,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.06,
    "lines.linewidth": 1.5,
}

# Input side dark blue -> output side orange: readable on white at every step.
_LAYER_MAP = LinearSegmentedColormap.from_list(
    "layers", ["#1d3a8a", "#2f7fc1", "#35a39a", "#9cbc3c", "#f0a12b", "#d9541e"])
CATEGORY_COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3",
                    "#937860", "#da8bc3", "#8c8c8c", "#ccb974", "#64b5cd")
PNG_DPI = 150


@dataclass(frozen=True)
class Figure:
    """An inline image: data: URI, what to look at (caption), alt text, CSS size. A figure with
    marks (``mark``) is inline SVG markup instead (``svg``, and no URI): a browser shows an
    element's ``<title>`` on hover and follows its links only in the page's own DOM, not in an
    ``<img>``."""

    uri: str
    caption: str
    alt: str
    width: int
    height: int
    svg: str = ""


_MARKS = "_vanishing_marks"  # on a matplotlib figure: {gid: hover text} of its marks


def mark(artist, title: str, href: str = "") -> None:
    """Make a drawn artist stand for a group of networks: hovering it shows ``title``, and
    choosing it follows ``href`` (a ``#cell=`` link: the group's panel). The figure then goes
    into the page as inline SVG (svg_inline)."""
    marks = artist.figure.__dict__.setdefault(_MARKS, {})
    gid = f"mark-{len(marks)}"  # matplotlib's own ids: a letter and hex digits
    artist.set_gid(gid)
    if href:
        artist.set_url(href)
    marks[gid] = title


def marks(fig: MplFigure) -> dict[str, str]:
    """{gid: hover text} of the figure's marks."""
    return dict(fig.__dict__.get(_MARKS, {}))


def layer_colours(n_layers: int) -> tuple[str, ...]:
    """Colour of layers 1..n_layers (the last is the output layer), input side to output side."""
    if n_layers <= 1:
        return (to_hex(_LAYER_MAP(0.0)),)
    return tuple(to_hex(_LAYER_MAP(i / (n_layers - 1))) for i in range(n_layers))


def layer_label(layer: int, n_layers: int) -> str:
    return "output" if layer == n_layers else f"layer {layer}"


def finish(fig: MplFigure, caption: str, alt: str, fmt: str = "svg") -> Figure:
    """Encode a drawn figure as a data: URI (SVG for line art, PNG for dense rasters), or, when
    it has marks, as inline SVG."""
    buf = io.BytesIO()
    # savefig reads svg.fonttype and savefig.* at save time: the style must be in force here too.
    with plt.rc_context(STYLE), timing.span(f"render: figures: savefig {fmt}"):
        if fmt == "svg":
            fig.savefig(buf, format="svg", metadata={"Date": None})
            mime = "image/svg+xml"
        else:
            fig.savefig(buf, format="png", dpi=PNG_DPI, metadata={"Software": None})
            mime = "image/png"
    plt.close(fig)
    with timing.span("render: figures: encode"):
        data = buf.getvalue()
        w, h = _css_size(data, fmt)
        titles = marks(fig)
        if titles and fmt == "svg":
            return Figure(uri="", caption=caption, alt=alt, width=w, height=h,
                          svg=inline_svg(data, titles, alt))
        uri = f"data:{mime};base64," + base64.b64encode(data).decode("ascii")
        return Figure(uri=uri, caption=caption, alt=alt, width=w, height=h)


def _css_size(data: bytes, fmt: str) -> tuple[int, int]:
    """The size a figure is drawn at on the page, in CSS pixels (bbox=tight changes the figsize)."""
    if fmt == "svg":
        m = re.search(rb'width="([\d.]+)pt" height="([\d.]+)pt"', data[:2000])
        if m:  # 72 pt = 96 CSS px
            return round(float(m[1]) * 4 / 3), round(float(m[2]) * 4 / 3)
        return 0, 0
    w, h = struct.unpack(">II", data[16:24])  # PNG IHDR
    return round(w * 96 / PNG_DPI), round(h * 96 / PNG_DPI)


def band(ax, x: np.ndarray, series: np.ndarray, colour: str, label: str | None,
         log: bool = False) -> None:
    """Mean line and min..max band over seeds (series [seeds, epochs]); geometric mean on log axes."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an epoch where every seed is NaN
        mid = geometric_mean(series, axis=0) if log else np.nanmean(series, axis=0)
        lo, hi = np.nanmin(series, axis=0), np.nanmax(series, axis=0)
    if series.shape[0] > 1:
        ax.fill_between(x, lo, hi, color=colour, alpha=0.18, linewidth=0)
    ax.plot(x, mid, color=colour, label=label)


def stack(cells: Sequence[CellStats], attr: str) -> np.ndarray:
    """[seeds, epochs+1, layers] of one per-layer attribute, padding shorter runs with NaN."""
    arrays = [getattr(c, attr) for c in cells]
    n = max(a.shape[0] for a in arrays)
    out = np.full((len(arrays), n, arrays[0].shape[1]), np.nan)
    for i, a in enumerate(arrays):
        out[i, : a.shape[0]] = a
    return out


@dataclass(frozen=True)
class LayerKey:
    """A layer's name and colour, for a legend or a table header."""

    label: str
    colour: str


def layer_keys(n_layers: int, short: bool = False) -> tuple[LayerKey, ...]:
    """Layers 1..n_layers named ('layer 1' or, short, 'L1'; the last 'output') and coloured."""
    labels = [layer_label(i, n_layers) for i in range(1, n_layers + 1)]
    if short:
        labels = [label.replace("layer ", "L") for label in labels]
    return tuple(LayerKey(label, colour) for label, colour in zip(labels, layer_colours(n_layers)))


def colour_layer_ticks(ax, n_layers: int) -> None:
    """x ticks 1..n_layers named and coloured like the layers."""
    keys = layer_keys(n_layers, short=True)
    ax.set_xticks(range(1, n_layers + 1), [k.label for k in keys])
    for tick, key in zip(ax.get_xticklabels(), keys):
        tick.set_color(key.colour)
