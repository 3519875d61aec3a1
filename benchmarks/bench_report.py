"""Report budgets (issues 3 and 12): render time, page size, time to open in headless Chromium,
time for a panel to draw.

    python benchmarks/bench_report.py RESULTS_DIR [OUT_DIR]

``measure(results_dir)`` returns the numbers; ``nox -s bench`` prints them. Not
a test: budgets depend on the machine, so they are measured and reported.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BUDGETS = {"render_seconds": 5.0, "page_bytes": 8_000_000, "open_seconds": 2.0, "panel_ms": 100.0}
# From a click on a mark to the frame after the panel painted (two animation frames: the first
# runs before the paint, the second after it), so layout and paint count, not the script alone.
TIME_PANEL = """async (href) => {
  const mark = document.querySelector(`a[href="${href}"]`);
  const start = performance.now();
  mark.dispatchEvent(new MouseEvent("click", {bubbles: true, cancelable: true}));
  await new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)));
  const ms = performance.now() - start;
  if (document.getElementById("explore").hidden) throw new Error("no panel for " + href);
  document.dispatchEvent(new KeyboardEvent("keydown", {key: "Escape"}));
  return ms;
}"""
# The panel with the most lines: the deepest network, most seeds (depth 32 in the default preset).
DEEPEST = """() => {
  const size = (g) => g.layers.length * g.seeds.length;
  const groups = JSON.parse(document.getElementById("explore-data").textContent).groups;
  return groups.reduce((a, b) => (size(a) >= size(b) ? a : b)).href;
}"""
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def in_chromium(index: Path, executable_path: str = CHROMIUM, panels: int = 12,
                repeat: int = 5) -> dict[str, float]:
    """Seconds from navigation to the load event with every image decoded; then milliseconds for
    a panel to draw: the median over ``panels`` marks spread over the page, and the median of
    ``repeat`` draws of the biggest panel (its budget: the worst a reader can open)."""
    from playwright.sync_api import sync_playwright

    url = index.resolve().as_uri()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable_path, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.route("**/*", lambda r: r.continue_() if r.request.url == url else r.abort())
            start = time.perf_counter()
            page.goto(url, wait_until="load")
            page.evaluate("Promise.all([...document.images].map(i => i.decode()))")
            opened = time.perf_counter() - start
            marks = sorted(set(page.eval_on_selector_all('a[href^="#cell="]',
                                                         "as => as.map(a => a.getAttribute('href'))")))
            if not marks:
                return {"open_seconds": round(opened, 2)}
            spread = marks[:: max(1, len(marks) // panels)][:panels]
            any_ms = [page.evaluate(TIME_PANEL, href) for href in spread]
            deepest = page.evaluate(DEEPEST)
            if deepest not in marks:  # linked from the fragment only: give it a mark to click
                page.evaluate("h => { const a = document.createElement('a'); a.href = h; "
                              "document.body.append(a); }", deepest)
            worst_ms = [page.evaluate(TIME_PANEL, deepest) for _ in range(repeat)]
            return {"open_seconds": round(opened, 2), "panel_ms": round(statistics.median(worst_ms), 1),
                    "panel_ms_typical": round(statistics.median(any_ms), 1), "panel_deepest": deepest,
                    "marks": len(marks)}
        finally:
            browser.close()


def measure(results_dir: Path, out_dir: Path | None = None, renders: int = 1) -> dict[str, Any]:
    """The numbers; the render's seconds are the median of ``renders`` renders, each into a new
    directory (the gzip made every time), its breakdown the last one's."""
    from vanishing import timing
    from vanishing.html import render_report

    base = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="vanishing-bench-"))
    seconds, spans = [], {}
    for i in range(renders):
        out = base if renders == 1 else base / f"render-{i}"
        before = timing.totals()
        start = time.perf_counter()
        index = render_report(Path(results_dir), out)
        seconds.append(time.perf_counter() - start)
        spans = {k: v - before.get(k, 0.0) for k, v in timing.totals().items() if k.startswith("render: ")}
    return {"render_seconds": round(statistics.median(seconds), 2),
            "render_runs": [round(s, 2) for s in seconds], "page_bytes": index.stat().st_size,
            "breakdown": breakdown(spans), **in_chromium(index)}


def breakdown(spans: dict[str, float]) -> dict[str, float]:
    """Where a render's wall time went (html.render_report's spans), and, within building the page,
    the seconds each part took in the workers that built it side by side (they add up to more than
    the build's wall time when several workers built at once)."""
    get = lambda name: spans.get(f"render: {name}", 0.0)  # noqa: E731
    sections = {k.removeprefix("render: section "): v for k, v in spans.items()
                if k.startswith("render: section ")}
    figures = get("figures: savefig svg") + get("figures: savefig png")
    wall = {"loading (cells; metrics.csv read, datasets checked)": get("read metrics.csv") + get("load cells")
            + get("check datasets"),
            "gzip, beyond the page (waiting for it)": get("wait for gzip"),
            "building the page (sections and the panel's JSON)": get("build page"),
            "templates (the one render call)": get("template"),
            "writing": get("write")}
    inside = {"  of which, summed over workers: analysis and plot calls": sum(sections.values()) - figures
              - get("figures: encode"),
              "  figures: savefig (layout, drawing, SVG/PNG)": figures,
              "  figures: encoding (base64, inline SVG)": get("figures: encode"),
              "  the panel's JSON": get("explore json"),
              "  metrics.csv checked (a process beside)": get("check metrics.csv (beside the load)"),
              "  gzip of metrics.csv (a process beside)": get("gzip metrics.csv (beside the load)")}
    slowest = sorted(sections.items(), key=lambda kv: -kv[1])[:4]
    per_section = {f"  section {name}": seconds for name, seconds in slowest}
    return {k: round(v, 2) for k, v in {**wall, **inside, **per_section}.items()}


def print_breakdown(numbers: dict[str, float]) -> None:
    print("where the render's time went (seconds):")
    for name, seconds in numbers.items():
        print(f"  {seconds:6.2f}  {name}")


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    numbers = measure(Path(argv[0]), Path(argv[1]) if len(argv) > 1 else None)
    print_breakdown(numbers["breakdown"])
    over = {k: v for k, v in numbers.items() if k in BUDGETS and v > BUDGETS[k]}
    shown = {k: v for k, v in numbers.items() if k != "breakdown"}
    print(json.dumps({**shown, "budgets": BUDGETS, "over_budget": sorted(over)}, indent=1))
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
