"""What a results directory's manifest says about a run: package versions, the device, the
datasets and matrices studied, the primary study, and the copy of a model factory's source.

Kept apart from runner.py (which plans and trains) so that each reads as one job; the
recorder's new directories take their versions and device from here too.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vanishing import __version__, results, zoo
from vanishing.experiment import DataSpec, Experiment

if TYPE_CHECKING:
    from vanishing.runner import Data


def versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "vanishing": __version__}
    for dist in ("tensorflow", "keras", "numpy", "scikit-learn", "matplotlib", "jinja2"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def device() -> str:
    _, tf = zoo.import_keras()
    return "GPU" if tf.config.list_physical_devices("GPU") else "CPU"


def device_later() -> Callable[[], str]:
    """device(), asked now and answered when called. When the workers train, this process need
    not import TensorFlow (2 s at the end of every run, and a process holding TensorFlow's
    threads may not fork the renderer's workers after it): a child process asks it meanwhile."""
    if "tensorflow" in sys.modules:
        return device
    from vanishing.workers import die_with_parent

    parent = os.getpid()  # the child never outlives this process (a kill -9 of it included)
    child = subprocess.Popen([sys.executable, "-c", "from vanishing.run_description import device; "
                              "print(device())"], preexec_fn=lambda: die_with_parent(parent),
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def answer() -> str:
        out, _ = child.communicate()
        return out.strip() if child.returncode == 0 and out.strip() in ("CPU", "GPU") else device()

    return answer


def device_before(results_dir: Path) -> Callable[[], str]:
    """Nothing to train: the device the cells were trained on, as the last manifest says."""
    try:
        said = results.read_manifest(results_dir).get("platform", {}).get("device")
    except results.ResultsError:
        said = None
    return (lambda: said) if said in ("CPU", "GPU") else device


def describe_data(spec: DataSpec, data: Data, npz_sha256: str = "") -> dict[str, Any]:
    """A dataset's entry in the manifest (``npz_sha256``: of its data/*.npz file's bytes)."""
    shape = [int(d) for d in data.X.shape[1:]]
    binary = len(data.classes) == 2
    return {"dataset_id": spec.dataset_id, "name": spec.name, **spec.kwargs,
            "n_samples": int(data.X.shape[0]), "n_features": int(np.prod(shape)), "shape": shape,
            "n_classes": len(data.classes), "classes": list(data.classes),
            "positive_fraction": round(float(np.mean(data.y == 1)), 4) if binary else None,
            **({"npz_sha256": npz_sha256} if npz_sha256 else {})}


def study(experiment: Experiment, datasets: dict[DataSpec, Data],
          hashes: dict[str, str] | None = None) -> dict[str, Any]:
    """The manifest's description of what was studied: datasets, matrices, the primary study."""
    return {
        "datasets": [describe_data(spec, data, (hashes or {}).get(spec.dataset_id, ""))
                     for spec, data in datasets.items()],
        "matrices": [{"name": m.name, "activations": list(m.activations),
                      "initializers": [i.label for i in m.initializers],
                      "depths": list(m.depths), "seeds": list(m.seeds),
                      "optimizers": [{"optimizer": t.optimizer.label, "learning_rate": t.learning_rate}
                                     for t in m.trains],
                      "dataset_id": m.data.dataset_id} for m in experiment.matrices],
        # The primary study: the top-level [data] trained with the top-level [train], in the
        # labels its cells carry, so a reader finds its cells without re-validating the config.
        "primary": {"dataset_id": experiment.data.dataset_id, "optimizer": experiment.train.optimizer.label,
                    "learning_rate": experiment.train.learning_rate},
    }


def keep_factory(experiment: Experiment, results_dir: Path) -> dict[str, str] | None:
    """A copy of the factory's source in the results directory, named by its hash; its manifest entry."""
    spec = experiment.factory
    if spec is None:
        return None
    source = Path(spec.source)
    relative = f"factory/{source.stem}-{spec.sha256[:12]}.py"
    results.write_text(Path(results_dir) / relative, source.read_text(encoding="utf-8"))
    return {"ref": spec.ref, "file": relative, "sha256": spec.sha256}
