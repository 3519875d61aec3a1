"""Results -> one self-contained HTML page (DESIGN.md section 5).

The page's data model is built first (``build_page``: every section's part, every
number formatted and every figure drawn); then ONE ``template.render(model=...)``
call turns it into HTML (templates only lay out, never compute); then the page is
written atomically. Jinja2 autoescapes everything, so a label from a config or a
script cannot inject markup.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import fcntl
import functools
import gc
import hashlib
import importlib.resources
import mimetypes
import os
import re
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import markupsafe
import numpy as np

from vanishing import deflate, fmt, forked, integrity, lock, page_parts, recorder_io, timing
from vanishing.explore import explore_json
from vanishing.reader import FACTORY, MATRIX, Run, load_run
from vanishing.recorded import KERAS
from vanishing.results import ResultsError, atomic_path, read_manifest, remove_stale_temp
from vanishing.sections import SECTIONS, Section
from vanishing.sections.reproduce import rerun_command

# Every remote load is refused; styles and images may only come from the page itself, and the
# one script that runs is the page's own panel script, named by its hash (content_security_policy).
CONTENT_SECURITY_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                           "font-src 'none'; script-src 'none'; connect-src 'none'; "
                           "base-uri 'none'; form-action 'none'")
# The panel's script (templates/explore.js): shipped code, not a template --templates replaces,
# since the policy names its exact bytes.
EXPLORE_SCRIPT = "explore.js"
# The copy of metrics.csv a page links to, named by its content (render_report); a plain .csv is
# what renders before the compressed copies wrote.
_LINKED_METRICS = re.compile(r"metrics-[0-9a-f]{12}\.csv(\.gz)?")


@dataclass(frozen=True)
class SectionView:
    """One section as the page shows it: from the list, plus this run's part."""

    id: str
    title: str
    template: str
    part: Any  # the section's typed part; None when the run has nothing for it
    empty: str


@dataclass(frozen=True)
class Page:
    title: str
    subtitle: str
    csp: str
    sections: tuple[SectionView, ...]
    created: str
    rerun: str
    omitted: str = ""  # which sections this kind of directory leaves out, and why
    metrics_href: str = "metrics.csv.gz"
    explore_data: str = ""  # the panel's JSON (explore.explore_json); "" when no group has a panel
    script: str = ""  # the panel's script, allowed by its hash in csp


# Why a factory's page leaves out the built-in MLP's own sections (each needs one of these).
FACTORY_OMITTED = ("they need arrays only the built-in MLP's cells hold (the tutorial's own network, the "
                   "hidden layers' sampled activations and back-propagated deltas, every kernel's gradient "
                   "and each example's gradient at initialisation, the theory's predictions, the output "
                   "over a grid of two input features), which the recorder that measured the factory's "
                   "networks does not keep.")


def omitted_note(run: Run, sections: tuple[Section, ...]) -> str:
    """Which sections this kind of directory leaves out, and why, in one sentence; "" when none."""
    if MATRIX in run.kinds:
        return ""
    if FACTORY in run.kinds:  # the recorder's own sections show here as "Network by network"
        left_out = [s.title for s in sections if MATRIX in s.kinds and not s.kinds & run.kinds]
        return f"Left out here: {fmt.listing(left_out)}: {FACTORY_OMITTED}" if left_out else ""
    left_out = [s.title for s in sections if not s.kinds & run.kinds]
    return (f"Left out here: {fmt.listing(left_out)}. They study the built-in MLP matrix (vanishing "
            "train) or a model factory's, neither of which this directory holds.") if left_out else ""


