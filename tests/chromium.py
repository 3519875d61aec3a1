"""Open a page in a real browser: headless Chromium (Debian's), driven by Playwright, with every
request but the page's own blocked and recorded. Shared by the browser, examples and panel tests.

Not skipped when Chromium is missing: CI installs it (.ci/run), and a page nobody opened in a
browser is not tested.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
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


# Collects every Content-Security-Policy violation the page reports (injected by the browser's
# devtools before the page's own scripts, so the policy does not block it).
WATCH_POLICY = """window.__violations = [];
document.addEventListener('securitypolicyviolation',
  e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"""


@dataclass
class Session:
    page: object  # playwright Page
    url: str
    errors: list[str]  # console errors and uncaught exceptions
    requests: list[str]

    def violations(self) -> list[str]:
        return self.page.evaluate("() => window.__violations")


@contextmanager
def browse(page_path: Path, fragment: str = "", viewport: tuple[int, int] = (1400, 1000)
           ) -> Iterator[Session]:
    """The page loaded offline in Chromium: only its own file may be fetched, every other
    request is blocked and recorded; console errors, uncaught errors and policy violations too."""
    from playwright.sync_api import sync_playwright

    url = page_path.resolve().as_uri()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            session = Session(page, url, [], [])
            page.on("console", lambda m: session.errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: session.errors.append(str(e)))
            page.add_init_script(WATCH_POLICY)

            def route(r):
                session.requests.append(r.request.url)
                r.continue_() if r.request.url.split("#")[0] == url else r.abort()
            page.route("**/*", route)
            page.goto(url + fragment, wait_until="load")
            yield session
        finally:
            browser.close()


def open_offline(page_path: Path, screenshot: Path | None = None) -> Visit:
    """Load the page (browse) and say what it fetched, what failed and which figures decoded."""
    with browse(page_path, viewport=(1280, 900)) as s:
        # Every figure decoded under the page's Content-Security-Policy.
        broken = s.page.eval_on_selector_all(
            "img", "imgs => imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt)")
        images = s.page.eval_on_selector_all("img", "imgs => imgs.length")
        sections = s.page.eval_on_selector_all("section", "s => s.map(x => x.id)")
        if screenshot is not None:
            s.page.screenshot(path=str(screenshot), full_page=True)
        return Visit(s.url, tuple(s.requests), tuple(s.errors), tuple(broken), images, tuple(sections))
