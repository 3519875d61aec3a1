"""Shared fixtures: one real training run of the `smoke` preset per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture(scope="session")
def smoke_experiment():
    from vanishing import config

    return config.load("smoke")


@pytest.fixture(scope="session")
def smoke_results(tmp_path_factory, smoke_experiment) -> Path:
    """A results directory trained from the smoke preset (read-only: copy it to modify it)."""
    from vanishing import runner

    out = tmp_path_factory.mktemp("smoke") / "results"
    runner.train(smoke_experiment, out, command="vanishing train --preset smoke", preset="smoke",
                 progress=False)
    return out
