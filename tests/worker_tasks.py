"""Tasks for tests/test_workers.py: importable by name in the worker processes (spawned, they
import the task's module afresh)."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path


def task(spec: tuple[str, str], tick) -> str:
    """("ok", x): returns x twice; ("die", _): SIGKILLs its own worker; ("raise", x): ValueError(x);
    ("sleep", path): writes its pid to path, then sleeps until killed; ("pid", _): its worker's pid."""
    kind, value = spec
    tick(value)
    if kind == "pid":
        return str(os.getpid())
    if kind == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    if kind == "raise":
        raise ValueError(value)
    if kind == "sleep":
        Path(value).write_text(str(os.getpid()))
        while True:
            time.sleep(3600)
    return value * 2


def main() -> None:
    """python worker_tasks.py DIR N: N sleeping tasks in N workers (each writes DIR/<i>.pid)."""
    from vanishing import workers

    directory, n = Path(sys.argv[1]), int(sys.argv[2])
    tasks = [("sleep", str(directory / f"{i}.pid")) for i in range(n)]
    try:
        workers.run(task, tasks, n, on_tick=lambda _: None, on_result=lambda *_: None, describe=str)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
