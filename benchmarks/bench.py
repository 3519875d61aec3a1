"""`nox -s bench`: the speed and size budgets, measured side by side in one run.

Budgets (issues 2 and 13): the engine trains the whole default matrix, into an empty results
directory, at least 600x the tutorial's way with no compilation cache, and at least 1,000x with
the cache an earlier run left (xla_cache.py: what reruns, --force, new seeds and CI with a
cache see), in epochs of a depth-4 model per second (depth d counts (d+1)/5), counting the
engine's whole process (imports and compilation included). The tutorial's way is credited with
its training loop alone (its imports not counted), which only makes the ratio harder to meet.
Runs alternate (tutorial, engine without cache, engine with it, ...) so that a noisy neighbour
hurts all alike; medians are reported. Then where the seconds go (benchmarks/breakdown.py),
without and with the cache; the render and its page; and warm `nox -s report -r` (the results on
disk, the report session's virtualenv reused: at most 20 s), when nox is on the PATH.

Exit status 1 when a budget is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def run_tutorial(cells: int, epochs: int) -> dict[str, float]:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, str(HERE / "tutorial_way.py"), str(cells), str(epochs)],
                         check=True, capture_output=True, text=True, env=ENV).stdout
    process = time.perf_counter() - start
    result = json.loads(out.strip().splitlines()[-1])
    return {"rate_loop": result["model_epochs"] / result["loop_seconds"],
            "rate_process": result["model_epochs"] / process}


def run_engine(results_dir: Path, preset: str, jobs: int, force: bool = True,
               xla_cache: str = "none") -> float:
    """Whole-process seconds of `vanishing train --force` on a preset (without --force: only
    the cells not already in results_dir train), with the compilation cache in ``xla_cache``
    ("none": compile every group)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "vanishing.cli", "train", "--preset", preset,
                    "--results", str(results_dir), *(["--force"] if force else []), "--jobs", str(jobs),
                    "--xla-cache", xla_cache],
                   check=True, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3, help="runs of each side (default 3)")
    p.add_argument("--preset", default="default")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    p.add_argument("--tutorial-cells", type=int, default=3)
    p.add_argument("--tutorial-epochs", type=int, default=3)
    p.add_argument("--no-publish", action="store_true",
                   help="skip the published directory's budget (it trains `full` on top of the runs)")
    args = p.parse_args()

    from vanishing import config, runner

    experiment = config.load(args.preset)
    model_epochs = runner.plan(experiment, Path(tempfile.mkdtemp()), force=True).model_epochs
    tutorial: list[dict[str, float]] = []
    cold: list[float] = []
    warm: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        results_dir, cache = Path(tmp) / "results", Path(tmp) / "xla-cache"
        run_engine(Path(tmp) / "filling", args.preset, args.jobs, xla_cache=str(cache))  # an earlier run
        for i in range(args.repeat):
            tutorial.append(run_tutorial(args.tutorial_cells, args.tutorial_epochs))
            cold.append(run_engine(Path(tmp) / f"cold{i}", args.preset, args.jobs))
            warm.append(run_engine(results_dir, args.preset, args.jobs, xla_cache=str(cache)))
            print(f"run {i + 1}/{args.repeat}: tutorial {tutorial[-1]['rate_loop']:.2f} model-epochs/s "
                  f"(loop), engine {cold[-1]:.1f} s without a cache, {warm[-1]:.1f} s with it", flush=True)
        print_breakdowns(args.preset, args.jobs, cache)
        report = measure_report(results_dir, args.repeat) + measure_warm_report(results_dir, args.repeat)
        if not args.no_publish:
            report += measure_publish(results_dir, args.jobs)

    t_loop = statistics.median(r["rate_loop"] for r in tutorial)
    t_proc = statistics.median(r["rate_process"] for r in tutorial)
    print()
    print(f"preset {args.preset!r}: {len(experiment.cells())} cells, {model_epochs:,.0f} model-epochs "
          f"(depth-4 equivalents), jobs={args.jobs}, cpus={os.cpu_count()}, median of {args.repeat}")
    print(f"  tutorial's way  {t_loop:8.2f} model-epochs/s (training loop only; "
          f"{t_proc:.2f}/s counting its process)")
    ratios = {}
    for name, runs in (("no cache", cold), ("cache", warm)):
        seconds = statistics.median(runs)
        ratios[name] = model_epochs / seconds / t_loop
        print(f"  engine, {name:8s} {model_epochs / seconds:8,.0f} model-epochs/s (whole process: "
              f"{seconds:.1f} s) = {ratios[name]:,.0f}x")
    budgets = [("engine >= 600x the tutorial's way, no cache", ratios["no cache"] >= 600,
                f"{ratios['no cache']:,.0f}x"),
               ("engine >= 1,000x the tutorial's way, with a cache", ratios["cache"] >= 1000,
                f"{ratios['cache']:,.0f}x")]
    if args.preset == "default":
        budgets.append(("default matrix trains in < 120 s, no cache", max(cold) < 120, f"{max(cold):.1f} s"))
    budgets += report
    print()
    for name, ok, value in budgets:
        print(f"  [{'ok' if ok else 'MISSED'}] {name}: {value}")
    return 0 if all(ok for _, ok, _ in budgets) else 1


