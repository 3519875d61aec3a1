"""Results -> one self-contained HTML page (DESIGN.md section 5).

The page's data model is built first, every number formatted and every
figure drawn; then ONE ``template.render(model=...)`` call turns it into HTML
(templates only lay out, never compute); then the page is written atomically.
Jinja2 autoescapes everything, so a label from a config cannot inject markup.
"""

from __future__ import annotations

import base64
import importlib.resources
import math
import mimetypes
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import markupsafe
import numpy as np

from vanishing import analysis, figures
from vanishing.analysis import GroupSummary, Run
from vanishing.figures import Figure
from vanishing.results import ResultsError, atomic_path, read_dataset, write_text

# Every remote load is refused; styles and images may only come from the page itself.
CONTENT_SECURITY_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                           "font-src 'none'; script-src 'none'; connect-src 'none'; "
                           "base-uri 'none'; form-action 'none'")

SECTIONS: tuple[tuple[str, str], ...] = (
    ("summary", "Summary"),
    ("tutorial", "The tutorial, reproduced"),
    ("glorot", "Standard vs. Glorot initialisation"),
    ("depth", "Depth"),
    ("matrix", "The whole matrix"),
    ("boundaries", "What the networks learned"),
    ("reproduce", "Reproduce"),
)


# --- the data model the template reads --------------------------------------------------------

@dataclass(frozen=True)
class TutorialRow:
    activation: str
    reported_loss: str
    reported_accuracy: str
    measured_loss: str
    measured_accuracy: str
    note: str


@dataclass(frozen=True)
class LayerHeader:
    label: str
    colour: str


@dataclass(frozen=True)
class MatrixRow:
    activation: str
    initializer: str
    seeds: str
    final_loss: str
    final_accuracy: str
    grads: tuple[tuple[str, str], ...]  # per layer: (at init, at end)
    attenuation_init: str
    attenuation_end: str
    attenuation_class: str  # vanishing / exploding / balanced: a CSS hook, not a number
    diverged: str


@dataclass(frozen=True)
class MatrixTable:
    depth: int
    layers: tuple[LayerHeader, ...]
    rows: tuple[MatrixRow, ...]


@dataclass(frozen=True)
class KeyValue:
    key: str
    value: str


@dataclass(frozen=True)
class Report:
    title: str
    subtitle: str
    csp: str
    sections: tuple[tuple[str, str], ...]
    findings: tuple[str, ...]
    summary_figures: tuple[Figure, ...]
    grid_depth: int | None
    tutorial_figures: tuple[tuple[str, Figure], ...]
    tutorial_rows: tuple[TutorialRow, ...]
    tutorial_setting: str
    glorot_figures: tuple[Figure, ...]
    glorot_note: str
    depth_figure: Figure | None
    matrix_tables: tuple[MatrixTable, ...]
    boundaries_figure: Figure | None
    diverged_cells: tuple[str, ...]
    missing_cells: tuple[str, ...]
    config_toml: str
    command: str
    rerun: str
    created: str
    facts: tuple[KeyValue, ...]
    versions: tuple[KeyValue, ...]
    platform: tuple[KeyValue, ...]
    metrics_href: str = "metrics.csv"
    layer_legend: tuple[LayerHeader, ...] = field(default_factory=tuple)


# --- building it ---------------------------------------------------------------------------

