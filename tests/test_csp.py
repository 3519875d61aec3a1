"""Nothing gets in: markup in a label stays text, and the page's Content-Security-Policy blocks a
remote image and an inline script that a template planted, in a real browser."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import fakes
from chromium import CHROMIUM_ARGS, chromium_path
from markupsafe import escape

from vanishing.html import content_security_policy, default_templates_dir, explore_script, render_report

REMOTE = "http://203.0.113.7/pixel.png"  # TEST-NET-3: nothing answers there, whatever happens
PLANTED = f'<img id="planted-img" src="{REMOTE}" alt="planted"><script>window.planted = 1;</script>'


def _copy(results: Path, to: Path) -> Path:
    return Path(shutil.copytree(results, to))


def test_an_attribute_breaking_label_stays_text(small_results, tmp_path):
    results = _copy(small_results, tmp_path / "results")
    evil = '"><img src=x onerror=alert(1)>'
    path = results / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["title"] = f"Run {evil}"
    manifest["cells"][0]["initializer"] = f"glorot{evil}"
    path.write_text(json.dumps(manifest), encoding="utf-8")
    # the cell's file agrees with its entry (render refuses one that does not)
    fakes.relabel_cell(results, manifest["cells"][0]["cell_id"], initializer=f"glorot{evil}")
    text = render_report(results, tmp_path / "out").read_text(encoding="utf-8")
    assert "onerror=alert(1)>" not in text  # the > that would close a tag is escaped
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in text


def test_the_policy_blocks_a_planted_remote_image_and_inline_script(small_results, tmp_path):
    from playwright.sync_api import sync_playwright

    templates = tmp_path / "templates" / "partials"
    templates.mkdir(parents=True)
    shipped = (default_templates_dir() / "partials" / "reproduce.html.j2").read_text(encoding="utf-8")
    (templates / "reproduce.html.j2").write_text(shipped + PLANTED, encoding="utf-8")
    page_path = render_report(small_results, tmp_path / "out", templates.parent)
    text = page_path.read_text(encoding="utf-8")
    # the policy names the page's own script; the planted one has another hash
    assert PLANTED in text and f'content="{escape(content_security_policy(explore_script()))}"' in text

    console: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.on("console", lambda m: console.append(m.text))
            page.goto(page_path.resolve().as_uri(), wait_until="load")
            ran = page.evaluate("() => window.planted")
            loaded = page.eval_on_selector("#planted-img", "i => i.complete && i.naturalWidth > 0")
        finally:
            browser.close()
    assert ran is None  # the inline script never ran
    assert not loaded
    # Chromium says why, once per refusal: the policy's img-src and script-src.
    refused = [m for m in console if "Content Security Policy" in m]
    assert any(REMOTE in m and "img-src" in m for m in refused), console
    assert any("inline script" in m and "script-src" in m for m in refused), console
