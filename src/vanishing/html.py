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
import shlex
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
    ("saturation", "Saturation"),
    ("learning-speed", "How fast each layer learns"),
    ("glorot", "Standard vs. Glorot initialisation"),
    ("theory", "Theory beside measurement"),
    ("depth", "Depth"),
    ("optimizers", "Optimizers"),
    ("real-data", "Real data"),
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
class Part:
    """What one section (or one block of a section) shows: figures, generated sentences and a
    note naming the setting. No figures: the template says there is no data, and why."""

    figures: tuple[Figure, ...] = ()
    sentences: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class DatasetPart:
    """One real dataset in the real-data section."""

    name: str
    facts: str
    part: Part


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
    primary_note: str = ""
    task: str = "two concentric circles"  # what the primary study's networks learn, in words
    saturation: Part = Part()
    learning_speed: Part = Part()
    optimizer_steps: Part = Part()
    optimizers: Part = Part()
    theory: Part = Part()
    theory_available: bool = False
    real_data: tuple[DatasetPart, ...] = ()
    metrics_href: str = "metrics.csv"
    layer_legend: tuple[LayerHeader, ...] = field(default_factory=tuple)


# --- building it ---------------------------------------------------------------------------

def build_report(run: Run) -> Report:
    """Every number and figure of the page, computed from the run."""
    m = run.manifest
    # Every section before the study-specific ones shows the primary study only: never an
    # SGD cell or a breast_cancer cell averaged into the circles' numbers.
    primary = run.primary_cells()
    summaries = analysis.summarize(primary)
    grid = analysis.main_grid(m, summaries)
    curves = analysis.depth_curves(summaries)
    epochs = max((c.epochs for c in primary), default=None)
    diverged = [c for c in run.cells if c.diverged]
    data_name = next((str(d.get("name")) for d in m.get("datasets") or []
                      if isinstance(d, dict) and run.primary
                      and d.get("dataset_id") == run.primary.dataset_id), "circles")
    task = "the circles" if data_name == "circles" else f"the {data_name} task"
    findings = analysis.findings(grid, curves, sum(c.diverged for c in primary), run.missing,
                                 epochs, task)

    summary_figures: tuple[Figure, ...] = ()
    if grid is not None:
        summary_figures = tuple(figures.heatmap(grid, w)
                                for w in ("accuracy", "attenuation_init", "attenuation_end"))

    tutorial = analysis.tutorial_cells(primary)
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

    cmp = analysis.glorot_comparison(primary, grid.depth if grid else None)
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

    boundary_cells = analysis.boundary_cells(tutorial, primary)
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
    # --set overrides are part of what ran: the rerun repeats them after the config.
    overrides = "".join(f" --set {shlex.quote(str(s))}" for s in m.get("overrides") or [])
    rerun = (f"vanishing report --preset {preset}{overrides}" if preset
             else f"vanishing report --config config.toml{overrides}   # the config below, saved")
    datasets = "; ".join(
        f"{d.get('dataset_id')}: {d.get('name', '?')}, {d.get('n_samples', '?')} samples × "
        f"{d.get('n_features', '?')} features, {_count(run.cells, 'dataset_id', d.get('dataset_id'))}"
        for d in m.get("datasets") or [] if isinstance(d, dict))
    trainings = sorted({c.training for c in run.cells}, key=analysis.training_order)
    optimizers = "; ".join(
        f"{analysis.training_label(*t)}: {sum(c.training == t for c in run.cells)} cells"
        for t in trainings)
    facts = [
        KeyValue("created (UTC)", created),
        KeyValue("vanishing", str(m.get("vanishing_version", ""))),
        KeyValue("preset", str(preset) if preset else "(a config file)"),
        KeyValue("cells", f"{len(run.cells)} read, {len(diverged)} diverged, "
                          f"{len(run.missing)} missing"),
        KeyValue("seeds", ", ".join(map(str, n_seeds))),
        KeyValue("datasets", datasets),
        KeyValue("optimizers", optimizers),
        KeyValue("primary study", _describe_study(run)),
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
        primary_note=_primary_note(run, primary),
        task={"circles": "two concentric circles", "moons": "two interleaving half-moons"}.get(
            data_name, f"the {data_name} data"),
        **_why_parts(run, primary, tutorial),
    )


def _count(cells: Sequence[analysis.CellStats], attr: str, value: Any) -> str:
    n = sum(getattr(c, attr) == value for c in cells)
    return f"{n} cell{'s' if n != 1 else ''}"


def _dataset_name(run: Run, dataset_id: str) -> str:
    for d in run.manifest.get("datasets") or []:
        if isinstance(d, dict) and d.get("dataset_id") == dataset_id:
            n = d.get("n_samples")
            return f"{d.get('name', dataset_id)}" + (f" ({n} samples)" if n else "")
    return dataset_id or "the data"


def _describe_study(run: Run) -> str:
    p = run.primary
    if p is None:
        return ""
    return (f"{_dataset_name(run, p.dataset_id)} trained with "
            f"{analysis.training_label(p.optimizer, p.learning_rate)}")


def _primary_note(run: Run, primary: Sequence[analysis.CellStats]) -> str:
    """Said only when the run mixes studies: which cells the first sections use."""
    if run.primary is None or len(primary) == len(run.cells):
        return ""
    others = len(run.cells) - len(primary)
    return (f"The summary, tutorial, saturation, Glorot, depth, matrix and decision-region "
            f"sections use the {len(primary)} networks of the primary study, "
            f"{_describe_study(run)}. The other {others} (other optimizers, other datasets) "
            "appear in the learning-speed, optimizer, theory and real-data sections.")