def build_page(run: Run, sections: tuple[Section, ...] = SECTIONS) -> Page:
    """Every section that applies to this kind of run, built from the networks of the kinds it
    applies to, in list order (side by side in worker processes: page_parts)."""
    p = run.provenance
    shown = [s for s in sections if s.kinds & run.kinds]
    tasks: list[page_parts.Task] = [(f"render: section {s.id}", _section_build(s)) for s in shown]
    if run.cells or run.recorded:
        tasks.append(("render: explore json", explore_json))
    parts = page_parts.build_parts(run, tasks)
    views = tuple(SectionView(s.id, s.title, s.template, part, s.empty) for s, part in zip(shown, parts))
    data = parts[-1] if len(parts) > len(shown) else ""
    epochs = max((c.epochs for c in run.primary_cells()), default=None)
    scripts = [r for r in run.recorded if r.kind == KERAS]  # a factory's networks count as trained
    made = f" by the model factory {p.factory.ref}" if p.factory is not None and run.cells else ""
    bits = [f"{fmt.plural(len(run.cells), 'network')} trained{made}"] if run.cells or not scripts else []
    if scripts:
        bits.append(f"{fmt.plural(len(scripts), 'recorded run')}")
    if epochs is not None:
        bits.append(f"{epochs} epochs each")
    if p.preset:
        bits.append(f"preset “{p.preset}”")
    if p.created:
        bits.append(p.created[:10])
    script = explore_script() if data else ""
    return Page(title=p.title or "Vanishing gradients", subtitle=" · ".join(bits),
                csp=content_security_policy(script), sections=views, created=p.created,
                rerun=rerun_command(p), omitted=omitted_note(run, sections),
                explore_data=markupsafe.Markup(data), script=markupsafe.Markup(script))


def _section_build(section: Section) -> Callable[[Run], Any]:
    """The section's build, given only the networks of the kinds it applies to."""
    return lambda run: section.build(run.only(section.kinds))


def explore_script() -> str:
    """The panel's script as the page inlines it."""
    text = (default_templates_dir() / EXPLORE_SCRIPT).read_text(encoding="utf-8")
    if "</script" in text.lower() or "<!--" in text:  # would end the element, or hide the rest
        raise ResultsError(f"{EXPLORE_SCRIPT}: holds '</script' or '<!--', which cannot be inlined")
    return text


def content_security_policy(script: str = "") -> str:
    """The page's policy; with a script, that script alone may run, named by its sha256 (a
    planted or altered one may not), and it may fetch nothing."""
    if not script:
        return CONTENT_SECURITY_POLICY
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return CONTENT_SECURITY_POLICY.replace("script-src 'none'", f"script-src 'sha256-{digest}'")


# --- templates and inlining ------------------------------------------------------------------

def default_templates_dir() -> Path:
    """The templates shipped in the package (vanishing.templates)."""
    return Path(str(importlib.resources.files("vanishing").joinpath("templates")))


def make_environment(templates: Path | None = None) -> jinja2.Environment:
    """Autoescaping environment; a user's templates dir overrides file by file."""
    loaders: list[jinja2.BaseLoader] = []
    if templates is not None:
        if not Path(templates).is_dir():
            raise ResultsError(f"--templates: {templates} is not a directory of templates")
        loaders.append(jinja2.FileSystemLoader(str(templates)))
    loaders.append(jinja2.FileSystemLoader(str(default_templates_dir())))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=True,  # every template, whatever its extension
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )

    def include_css(name: str) -> str:
        # A stylesheet found by the same loader as the templates, so --templates can replace it.
        source, _, _ = env.loader.get_source(env, name)  # type: ignore[union-attr]
        # "</" cannot end the <style> element early: escape it the CSS way.
        return markupsafe.Markup(source.replace("</", "<\\/"))

    env.globals["include_css"] = include_css
    env.globals["data_uri"] = data_uri
    return env


