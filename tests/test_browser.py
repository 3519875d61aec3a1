"""A real browser opens the page: headless Chromium (Debian's), driven by Playwright.

Not skipped when Chromium is missing: CI installs it (.ci/run), and a page
nobody opened in a browser is not tested.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from vanishing.sections import SECTIONS

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def chromium_path() -> str:
    for candidate in (os.environ.get("VANISHING_CHROMIUM"), shutil.which("chromium"),
                      "/usr/bin/chromium", shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    raise AssertionError("no chromium found: `apt-get install chromium` (CI's .ci/run does), "
                         "or set VANISHING_CHROMIUM to its path")


def test_chromium_opens_the_page_offline_without_errors(smoke_page, tmp_path):
    from playwright.sync_api import sync_playwright

    url = smoke_page.resolve().as_uri()
    requests: list[str] = []
    console_errors: list[str] = []
    page_errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: console_errors.append(m.text) if m.type == "error"
                    else None)
            page.on("pageerror", lambda e: page_errors.append(str(e)))

            def route(r):
                requests.append(r.request.url)
                # Only the page itself may be fetched; anything else is blocked and recorded.
                if r.request.url == url:
                    r.continue_()
                else:
                    r.abort()
            page.route("**/*", route)
            page.goto(url, wait_until="load")
            # Every figure decoded under the page's Content-Security-Policy.
            broken = page.eval_on_selector_all(
                "img", "imgs => imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt)")
            n_images = page.eval_on_selector_all("img", "imgs => imgs.length")
            sections = page.eval_on_selector_all("section", "s => s.map(x => x.id)")
            shot = tmp_path / "page.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert requests == [url], f"requests left the page: {requests[1:]}"
    assert console_errors == []
    assert page_errors == []
    assert n_images >= 9 and broken == []
    assert sections == [s.id for s in SECTIONS if "matrix" in s.kinds]
    assert {"saturation", "learning-speed", "theory", "optimizers", "real-data"} <= set(sections)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000
