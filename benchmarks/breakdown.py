"""Where a `vanishing train` run's seconds go (issue 13): the command's wall time, and the
workers' seconds by what they spent them on.

    python benchmarks/breakdown.py [--preset default] [--jobs 2] [--xla-cache DIR]

Runs `vanishing train --force` into a fresh directory with VANISHING_TIMINGS set (timing.py:
every process writes its spans), then adds the spans up. The workers' "groups (all of it)"
holds their other spans; what it holds beyond them is Python between the calls (building the
stacked model and optimizer, batch orders, slicing results). The evaluation's share is
estimated from one extra evaluation-only call per group (the spans say so).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
ALL_OF_IT = "train: groups (all of it)"
PER_GROUP_EVALUATION = "train: one evaluation (per group, measured at epoch 0)"


def run(preset: str, jobs: int, extra: list[str]) -> dict:
    """Seconds and spans of one whole `vanishing train --force` process."""
    with tempfile.TemporaryDirectory() as tmp:
        spans = Path(tmp) / "timings"
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "vanishing.cli", "train", "--preset", preset, "--results",
                        str(Path(tmp) / "results"), "--force", "--jobs", str(jobs), *extra],
                       check=True, env={**ENV, "VANISHING_TIMINGS": str(spans)},
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wall = time.perf_counter() - start
        processes = [json.loads(p.read_text()) for p in sorted(spans.glob("*.json"))]
    command = next(p for p in processes if p["role"] == "command")
    # --jobs 1: the command trained the groups itself, and its spans are the workers' too
    workers = [p for p in processes if p["role"] == "worker" and p["pid"] != command["pid"]] or [command]
    summed: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for p in workers:
        for name, seconds in p["seconds"].items():
            summed[name] += seconds
            counts[name] += p["counts"][name]
    return {"wall": wall, "command": command["seconds"], "workers": dict(summed), "counts": dict(counts),
            "workers_named": "the command itself" if workers == [command] else f"{len(workers)} processes"}


def evaluation_estimate(m: dict) -> float:
    """Evaluation over the whole run: each group's one measured evaluation times its epochs + 1
    (the default preset: 100 epochs for every group)."""
    groups = m["counts"].get(PER_GROUP_EVALUATION, 0)
    if not groups:
        return 0.0
    per_group = m["workers"][PER_GROUP_EVALUATION] / groups
    epoch_calls = m["counts"].get("train: epochs (steps and evaluation)", 0)
    return per_group * epoch_calls


def report(m: dict) -> list[str]:
    lines = [f"whole process: {m['wall']:.1f} s wall"]
    lines.append("  the command (wall seconds):")
    for name, seconds in sorted(m["command"].items(), key=lambda kv: -kv[1]):
        if name.startswith("command:"):
            lines.append(f"    {seconds:7.2f} s  {name}")
    accounted = sum(s for n, s in m["command"].items() if n.startswith("command:"))
    lines.append(f"    {m['wall'] - accounted:7.2f} s  the rest (manifest, exit; process creation)")
    w = m["workers"]
    lines.append(f"  the workers ({m['workers_named']}, seconds summed over them):")
    evaluation = evaluation_estimate(m)
    shown = {k: v for k, v in w.items() if k not in (ALL_OF_IT, PER_GROUP_EVALUATION)}
    steps = shown.pop("train: epochs (steps and evaluation)", 0.0) - evaluation
    shown["train: training steps (estimated)"] = steps
    shown["train: whole-dataset evaluation, every epoch (estimated)"] = (
        evaluation + w.get(PER_GROUP_EVALUATION, 0))
    inside = sum(v for k, v in w.items() if k.startswith("train:") and k != ALL_OF_IT)
    shown["Python between the calls (model, optimizer, batch orders)"] = w.get(ALL_OF_IT, 0.0) - inside
    for name, seconds in sorted(shown.items(), key=lambda kv: -kv[1]):
        lines.append(f"    {seconds:7.2f} s  {name}")
    return lines


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="default")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    p.add_argument("extra", nargs=argparse.REMAINDER, help="more arguments for `vanishing train` (after --)")
    args = p.parse_args()
    extra = [a for a in args.extra if a != "--"]
    print("\n".join(report(run(args.preset, args.jobs, extra))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
