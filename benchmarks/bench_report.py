"""Report budgets (issue 3): render time, page size, time to open in headless Chromium.

    python benchmarks/bench_report.py RESULTS_DIR [OUT_DIR]

``measure(results_dir)`` returns the numbers; ``nox -s bench`` prints them. Not
a test: budgets depend on the machine, so they are measured and reported.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

BUDGETS = {"render_seconds": 30.0, "page_bytes": 8 * 1024 * 1024, "open_seconds": 2.0}
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def open_seconds(index: Path, executable_path: str = CHROMIUM) -> float:
    """Seconds from navigation to the load event (all inline figures decoded), in Chromium."""
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
            return time.perf_counter() - start
        finally:
            browser.close()


def measure(results_dir: Path, out_dir: Path | None = None) -> dict[str, float]:
    from vanishing.html import render_report

    out = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="vanishing-bench-"))
    start = time.perf_counter()
    index = render_report(Path(results_dir), out)
    render = time.perf_counter() - start
    return {"render_seconds": round(render, 2), "page_bytes": index.stat().st_size,
            "open_seconds": round(open_seconds(index), 2)}


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    numbers = measure(Path(argv[0]), Path(argv[1]) if len(argv) > 1 else None)
    over = {k: v for k, v in numbers.items() if v > BUDGETS[k]}
    print(json.dumps({**numbers, "budgets": BUDGETS, "over_budget": sorted(over)}, indent=1))
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