def print_breakdowns(preset: str, jobs: int, cache: Path) -> None:
    """Where a run's seconds go, without the cache and with it (benchmarks/breakdown.py)."""
    from breakdown import report, run

    # Timed, a run traces one more function per group, so its programs have other names: the
    # cache a timed run fills is the one a timed run finds.
    timed_cache = ["--xla-cache", str(cache.with_name("timed-xla-cache"))]
    run(preset, jobs, timed_cache)
    for name, extra in (("no cache", ["--xla-cache", "none"]), ("the cache", timed_cache)):
        print(f"\nwhere the seconds go, {name}:")
        print("\n".join(report(run(preset, jobs, extra))), flush=True)


def measure_report(results_dir: Path, renders: int) -> list[tuple[str, bool, str]]:
    """The report's budgets (issue 3), when the renderer is there."""
    try:
        from bench_report import measure, print_breakdown  # benchmarks/bench_report.py
    except ImportError:
        return []
    m = measure(results_dir, renders=renders)
    print()
    print_breakdown(m["breakdown"])
    print(f"\nthe page: {m['page_bytes'] / 1e6:.2f} MB, rendered in {m['render_seconds']:.1f} s (median of "
          f"{' / '.join(str(s) for s in m['render_runs'])} s), open in "
          f"{m['open_seconds']:.2f} s; a panel draws in {m['panel_ms_typical']:.0f} ms (median of "
          f"{m['marks']} marks' spread), the biggest ({m['panel_deepest']}) in {m['panel_ms']:.0f} ms",
          flush=True)
    return [
        ("page <= 8 MB", m["page_bytes"] <= 8e6, f"{m['page_bytes'] / 1e6:.2f} MB"),
        ("render <= 5 s on 2 cores", m["render_seconds"] <= 5,
         f"{m['render_seconds']:.1f} s (median of {len(m['render_runs'])})"),
        ("opens in Chromium < 2 s", m["open_seconds"] < 2, f"{m['open_seconds']:.2f} s"),
        ("the biggest panel draws < 100 ms", m["panel_ms"] < 100, f"{m['panel_ms']:.0f} ms"),
    ]


def measure_warm_report(results_dir: Path, runs: int) -> list[tuple[str, bool, str]]:
    """Warm `nox -s report -r` (issue 13) on the runs' results: nothing to train, so the session
    installs this checkout, finds every cell on disk and renders. The first run is untimed (it
    creates the session's virtualenv, TensorFlow and all, when there is none yet)."""
    nox = shutil.which("nox")
    if nox is None:
        print("\nnox is not on the PATH: warm `nox -s report -r` not measured", flush=True)
        return []
    with tempfile.TemporaryDirectory() as out:
        command = [nox, "-s", "report", "-r", "--", "--results", str(results_dir), "--out", out]
        seconds = []
        for _ in range(runs + 1):
            start = time.perf_counter()
            subprocess.run(command, cwd=HERE.parent, env=ENV, check=True, capture_output=True)
            seconds.append(time.perf_counter() - start)
    median = statistics.median(seconds[1:])
    print(f"\nwarm `nox -s report -r`: {' / '.join(f'{s:.1f}' for s in seconds[1:])} s "
          f"(first, untimed: {seconds[0]:.1f} s)", flush=True)
    return [("warm `nox -s report -r` <= 20 s", median <= 20, f"{median:.1f} s (median of {runs})")]


def measure_publish(results_dir: Path, jobs: int) -> list[tuple[str, bool, str]]:
    """`full`'s published directory (issue 11), what the workflow puts on GitHub Pages. `full` is
    trained into the directory the runs above left: the cells it shares with them (all of
    `default`'s) are on disk already, so only the optimizer and real-data cells train."""
    from bench_publish import BUDGET_BYTES, measure  # benchmarks/bench_publish.py
    from bench_report import in_chromium

    seconds = run_engine(results_dir, "full", jobs, force=False)
    out = Path(tempfile.mkdtemp(prefix="vanishing-publish-"))
    m = measure(results_dir, out)
    seen = in_chromium(out / "index.html")
    print(f"\npreset 'full' on top ({seconds:.0f} s to train the rest): metrics.csv "
          f"{m['metrics_csv_bytes'] / 1e6:.1f} MB, gzip -6 {m['gzip6_bytes'] / 1e6:.1f} MB in "
          f"{m['gzip6_seconds']:.1f} s, gzip -9 {m['gzip9_bytes'] / 1e6:.1f} MB in "
          f"{m['gzip9_seconds']:.1f} s; "
          f"published directory {m['published_bytes'] / 1e6:.1f} MB ({m['files']} files); its page "
          f"{m['page_bytes'] / 1e6:.2f} MB, open in {seen['open_seconds']:.2f} s, its biggest panel "
          f"{seen['panel_ms']:.0f} ms", flush=True)
    return [(f"full's published directory < {BUDGET_BYTES / 1e6:.0f} MB", m["published_bytes"] < BUDGET_BYTES,
             f"{m['published_bytes'] / 1e6:.1f} MB"),
            ("full's page <= 12 MB", m["page_bytes"] <= 12e6, f"{m['page_bytes'] / 1e6:.2f} MB"),
            ("full's page opens < 2 s", seen["open_seconds"] < 2, f"{seen['open_seconds']:.2f} s"),
            ("full's biggest panel draws < 100 ms", seen["panel_ms"] < 100, f"{seen['panel_ms']:.0f} ms")]


if __name__ == "__main__":
    sys.exit(main())
