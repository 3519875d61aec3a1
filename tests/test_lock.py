"""Two writers on one results directory (issue 10): the train lock refuses or waits, names its
holder, takes over what a dead run left (pid reuse, another host), lets the Keras recorder's short
writes through, and `render` says when a train is running. The holder is a real process."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from killing import WAIT, environment

from vanishing import cli, lock, recorder_io, results

HOLD = """
import sys
from vanishing import lock
with lock.train_lock(sys.argv[1], "vanishing train --preset holder"):
    print("held", flush=True)
    sys.stdin.read()  # until the test closes our stdin
"""


class Holder:
    """A process holding the train lock of ``directory`` until ``release``."""

    def __init__(self, directory: Path) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", HOLD, str(directory)], env=environment(),
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.process.stdout.readline()
        assert line == b"held\n", self.process.stderr.read().decode()

    def release(self) -> None:
        _, err = self.process.communicate(b"", timeout=WAIT)
        assert self.process.returncode == 0, err.decode()


@pytest.fixture
def done(smoke_results, tmp_path) -> Path:
    """A results directory of the smoke preset with every cell trained: `train` only rewrites it."""
    return Path(shutil.copytree(smoke_results, tmp_path / "results"))


def _train(directory: Path, *more: str, command: str = "train") -> list[str]:
    return [command, "--preset", "smoke", "--results", str(directory), "--jobs", "1", *more]


@pytest.mark.parametrize("command", ["train", "report"])
def test_a_second_writer_is_refused_naming_the_holder(done, tmp_path, capsys, command):
    before = (done / "manifest.json").read_bytes()
    holder = Holder(done)
    try:
        assert cli.main(_train(done, "--out", str(tmp_path / "page"), command=command)
                        if command == "report" else _train(done)) == 2
    finally:
        holder.release()
    err = capsys.readouterr().err
    assert err.startswith("vanishing: error: ") and err.count("\n") == 1
    for word in (str(done / lock.LOCK_NAME), f"pid {holder.process.pid}", f"host {socket.gethostname()}",
                 "started 20", "vanishing train --preset holder", "--wait"):
        assert word in err, (word, err)
    assert (done / "manifest.json").read_bytes() == before and not (tmp_path / "page").exists()
    # Released, the directory is free again.
    assert cli.main(_train(done)) == 0


def test_wait_waits_for_the_holder_then_trains(done, capsys, monkeypatch):
    said = []
    monkeypatch.setattr(lock, "_say", said.append)
    holder = Holder(done)
    codes = []
    waiting = threading.Thread(target=lambda: codes.append(cli.main(_train(done, "--wait"))))
    waiting.start()
    deadline = time.monotonic() + WAIT
    while not said:
        assert waiting.is_alive() and time.monotonic() < deadline, capsys.readouterr().err
        time.sleep(0.01)
    assert said[0].startswith(f"waiting for {done}") and f"pid {holder.process.pid}" in said[0]
    assert waiting.is_alive() and not codes  # still waiting
    holder.release()
    waiting.join(timeout=WAIT)
    assert codes == [0]
    assert "28 cells (0 trained, 28 reused, 0 diverged)" in capsys.readouterr().err


def _left_by(directory: Path, pid: int, host: str | None = None, age: float = 0.0, **extra) -> None:
    """A lock file as a run that held it wrote it (nobody holds its flock now)."""
    info = {"pid": pid, "host": host or socket.gethostname(), "started": "2026-11-30T10:00:00+00:00",
            "command": "vanishing train --preset gone", **extra}
    path = directory / lock.LOCK_NAME
    path.write_text(json.dumps(info) + "\n")
    os.utime(path, (time.time() - age, time.time() - age))


def test_a_lock_left_by_a_killed_run_is_taken_over(done, capsys):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _left_by(done, dead.pid)
    assert cli.main(_train(done)) == 0
    err = capsys.readouterr().err
    assert f"took over {done / lock.LOCK_NAME} from a run that is gone: pid {dead.pid}" in err
    assert (done / lock.LOCK_NAME).read_text() == ""  # released: it names nobody


def test_a_reused_pid_is_not_taken_for_the_holder(done, capsys):
    # The file names a pid that runs now (this test's own), but as another process: another start time.
    _left_by(done, os.getpid(), pid_start="1")
    holder = lock.read_holder(done)
    assert holder is not None and not holder.alive()
    assert lock.running(done) is None
    assert cli.main(_train(done)) == 0
    assert f"from a run that is gone: pid {os.getpid()}" in capsys.readouterr().err


def test_another_host_counts_while_its_heartbeat_is_fresh(done, capsys):
    # Where flock does not reach across hosts (some network filesystems), the file is the only word.
    _left_by(done, 4242, host="elsewhere", age=5)
    assert cli.main(_train(done)) == 2
    err = capsys.readouterr().err
    assert "pid 4242 on host elsewhere" in err and "--wait" in err
    assert lock.running(done) is not None
    # Silent for longer than a holder's heartbeat allows: that run is gone.
    _left_by(done, 4242, host="elsewhere", age=lock.STALE_SECONDS + 60)
    assert lock.running(done) is None
    assert cli.main(_train(done)) == 0
    assert "from a run that is gone: pid 4242 on host elsewhere" in capsys.readouterr().err


def test_the_holder_keeps_its_heartbeat(tmp_path, monkeypatch):
    monkeypatch.setattr(lock, "HEARTBEAT_SECONDS", 0.05)
    with lock.train_lock(tmp_path, "beating"):
        path = tmp_path / lock.LOCK_NAME
        os.utime(path, (0, 0))
        deadline = time.monotonic() + WAIT
        while path.stat().st_mtime == 0:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert lock.running(tmp_path).pid == os.getpid()
    assert lock.running(tmp_path) is None


def test_the_recorders_short_writes_go_on_while_a_train_holds_the_directory(tmp_path):
    holder = Holder(tmp_path)
    try:
        # what GradientRecorder does after each epoch: it takes only the short lock
        recorder_io.publish(tmp_path, {"cell_id": "mine", "source": "keras"}, ["mine,,,,,,0,1" + "," * 18])
    finally:
        holder.release()
    assert [c["cell_id"] for c in results.read_manifest(tmp_path)["cells"]] == ["mine"]


def test_render_while_a_train_runs_says_so_and_renders_its_last_completed_run(small_results, tmp_path,
                                                                              capsys, monkeypatch):
    from vanishing import html

    real = html.build_page  # a page without sections: what it shows is not the point here
    monkeypatch.setattr(html, "build_page", lambda run, sections=(): real(run, ()))
    directory = Path(shutil.copytree(small_results, tmp_path / "results"))
    holder = Holder(directory)
    try:
        assert cli.main(["render", "--results", str(directory), "--out", str(tmp_path / "page")]) == 0
        err = capsys.readouterr().err
        assert f"a `vanishing train` is writing to {directory} (pid {holder.process.pid}" in err
        assert "last completed run" in err and (tmp_path / "page" / "index.html").is_file()
        # A directory the train fills for the first time has nothing to render yet: it says why.
        empty = tmp_path / "fresh"
        second = Holder(empty)
        try:
            assert cli.main(["render", "--results", str(empty), "--out", str(tmp_path / "p2")]) == 2
        finally:
            second.release()
        err = capsys.readouterr().err
        assert f"`vanishing train` is running there (pid {second.process.pid}" in err
        assert "render once it has" in err
    finally:
        holder.release()
