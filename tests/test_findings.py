"""The workflow's job summary: .github/scripts/findings.py reads the findings off a page."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / ".github" / "scripts" / "findings.py"

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>t</title></head>
<body>
<nav><ul><li>Summary</li><li>Matrix</li></ul></nav>
<main>
<section id="summary">
  <h2>Summary</h2>
  <p class="lead">Training a network means<br>nudging every weight.</p>
  <div class="findings">
    <h3>What this run found</h3>
    <ul>
    <li>9 of 10 activation × initializer pairs
        learned the circles.</li>
    <li>sigmoid with <em>random_normal(stddev=1.0)</em> vanishes by 3.2 decades &amp; more
        (attenuation &lt; −1).</li>
    <li>Diverged seeds are marked * and left out.
    </ul>
  </div>
  <img src="data:image/png;base64,AAAA" alt="a heatmap">
</section>
<section id="matrix">
  <h2>The whole matrix</h2>
  <div class="findings"><ul><li>Not a summary finding.</li></ul></div>
</section>
</main>
</body></html>
"""


def load_script():
    spec = importlib.util.spec_from_file_location("findings", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          check=False)


def test_the_summary_sections_sentences_as_markdown_with_the_artifact_link(tmp_path):
    page = tmp_path / "index.html"
    page.write_text(PAGE, encoding="utf-8")
    done = run(str(page), "--artifact-url", "https://github.com/o/r/actions/runs/1/artifacts/2")
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "## What this run found\n"
        "\n"
        "- 9 of 10 activation × initializer pairs learned the circles.\n"
        "- sigmoid with random\\_normal\\(stddev=1.0\\) vanishes by 3.2 decades \\& more"
        " \\(attenuation \\< −1\\).\n"
        "- Diverged seeds are marked \\* and left out.\n"
        "\n"
        "The report (the page and its metrics):"
        " [the `report` artifact](https://github.com/o/r/actions/runs/1/artifacts/2).\n"
    )


def test_without_an_artifact_url_the_summary_names_the_artifact(tmp_path):
    page = tmp_path / "index.html"
    page.write_text(PAGE, encoding="utf-8")
    done = run(str(page))
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("\nThe report is the `report` artifact of this run.\n")


def test_a_summary_without_findings_says_so(tmp_path):
    page = tmp_path / "index.html"
    page.write_text('<section id="summary"><h2>Summary</h2><p>No grid.</p></section>'
                    '<section id="depth"><div class="findings"><ul><li>x</li></ul></div></section>',
                    encoding="utf-8")
    done = run(str(page))
    assert done.returncode == 0, done.stderr
    assert "lists no findings" in done.stdout
    assert "- x" not in done.stdout


def test_a_page_without_a_summary_section_or_no_page_fails(tmp_path):
    page = tmp_path / "index.html"
    page.write_text("<html><body><p>Not a report.</p></body></html>", encoding="utf-8")
    done = run(str(page))
    assert done.returncode == 1
    assert done.stdout == ""
    assert 'no <section id="summary">' in done.stderr

    missing = run(str(tmp_path / "nothing.html"))
    assert missing.returncode == 1
    assert "cannot read" in missing.stderr


def test_markdown_cannot_start_a_list_heading_or_quote_inside_a_finding():
    findings = load_script()
    assert findings.escape_markdown("3. not a list") == "3\\. not a list"
    assert findings.escape_markdown("# not a heading") == "\\# not a heading"
    assert findings.escape_markdown("> not a quote") == "\\> not a quote"
    assert findings.escape_markdown("[a](b) <script>") == "\\[a\\]\\(b\\) \\<script\\>"


def test_the_real_page_gives_the_summary_sections_own_sentences(smoke_page, smoke_results):
    """Ties the script to the templates: the findings it reads off a rendered page are the ones
    the summary section computed, in its order."""
    from vanishing.reader import load_run
    from vanishing.sections import summary

    part = summary.build(load_run(smoke_results))
    assert part is not None and part.findings
    has_summary, sentences = load_script().read_findings(smoke_page.read_text(encoding="utf-8"))
    assert has_summary
    assert sentences == [" ".join(s.split()) for s in part.findings]