def build_report(run: Run) -> Report:
    """Every number and figure of the page, computed from the run."""
    m = run.manifest
    summaries = analysis.summarize(run.cells)
    grid = analysis.main_grid(m, summaries)
    curves = analysis.depth_curves(summaries)
    epochs = max((c.epochs for c in run.cells), default=None)
    diverged = [c for c in run.cells if c.diverged]
    findings = analysis.findings(grid, curves, len(diverged), run.missing, epochs)

    summary_figures: tuple[Figure, ...] = ()
    if grid is not None:
        summary_figures = tuple(figures.heatmap(grid, w)
                                for w in ("accuracy", "attenuation_init", "attenuation_end"))

    tutorial = analysis.tutorial_cells(run.cells)
    tutorial_figures = tuple((act, figures.tutorial_figure(act, cells))
                             for act, cells in tutorial.items())
    tutorial_rows = tuple(_tutorial_row(r) for r in analysis.tutorial_table(tutorial))
    if tutorial:
        first = next(iter(tutorial.values()))[0]
        tutorial_setting = (f"{first.depth} hidden layers of {first.width}, "
                            f"{first.initializer}, {first.epochs} epochs, "
                            f"seeds {', '.join(str(c.seed) for c in next(iter(tutorial.values())))}")
    else:
        tutorial_setting = ""

    cmp = analysis.glorot_comparison(run.cells, grid.depth if grid else None)
    glorot_figures: tuple[Figure, ...] = ()
    glorot_note = ""
    if cmp is not None:
        hist = figures.glorot_histograms(cmp)
        glorot_figures = tuple(f for f in (hist, figures.glorot_scale(cmp)) if f is not None)
        if cmp.standard is None:
            glorot_note = (f"This run has no standard (unnormalised) initializer for "
                           f"{cmp.activation}; only {cmp.normalised} is shown.")
        else:
            glorot_note = (f"Network: {cmp.activation}, {cmp.depth} hidden layers. Standard "
                           f"stands for {cmp.standard}"
                           + (", the paper's U(−1/√fan_in, 1/√fan_in) widened by √3"
                              if cmp.standard == "lecun_uniform" else "")
                           + f"; normalised is {cmp.normalised}, variance "
                           "2 / (fan_in + fan_out).")

    boundary_cells = analysis.boundary_cells(tutorial, run.cells)
    boundaries_figure = None
    if boundary_cells:
        X = y = None
        dataset_id = boundary_cells[0].dataset_id
        if dataset_id:
            X, y = read_dataset(run.results_dir, dataset_id)
        boundaries_figure = figures.boundaries_figure(boundary_cells, X, y)

    depths_main = [grid.depth] if grid else []
    other_depths = sorted({g.depth for g in summaries} - set(depths_main))
    tables = tuple(_matrix_table(d, [g for g in summaries if g.depth == d], grid)
                   for d in (*depths_main, *other_depths))

    created = str(m.get("created", ""))
    title = str(m.get("title") or "Vanishing gradients")
    preset = m.get("preset")
    n_seeds = sorted({c.seed for c in run.cells})
    subtitle_bits = [f"{len(run.cells)} networks trained"]
    if epochs is not None:
        subtitle_bits.append(f"{epochs} epochs each")
    if preset:
        subtitle_bits.append(f"preset “{preset}”")
    if created:
        subtitle_bits.append(created[:10])
    rerun = (f"vanishing report --preset {preset}" if preset
             else "vanishing report --config config.toml   # the config below, saved")
    datasets = ", ".join(f"{d.get('name', d.get('dataset_id'))} ({d.get('n_samples', '?')} samples)"
                         for d in m.get("datasets") or [] if isinstance(d, dict))
    facts = [
        KeyValue("created (UTC)", created),
        KeyValue("vanishing", str(m.get("vanishing_version", ""))),
        KeyValue("preset", str(preset) if preset else "(a config file)"),
        KeyValue("cells", f"{len(run.cells)} read, {len(diverged)} diverged, "
                          f"{len(run.missing)} missing"),
        KeyValue("seeds", ", ".join(map(str, n_seeds))),
        KeyValue("datasets", datasets),
        KeyValue("training time", _seconds(m.get("train_seconds"))),
    ]
    n_layers_legend = (grid.depth + 1) if grid else (run.cells[0].depth + 1 if run.cells else 0)
    legend = tuple(LayerHeader(figures.layer_label(i + 1, n_layers_legend), c)
                   for i, c in enumerate(figures.layer_colours(n_layers_legend))) \
        if n_layers_legend else ()
    return Report(
        title=title,
        subtitle=" · ".join(subtitle_bits),
        csp=CONTENT_SECURITY_POLICY,
        sections=SECTIONS,
        findings=findings,
        summary_figures=summary_figures,
        grid_depth=grid.depth if grid else None,
        tutorial_figures=tutorial_figures,
        tutorial_rows=tutorial_rows,
        tutorial_setting=tutorial_setting,
        glorot_figures=glorot_figures,
        glorot_note=glorot_note,
        depth_figure=figures.depth_figure(curves) if curves else None,
        matrix_tables=tables,
        boundaries_figure=boundaries_figure,
        diverged_cells=tuple(f"{c.cell_id} (epoch {c.diverged_epoch})" for c in diverged),
        missing_cells=run.missing,
        config_toml=str(m.get("config_toml", "")),
        command=str(m.get("command", "")),
        rerun=rerun,
        created=created,
        facts=tuple(facts),
        versions=_pairs(m.get("versions")),
        platform=_pairs(m.get("platform")),
        layer_legend=legend,
    )


def _pairs(d: Any) -> tuple[KeyValue, ...]:
    return tuple(KeyValue(str(k), str(v)) for k, v in d.items()) if isinstance(d, dict) else ()


def _seconds(x: Any) -> str:
    try:
        s = float(x)
    except (TypeError, ValueError):
        return ""
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"


