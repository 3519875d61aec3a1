"""A matplotlib SVG made fit to sit inside the page's HTML, so that its marks can be hovered and
followed: one ``<title>`` per mark that stands for a group of networks, and links that stay on
the page.

matplotlib writes no per-artist titles. A mark is an artist given a gid (``mark-0``,
``mark-1``...) and a url (its ``#cell=`` link, written as an ``<a>`` around the drawn path);
the title goes in as the first child of that ``<a>`` (of the gid's group, for a mark with no
link): where browsers look for a tooltip, and what names the link to a screen reader.

Inline, one figure's markup shares the page with every other one's: what an image file keeps to
itself has to be made local here. The XML prolog, metadata and matplotlib's global
``*{stroke-linejoin...}`` style (which would restyle the whole page) go; ids no reference uses
go; the ones that are referenced (clip paths, marker shapes) get a prefix made from the figure's
own bytes, so two different figures never share an id (two identical ones define the same
things under the same ids).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

from markupsafe import Markup, escape

_PROLOG = re.compile(r"\A.*?(?=<svg\b)", re.S)
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.S)
_GLOBAL_STYLE = re.compile(r'\s*<style type="text/css">[^<]*</style>')
_EMPTY_DEFS = re.compile(r"\s*<defs>\s*</defs>")
_ID = re.compile(r' id="([^"]+)"')
_REFERENCE = re.compile(r'(url\(#|xlink:href="#)([^)"]+)')
_LINK = re.compile(r'(?:\s*<defs>.*?</defs>)?(?:\s*<g clip-path="[^"]*">)?\s*<a href="#[^"]*">', re.S)
_NEW_TAB = ' target="_blank"'  # matplotlib's default for an artist's url: links here stay on the page


def inline_svg(data: bytes, titles: Mapping[str, str], label: str) -> Markup:
    """The SVG as markup to put in the page: ``titles`` maps a mark's gid to its hover text,
    ``label`` names the whole figure for a screen reader (its alt text)."""
    text = data.decode("utf-8")
    text = _PROLOG.sub("", text, count=1)
    text = _METADATA.sub("", text, count=1)
    text = _GLOBAL_STYLE.sub("", text, count=1)
    text = _EMPTY_DEFS.sub("", text)
    text = text.replace(_NEW_TAB, "")
    # SVG 2's plain href: what the page's script and a CSS selector read as an <a>'s link
    text = text.replace('<a xlink:href="#', '<a href="#')
    prefix = "f" + hashlib.sha256(data).hexdigest()[:8] + "-"
    ids = {m[1] for m in _ID.finditer(text)}
    referenced = {m[2] for m in _REFERENCE.finditer(text)} & ids  # not a mark's #cell= link

    def rename(m: re.Match[str]) -> str:
        name = m[1]
        if name in titles or name in referenced:
            return f' id="{prefix}{name}"'
        return ""

    text = _ID.sub(rename, text)
    text = _REFERENCE.sub(lambda m: m[1] + prefix + m[2] if m[2] in referenced else m[0], text)
    for gid, title in titles.items():
        opening = f'<g id="{prefix}{gid}">'
        at = text.find(opening)
        if at < 0:
            raise ValueError(f"mark {gid!r} is not in the figure: was it drawn?")
        link = _LINK.match(text, at + len(opening))
        end = link.end() if link else at + len(opening)
        text = f"{text[:end]}<title>{escape(title)}</title>{text[end:]}"
    text = text.replace("<svg ", f'<svg role="group" aria-label="{escape(label)}" class="marks" ', 1)
    return Markup(text)