def data_uri(data: bytes, mime: str | None = None, name: str = "") -> str:
    """bytes -> data: URI (nbconvert style); the MIME type guessed from name when not given."""
    mime = mime or mimetypes.guess_type(name)[0] or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def render_html(page: Page, env: jinja2.Environment | None = None) -> str:
    """The ONE render call: the page model through base.html.j2."""
    env = env or make_environment()
    try:
        return env.get_template("base.html.j2").render(model=page)
    except jinja2.TemplateError as e:
        where = f" ({e.filename}:{e.lineno})" if isinstance(e, jinja2.TemplateSyntaxError) else ""
        raise ResultsError(f"template error{where}: {e}") from None


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off, then as it was. A render makes a few hundred thousand
    objects (the cells' statistics, matplotlib's artists, ticks and transforms, cycles that are
    freed only when their figure is dropped), and the collector scans them again and again as
    they grow: about 1 s of the default preset's 13 s of CPU. The sections' forked workers
    inherit the pause; their garbage goes when they exit."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@_cyclic_gc_paused()
def render_report(results_dir: Path, out_dir: Path, templates: Path | None = None,
                  publish: bool = False) -> Path:
    """Write out_dir/index.html, the gzipped metrics it links to and, unless ``publish``,
    out_dir/metrics.csv.gz and out_dir/metrics.csv.

    Raises ResultsError (naming the file) when the results cannot be read. The
    results are read under the directory's shared lock, so a train or a
    recording writing meanwhile is seen before or after its write, never half-way.
    The page and its data are one unit (``_publish``): nothing is replaced until the
    whole page has rendered, and the page links to its own content-named copy of
    the data, written before it. ``publish``: the directory as it is put on a web site, the
    page and the one gzipped copy it links to (no metrics.csv or metrics.csv.gz; ones an
    earlier render left are removed).
    """
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    env = make_environment(templates)  # a bad --templates fails before any work
    with contextlib.ExitStack() as beside:
        with recorder_io.reading(results_dir):
            data = _read_metrics(results_dir)
            # metrics.csv is checked against the manifest and gzipped beside this process (a forked
            # one, else a thread) while it reads the cells and builds the page.
            metrics = (beside.enter_context(forked.beside(functools.partial(
                _checked_and_compressed, data, _manifest_or_none(results_dir), results_dir, out_dir)))
                if data is not None else None)
            with timing.span("render: load cells"):
                run = _load(results_dir)
            if metrics is None:
                raise ResultsError(f"{results_dir / 'metrics.csv'}: missing")
            with timing.span("render: check datasets"):
                integrity.check_datasets(results_dir, run.manifest)
        if out_dir.exists() and not out_dir.is_dir():
            raise ResultsError(f"--out: {out_dir} exists and is not a directory")
        with np.errstate(all="ignore"), timing.span("render: build page"):
            page = build_page(run)
        with timing.span("render: wait for gzip"):
            digest, compressed = metrics.result()
        href = _linked(digest)
        with timing.span("render: template"):
            text = render_html(dataclasses.replace(page, metrics_href=href), env)
    with timing.span("render: write"):
        out_dir.mkdir(parents=True, exist_ok=True)
        with _exclusive(out_dir):
            remove_stale_temp(out_dir, subdirs=())
            _publish(out_dir, text, data, compressed, href, publish)
    timing.flush("render")
    return out_dir / "index.html"


def _read_metrics(results_dir: Path) -> bytes | None:
    """metrics.csv's bytes; None when it is missing (said once the cells are read: a directory
    that is no results directory at all is named as such first)."""
    with timing.span("render: read metrics.csv"):
        try:
            return (results_dir / "metrics.csv").read_bytes()
        except (FileNotFoundError, NotADirectoryError):  # the load says what is wrong
            return None


def _manifest_or_none(results_dir: Path) -> dict[str, Any] | None:
    """The manifest, read before the cells for the check beside; None when it cannot be read
    (the load then says what is wrong)."""
    try:
        return read_manifest(results_dir)
    except ResultsError:
        return None


def linked_name(data: bytes) -> str:
    """The name of the compressed copy a page links to: the CSV's own sha256 (what `sha256sum`
    of the decompressed file says), not the gzip's, whose bytes may differ between libraries and
    their versions (deflate.py)."""
    return _linked(hashlib.sha256(data).hexdigest())


def _linked(sha256: str) -> str:
    return f"metrics-{sha256[:12]}.csv.gz"


