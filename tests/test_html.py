"""The report page: the section list, self-containment, escaping, bad input, atomic writes."""

from __future__ import annotations

import base64
import dataclasses
import gzip
import hashlib
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import fakes
import numpy as np
import pytest

from vanishing import html as report_html
from vanishing.html import explore_script, render_report
from vanishing.reader import load_run
from vanishing.results import ResultsError, cell_path, read_cell, write_cell
from vanishing.sections import SECTIONS

# The sections a directory of matrix cells shows: every one in the list that applies to it.
MATRIX_SECTIONS = tuple(s for s in SECTIONS if "matrix" in s.kinds)

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
def rendered(smoke_page):
    return smoke_page, smoke_page.read_text(encoding="utf-8")


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


class Headings(HTMLParser):
    """The text of every <h2> and of every navigation link, in page order."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.h2: list[str] = []
        self.nav: list[tuple[str, str]] = []
        self._in: str | None = None
        self._href = ""
        self._in_nav = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        if tag == "nav":
            self._in_nav = True
        if tag == "h2" or (tag == "a" and self._in_nav):
            self._in, self._href = tag, dict(attrs).get("href") or ""
            (self.h2 if tag == "h2" else self.nav).append(("", self._href) if tag == "a" else "")

    def handle_endtag(self, tag):
        if tag == "nav":
            self._in_nav = False
        if tag == self._in:
            self._in = None

    def handle_data(self, data):
        if self._in == "h2":
            self.h2[-1] += data
        elif self._in == "a":
            text, href = self.nav[-1]
            self.nav[-1] = (text + data, href)


def test_section_ids_navigation_and_headings_come_from_the_one_list(rendered):
    page = Page(rendered[1])
    assert [a.get("id") for t, a in page.tags if t == "section"] == [s.id for s in MATRIX_SECTIONS]
    found = Headings(rendered[1])
    assert found.h2 == [s.title for s in MATRIX_SECTIONS]
    assert found.nav == [(s.title, f"#{s.id}") for s in MATRIX_SECTIONS]
    assert len(MATRIX_SECTIONS) == 12 and "Left out here" not in rendered[1]


def test_another_list_makes_another_page(smoke_results):
    # Reordered, retitled and one section for another kind of run: the page follows the list alone.
    run = load_run(smoke_results)
    by_id = {s.id: s for s in SECTIONS}
    mine = (dataclasses.replace(by_id["reproduce"], title="How to rerun"), by_id["depth"],
            dataclasses.replace(by_id["summary"], kinds=frozenset({"keras"})))
    text = report_html.render_html(report_html.build_page(run, mine))
    assert [a.get("id") for t, a in Page(text).tags if t == "section"] == ["reproduce", "depth"]
    assert Headings(text).h2 == ["How to rerun", "Depth"]
    assert Headings(text).nav == [("How to rerun", "#reproduce"), ("Depth", "#depth")]


def test_every_section_has_its_data_on_the_smoke_run(rendered, smoke_results):
    # The smoke preset has the default's shape plus an optimizer and a real dataset: no section
    # may fall back to "no data", and it records theory predictions.
    text = rendered[1]
    assert 'class="empty"' not in text
    manifest = json.loads((smoke_results / "manifest.json").read_text())
    assert "theory_meanfield_grad_rms" in read_cell(smoke_results, manifest["cells"][0]["cell_id"])
    page = Page(text)
    marked = [a for a in page.all("svg") if a.get("class") == "marks"]  # heatmaps and depth curves
    assert len(page.all("img")) >= 12 and len(marked) >= 5
    assert len(page.all("figcaption")) == len(page.all("img")) + len(marked)
    assert all(a["aria-label"].strip() for a in marked)


def test_every_image_is_inline_with_alt_text(rendered):
    page = Page(rendered[1])
    for img in page.all("img"):
        assert img["src"].startswith(("data:image/svg+xml;base64,", "data:image/png;base64,"))
        assert img["alt"].strip()


def test_no_resource_is_loaded_from_elsewhere(rendered):
    text = rendered[1]
    page = Page(text)
    assert not page.all("link") and not page.all("iframe")
    # two inline scripts: the panel's data (never run) and its code; neither loads anything
    assert [s.get("type") for s in page.all("script")] == ["application/json", None]
    assert not any("src" in s for s in page.all("script"))
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
    # one script may run: the panel's, named by its hash; no inline script a template plants, no eval
    digest = base64.b64encode(hashlib.sha256(explore_script().encode("utf-8")).digest()).decode("ascii")
    assert policy["script-src"] == [f"'sha256-{digest}'"]
    assert policy["connect-src"] == ["'none'"]


def test_reproduce_section_names_command_versions_and_seeds(rendered, smoke_results):
    manifest = json.loads((smoke_results / "manifest.json").read_text())
    text = rendered[1]
    reproduce = text[text.index('id="reproduce"'):]
    assert manifest["command"] in reproduce
    assert manifest["versions"]["tensorflow"] in reproduce
    # The link reaches the run's numbers: a gzipped copy of its metrics.csv beside the page.
    href = re.search(r'<a href="(metrics-[0-9a-f]{12}\.csv\.gz)">metrics\.csv\.gz</a>', reproduce)
    assert href, "the reproduce section links to no metrics file"
    linked = gzip.decompress((rendered[0].parent / href[1]).read_bytes())
    assert linked == (smoke_results / "metrics.csv").read_bytes()
    for line in manifest["config_toml"].splitlines()[:3]:
        assert line.replace('"', "&#34;") in reproduce


def section(text: str, sid: str) -> str:
    """The HTML of one <section>, from its opening tag to its closing one."""
    start = text.index(f'<section id="{sid}"')
    return text[start:text.index("</section>", start)]


def test_why_sections_have_figures_on_the_smoke_run(rendered):
    text = rendered[1]
    for sid in ("saturation", "learning-speed", "optimizers", "theory", "real-data"):
        page = Page(section(text, sid))
        marked = [a for a in page.all("svg") if a.get("class") == "marks"]
        assert page.all("img") or marked, f"section {sid} has no figure"
        assert len(page.all("figcaption")) == len(page.all("img")) + len(marked)
    assert len(Page(section(text, "learning-speed")).all("img")) == 2  # update ratio + optimizers
    speed = section(text, "learning-speed")
    assert "sgd (lr 0.1)" in speed and "rmsprop (lr 0.001)" in speed
    assert "breast_cancer" in section(text, "real-data")
    assert len(Page(section(text, "theory")).all("img")) == 2  # the scatter and the per-layer figure


def test_summary_and_matrix_use_the_primary_study_only(rendered, smoke_results):
    manifest = json.loads((smoke_results / "manifest.json").read_text())
    primary = [e for e in manifest["cells"] if e["activation"] == "tanh"
               and e["initializer"] == "glorot_uniform" and e["depth"] == 4
               and e["optimizer"] == "rmsprop" and e["dataset_id"].startswith("circles")]
    finals = [read_cell(smoke_results, e["cell_id"])["accuracy"][-1] for e in primary]
    matrix = section(rendered[1], "matrix")
    # the row's activation links to its group's panel
    start = re.search(r'<th scope="row"><a href="#cell=tanh/glorot_uniform/4" title="[^"]*">tanh</a>'
                      r'</th><td class="init">glorot_uniform', matrix).start()
    row = matrix[start:]
    row = row[:row.index("</tr>")]
    expected = f"{np.mean(finals):.3f} ± {np.std(finals):.3f}"
    assert f"<td>{len(finals)}/{len(finals)}</td>" in row
    assert f'<td class="num">{expected}</td>' in row
    # No depth-3 table: the only depth-3 network is on breast_cancer.
    assert "3 hidden layers</caption>" not in matrix
    assert "primary study" in section(rendered[1], "summary")


def test_reproduce_lists_every_dataset_and_optimizer(rendered, smoke_results):
    manifest = json.loads((smoke_results / "manifest.json").read_text())
    reproduce = section(rendered[1], "reproduce")
    for d in manifest["datasets"]:
        assert d["dataset_id"] in reproduce
    for label in {f"{e['optimizer']} (lr {e['learning_rate']:g})" for e in manifest["cells"]}:
        assert label in reproduce


def _strip_theory(results: Path) -> None:
    for e in json.loads((results / "manifest.json").read_text())["cells"]:
        arrays = read_cell(results, e["cell_id"])
        info = arrays.pop("cell_info")
        for key in [k for k in arrays if k.startswith("theory_")]:
            del arrays[key]
        write_cell(results, info, arrays)


def test_results_without_theory_still_render_and_say_so(small_results, tmp_path):
    results = copy_results(small_results, tmp_path / "results")
    _strip_theory(results)
    text = render_report(results, tmp_path / "out").read_text(encoding="utf-8")
    theory = section(text, "theory")
    assert "Theory predictions are not in this results directory" in theory
    assert not Page(theory).all("img")


def test_sections_without_data_name_the_preset_that_fills_them(small_results, tmp_path):
    results = copy_results(small_results, tmp_path / "results")

    def only_primary(m):
        m["cells"] = [e for e in m["cells"] if e["optimizer"] == "rmsprop"
                      and e["dataset_id"].startswith("circles")]
    edit_manifest(results, only_primary)
    text = render_report(results, tmp_path / "out").read_text(encoding="utf-8")
    assert 'class="empty"' in section(text, "optimizers")
    assert "optimizers and full presets" in section(text, "optimizers")
    assert 'class="empty"' not in section(text, "summary")
    assert "realdata and full presets" in section(text, "real-data")
    assert "optimizers and full presets" in section(text, "learning-speed")
    assert Page(section(text, "learning-speed")).all("img")  # the depth figure stays


def test_tutorial_table_shows_reported_and_measured(rendered):
    text = rendered[1]
    tutorial = section(text, "tutorial")
    for reported in ("0.665", "0.588", "0.0129", "0.993", "0.0169", "0.994"):
        assert f"<td>{reported}</td>" in tutorial


# --- labels cannot inject markup -------------------------------------------------------------

def test_script_in_title_and_labels_is_escaped(small_results, tmp_path):
    results = copy_results(small_results, tmp_path / "results")
    evil = "<script>alert('x')</script>"

    def edit(m):
        m["title"] = f"Run {evil}"
        m["command"] = f"vanishing {evil}"
        m["cells"][0]["activation"] = f"tanh{evil}"
        m["config_toml"] = f'title = "{evil}"\n'
    edit_manifest(results, edit)
    cell = json.loads((results / "manifest.json").read_text(encoding="utf-8"))["cells"][0]
    fakes.relabel_cell(results, cell["cell_id"], activation=cell["activation"])  # the file agrees
    text = render_report(results, tmp_path / "out").read_text(encoding="utf-8")
    # the only scripts are the page's own: its panel's data and code
    assert [s.get("type") for s in Page(text).all("script")] == ["application/json", None]
    assert text.lower().count("<script") == 2 and "<script>alert" not in text.lower()
    assert "&lt;script&gt;" in text


# --- results that are incomplete but readable ---------------------------------------------------

def test_missing_cell_still_renders_and_says_so(small_results, tmp_path):
    results = copy_results(small_results, tmp_path / "results")
    cell_id = json.loads((results / "manifest.json").read_text())["cells"][-1]["cell_id"]
    cell_path(results, cell_id).unlink()
    text = render_report(results, tmp_path / "out").read_text(encoding="utf-8")
    assert "1 cell missing" in text
    assert cell_id in text


def test_diverged_cell_is_marked(small_results, tmp_path):
    results = copy_results(small_results, tmp_path / "results")
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


def test_empty_manifest_renders_with_sections_saying_no_data(small_results, tmp_path):
    results = copy_results(small_results, tmp_path / "results")
    edit_manifest(results, lambda m: m.update(cells=[], matrices=[]))
    text = render_report(results, tmp_path / "out").read_text(encoding="utf-8")
    ids = [a.get("id") for t, a in Page(text).tags if t == "section"]
    assert ids == [s.id for s in MATRIX_SECTIONS]
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

def _old_report(out: Path) -> tuple[bytes, bytes]:
    """A previous report in out/: what a failed render must leave as it was."""
    out.mkdir(parents=True)
    (out / "index.html").write_text("<p>the previous page</p>", encoding="utf-8")
    (out / "metrics.csv").write_text("the,previous,metrics\n", encoding="utf-8")
    return (out / "index.html").read_bytes(), (out / "metrics.csv").read_bytes()


def test_failure_while_writing_leaves_the_old_page(small_results, tmp_path, monkeypatch):
    out = tmp_path / "out"
    before = _old_report(out)
    real_write_text = Path.write_text

    def torn_write(self, text, *args, **kwargs):
        # Dies after half the page is on disk, as a full disk or a kill would.
        real_write_text(self, text[: len(text) // 2], *args, **kwargs)
        raise OSError("disk full")
    monkeypatch.setattr(Path, "write_text", torn_write)
    with pytest.raises(OSError, match="disk full"):
        render_report(small_results, out)
    monkeypatch.undo()
    # Neither file is replaced: not the page, and not the metrics beside it.
    assert (out / "index.html").read_bytes() == before[0]
    assert (out / "metrics.csv").read_bytes() == before[1]
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "metrics.csv"]


@pytest.fixture
def quick(monkeypatch):
    """Pages without sections: for tests of how a page is written, not of what it shows."""
    real = report_html.build_page
    monkeypatch.setattr(report_html, "build_page", lambda run, sections=SECTIONS: real(run, ()))


def _links(page: Path) -> set[str]:
    return set(re.findall(r'href="(metrics[^"]*\.csv\.gz)"', page.read_text(encoding="utf-8")))


def test_the_page_and_its_data_are_one_unit(quick, small_results, tmp_path):
    """The page links to a copy of the data named by its content, written before the page: a
    reader of any page gets that page's data, never a new page beside old data."""
    out = tmp_path / "out"
    first = _links(render_report(small_results, out))
    assert len(first) == 1
    href = first.pop()
    data = (small_results / "metrics.csv").read_bytes()
    assert gzip.decompress((out / href).read_bytes()) == data == (out / "metrics.csv").read_bytes()
    assert (out / href).read_bytes() == (out / "metrics.csv.gz").read_bytes()
    assert (out / href).stat().st_mode & 0o777 == 0o644
    # New data: a new name, the page links to it, the old copy is gone, metrics.csv follows.
    results = copy_results(small_results, tmp_path / "results")
    with open(results / "metrics.csv", "ab") as f:
        f.write(b"one,more,row\n")
    fakes.rehash_metrics(results)  # as a writer of metrics.csv would: render checks it
    (second,) = _links(render_report(results, out))
    assert second != href
    assert gzip.decompress((out / second).read_bytes()) == (results / "metrics.csv").read_bytes()
    names = ["index.html", "metrics.csv", "metrics.csv.gz", second]
    assert sorted(p.name for p in out.iterdir()) == sorted(names)
    assert (out / "metrics.csv").read_bytes() == (results / "metrics.csv").read_bytes()


