"""One writer per results directory: the train lock, DIR/.vanishing-train.lock.

`vanishing train` (and `report`'s training) holds it for its whole run, so two
trainers never write one directory at once: the second is refused, naming the
holder, or waits (``--wait``). It is an ``flock`` on the file, which the kernel
releases when its process dies however it dies, so a lock left by a killed run
is simply free again; the file's content (pid, host, start time, command) only
names the holder for people, and a stale content is overwritten.

Two things flock does not see, handled by the content:

- a network filesystem whose flock does not reach other hosts: a holder on
  another host keeps the file's mtime fresh (a heartbeat thread touches it);
  a lock whose content names another host and whose heartbeat is recent is
  treated as held, one silent for longer than ``STALE_SECONDS`` as left by a
  dead run;
- readers that must not take the lock (``render`` only asks whether a train
  runs): they judge by the content, and a pid is checked together with its
  process start time, so a reused pid is not mistaken for the holder.

The Keras recorder never takes this lock: its short read-modify-writes of
manifest.json and metrics.csv use DIR/.vanishing.lock (recorder_io.locked),
which `train` also takes for its own final write, so a recording and a train
in one directory wait for each other's writes and keep each other's rows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from vanishing.results import ResultsError, pid_alive

LOCK_NAME = ".vanishing-train.lock"
HEARTBEAT_SECONDS = 10.0
# A holder on another host that has not touched the file for this long is gone.
STALE_SECONDS = 120.0


class Busy(ResultsError):
    """Another run holds the directory's train lock (exit 2: the message names it)."""


@dataclass(frozen=True)
class Holder:
    """Who holds (or last held) a train lock, as its file says."""

    pid: int
    host: str
    started: str  # ISO 8601, UTC
    command: str
    boot_id: str = ""  # this host's boot, with pid_start: which process exactly
    pid_start: str = ""
    heartbeat_age: float = 0.0  # seconds since the holder last touched the file

    def describe(self) -> str:
        return f"pid {self.pid} on host {self.host}, started {self.started}" + (
            f" (`{self.command}`)" if self.command else "")

    def local(self) -> bool:
        return self.host == socket.gethostname()

    def alive(self) -> bool:
        """Whether this holder still runs, judged without taking the lock."""
        if not self.local():
            return self.heartbeat_age < STALE_SECONDS
        if self.boot_id and self.boot_id != _boot_id():
            return False  # the machine rebooted since
        start = _process_start(self.pid)
        if start is None:
            return False
        return not self.pid_start or start == self.pid_start  # else: the pid was reused


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux); '' where unknown; None when
    no process has that pid."""
    if not Path("/proc/self/stat").exists():  # not Linux: the pid alone
        return "" if pid_alive(pid) else None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return "" if pid_alive(pid) else None
    try:
        return stat[stat.rindex(")") + 2:].split()[19]  # field 22, after the command name
    except (IndexError, ValueError):
        return ""


def _say(text: str) -> None:
    print(f"vanishing: {text}", file=sys.stderr)


def lock_path(directory: Path) -> Path:
    return Path(directory) / LOCK_NAME


def read_holder(directory: Path) -> Holder | None:
    """The holder the lock file names; None when there is no file or it names nobody."""
    path = lock_path(directory)
    try:
        text = path.read_text(encoding="utf-8")
        age = time.time() - path.stat().st_mtime
        info = json.loads(text)
        return Holder(int(info["pid"]), str(info["host"]), str(info["started"]), str(info.get("command", "")),
                      str(info.get("boot_id", "")), str(info.get("pid_start", "")), max(age, 0.0))
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no file, empty (released), or half-written this very moment


def running(directory: Path) -> Holder | None:
    """The train that holds the directory now, or None; takes no lock (for readers)."""
    holder = read_holder(directory)
    return holder if holder is not None and holder.alive() else None


def _busy_holder(directory: Path) -> Holder | None:
    """The holder's name while someone holds the flock: it may be writing it this very moment."""
    for _ in range(20):
        holder = read_holder(directory)
        if holder is not None and holder.alive():
            return holder
        time.sleep(0.05)
    return read_holder(directory)


def _busy_message(directory: Path, holder: Holder | None) -> str:
    who = holder.describe() if holder is not None else "a process that has not written its name yet"
    return (f"{lock_path(directory)}: {directory} is in use by another `vanishing train`: {who}; "
            "wait for it to finish, or pass --wait to wait for it")


@contextmanager
def train_lock(directory: Path, command: str = "", wait: bool = False,
               say: Callable[[str], None] | None = None) -> Iterator[Holder | None]:
    """Hold the directory's train lock for the block; yields the stale holder taken over, if any.

    Raises Busy naming the holder when another run holds it (or waits, with ``wait``).
    ``say`` hears the waiting and the taking over (the command line prints them).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    say = say or _say
    with open(lock_path(directory), "a+", encoding="utf-8") as f:
        previous = _acquire(f, directory, wait, say)
        if previous is not None:
            say(f"took over {lock_path(directory)} from a run that is gone: {previous.describe()}")
        _write_holder(f, command)
        stop = threading.Event()
        beat = threading.Thread(target=_heartbeat, args=(lock_path(directory), stop), daemon=True,
                                name="vanishing-lock-heartbeat")
        beat.start()
        try:
            yield previous
        finally:
            stop.set()
            beat.join()
            f.seek(0)
            f.truncate()  # released: the file names nobody
            f.flush()
            fcntl.flock(f, fcntl.LOCK_UN)


def _acquire(f, directory: Path, wait: bool, say: Callable[[str], None]) -> Holder | None:
    """flock the file; returns the stale holder its content named, if any."""
    announced = False
    while True:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _busy_holder(directory)
        else:
            holder = read_holder(directory)
            if holder is None or holder.local() or not holder.alive():
                return holder
            # flock granted, but a run on another host keeps the file fresh: this filesystem's
            # locks do not reach that host, so its content is the only word.
            fcntl.flock(f, fcntl.LOCK_UN)
        if not wait:
            raise Busy(_busy_message(directory, holder))
        if not announced:
            say(f"waiting for {directory}: in use by another `vanishing train`: "
                f"{holder.describe() if holder else 'a process that has not written its name yet'}")
            announced = True
        if holder is not None and not holder.local():
            time.sleep(HEARTBEAT_SECONDS / 2)
        else:
            fcntl.flock(f, fcntl.LOCK_EX)  # until the holder ends; Ctrl-C interrupts it
            fcntl.flock(f, fcntl.LOCK_UN)  # and loop: read its content under our own try


def _write_holder(f, command: str) -> None:
    """Name this process in the lock file, in place: the lock is on this inode."""
    pid = os.getpid()
    info = {"pid": pid, "host": socket.gethostname(),
            "started": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
            "command": command, "boot_id": _boot_id(), "pid_start": _process_start(pid) or ""}
    f.seek(0)
    f.truncate()
    f.write(json.dumps(info) + "\n")
    f.flush()
    os.fsync(f.fileno())


def _heartbeat(path: Path, stop: threading.Event) -> None:
    """Touch the lock file while the lock is held: a reader on another host sees the run live."""
    while not stop.wait(HEARTBEAT_SECONDS):
        with contextlib.suppress(OSError):  # a missing file or a read-only moment: the next beat tries
            os.utime(path)
