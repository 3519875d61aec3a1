"""Recorder budgets (issue 8): the overhead of GradientRecorder on fit, and the size of what it writes.

    python benchmarks/bench_recorder.py [--repeats N] [--keep DIR]

A small convnet trained on 10,000 synthetic 28x28 images (10 classes), 10 epochs,
batch 32, with a 512-sample probe: fit alone and fit with the recorder, runs
alternated in one process after one untimed warm-up of each, medians compared.
Budgets: overhead at most 15 % of plain fit; the results directory at most 5 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

BUDGETS = {"overhead_fraction": 0.15, "results_bytes": 5 * 1024 * 1024}
N_IMAGES, N_PROBE, EPOCHS, BATCH = 10_000, 512, 10, 32


def data(seed: int = 0):
    """Images with a class template under noise: a task the convnet learns, so gradients move."""
    import numpy as np

    rng = np.random.default_rng(seed)
    templates = rng.normal(size=(10, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, N_IMAGES + N_PROBE)
    x = (0.5 * templates[y] + rng.normal(size=(len(y), 28, 28, 1))).astype("float32")
    return (x[:N_IMAGES], y[:N_IMAGES]), (x[N_IMAGES:], y[N_IMAGES:])


def convnet(keras):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(8, 3, activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(16, 3, activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Flatten(), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(10),
    ])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def one_fit(keras, train, probe, directory: Path | None, epochs: int = EPOCHS) -> float:
    from vanishing.keras import GradientRecorder

    model = convnet(keras)
    callbacks = [] if directory is None else [
        GradientRecorder(directory, probe=probe, run="convnet", overwrite=True,
                         labels={"activation": "relu", "initializer": "glorot_uniform", "seed": 0})]
    start = time.perf_counter()
    model.fit(*train, epochs=epochs, batch_size=BATCH, verbose=0, callbacks=callbacks)
    return time.perf_counter() - start


def directory_bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


def measure(repeats: int, keep: Path | None = None) -> dict[str, object]:
    from vanishing import zoo

    keras, _ = zoo.import_keras()
    train, probe = data()
    work = Path(tempfile.mkdtemp(prefix="vanishing-bench-recorder-"))
    try:
        one_fit(keras, train, probe, None, epochs=1)  # warm-up: TensorFlow's first-use costs
        one_fit(keras, train, probe, work / "warm", epochs=1)
        plain, recorded = [], []
        for _ in range(repeats):
            plain.append(one_fit(keras, train, probe, None))
            shutil.rmtree(work / "run", ignore_errors=True)
            recorded.append(one_fit(keras, train, probe, work / "run"))
        size = directory_bytes(work / "run")
        if keep is not None:
            shutil.copytree(work / "run", keep, dirs_exist_ok=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    p, r = statistics.median(plain), statistics.median(recorded)
    return {"plain_fit_seconds": round(p, 2), "recorded_fit_seconds": round(r, 2),
            "overhead_fraction": round((r - p) / p, 4), "results_bytes": size,
            "runs": {"plain": [round(t, 2) for t in plain], "recorded": [round(t, 2) for t in recorded]},
            "setup": {"images": N_IMAGES, "probe": N_PROBE, "epochs": EPOCHS, "batch_size": BATCH,
                      "cpu_count": os.cpu_count()}}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="copy the recorded run's results directory here")
    args = parser.parse_args(argv)
    numbers = measure(args.repeats, args.keep)
    over = sorted(k for k, limit in BUDGETS.items() if numbers[k] > limit)
    print(json.dumps({**numbers, "budgets": BUDGETS, "over_budget": over}, indent=1))
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
