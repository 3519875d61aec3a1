"""What a section is: an id, a title, the kinds of runs it applies to, a build function that
turns a loaded run into the section's typed part (numbers, figures, sentences), and the
sentence the page shows instead when the run has nothing for it. Its partial template is
``partials/<id>.html.j2``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vanishing.plotting import Figure
from vanishing.reader import MATRIX, Run


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    build: Callable[[Run], Any]  # the section's part, or None: nothing in this run for it
    empty: str  # what the page says instead, naming what would fill the section
    kinds: frozenset[str] = frozenset({MATRIX})

    @property
    def template(self) -> str:
        return f"partials/{self.id}.html.j2"


@dataclass(frozen=True)
class Part:
    """The common shape of a section's block: figures, sentences measured on this run,
    and a note naming the networks shown."""

    figures: tuple[Figure, ...] = ()
    sentences: tuple[str, ...] = ()
    note: str = ""
