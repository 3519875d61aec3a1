"""A real browser opens the report page offline: no request leaves it, no error, every figure
decodes (tests/chromium.py drives Debian's Chromium through Playwright)."""

from __future__ import annotations

from chromium import open_offline

from vanishing.sections import SECTIONS


def test_chromium_opens_the_page_offline_without_errors(smoke_page, tmp_path):
    shot = tmp_path / "page.png"
    visit = open_offline(smoke_page, screenshot=shot)
    assert visit.requests == (visit.url,), f"requests left the page: {visit.requests[1:]}"
    assert visit.errors == ()
    assert visit.images >= 9 and visit.broken_images == ()
    assert list(visit.sections) == [s.id for s in SECTIONS if "matrix" in s.kinds]
    assert {"saturation", "learning-speed", "theory", "optimizers", "real-data"} <= set(visit.sections)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000
