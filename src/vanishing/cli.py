"""Command-line front (DESIGN.md section 2): train, render, report, presets.

Exit codes: 0 success, 2 bad input (one message on stderr naming the file, key,
value and what is allowed), 1 any other failure.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import threading
from pathlib import Path

from vanishing import config, results


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
        s.add_argument("--wait", action="store_true",
                       help="if another train holds the results directory, wait for it (default: exit 2)")

    s = sub.add_parser("train", help="train the cells not already in the results directory")
    experiment_args(s)

    s = sub.add_parser("render", help="render the results directory as one HTML page")
    s.add_argument("--results", type=Path, default=Path("build/results"), metavar="DIR")
    s.add_argument("--out", type=Path, default=Path("report"), metavar="DIR")
    s.add_argument("--templates", type=Path, metavar="DIR", help="render with your own templates")

    s = sub.add_parser("report", help="train what is missing, then render")
    experiment_args(s)
    s.add_argument("--out", type=Path, default=Path("report"), metavar="DIR")
    s.add_argument("--templates", type=Path, metavar="DIR", help="render with your own templates")

    sub.add_parser("presets", help="list the shipped experiments")
    return p


def _train(args: argparse.Namespace, argv: list[str]) -> None:
    source, text = config.read_source(args.preset, args.config)
    experiment = config.load_text(source, text, args.sets)
    if args.jobs < 1:
        raise config.ConfigError(f"--jobs: value {args.jobs} is not allowed; expected an integer >= 1")
    if args.results.exists() and not args.results.is_dir():
        raise config.ConfigError(f"--results: {args.results} exists and is not a directory")
    from vanishing import runner

    manifest = runner.train(
        experiment, args.results, force=args.force, jobs=args.jobs,
        command=shlex.join(["vanishing", *argv]),
        preset=None if args.config else (args.preset or "default"),
        config_toml=text,
        overrides=tuple(args.sets),
        wait=args.wait,
    )
    diverged = sum(c["status"] == "diverged" for c in manifest["cells"])
    print(f"{args.results}: {len(manifest['cells'])} cells ({manifest['cells_trained']} trained, "
          f"{manifest['cells_reused']} reused, {diverged} diverged) in "
          f"{manifest['train_seconds']:.1f} s", file=sys.stderr)


def _render(args: argparse.Namespace) -> None:
    from vanishing import html, lock

    holder = lock.running(args.results)
    if holder is not None:
        print(f"vanishing: note: a `vanishing train` is writing to {args.results} ({holder.describe()}); "
              "this page shows the results of its last completed run", file=sys.stderr)
    page = html.render_report(args.results, args.out, args.templates)
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
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    from vanishing.workers import WorkerFailed

    handlers = {}
    if threading.current_thread() is threading.main_thread():  # signal handlers live there only
        handlers = {sig: signal.signal(sig, _terminated) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        if args.command == "presets":
            _presets()
        elif args.command == "train":
            _train(args, argv)
        elif args.command == "render":
            _render(args)
        else:  # report
            _train(args, argv)
            _render(args)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