def test_failure_while_writing_the_data_leaves_the_old_report(quick, small_results, tmp_path, monkeypatch):
    out = tmp_path / "out"
    before = _old_report(out)

    def full_disk(self, data, *args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(Path, "write_bytes", full_disk)
    with pytest.raises(OSError, match="disk full"):
        render_report(small_results, out)
    monkeypatch.undo()
    assert (out / "index.html").read_bytes() == before[0]
    assert (out / "metrics.csv").read_bytes() == before[1]
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "metrics.csv"]


def test_what_a_killed_render_left_is_removed(quick, small_results, tmp_path):
    import subprocess
    import sys

    from vanishing.results import HOST_ID

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "out"
    out.mkdir()
    left = out / f".index.html.vanishing-{dead.pid}-{HOST_ID}-abcdefgh.tmp"
    left.write_text("<p>half a page")
    render_report(small_results, out)
    assert not left.exists()


def test_render_reads_the_results_under_their_lock(quick, small_results, monkeypatch, tmp_path):
    """manifest.json, the cells and metrics.csv are read while no recorder or train can write
    them: a writer's exclusive lock is refused meanwhile (recorder_io.reading)."""
    import fcntl

    from vanishing import recorder_io

    seen = []
    real_load = report_html.load_run

    def load_and_try_to_write(results_dir):
        with open(Path(results_dir) / recorder_io.LOCK_NAME, "a+") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                seen.append("refused")
            else:
                seen.append("granted")
                fcntl.flock(f, fcntl.LOCK_UN)
        return real_load(results_dir)
    monkeypatch.setattr(report_html, "load_run", load_and_try_to_write)
    render_report(copy_results(small_results, tmp_path / "results"), tmp_path / "out")
    assert seen == ["refused"]