def _tutorial_row(r: analysis.TutorialRow) -> TutorialRow:
    if r.measured_loss.n == 0:
        note = "not run" if not r.diverged else f"all {r.diverged} seeds diverged"
    else:
        note = f"{r.measured_loss.n} seed{'s' if r.measured_loss.n != 1 else ''}"
        if r.epochs != analysis.TUTORIAL_EPOCHS:
            note += f", {r.epochs} epochs (the tutorial: {analysis.TUTORIAL_EPOCHS})"
        if r.diverged:
            note += f", {r.diverged} diverged (left out)"
    return TutorialRow(r.activation, f"{r.reported_loss:g}", f"{r.reported_accuracy:g}",
                       analysis.format_stat(r.measured_loss, 4),
                       analysis.format_stat(r.measured_accuracy, 3), note)


def _attenuation_class(x: float) -> str:
    if math.isnan(x):
        return ""
    if x <= -analysis.NOTABLE_ATTENUATION:
        return "vanishing"
    if x >= analysis.NOTABLE_ATTENUATION:
        return "exploding"
    return "balanced"


def _matrix_table(depth: int, groups: Sequence[GroupSummary],
                  grid: analysis.Grid | None) -> MatrixTable:
    if grid is not None and depth == grid.depth:
        order = {(a, i): k for k, (a, i) in enumerate(
            (a, i) for a in grid.activations for i in grid.initializers)}
        groups = sorted(groups, key=lambda g: order.get((g.activation, g.initializer), 1 << 30))
    n_layers = depth + 1
    layers = tuple(LayerHeader(figures.layer_label(i + 1, n_layers).replace("layer ", "L"), c)
                   for i, c in enumerate(figures.layer_colours(n_layers)))
    rows = []
    for g in groups:
        div = ", ".join(f"seed {s} at epoch {e}" for s, e in g.diverged)
        rows.append(MatrixRow(
            activation=g.activation, initializer=g.initializer,
            seeds=f"{g.n_ok}/{len(g.seeds)}",
            final_loss=analysis.format_stat(g.final_loss, 3),
            final_accuracy=analysis.format_stat(g.final_accuracy, 3),
            grads=tuple((analysis.format_sci(a.mean), analysis.format_sci(b.mean))
                        for a, b in zip(g.grad_abs_mean_init, g.grad_abs_mean_end)),
            attenuation_init=_signed_stat(g.attenuation_init),
            attenuation_end=_signed_stat(g.attenuation_end),
            attenuation_class=_attenuation_class(g.attenuation_init.mean),
            diverged=div,
        ))
    return MatrixTable(depth=depth, layers=layers, rows=tuple(rows))


def _signed_stat(s: analysis.Stat) -> str:
    if s.n == 0:
        return "–"
    text = analysis.format_signed(s.mean, 2)
    if s.n > 1 and math.isfinite(s.std):
        text += f" ± {s.std:.2f}"
    return text


# --- templates and inlining ------------------------------------------------------------------

def default_templates_dir() -> Path:
    """The templates shipped in the wheel (vanishing.templates), or the repo's for a checkout."""
    try:
        base = importlib.resources.files("vanishing.templates").joinpath("base.html.j2")
        if base.is_file():
            return Path(str(base)).parent
    except (ModuleNotFoundError, TypeError, NotADirectoryError):
        pass
    return Path(__file__).resolve().parents[2] / "templates"


def make_environment(templates: Path | None = None) -> jinja2.Environment:
    """Autoescaping environment; a user's templates dir overrides file by file."""
    loaders: list[jinja2.BaseLoader] = []
    if templates is not None:
        if not Path(templates).is_dir():
            raise ResultsError(f"{templates}: no such templates directory")
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


def render_html(report: Report, templates: Path | None = None) -> str:
    env = make_environment(templates)
    try:
        template = env.get_template("base.html.j2")
        return template.render(model=report)
    except jinja2.TemplateError as e:
        where = f" ({e.filename}:{e.lineno})" if isinstance(e, jinja2.TemplateSyntaxError) else ""
        raise ResultsError(f"template error{where}: {e}") from None


def render_report(results_dir: Path, out_dir: Path, templates: Path | None = None) -> Path:
    """Write out_dir/index.html and out_dir/metrics.csv from a results directory.

    Raises ResultsError (naming the file) when the results cannot be read. Both
    files are replaced atomically and only after the whole page has rendered,
    so a failure leaves a previous report as it was.
    """
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    run = analysis.load_run(results_dir)
    metrics = results_dir / "metrics.csv"
    if not metrics.is_file():
        raise ResultsError(f"{metrics}: missing")
    with np.errstate(all="ignore"):
        report = build_report(run)
    page = render_html(report, templates)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "metrics.csv") as tmp:
        shutil.copyfile(metrics, tmp)
    index = out_dir / "index.html"
    write_text(index, page)
    return index
