"""The report page: sections, self-containment, escaping, bad input, atomic writes."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from vanishing import html as report_html
from vanishing.html import SECTIONS, render_report
from vanishing.results import ResultsError, cell_path, read_cell, write_cell

REMOTE = re.compile(r"(?i)(https?:)?//")


class Page(HTMLParser):
    """Every tag with its attributes, and the text of <style> elements."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.styles: list[str] = []
        self._in_style = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.styles.append(data)

    def all(self, tag: str) -> list[dict[str, str]]:
        return [a for t, a in self.tags if t == tag]


@pytest.fixture(scope="module")
def rendered(smoke_results, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    index = render_report(smoke_results, out)
    return index, index.read_text(encoding="utf-8")


def copy_results(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def edit_manifest(results: Path, edit) -> None:
    path = results / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    edit(manifest)
    path.write_text(json.dumps(manifest), encoding="utf-8")


# --- what the page holds ------------------------------------------------------------------

def test_render_writes_index_and_a_copy_of_metrics(rendered, smoke_results):
    index, _ = rendered
    assert index.name == "index.html"
    assert index.stat().st_mode & 0o777 == 0o644  # readable when published
    assert (index.parent / "metrics.csv").read_bytes() == (smoke_results / "metrics.csv").read_bytes()


def test_every_section_is_present_with_its_anchor(rendered):
    page = Page(rendered[1])
    ids = [a.get("id") for t, a in page.tags if t == "section"]
    assert ids == [sid for sid, _ in SECTIONS]
    links = [a["href"] for a in page.all("a")]
    for sid, _ in SECTIONS:
        assert f"#{sid}" in links


def test_every_section_has_its_data_on_the_smoke_run(rendered):
    # The smoke preset has the default's shape, so no section should fall back to "no data".
    assert 'class="empty"' not in rendered[1]
    page = Page(rendered[1])
    assert len(page.all("img")) >= 9  # 3 heatmaps, 3 tutorial, 2 glorot, depth, boundaries
    assert len(page.all("figcaption")) == len(page.all("img"))


def test_every_image_is_inline_with_alt_text(rendered):
    page = Page(rendered[1])
    for img in page.all("img"):
        assert img["src"].startswith(("data:image/svg+xml;base64,", "data:image/png;base64,"))
        assert img["alt"].strip()


def test_no_resource_is_loaded_from_elsewhere(rendered):
    text = rendered[1]
    page = Page(text)
    assert not page.all("script") and not page.all("link") and not page.all("iframe")
    for tag, attrs in page.tags:
        for name in ("src", "srcset", "poster", "data"):
            if name in attrs:
                assert attrs[name].startswith("data:"), (tag, name, attrs[name][:80])
    for a in page.all("a"):
        assert not REMOTE.match(a["href"]), a["href"]
    css = "\n".join(page.styles) + "\n" + "\n".join(a.get("style", "") for _, a in page.tags)
    for url in re.findall(r"url\(\s*['\"]?([^'\")]*)", css):
        assert url.startswith("data:"), url
    assert "@import" not in css and "@font-face" not in css
    assert not re.search(r"""(?i)(src|href)\s*=\s*["']?https?://""", text)


def test_content_security_policy_forbids_remote_loads(rendered):
    metas = [m for m in Page(rendered[1]).all("meta")
             if m.get("http-equiv", "").lower() == "content-security-policy"]
    assert len(metas) == 1
    policy = {d.split()[0]: d.split()[1:] for d in metas[0]["content"].split(";") if d.strip()}
    assert policy["default-src"] == ["'none'"]
    assert policy["img-src"] == ["data:"]
    assert "'none'" in policy["script-src"]


def test_reproduce_section_names_command_versions_and_seeds(rendered, smoke_results):
    manifest = json.loads((smoke_results / "manifest.json").read_text())
    text = rendered[1]
    reproduce = text[text.index('id="reproduce"'):]
    assert manifest["command"] in reproduce
    assert manifest["versions"]["tensorflow"] in reproduce
    assert 'href="metrics.csv"' in reproduce
    for line in manifest["config_toml"].splitlines()[:3]:
        assert line.replace('"', "&#34;") in reproduce


def test_tutorial_table_shows_reported_and_measured(rendered):
    text = rendered[1]
    tutorial = text[text.index('id="tutorial"'):text.index('id="glorot"')]
    for reported in ("0.665", "0.588", "0.0129", "0.993", "0.0169", "0.994"):
        assert f"<td>{reported}</td>" in tutorial


# --- labels cannot inject markup -------------------------------------------------------------

def test_script_in_title_and_labels_is_escaped(smoke_results, tmp_path):
    results = copy_results(smoke_results, tmp_path / "results")
    evil = "<script>alert('x')</script>"

    def edit(m):
        m["title"] = f"Run {evil}"
        m["command"] = f"vanishing {evil}"
        m["cells"][0]["activation"] = f"tanh{evil}"
        m["config_toml"] = f'title = "{evil}"\n'
    edit_manifest(results, edit)
    text = render_report(results, tmp_path / "out").read_text(encoding="utf-8")
    assert "<script" not in text.lower()
    assert "&lt;script&gt;" in text
    assert not Page(text).all("script")


# --- results that are incomplete but readable ---------------------------------------------------

def test_missing_cell_still_renders_and_says_so(smoke_results, tmp_path):
    results = copy_results(smoke_results, tmp_path / "results")
    cell_id = json.loads((results / "manifest.json").read_text())["cells"][-1]["cell_id"]
    cell_path(results, cell_id).unlink()
    text = render_report(results, tmp_path / "out").read_text(encoding="utf-8")
    assert "1 cell missing" in text
    assert cell_id in text


def test_diverged_cell_is_marked(smoke_results, tmp_path):
    results = copy_results(smoke_results, tmp_path / "results")
    entry = json.loads((results / "manifest.json").read_text())["cells"][0]
    arrays = read_cell(results, entry["cell_id"])
    info = arrays.pop("cell_info")
    arrays["loss"][2:] = np.nan
    for key in arrays:
        if key.startswith(("kernel_", "grad_kernel_")):
            arrays[key][2:] = np.inf
    write_cell(results, {**info, "status": "diverged", "diverged_epoch": 2}, arrays)

    def edit(m):
        m["cells"][0].update(status="diverged", diverged_epoch=2)
    edit_manifest(results, edit)
    text = render_report(results, tmp_path / "out").read_text(encoding="utf-8")
    assert f"{entry['cell_id']} (epoch 2)" in text
    assert 'class="has-diverged"' in text
    assert ">nan<" not in text.lower()


def test_empty_manifest_renders_with_sections_saying_no_data(smoke_results, tmp_path):
    results = copy_results(smoke_results, tmp_path / "results")
    edit_manifest(results, lambda m: m.update(cells=[], matrices=[]))
    text = render_report(results, tmp_path / "out").read_text(encoding="utf-8")
    ids = [a.get("id") for t, a in Page(text).tags if t == "section"]
    assert ids == [sid for sid, _ in SECTIONS]
    assert text.count('class="empty"') >= 5


# --- bad input: ResultsError naming the file ----------------------------------------------------

def test_missing_results_directory(tmp_path):
    with pytest.raises(ResultsError, match=re.escape(str(tmp_path / "nope"))):
        render_report(tmp_path / "nope", tmp_path / "out")


def test_corrupt_manifest_names_the_file(smoke_results, tmp_path):
    results = copy_results(smoke_results, tmp_path / "results")
    (results / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ResultsError, match=r"manifest\.json"):
        render_report(results, tmp_path / "out")


def test_incompatible_version_names_the_file(smoke_results, tmp_path):
    results = copy_results(smoke_results, tmp_path / "results")
    edit_manifest(results, lambda m: m.update(format_version=99))
    with pytest.raises(ResultsError, match=r"manifest\.json.*format_version"):
        render_report(results, tmp_path / "out")


def test_corrupt_cell_names_the_file(smoke_results, tmp_path):
    results = copy_results(smoke_results, tmp_path / "results")
    cell_id = json.loads((results / "manifest.json").read_text())["cells"][0]["cell_id"]
    cell_path(results, cell_id).write_bytes(b"this is not a zip file")
    with pytest.raises(ResultsError, match=re.escape(f"{cell_id}.npz")):
        render_report(results, tmp_path / "out")


def test_cell_missing_an_array_names_the_file(smoke_results, tmp_path):
    results = copy_results(smoke_results, tmp_path / "results")
    cell_id = json.loads((results / "manifest.json").read_text())["cells"][0]["cell_id"]
    arrays = read_cell(results, cell_id)
    info = arrays.pop("cell_info")
    del arrays["grad_kernel_2"]
    write_cell(results, info, arrays)
    with pytest.raises(ResultsError, match=re.escape(f"{cell_id}.npz")):
        render_report(results, tmp_path / "out")


def test_missing_metrics_names_the_file(smoke_results, tmp_path):
    results = copy_results(smoke_results, tmp_path / "results")
    (results / "metrics.csv").unlink()
    with pytest.raises(ResultsError, match=r"metrics\.csv"):
        render_report(results, tmp_path / "out")


# --- atomic write ----------------------------------------------------------------------------

def _old_report(smoke_results: Path, out: Path) -> tuple[bytes, bytes]:
    render_report(smoke_results, out)
    return (out / "index.html").read_bytes(), (out / "metrics.csv").read_bytes()


def test_failure_while_writing_leaves_the_old_page(smoke_results, tmp_path, monkeypatch):
    out = tmp_path / "out"
    before = _old_report(smoke_results, out)
    real_write_text = Path.write_text

    def torn_write(self, text, *args, **kwargs):
        # Dies after half the page is on disk, as a full disk or a kill would.
        real_write_text(self, text[: len(text) // 2], *args, **kwargs)
        raise OSError("disk full")
    monkeypatch.setattr(Path, "write_text", torn_write)
    with pytest.raises(OSError, match="disk full"):
        render_report(smoke_results, out)
    monkeypatch.undo()
    assert (out / "index.html").read_bytes() == before[0]
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "metrics.csv"]


def test_failure_while_rendering_leaves_the_old_page(smoke_results, tmp_path):
    out = tmp_path / "out"
    before = _old_report(smoke_results, out)
    broken = tmp_path / "templates"
    broken.mkdir()
    (broken / "base.html.j2").write_text("<p>{{ model.no_such_field }}</p>", encoding="utf-8")
    with pytest.raises(ResultsError, match="no_such_field"):
        render_report(smoke_results, out, templates=broken)
    assert (out / "index.html").read_bytes() == before[0]
    assert (out / "metrics.csv").read_bytes() == before[1]


# --- templates -------------------------------------------------------------------------------

def test_own_templates_override_file_by_file(smoke_results, tmp_path):
    mine = tmp_path / "templates"
    mine.mkdir()
    (mine / "style.css").write_text("body { color: #123456; }\n", encoding="utf-8")
    text = render_report(smoke_results, tmp_path / "out", templates=mine).read_text()
    assert "#123456" in text
    assert 'id="summary"' in text  # the rest still comes from the shipped templates


def test_shipped_templates_are_found():
    d = report_html.default_templates_dir()
    assert (d / "base.html.j2").is_file() and (d / "style.css").is_file()
    assert {p.name for p in (d / "partials").iterdir()} >= {f"{s}.html.j2" for s, _ in SECTIONS}


def test_data_uri():
    assert report_html.data_uri(b"hi", name="x.png") == "data:image/png;base64,aGk="