def test_failure_while_rendering_leaves_the_old_page(small_results, tmp_path):
    out = tmp_path / "out"
    before = _old_report(out)
    broken = tmp_path / "templates"
    broken.mkdir()
    (broken / "base.html.j2").write_text("<p>{{ model.no_such_field }}</p>", encoding="utf-8")
    with pytest.raises(ResultsError, match="no_such_field"):
        render_report(small_results, out, templates=broken)
    assert (out / "index.html").read_bytes() == before[0]
    assert (out / "metrics.csv").read_bytes() == before[1]


# --- templates -------------------------------------------------------------------------------

def test_own_templates_override_file_by_file(small_results, tmp_path):
    mine = tmp_path / "templates"
    mine.mkdir()
    (mine / "style.css").write_text("body { color: #123456; }\n", encoding="utf-8")
    text = render_report(small_results, tmp_path / "out", templates=mine).read_text()
    assert "#123456" in text
    assert 'id="summary"' in text  # the rest still comes from the shipped templates


def test_shipped_templates_are_found():
    d = report_html.default_templates_dir()
    assert (d / "base.html.j2").is_file() and (d / "style.css").is_file()
    assert {p.name for p in (d / "partials").iterdir()} >= {f"{s.id}.html.j2" for s in SECTIONS}


