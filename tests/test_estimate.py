"""estimate.py: the memory and time a run will take, checked against the engine's own shapes, against
what numpy really allocates, against a real training run (slow), and against this machine."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from vanishing import config, engine, estimate, runner, stacked

GB = 2**30


def toml(width=5, depth=4, n_samples=1000, epochs=100, batch_size=32, seeds=(0, 1, 2),
         initializers=("glorot_uniform",), optimizer="rmsprop") -> str:
    return f"""
[data]
name = "circles"
n_samples = {n_samples}
[model]
width = {width}
[train]
epochs = {epochs}
batch_size = {batch_size}
optimizer = "{optimizer}"
[matrix.m]
activations = ["tanh"]
initializers = {json.dumps(list(initializers))}
depths = [{depth}]
seeds = {list(seeds)}
"""


def experiment(**kwargs) -> config.Experiment:
    return config.load_text("test", toml(**kwargs))


def cost(tmp_path: Path, **kwargs) -> estimate.GroupCost:
    plan = runner.plan(experiment(**kwargs), tmp_path / "none")
    assert len(plan.groups) == 1
    est = estimate.make(plan, 1, None)
    return est.groups[0]


def part(group: estimate.GroupCost, starts: str) -> int:
    (found,) = [b for what, b, _ in group.parts if what.startswith(starts)]
    return found


def test_constants_are_the_engines():
    assert estimate.SMALL_KERNEL == stacked.SMALL_KERNEL
    assert estimate.GRID_POINTS == engine.BOUNDARY_GRID ** 2
    assert estimate.ACTIVATION_SAMPLE == engine.ACTIVATION_SAMPLE


@pytest.mark.parametrize(("depth", "width", "features"), [(2, 5, 2), (4, 5, 30), (8, 64, 64), (3, 9, 7)])
def test_weight_counts_are_the_engines_layer_sizes(depth, width, features):
    cell = experiment(width=width, depth=depth).cells()[0]
    sizes = engine.layer_sizes(cell, features)
    weights, small = estimate.weights(depth, width, features)
    assert weights == sum(i * o for i, o in sizes)
    assert small == sum(i * o for i, o in sizes if i * o <= stacked.SMALL_KERNEL)


def test_per_epoch_arrays_are_the_layouts_floats(tmp_path):
    """The per-epoch part is [epochs+1, cells, every value of stacked.output_layout] in float32."""
    group = cost(tmp_path, width=7, depth=3, epochs=11)
    sizes = engine.layer_sizes(group.cells[0], 2)
    values = sum(int(np.prod(shape, dtype=np.int64)) for _, shape in stacked.output_layout(sizes))
    assert part(group, "the per-epoch arrays") == 4 * 12 * 3 * values


def test_numpy_parts_match_what_numpy_allocates(tmp_path):
    """tracemalloc sees numpy's allocations: the engine's batch orders (built as train_group builds
    them) and its Trajectory, against the estimate's parts for the same group."""
    group = cost(tmp_path, width=16, depth=3, n_samples=2000, epochs=200)
    cells, n, epochs = group.cells, 2000, 200
    tracemalloc.start()
    try:
        orders = np.stack([engine.batch_order(c.seed, n, epochs) for c in cells], axis=1)
        _, orders_peak = tracemalloc.get_traced_memory()
        del orders
        tracemalloc.reset_peak()
        sizes = tuple(engine.layer_sizes(cells[0], 2))
        before, _ = tracemalloc.get_traced_memory()
        trajectory = engine.Trajectory(stacked.output_layout(sizes), epochs, len(cells), [0, 100, 200])
        after, _ = tracemalloc.get_traced_memory()
        del trajectory
    finally:
        tracemalloc.stop()
    assert 0.9 < part(group, "the batch orders") / orders_peak < 1.2
    assert 0.97 < part(group, "the per-epoch arrays") / (after - before) < 1.03


@pytest.mark.parametrize(("key", "small", "large"), [
    ("width", 5, 64), ("depth", 4, 32), ("n_samples", 1000, 20000), ("epochs", 10, 500),
    ("seeds", (0,), (0, 1, 2, 3)), ("batch_size", 32, 100000),
])
def test_memory_grows_with_every_size(tmp_path, key, small, large):
    a, b = cost(tmp_path, **{key: small}), cost(tmp_path, **{key: large})
    assert b.bytes > a.bytes
    assert b.seconds > a.seconds or key == "batch_size"  # fewer steps: a bigger batch is no slower


