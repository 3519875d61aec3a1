"""Groups trained on a Dask distributed cluster: ``vanishing train --cluster ADDRESS``.

Why Dask distributed (not Ray): pure Python on top of what we already need (no object store
daemon, no wheels to match per platform), a ``LocalCluster`` that starts in-process for tests
and ``--cluster local``, and the usual way onto SLURM/PBS (dask-jobqueue) and Kubernetes.

The workers only train: a task returns its group's cells, (info, arrays, metrics lines) each,
and this process (the driver, which holds the results directory and its lock) writes the
cell files. A remote worker never needs to see the driver's disk.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from vanishing import local, runner, workers
from vanishing.config import ConfigError
from vanishing.experiment import Cell, DataSpec

LOCAL = "local"
CONNECT_SECONDS = 20  # how long to try to reach a scheduler before --cluster is refused
INSTALL = "pip install 'vanishing[dask]'"

_threads_set = False  # per worker process: TensorFlow's thread pools are sized once


def require() -> None:
    """Dask distributed is importable, or ConfigError naming --cluster and how to install it."""
    try:
        import distributed  # noqa: F401
    except ImportError as e:
        raise ConfigError(f"--cluster: needs Dask distributed, which is not installed ({e}); "
                          f"install it with `{INSTALL}`") from None


def check_address(address: str) -> None:
    """Refuse at once what cannot be an address (before any config is read)."""
    require()
    if address == LOCAL:
        return
    from distributed.comm import parse_address

    try:
        scheme, location = parse_address(address)
        host, _, port = location.rpartition(":")
        if not location or (scheme in ("tcp", "tls") and not (host and port.isdigit())):
            raise ValueError("expected HOST:PORT")
    except (ValueError, TypeError) as e:
        raise ConfigError(f"--cluster: value {address!r} is not allowed ({e}); expected 'local' or a Dask "
                          "scheduler's address, e.g. tcp://host:8786") from None


@contextlib.contextmanager
def connect(address: str, jobs: int) -> Iterator[Any]:
    """A distributed.Client: to a new LocalCluster of ``jobs`` single-threaded worker processes
    on this machine (``local``), or to the scheduler at ``address``."""
    require()
    import distributed

    if address == LOCAL:
        # memory_limit=0: no nanny restarts a worker for its memory; --jobs was sized by the estimate.
        with distributed.LocalCluster(n_workers=jobs, processes=True, threads_per_worker=1,
                                      dashboard_address=None, memory_limit=0) as cluster, \
                distributed.Client(cluster) as client:
            yield client
        return
    try:
        client = distributed.Client(address, timeout=CONNECT_SECONDS)
    except (OSError, ValueError, TypeError) as e:  # TimeoutError is an OSError
        raise ConfigError(f"--cluster: value {address!r}: no Dask scheduler answered there within "
                          f"{CONNECT_SECONDS} s ({type(e).__name__}: {e}); start one with `dask scheduler` "
                          "and workers with `dask worker ADDRESS`, or use --cluster local") from None
    with client:
        yield client


def _train_on_worker(group: tuple[Cell, ...], data: runner.Data) -> list[runner.Trained]:
    """The task: train one group on a worker and return its cells; writes nothing."""
    global _threads_set
    if not _threads_set:
        # The worker processes fill the cores; threads inside each would only contend.
        with contextlib.suppress(RuntimeError):  # TensorFlow already running in this worker
            local.start_worker()
        _threads_set = True
    if group[0].factory is not None:
        _check_factory(group[0])
    return runner.train_group(group, data)


def _check_factory(cell: Cell) -> None:
    """The factory module this worker imports is the file the driver hashed."""
    import hashlib
    import sys

    from vanishing import factory

    spec = cell.factory
    factory.resolve(spec.ref)
    source = getattr(sys.modules[factory.split_ref(spec.ref)[0]], "__file__", None) or ""
    digest = hashlib.sha256(Path(source).read_bytes()).hexdigest() if Path(source).is_file() else None
    if digest != spec.sha256:
        raise factory.FactoryError(f"the factory {spec.ref!r} on this worker ({source or 'no file'}) is not "
                                   f"the file the run was started with ({spec.source}, sha256 "
                                   f"{spec.sha256[:12]}); put the same file on the workers' PYTHONPATH")


def group_model_epochs(group: tuple[Cell, ...]) -> float:
    return sum(c.train.epochs * (c.depth + 1) / 5 for c in group)


def train_groups(client: Any, groups: tuple[tuple[Cell, ...], ...], datasets: dict[DataSpec, runner.Data],
                 results_dir: Path, bar: runner.Progress,
                 on_group: Callable[[int, int], None] | None = None,
                 done: frozenset[str] = frozenset()) -> dict[str, list[str]]:
    """Every group as a task on the cluster; each cell but ``done`` (on disk already, trained
    again for its group's sake) written here as its group comes back.

    The bar ticks per group (a group's model-epochs at once). A task's error is raised at once
    and the other tasks are cancelled; a worker that dies has its group retried by Dask on
    another worker, and a group that kills workers three times is reported as WorkerFailed.
    Any exception here (Ctrl-C) cancels every task: the groups written stay.
    """
    import distributed

    run = uuid.uuid4().hex[:8]
    # Each dataset goes to the cluster once, not with every task.
    data = {spec: client.scatter(datasets[spec], hash=False)
            for spec in dict.fromkeys(g[0].data for g in groups)}
    futures = {}
    for i, group in enumerate(groups):  # deepest first, as planned: higher priority runs first
        future = client.submit(_train_on_worker, group, data[group[0].data], pure=False,
                               key=f"vanishing-{run}-group-{i}", priority=len(groups) - i)
        futures[future] = group
    lines: dict[str, list[str]] = {}
    finished = 0
    try:
        for future in distributed.as_completed(futures):
            group = futures[future]
            try:
                trained = future.result()
            except distributed.KilledWorker as e:
                raise workers.WorkerFailed(
                    f"the cluster's workers died while training {local.describe_group((group,))} ({e}). "
                    "Everything else that finished is written; run the same command again to train "
                    "what is missing") from None
            for t in trained:
                runner.write_trained(results_dir, t, lines, done)
            future.release()
            finished += 1
            bar.tick(group_model_epochs(group))
            bar.group_done()
            if on_group is not None:
                on_group(finished, len(groups))
    finally:
        client.cancel([f for f in futures if not f.done()], force=True)
    return lines