def test_data_uri():
    assert report_html.data_uri(b"hi", name="x.png") == "data:image/png;base64,aGk="


DIVERGING = """
title = "every linear network blows up"
[data]
n_samples = 64
[train]
epochs = 3
optimizer = "sgd"
learning_rate = 1.0e4
[matrix.main]
activations = ["linear", "tanh"]  # no sigmoid: learning speed falls back to the first activation
initializers = [{ name = "random_normal", stddev = 1.0 }, "glorot_uniform"]
depths = [2, 4]
seeds = [0]
"""


@pytest.mark.slow  # trains its own run
def test_a_run_where_whole_groups_diverge_during_training_still_renders(tmp_path):
    from vanishing import config, results, runner

    path = tmp_path / "exp.toml"
    path.write_text(DIVERGING)
    out = tmp_path / "results"
    manifest = runner.train(config.load(config=path), out, progress=False)
    diverged = [c for c in manifest["cells"] if c["status"] == "diverged"]
    assert any(c["activation"] == "linear" for c in diverged)  # the scenario really happens
    for c in diverged:
        a = results.read_cell(out, c["cell_id"])
        assert c["diverged_epoch"] >= 1  # during training, not at initialisation
        assert np.isnan(a["accuracy"][c["diverged_epoch"]:]).all()  # never a made-up 0.5
        assert np.isnan(a["act_saturated_frac"][c["diverged_epoch"]:]).all()
    text = render_report(out, tmp_path / "page").read_text(encoding="utf-8")
    for sid in (s.id for s in MATRIX_SECTIONS):
        assert f'id="{sid}"' in text
    assert "diverged" in section(text, "matrix")
