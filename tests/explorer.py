"""Drive the page's panel in Chromium and hold what it shows against metrics.csv: shared by the
fast browser test (the smoke run) and the slow one (networks that diverged, died and learned)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np


def panel(page) -> dict:
    """What the open panel shows: its title, the seeds table and each seed's layer table."""
    page.wait_for_selector("#explore:not([hidden]) #explore-title")
    page.eval_on_selector_all("#explore details", "ds => ds.forEach(d => d.open = true)")
    tables = page.eval_on_selector_all(
        "#explore table", "ts => ts.map(t => [...t.rows].map(r => [...r.cells].map(c => c.textContent)))")
    return {"title": page.text_content("#explore-title"), "seeds": tables[0], "layers": tables[1:],
            "charts": page.eval_on_selector_all("#explore .explore-chart svg path", "ps => ps.length")}


def read_metrics(path: Path) -> dict[tuple[str, int, int], dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return {(r["cell_id"], int(r["epoch"]), int(r["layer"])): r for r in csv.DictReader(f)}


def number(text: str) -> float:
    return math.nan if text == "" else float(text)


def agrees(shown: str, value: float) -> bool:
    """The value as the page shows it, to the precision shown: within half a unit of the last
    digit ('–' for no number)."""
    if shown == "–":
        return math.isnan(value)
    if shown in ("−∞", "∞", "+∞"):
        return math.isinf(value) and (value < 0) == shown.startswith("−")
    text = shown.replace("−", "-").lstrip("+")
    mantissa, _, exponent = text.partition("e")
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    unit = 10.0 ** (int(exponent or 0) - decimals)
    return math.isfinite(value) and abs(float(text) - value) <= unit / 2 * (1 + 1e-9)


def check_panel(shown: dict, entries: list[dict], metrics: dict, recorded: bool = False) -> None:
    """Every number the panel printed for these networks (manifest entries, one per seed, or per
    run when ``recorded``) is metrics.csv's, to the digits printed; attenuation (the first weight
    matrix over matrix L-1) recomputed from its mean |gradient| columns."""
    rows = {r[0]: r for r in shown["seeds"][1:]}
    if not recorded:
        entries = sorted(entries, key=lambda e: e["seed"])
    names = [e["cell_id"] if recorded else str(e["seed"]) for e in entries]
    assert [r[0] for r in shown["seeds"][1:-1]] == names
    assert len(shown["layers"]) == len(names)  # a layer table per seed
    ends: dict[str, list[float]] = {"loss": [], "accuracy": [], "at_init": [], "at_end": []}
    for name, entry, layers in zip(names, entries, shown["layers"]):
        cell = entry["cell_id"]
        last = max(e for (c, e, _) in metrics if c == cell)
        n = max(m for (c, _, m) in metrics if c == cell)  # L, the weight matrices
        row = rows[name]
        status = "ok" if entry["status"] == "ok" else f"diverged at epoch {entry['diverged_epoch']}"
        assert row[1] == status
        first = metrics[(cell, last, 1)]
        assert agrees(row[2], number(first["loss"])), (row, first["loss"])
        assert agrees(row[3], number(first["accuracy"])), (row, first["accuracy"])
        attenuation = []
        for shown_att, epoch in ((row[4], 0), (row[5], last)):
            g1 = number(metrics[(cell, epoch, 1)]["grad_abs_mean"])
            g_last = number(metrics[(cell, epoch, n - 1)]["grad_abs_mean"])
            with np.errstate(all="ignore"):
                attenuation.append(float(np.log10(np.float64(g1) / np.float64(g_last))))
            assert agrees(shown_att, attenuation[-1]), (shown_att, attenuation[-1])
        ends["at_init"].append(attenuation[0])
        if entry["status"] == "ok":  # the end numbers of the seeds that count
            ends["loss"].append(number(first["loss"]))
            ends["accuracy"].append(number(first["accuracy"]))
            ends["at_end"].append(attenuation[1])
        assert len(layers) - 1 == n
        for layer, cells in enumerate(layers[1:], start=1):
            at0, at_end = metrics[(cell, 0, layer)], metrics[(cell, last, layer)]
            for text, value in zip(cells[1:], (at0["grad_abs_mean"], at_end["grad_abs_mean"],
                                               at_end["update_ratio"], at_end["act_saturated_frac"],
                                               at_end["act_dead_frac"])):
                assert agrees(text, number(value)), (cell, layer, cells, value)
    mean = rows["mean ± std"]
    for text, values in zip(mean[2:], (ends["loss"], ends["accuracy"], ends["at_init"], ends["at_end"])):
        assert agrees_mean_std(text, values), (text, values)


def agrees_mean_std(shown: str, values: list[float]) -> bool:
    """'0.512 ± 0.004' (or one seed's value alone, or '–' for none) as numpy has it."""
    if not values or not math.isfinite(float(np.mean(values))):
        return shown == "–"
    mean, _, std = shown.partition(" ± ")
    if len(values) == 1:
        return not std and agrees(mean, values[0])
    return agrees(mean, float(np.mean(values))) and agrees(std, float(np.std(values)))
