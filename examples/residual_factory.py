"""The whole matrix on YOUR architecture and YOUR data: a residual MLP factory on a CSV.

    python examples/residual_factory.py OUTDIR

runs, in examples/factory/ (where the factory's module is found),

    vanishing report --config study.toml --results OUTDIR/results --out OUTDIR/page

study.toml names the factory (residual.py: a stem Dense layer, ``depth`` blocks h + f(W h + b),
three logits) and the data (wine.csv: 178 wines x 13 measurements, three cultivars), and trains
sigmoid, tanh and relu x random_normal(stddev=1.0) and glorot_uniform x 2 and 16 blocks: 12
networks, about a minute on 2 cores. On the page, look at the summary's heatmaps and "Depth":
the identity path carries the gradient past every sigmoid's quarter slope, so the 16-block
sigmoid networks with glorot_uniform get at least as much gradient at the stem as at the last block and
learn the cultivars, where the built-in plain MLP's deep sigmoid networks (the default preset)
vanish and stay at chance. The tutorial's random_normal(stddev=1.0) still hurts: its relu
networks blow up as the blocks add up.
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from vanishing import cli

if __name__ == "__main__":  # the workers are spawned: they re-import this file, and must not run it
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "build/examples/residual_factory").resolve()
    os.chdir(Path(__file__).resolve().parent / "factory")
    sys.exit(cli.main(["report", "--config", "study.toml", "--results", str(out / "results"),
                       "--out", str(out / "page")]))