def _why_parts(run: Run, primary: Sequence[analysis.CellStats],
               tutorial: dict[str, list[analysis.CellStats]]) -> dict[str, Any]:
    """The issue-4 sections: saturation, learning speed, optimizers, theory, real data."""
    out: dict[str, Any] = {}

    comparisons = analysis.saturation_comparisons(primary)
    if comparisons:
        hists = tuple(f for f in (figures.activation_histograms(c) for c in comparisons)
                      if f is not None)
        inits = tuple(dict.fromkeys(f"{i} ({role})" for c in comparisons
                                    for i, role in c.initializers))
        out["saturation"] = Part(
            figures=(figures.saturation_figure(comparisons), *hists),
            sentences=analysis.saturation_facts(comparisons),
            note=(f"Networks: {', '.join(c.activation for c in comparisons)}, "
                  f"{comparisons[0].depth} hidden layers, initializers {', '.join(inits)}. "
                  "“Standard” is the same initializer as in the Glorot section."))

    speed = analysis.learning_speed_comparison(primary)
    if speed is not None:
        out["learning_speed"] = Part(
            figures=(figures.learning_speed_figure(speed),),
            note=(f"Networks: {speed.activation}, {speed.depth} hidden layers (the deepest run), "
                  f"{', '.join(i for i, _ in speed.initializers)}."))

    study = analysis.optimizer_study(run)
    if study is not None:
        act, init = analysis.contrast_focus(study)
        sentence = analysis.optimizer_sentence(act, init,
                                               analysis.step_contrasts(study, act, init))
        out["optimizer_steps"] = Part(
            figures=(figures.optimizer_steps_figure(study, act, init),),
            sentences=(sentence,) if sentence else ())
        labels = [g.name for g in study.grids]
        div = [c for c in study.cells if c.diverged]
        out["optimizers"] = Part(
            figures=(figures.heatmap_panels(
                study.grids, ("accuracy", "attenuation_end"), labels,
                caption=(f"Each optimizer side by side ({study.depth} hidden layers, "
                         f"{_dataset_name(run, study.dataset_id)}; mean over seeds). Top: final "
                         "accuracy (yellow learned, purple chance). Bottom: attenuation after "
                         "training, log10 of the first over the last hidden layer's mean "
                         "|gradient| (red vanishing, blue exploding). At initialisation every "
                         "optimizer starts from the same weights, so only training can make them "
                         "differ. * marks pairs where some seeds diverged: they are left out of "
                         "the mean; “n/m div.” where all did."),
                alt=(f"Heatmaps, one column per optimizer ({', '.join(labels)}): final "
                     "accuracy and attenuation after training for each activation × "
                     "initializer.")),),
            sentences=_optimizer_sentences(study),
            note=(f"{len(div)} of {len(study.cells)} networks diverged: "
                  + ", ".join(f"{c.cell_id} ({analysis.training_label(*c.training)}, "
                              f"epoch {c.diverged_epoch})" for c in div) + "." if div else ""))

    points = analysis.theory_points(run.cells)
    out["theory_available"] = bool(points)
    if points:
        figs = [figures.theory_scatter(points)]
        if any(c.theory_glorot_grad_rms is not None for cells in tutorial.values()
               for c in cells):
            figs.append(figures.theory_layers_figure(tutorial))
        out["theory"] = Part(figures=tuple(figs),
                             sentences=analysis.theory_statements(points))

    blocks = []
    for rd in analysis.real_data_studies(run):
        figs = [figures.heatmap_panels(
            rd.grids, ("accuracy", "attenuation_init", "attenuation_end"),
            [f"{g.depth} hidden layers" for g in rd.grids],
            caption=(f"{rd.name}: each activation × initializer at each depth run (columns), "
                     "mean over seeds. Rows: final accuracy, attenuation before training and "
                     "after it (log10 of the first over the last hidden layer's mean |gradient|; "
                     "red vanishing, blue exploding)."
                     + (f" Always answering the larger class scores "
                        f"{max(rd.positive_fraction, 1 - rd.positive_fraction):.2f}."
                        if rd.positive_fraction is not None else "")),
            alt=(f"Heatmaps for {rd.name}: final accuracy and gradient attenuation per "
                 "activation and initializer, one column per depth."))]
        if rd.curves:
            figs.append(figures.depth_figure(rd.curves))
        facts = ", ".join(x for x in (
            f"{rd.n_samples} samples" if rd.n_samples else "",
            f"{rd.n_features} features" if rd.n_features else "",
            f"{rd.positive_fraction:.0%} positive" if rd.positive_fraction is not None else "",
            f"trained with {analysis.training_label(*rd.training)}",
            f"{len(rd.cells)} networks") if x)
        blocks.append(DatasetPart(rd.name, facts, Part(figures=tuple(figs))))
    out["real_data"] = tuple(blocks)
    return out


def _optimizer_sentences(study: analysis.OptimizerStudy) -> tuple[str, ...]:
    """Per optimizer: how many pairs learned, and the median attenuation after training."""
    out = []
    for grid in study.grids:
        present = [g for g in grid.present() if g.final_accuracy.n]
        learned = sum(g.final_accuracy.mean >= analysis.LEARNED_ACCURACY for g in present)
        ends = [g.attenuation_end.mean for g in present if math.isfinite(g.attenuation_end.mean)]
        med = analysis.format_signed(float(np.median(ends)), 1) if ends else "–"
        out.append(f"{grid.name}: {learned} of {len(grid.present())} activation × initializer "
                   f"pairs learned (mean accuracy ≥ {analysis.LEARNED_ACCURACY:g}); median "
                   f"attenuation after training {med}.")
    return tuple(out)


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