def _checked_and_compressed(data: bytes, manifest: dict[str, Any] | None, results_dir: Path,
                            out_dir: Path) -> tuple[str, bytes]:
    """(sha256, gzip) of metrics.csv, once it is checked to be the table the manifest vouches for
    (integrity.check_metrics: ResultsError otherwise). The gzip is compress_metrics(data) or,
    when an earlier render of the same table left its copy in out_dir, that copy (checked: it
    decompresses to these very bytes), saving gzip's seconds."""
    with timing.span("render: check metrics.csv (beside the load)"):
        digest = hashlib.sha256(data).hexdigest()
        if manifest is not None:
            integrity.check_metrics(results_dir / "metrics.csv", data, manifest, sha256=digest)
    with timing.span("render: gzip metrics.csv (beside the load)"):
        try:
            earlier = (out_dir / _linked(digest)).read_bytes()
            unpack = zlib.decompressobj(wbits=31)  # one gzip member; no more than the table's size + 1
            if unpack.decompress(earlier, len(data) + 1) == data and unpack.eof and not unpack.unused_data:
                return digest, earlier
        except (OSError, zlib.error):  # none there, or not a gzip at all
            pass
        return digest, compress_metrics(data)


def compress_metrics(data: bytes) -> bytes:
    """metrics.csv as published: gzip of the very bytes (every number as written, %.9g), with no
    time or file name in its header, so the same table always gives the same file.
    ``pandas.read_csv("metrics.csv.gz")`` reads it as it is. ISA-L's gzip (deflate.py)."""
    return deflate.gzip(data)


def _load(results_dir: Path) -> Run:
    """The run; a directory a train is still filling for the first time says so."""
    try:
        return load_run(results_dir)
    except ResultsError:
        holder = lock.running(results_dir)
        if holder is not None and not (results_dir / "manifest.json").exists():
            raise ResultsError(f"{results_dir}: `vanishing train` is running there ({holder.describe()}) and "
                               "has not finished a run yet; render once it has") from None
        raise


def _publish(out_dir: Path, text: str, data: bytes, packed: bytes, href: str, publish: bool) -> None:
    """The compressed data under its content's name, then the page that links to it, then
    metrics.csv.gz and metrics.csv (or, to publish, neither: the linked copy is the one copy).

    Two renames are not atomic together: renaming index.html and metrics.csv one after the
    other would show a new page beside the old data for a moment (or for good, if the second
    write fails). The page's link names its data by content, so whatever page a reader gets,
    its data is there in full. metrics.csv.gz and metrics.csv, the names scripts and older
    templates use, follow.
    """
    linked = out_dir / href
    existed = linked.exists()  # a render of the same data: a page on disk may link to it
    with atomic_path(linked) as tmp:
        tmp.write_bytes(packed)
    try:
        with atomic_path(out_dir / "index.html") as tmp:
            tmp.write_text(text, encoding="utf-8")
    except BaseException:
        if not existed:
            linked.unlink(missing_ok=True)
        raise
    if publish:  # one copy of the data; an earlier render's metrics.csv(.gz) would not be this page's
        for name in ("metrics.csv.gz", "metrics.csv"):
            (out_dir / name).unlink(missing_ok=True)
    else:
        with atomic_path(out_dir / "metrics.csv.gz") as tmp:
            tmp.write_bytes(packed)
        with atomic_path(out_dir / "metrics.csv") as tmp:
            tmp.write_bytes(data)
    for old in out_dir.iterdir():  # the copies older pages linked to
        if _LINKED_METRICS.fullmatch(old.name) and old.name != href:
            old.unlink(missing_ok=True)


@contextmanager
def _exclusive(directory: Path) -> Iterator[None]:
    """One render at a time writes into ``directory`` (an flock on the directory itself: no lock
    file among the published files), so one never deletes the data another's page links to."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        with contextlib.suppress(OSError):  # a filesystem without flock: one writer is the norm
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
