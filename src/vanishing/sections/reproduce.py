"""Reproduce: the config as run, versions, platform, seeds, datasets, optimizers, the command
and the command that reruns it."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from vanishing import fmt
from vanishing.reader import FactorySource, Provenance, Run
from vanishing.recorded import KERAS
from vanishing.roles import training_label, training_order

EMPTY = "This results directory records nothing about how it was made."


@dataclass(frozen=True)
class KeyValue:
    key: str
    value: str


MATRIX_LEAD = ("Everything needed to rerun this report and get the same numbers: each cell's seed fixes "
               "its initial weights and its batch order.")
FACTORY_LEAD = ("Everything needed to rerun this matrix: the config as run, and the source of the model "
                "factory that built every network. The factory's sha256 is part of each cell's settings, "
                "so an edited factory trains new cells instead of reusing these.")
SHA_SHOWN = 12  # hex digits of the factory's sha256 shown (the whole of it is in the manifest)


@dataclass(frozen=True)
class FactoryPart:
    """The model factory: what built the networks, and its source as copied beside the results."""

    ref: str
    sha256: str  # the first SHA_SHOWN hex digits
    sentence: str
    source: str  # "" when it cannot be shown
    problem: str  # why not, or why the source shown is not the one that trained


@dataclass(frozen=True)
class ReproducePart:
    lead: str
    facts: tuple[KeyValue, ...]
    versions: tuple[KeyValue, ...]
    platform: tuple[KeyValue, ...]
    command: str
    rerun: str
    config_toml: str
    factory: FactoryPart | None = None


def rerun_command(p: Provenance) -> str:
    """The command that trains this run again: --set overrides repeat after the config; a
    directory the Keras recorder wrote is rerun by the script that recorded it."""
    overrides = "".join(f" --set {shlex.quote(s)}" for s in p.overrides)
    if p.preset:
        return f"vanishing report --preset {p.preset}{overrides}"
    if p.config_toml:
        return f"vanishing report --config config.toml{overrides}   # the config below, saved"
    return p.command or "(how this directory was made is not recorded)"


def factory_part(f: FactorySource | None) -> FactoryPart | None:
    if f is None:
        return None
    told = [f"Every network was built by the model factory {f.ref}"]
    if f.sha256:
        told.append(f"its source file's sha256 began {f.sha256[:SHA_SHOWN]} when it trained")
    if f.source:  # else the problem below says what became of the copy
        told.append(f"the results directory keeps a copy as {f.file}")
    sentence = "; ".join(told) + "."
    return FactoryPart(f.ref, f.sha256[:SHA_SHOWN], sentence, f.source,
                       f"Its source is not shown: {f.problem}." if not f.source and f.problem
                       else f"Careful: {f.problem}." if f.problem else "")


def _pairs(pairs: tuple[tuple[str, str], ...]) -> tuple[KeyValue, ...]:
    return tuple(KeyValue(k, v) for k, v in pairs)


def build(run: Run) -> ReproducePart:
    p = run.provenance
    diverged = sum(c.diverged for c in run.cells)
    datasets = "; ".join(
        f"{d.dataset_id}: {d.title}, {d.n_samples or '?'} samples × {d.n_features or '?'} features, "
        f"{fmt.plural(sum(c.dataset_id == d.dataset_id for c in run.cells), 'cell')}" for d in run.datasets)
    trainings = sorted({c.training for c in run.cells}, key=training_order)
    optimizers = "; ".join(
        f"{training_label(*t)}: {fmt.plural(sum(c.training == t for c in run.cells), 'cell')}"
        for t in trainings)
    matrix = bool(run.cells or p.config_toml or p.preset)
    facts = [KeyValue("created (UTC)", p.created), KeyValue("vanishing", p.vanishing_version)]
    if matrix:
        facts += [
            KeyValue("preset", p.preset or "(a config file)"),
            KeyValue("cells", f"{len(run.cells)} read, {diverged} diverged, {len(run.missing)} missing"),
            KeyValue("seeds", ", ".join(map(str, sorted({c.seed for c in run.cells})))),
            KeyValue("datasets", datasets),
            KeyValue("optimizers", optimizers),
            KeyValue("primary study", run.describe_primary()),
            KeyValue("training time", fmt.seconds(p.train_seconds)),
        ]
    if p.factory is not None:
        facts.insert(2, KeyValue("model factory", p.factory.ref))
    recorded = [r.cell_id for r in run.recorded if r.kind == KERAS]  # a factory's cells are cells
    if recorded:
        facts.append(KeyValue("recorded runs", ", ".join(recorded)))
    lead = (FACTORY_LEAD if matrix and p.factory is not None else MATRIX_LEAD if matrix else
            "How these runs were recorded: the command, the versions and the platform. A recorded run "
            "repeats by running its script again, with the same numbers when the script seeds "
            "everything (keras.utils.set_random_seed) and TensorFlow's ops are deterministic.")
    return ReproducePart(lead=lead, facts=tuple(facts), versions=_pairs(p.versions),
                         platform=_pairs(p.platform), command=p.command, rerun=rerun_command(p),
                         config_toml=p.config_toml, factory=factory_part(p.factory))
