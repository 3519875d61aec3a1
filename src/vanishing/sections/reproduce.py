"""Reproduce: the config as run, versions, platform, seeds, datasets, optimizers, the command
and the command that reruns it."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vanishing import fmt
from vanishing.reader import Run
from vanishing.roles import training_label, training_order
from vanishing.sections.summary import describe_study

EMPTY = "This results directory records nothing about how it was made."


@dataclass(frozen=True)
class KeyValue:
    key: str
    value: str


@dataclass(frozen=True)
class ReproducePart:
    facts: tuple[KeyValue, ...]
    versions: tuple[KeyValue, ...]
    platform: tuple[KeyValue, ...]
    command: str
    rerun: str
    config_toml: str


def rerun_command(manifest: Mapping[str, Any]) -> str:
    """The command that trains this run again: --set overrides repeat after the config."""
    preset = manifest.get("preset")
    overrides = "".join(f" --set {shlex.quote(str(s))}" for s in manifest.get("overrides") or [])
    if preset:
        return f"vanishing report --preset {preset}{overrides}"
    return f"vanishing report --config config.toml{overrides}   # the config below, saved"


def _pairs(d: Any) -> tuple[KeyValue, ...]:
    return tuple(KeyValue(str(k), str(v)) for k, v in d.items()) if isinstance(d, dict) else ()


def build(run: Run) -> ReproducePart:
    m = run.manifest
    diverged = sum(c.diverged for c in run.cells)
    datasets = "; ".join(
        f"{d.dataset_id}: {d.name}, {d.n_samples or '?'} samples × {d.n_features or '?'} features, "
        f"{fmt.plural(sum(c.dataset_id == d.dataset_id for c in run.cells), 'cell')}" for d in run.datasets)
    trainings = sorted({c.training for c in run.cells}, key=training_order)
    optimizers = "; ".join(
        f"{training_label(*t)}: {fmt.plural(sum(c.training == t for c in run.cells), 'cell')}"
        for t in trainings)
    facts = (
        KeyValue("created (UTC)", str(m.get("created", ""))),
        KeyValue("vanishing", str(m.get("vanishing_version", ""))),
        KeyValue("preset", str(m["preset"]) if m.get("preset") else "(a config file)"),
        KeyValue("cells", f"{len(run.cells)} read, {diverged} diverged, {len(run.missing)} missing"),
        KeyValue("seeds", ", ".join(map(str, sorted({c.seed for c in run.cells})))),
        KeyValue("datasets", datasets),
        KeyValue("optimizers", optimizers),
        KeyValue("primary study", describe_study(run)),
        KeyValue("training time", fmt.seconds(m.get("train_seconds"))),
    )
    return ReproducePart(facts=facts, versions=_pairs(m.get("versions")), platform=_pairs(m.get("platform")),
                         command=str(m.get("command", "")), rerun=rerun_command(m),
                         config_toml=str(m.get("config_toml", "")))
