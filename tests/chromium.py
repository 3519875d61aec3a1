"""Open a page in a real browser: headless Chromium (Debian's), driven by Playwright, with every
request but the page's own blocked and recorded. Shared by the browser and the examples tests.

Not skipped when Chromium is missing: CI installs it (.ci/run), and a page nobody opened in a
browser is not tested.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def chromium_path() -> str:
    for candidate in (os.environ.get("VANISHING_CHROMIUM"), shutil.which("chromium"),
                      "/usr/bin/chromium", shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    raise AssertionError("no chromium found: `apt-get install chromium` (CI's .ci/run does), "
                         "or set VANISHING_CHROMIUM to its path")


@dataclass(frozen=True)
class Visit:
    url: str
    requests: tuple[str, ...]  # every request the page made, its own first
    errors: tuple[str, ...]  # console errors and uncaught page errors
    broken_images: tuple[str, ...]  # alt texts of images that did not decode
    images: int
    sections: tuple[str, ...]  # section ids in page order


def open_offline(page_path: Path, screenshot: Path | None = None) -> Visit:
    """Load the page; only the page itself may be fetched, anything else is blocked and recorded."""
    from playwright.sync_api import sync_playwright

    url = page_path.resolve().as_uri()
    requests: list[str] = []
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))

            def route(r):
                requests.append(r.request.url)
                if r.request.url == url:
                    r.continue_()
                else:
                    r.abort()
            page.route("**/*", route)
            page.goto(url, wait_until="load")
            # Every figure decoded under the page's Content-Security-Policy.
            broken = page.eval_on_selector_all(
                "img", "imgs => imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt)")
            images = page.eval_on_selector_all("img", "imgs => imgs.length")
            sections = page.eval_on_selector_all("section", "s => s.map(x => x.id)")
            if screenshot is not None:
                page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return Visit(url, tuple(requests), tuple(errors), tuple(broken), images, tuple(sections))
