"""The README's pictures of the panel: a rendered page opened in headless Chromium, a heatmap
cell clicked, the viewport saved.

    python docs/screenshots.py report/index.html docs/

Needs Debian's Chromium (/usr/bin/chromium, or VANISHING_CHROMIUM) and Playwright.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# (file, the mark to click, where it is, how far to scroll the panel: 0 top, 1 bottom)
SHOTS = (("explore-panel.png", "#cell=sigmoid/random_normal%28stddev%3D1.0%29/4", "#summary", 0.0),
         ("explore-dead-relu.png", "#cell=relu/random_normal/4", "#matrix", 1.0))


def main(page: Path, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("VANISHING_CHROMIUM", "/usr/bin/chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        try:
            tab = browser.new_page(viewport={"width": 1400, "height": 900}, device_scale_factor=1)
            tab.goto(page.resolve().as_uri(), wait_until="load")
            for name, href, where, scroll in SHOTS:
                mark = tab.locator(f'{where} a[href="{href}"]').first
                mark.scroll_into_view_if_needed()
                mark.click()
                tab.wait_for_selector("#explore:not([hidden])")
                tab.eval_on_selector("#explore", "(e, f) => e.scrollTop = f * e.scrollHeight", scroll)
                tab.screenshot(path=str(out / name))
                tab.keyboard.press("Escape")
                print(f"wrote {out / name}")
        finally:
            browser.close()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