def test_the_issues_examples_are_huge_and_the_presets_small(tmp_path):
    """width 4096, depth 64, 10,000 samples: terabytes; every preset: a few GB with --jobs 2."""
    big = cost(tmp_path, width=4096, depth=64, n_samples=10000)
    assert big.bytes > 1000 * GB
    for name in config.preset_names():
        est = estimate.make(runner.plan(config.load(name), tmp_path / "none"), 2, None)
        assert est.peak_bytes < 6 * GB, name


def test_presets_fit_this_machine(tmp_path):
    available = estimate.available_memory()
    assert available is not None and available > 0
    for name in config.preset_names():
        est = estimate.fit(runner.plan(config.load(name), tmp_path / "none"), 2, available)
        assert est.fits, (name, estimate.size(est.peak_bytes), estimate.size(available))


def test_available_memory_is_within_the_physical_memory():
    physical = __import__("os").sysconf("SC_PHYS_PAGES") * __import__("os").sysconf("SC_PAGE_SIZE")
    assert 0 < estimate.available_memory() <= physical


def test_fewer_workers_when_more_do_not_fit(tmp_path):
    plan = runner.plan(config.load("smoke"), tmp_path / "none")
    one, two = (estimate.make(plan, jobs, None).peak_bytes for jobs in (1, 2))
    assert two > one
    est = estimate.fit(plan, 2, (one + two) // 2)
    assert est.fits and est.jobs == 1 and est.workers == 0
    est = estimate.fit(plan, 2, one - 1)
    assert not est.fits


def test_the_default_presets_time_is_of_the_benchmarks_order(tmp_path):
    """README: the default matrix trains in 32 s on 2 workers with no cache (`nox -s bench`,
    2026-12-01); rough, so 0.5x-2x."""
    est = estimate.make(runner.plan(config.load("default"), tmp_path / "none"), 2, None)
    assert 16 < est.seconds < 64
    assert est.model_epochs == pytest.approx(63480)


def test_a_factory_config_says_its_model_is_not_estimated(tmp_path, monkeypatch):
    (tmp_path / "tiny_factory.py").write_text(textwrap.dedent("""
        import keras

        def build(activation, initializer, depth, width, input_shape, seed):
            inputs = keras.Input(input_shape)
            return keras.Model(inputs, keras.layers.Dense(1)(inputs))
    """))
    monkeypatch.chdir(tmp_path)
    exp = config.load("tutorial", sets=['model.factory="tiny_factory:build"'])
    est = estimate.make(runner.plan(exp, tmp_path / "none"), 1, None)
    assert est.factory and est.seconds is None
    text = "\n".join(estimate.describe(est, tmp_path / "none"))
    assert "factory: memory of your model not estimated" in text and "time       not estimated" in text


# The peak RSS of this process's memory (VmHWM): ru_maxrss would not do, as Linux carries it over
# an exec from the parent (a pytest process that trained before reads as the child's peak).
MEASURE = """
import json, sys
from vanishing import config, engine, runner, zoo

def peak():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))

exp = config.load_text("m", sys.argv[1])
_, tf = zoo.import_keras()
tf.config.threading.set_intra_op_parallelism_threads(1)
zoo.reference_slope(exp.cells()[0].activation)
data = runner.load_data(exp.data)
before = peak()
engine.train_group(exp.cells(), data.X, data.y)
print(json.dumps({"base": before, "grew": peak() - before}))
"""


@pytest.mark.slow
@pytest.mark.parametrize(("width", "depth", "n_samples", "seeds"), [(256, 4, 1000, (0, 1, 2)),
                                                                     (5, 4, 100000, tuple(range(9)))])
def test_estimate_against_a_real_group(tmp_path, width, depth, n_samples, seeds):
    """One group trained in a fresh process: its peak RSS growth and its baseline against the estimate
    (when written: 370 MB measured, 399 MB estimated; 626 MB measured, 664 MB estimated)."""
    text = toml(width=width, depth=depth, n_samples=n_samples, epochs=3, seeds=seeds)
    out = subprocess.run([sys.executable, "-c", MEASURE, text], capture_output=True, text=True, check=True)
    measured = json.loads(out.stdout.strip().splitlines()[-1])
    group = estimate.make(runner.plan(config.load_text("test", text), tmp_path / "none"), 1, None).groups[0]
    print(f"estimated {group.bytes / 2**20:.0f} MB, measured {measured['grew'] / 2**20:.0f} MB "
          f"over a baseline of {measured['base'] / 2**20:.0f} MB")
    assert 0.7 < group.bytes / measured["grew"] < 2.0, (group.bytes, measured)
    assert 0.8 < estimate.PROCESS_BYTES / measured["base"] < 1.3, measured
