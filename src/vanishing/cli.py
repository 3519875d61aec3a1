"""Command-line front (DESIGN.md section 2): train, render, report, merge, presets.

Exit codes: 0 success, 2 bad input (one message on stderr naming the file, key,
value and what is allowed), 1 any other failure.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import tempfile
import threading
from pathlib import Path

from vanishing import config, results, timing, xla_cache


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vanishing", description=(
        "Make the vanishing-gradient problem visible: train a matrix of small MLPs, "
        "record every layer, publish one self-contained HTML report."))
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def experiment_args(s: argparse.ArgumentParser) -> None:
        src = s.add_mutually_exclusive_group()
        src.add_argument("--preset", metavar="NAME", help="a shipped experiment (default: default)")
        src.add_argument("--config", type=Path, metavar="FILE", help="a TOML config file")
        s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="sets",
                       help="override a config key, e.g. train.epochs=5 (repeatable)")
        s.add_argument("--results", type=Path, default=Path("build/results"), metavar="DIR",
                       help="results directory (default: build/results)")
        s.add_argument("--force", action="store_true", help="retrain cells already on disk")
        s.add_argument("--jobs", type=int, default=os.cpu_count() or 1, metavar="N",
                       help="groups trained at once, each in its own process (default: CPU count)")
        s.add_argument("--dry-run", action="store_true",
                       help="print the cells, groups and an estimate of time and memory; "
                       "train and write nothing")
        s.add_argument("--wait", action="store_true",
                       help="if another train holds the results directory, wait for it (default: exit 2)")
        s.add_argument("--xla-cache", default=str(xla_cache.DEFAULT), metavar="DIR",
                       help="keep compiled programs here, so reruns skip compiling (default: "
                       f"{xla_cache.DEFAULT}; '{xla_cache.OFF}': compile every time)")
        s.add_argument("--cluster", metavar="ADDRESS",
                       help="train the groups on a Dask cluster: a scheduler's address (tcp://host:8786), "
                       "or 'local' for one of --jobs workers on this machine (needs vanishing[dask])")

    s = sub.add_parser("train", help="train the cells not already in the results directory")
    experiment_args(s)
    s.add_argument("--shard", metavar="K/N", help="train only the K-th of N parts of the matrix "
                   "(1/N .. N/N), in its own results directory; `vanishing merge` gathers them")

    s = sub.add_parser("render", help="render the results directory as one HTML page")
    s.add_argument("--results", type=Path, default=Path("build/results"), metavar="DIR")
    s.add_argument("--out", type=Path, default=Path("report"), metavar="DIR")
    s.add_argument("--templates", type=Path, metavar="DIR", help="render with your own templates")
    s.add_argument("--publish", action="store_true",
                   help="the directory as a web site gets it: the page and the gzipped metrics it links "
                        "to, no metrics.csv or metrics.csv.gz")

    s = sub.add_parser("report", help="train what is missing, then render")
    experiment_args(s)
    s.add_argument("--out", type=Path, default=Path("report"), metavar="DIR")
    s.add_argument("--templates", type=Path, metavar="DIR", help="render with your own templates")
    s.add_argument("--publish", action="store_true",
                   help="the directory as a web site gets it: the page and the gzipped metrics it links "
                        "to, no metrics.csv or metrics.csv.gz")
    # Only to refuse it with a message that says what to do instead (see _report).
    s.add_argument("--shard", help=argparse.SUPPRESS)

    s = sub.add_parser("merge", help="gather the cells of several results directories (shards) into one")
    s.add_argument("out", type=Path, metavar="OUT", help="the merged results directory (new, or one "
                   "whose cells agree with the DIRs')")
    s.add_argument("dirs", type=Path, nargs="+", metavar="DIR", help="results directories to gather")

    sub.add_parser("presets", help="list the shipped experiments")
    return p


def _writable_dir(option: str, path: Path) -> None:
    """A directory that exists or can be made, and can be written: refused before any work."""
    if path.exists() and not path.is_dir():
        raise config.ConfigError(f"{option}: {path} exists and is not a directory")
    ancestor = path
    while not os.path.lexists(ancestor):  # "." and "/" exist: the loop ends
        ancestor = ancestor.parent
    if not ancestor.is_dir():  # a regular file, or a broken symbolic link
        raise config.ConfigError(f"{option}: {path} cannot be made: {ancestor} is not a directory")
    try:
        # A real write, created and removed at once: as root, os.access says yes even under /proc.
        tempfile.TemporaryDirectory(prefix=".vanishing-check-", dir=ancestor).cleanup()
    except OSError as e:
        raise config.ConfigError(f"{option}: {path} cannot be written ({ancestor}: "
                                 f"{e.strerror or e})") from None


def _check_paths(args: argparse.Namespace) -> None:
    """--results, --out and --templates, checked before a config is read or anything trains (in a
    dry run too: it says what the real run would refuse)."""
    if args.command in ("train", "report"):
        _writable_dir("--results", args.results)
        if args.xla_cache != xla_cache.OFF:
            _writable_dir("--xla-cache", Path(args.xla_cache))
    if args.command in ("render", "report"):
        _writable_dir("--out", args.out)
        if args.out.resolve() == args.results.resolve():
            raise config.ConfigError(f"--out and --results are the same directory ({args.out}): the page's "
                                     "metrics.csv would replace the results' own; choose another --out")
        if args.templates is not None and not args.templates.is_dir():
            raise config.ConfigError(f"--templates: {args.templates} is not a directory of templates")


def _fitting_jobs(args: argparse.Namespace, experiment: config.Experiment, shard=None) -> int:
    """The workers to train with: --jobs, or fewer when only fewer fit in memory; --dry-run prints
    the estimate. A run that does not fit even one group at a time is refused (exit 2)."""
    from vanishing import estimate, runner

    available = estimate.available_memory()
    estimate.check_size(experiment, available)
    est = estimate.fit(runner.plan(experiment, args.results, args.force, shard=shard), args.jobs, available)
    if args.dry_run:
        print("\n".join(estimate.describe(est, args.results)))
    if args.cluster not in (None, "local"):
        return args.jobs  # the groups train on the cluster's machines, not in this one's memory
    if not est.fits:
        raise config.ConfigError(estimate.refusal(est, experiment))
    if est.jobs < args.jobs and not args.dry_run:
        print(f"vanishing: training with --jobs {est.jobs}: more workers would need more memory than "
              f"the {estimate.size(est.available or 0)} available (a rough estimate; see --dry-run)",
              file=sys.stderr)
    return est.jobs


def _train(args: argparse.Namespace, argv: list[str]) -> None:
    from vanishing import shards

    # First: TensorFlow reads the flag when it starts, in this process and in the workers.
    if args.xla_cache == xla_cache.OFF:
        xla_cache.disable()
    elif not args.dry_run:
        xla_cache.enable(Path(args.xla_cache))

    shard = None if args.shard is None else shards.parse(args.shard)
    if args.cluster is not None:
        from vanishing import cluster

        cluster.check_address(args.cluster)
    source, text = config.read_source(args.preset, args.config)
    experiment = config.load_text(source, text, args.sets)
    if args.jobs < 1:
        raise config.ConfigError(f"--jobs: value {args.jobs} is not allowed; expected an integer >= 1")
    jobs = _fitting_jobs(args, experiment, shard)
    if args.dry_run:
        return
    from vanishing import runner

    manifest = runner.train(
        experiment, args.results, force=args.force, jobs=jobs,
        command=shlex.join(["vanishing", *argv]),
        preset=None if args.config else (args.preset or "default"),
        config_toml=text,
        overrides=tuple(args.sets),
        shard=shard,
        wait=args.wait,
        cluster=args.cluster,
    )
    diverged = sum(c["status"] == "diverged" for c in manifest["cells"])
    print(f"{args.results}: {len(manifest['cells'])} cells ({manifest['cells_trained']} trained, "
          f"{manifest['cells_reused']} reused, {diverged} diverged) in "
          f"{manifest['train_seconds']:.1f} s" + ("" if shard is None else f"; shard {shard} of "
                                                 f"{len(experiment.cells())} cells"), file=sys.stderr)


def _report(args: argparse.Namespace, argv: list[str]) -> None:
    if args.shard is not None:
        raise config.ConfigError(
            f"--shard: value {args.shard!r} is not allowed with `vanishing report`, which renders one whole "
            "results directory; run `vanishing train --shard K/N --results DIR` for each shard, "
            "`vanishing merge OUT DIR...`, then `vanishing render --results OUT`")
    _train(args, argv)
    if not args.dry_run:
        _render(args)


def _merge(args: argparse.Namespace, argv: list[str]) -> None:
    from vanishing import fmt, merge

    done = merge.merge(args.out, args.dirs, command=shlex.join(["vanishing", *argv]))
    missing = (f"; {done.config_cells - done.cells} of the config's {done.config_cells} cells are in none "
               "of them" if done.cells < done.config_cells else "")
    recorded = f" and {fmt.plural(done.recorded, 'recorded run')}" if done.recorded else ""
    print(f"{args.out}: {fmt.plural(done.cells, 'cell')}{recorded} from "
          f"{fmt.plural(len(args.dirs), 'directory', 'directories')} ({done.copied} copied){missing}",
          file=sys.stderr)


def _render(args: argparse.Namespace) -> None:
    from vanishing import html, lock

    holder = lock.running(args.results)
    if holder is not None:
        print(f"vanishing: note: a `vanishing train` is writing to {args.results} ({holder.describe()}); "
              "this page shows the results of its last completed run", file=sys.stderr)
    page = html.render_report(args.results, args.out, args.templates, publish=args.publish)
    print(f"wrote {page}", file=sys.stderr)


def _presets() -> None:
    for name in config.preset_names():
        raw = config.parse_toml(f"preset {name!r}", config.preset_text(name))
        print(f"{name:<10} {raw.get('description', '')}")


class Terminated(BaseException):
    """SIGTERM or SIGHUP, raised where the main process is, so that every `finally` runs:
    the workers are ended, half-written files removed, the lock released."""


def _terminated(signum: int, _frame) -> None:
    raise Terminated(signum)


def main(argv: list[str] | None = None) -> int:
    timing.start()
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    from vanishing.workers import WorkerFailed

    handlers = {}
    if threading.current_thread() is threading.main_thread():  # signal handlers live there only
        handlers = {sig: signal.signal(sig, _terminated) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        if args.command != "presets":
            _check_paths(args)
        if args.command == "presets":
            _presets()
        elif args.command == "train":
            _train(args, argv)
        elif args.command == "render":
            _render(args)
        elif args.command == "merge":
            _merge(args, argv)
        else:  # report
            _report(args, argv)
    except (config.ConfigError, results.ResultsError) as e:
        print(f"vanishing: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vanishing: interrupted; cells already written are kept and reused next run",
              file=sys.stderr)
        return 1
    except Terminated as e:
        print(f"vanishing: terminated by {signal.Signals(e.args[0]).name}; cells already written are kept "
              "and reused next run", file=sys.stderr)
        return 128 + e.args[0]
    except WorkerFailed as e:
        print(f"vanishing: error: {e}", file=sys.stderr)
        return 1
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        timing.flush("command")
    return 0


if __name__ == "__main__":
    sys.exit(main())
