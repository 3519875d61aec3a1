"""Shared fixtures: one real training run of the `smoke` preset per test session."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _shared_root(tmp_path_factory) -> Path:
    """The session's temporary root, common to every pytest-xdist worker process."""
    root = tmp_path_factory.getbasetemp()
    return root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root


@pytest.fixture(scope="session")
def smoke_experiment():
    from vanishing import config

    return config.load("smoke")


@pytest.fixture(scope="session")
def smoke_results(tmp_path_factory, smoke_experiment) -> Path:
    """A results directory trained from the smoke preset (read-only: copy it to modify it).

    Trained once per session even when pytest-xdist runs the tests in several processes: they
    share the directory above their own temporary roots, and the first to get here trains
    while the others wait on the lock (a second training would cost each process its cores).
    """
    from vanishing import runner

    shared = _shared_root(tmp_path_factory)
    out = shared / "smoke-shared" / "results"
    with open(shared / "smoke-shared.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "manifest.json").is_file():
            runner.train(smoke_experiment, out, command="vanishing train --preset smoke", preset="smoke",
                         progress=False)
    return out


@pytest.fixture(scope="session")
def small_results(tmp_path_factory, smoke_results) -> Path:
    """The smoke run cut to one network, the tutorial's sigmoid (seed 0, the primary study): a
    page that renders in a second or two, for tests of what happens around rendering (read-only)."""
    out = tmp_path_factory.mktemp("small") / "results"
    shutil.copytree(smoke_results, out)
    path = out / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["cells"] = [e for e in manifest["cells"]
                         if e["activation"] == "sigmoid"
                         and e["initializer"] == "random_normal(stddev=1.0)" and e["depth"] == 4
                         and e["seed"] == 0 and e["optimizer"] == "rmsprop"
                         and e["dataset_id"] == manifest["primary"]["dataset_id"]]
    assert len(manifest["cells"]) == 1
    path.write_text(json.dumps(manifest), encoding="utf-8")
    return out


@pytest.fixture(scope="session")
def smoke_page(tmp_path_factory, smoke_results) -> Path:
    """index.html rendered once from the smoke run (read-only)."""
    from vanishing.html import render_report

    shared = _shared_root(tmp_path_factory)
    out = shared / "smoke-page"
    with open(shared / "smoke-page.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "index.html").is_file():
            render_report(smoke_results, out)
    return out / "index.html"
