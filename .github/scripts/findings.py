"""The findings of a rendered report, as Markdown for a GitHub Actions job summary.

    python .github/scripts/findings.py report/index.html [--artifact-url URL] >> "$GITHUB_STEP_SUMMARY"

The findings are the sentences the page's summary section (`<section id="summary">`) lists
under "What this run found": the text of each `<li>` in its `findings` block. They are read
with the standard library's html.parser, so the script needs nothing installed. With
`--artifact-url` (upload-artifact's `artifact-url` output) the summary links to the artifact.

Exit 0 when the summary section is found (with or without findings: a run without an
activation x initializer grid has none, and the page says so); 1 when the page cannot be read
or has no summary section.
"""

from __future__ import annotations

import argparse
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

# Elements that never have an end tag: they open nothing.
VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                  "source", "track", "wbr"})
# Characters Markdown could read as markup; each is written with a backslash before it.
MARKDOWN = frozenset("\\`*_{}[]<>()#+-!|~&")


class FindingsParser(HTMLParser):
    """Collects the text of every <li> in the `findings` block of <section id="summary">."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.has_summary = False
        self.findings: list[str] = []
        self._open: list[tuple[str, str]] = []  # (tag, role): role is summary, findings, li or ""
        self._text: list[str] | None = None  # the <li> being read

    def _inside(self, role: str) -> bool:
        return any(r == role for _, r in self._open)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID:
            return
        attributes = dict(attrs)
        role = ""
        if tag == "section" and attributes.get("id") == "summary":
            role = "summary"
            self.has_summary = True
        elif tag == "li" and self._inside("findings"):
            if self._inside("li"):  # an <li> whose end tag was left out ends here
                self.handle_endtag("li")
            role = "li"
            self._text = []
        elif self._inside("summary") and "findings" in (attributes.get("class") or "").split():
            role = "findings"
        self._open.append((tag, role))

    def handle_endtag(self, tag: str) -> None:
        # Close up to the innermost open element of this name; an end tag without one is ignored.
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i][0] == tag:
                if any(role == "li" for _, role in self._open[i:]):
                    self._end_finding()
                del self._open[i:]
                return

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)

    def close(self) -> None:
        super().close()
        if self._text is not None:
            self._end_finding()

    def _end_finding(self) -> None:
        sentence = " ".join("".join(self._text or ()).split())
        if sentence:
            self.findings.append(sentence)
        self._text = None


def read_findings(html: str) -> tuple[bool, list[str]]:
    """(whether the page has a summary section, the sentences of its findings in page order)."""
    parser = FindingsParser()
    parser.feed(html)
    parser.close()
    return parser.has_summary, parser.findings


def escape_markdown(text: str) -> str:
    """The text, read by Markdown as the text: markup characters escaped, and a leading '3.' or
    '3)' kept from starting a numbered list."""
    escaped = "".join("\\" + c if c in MARKDOWN else c for c in text)
    number = re.match(r"\d+(?=[.)])", escaped)
    if number:
        escaped = f"{number.group()}\\{escaped[number.end():]}"
    return escaped


def summary_markdown(findings: list[str], artifact_url: str = "") -> str:
    lines = ["## What this run found", ""]
    if findings:
        lines += [f"- {escape_markdown(s)}" for s in findings]
    else:
        lines.append("The report's summary section lists no findings for this run.")
    lines.append("")
    if artifact_url:
        lines.append(f"The report (the page and its metrics): [the `report` artifact]({artifact_url}).")
    else:
        lines.append("The report is the `report` artifact of this run.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path, help="the rendered report, e.g. report/index.html")
    parser.add_argument("--artifact-url", default="", help="link the summary to this artifact")
    args = parser.parse_args(argv)
    try:
        html = args.page.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        print(f"findings: cannot read {args.page}: {e}", file=sys.stderr)
        return 1
    has_summary, findings = read_findings(html)
    if not has_summary:
        print(f'findings: {args.page} has no <section id="summary">', file=sys.stderr)
        return 1
    sys.stdout.write(summary_markdown(findings, args.artifact_url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
