"""A deep tanh MLP (10 hidden layers of 32) on breast_cancer, three initializers.

    python examples/deep_tanh_mlp.py OUTDIR

trains 3 runs (about 15 s on 2 cores) into OUTDIR/results and renders OUTDIR/page/index.html.
On the page, look at "Gradient flow", one figure per initializer:
- random_normal(stddev=0.05), too small: the signal shrinks layer by layer, every hidden layer's
  gradient sits below 1e-7, five decades below glorot's, and the loss hardly moves from a coin
  flip's (0.69);
- glorot_uniform, scaled to each layer's fan-in and fan-out: every layer gets a comparable
  gradient and the network learns;
- random_normal(stddev=1.0), the tutorial's, too large: "Saturated and dead units" shows
  three quarters of the tanh units on their flat tails, yet the gradient GROWS towards the input
  (about two decades, exploding): the large weights more than make up for the flat slopes.
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from vanishing.html import render_report
from vanishing.keras import GradientRecorder

out = Path(sys.argv[1] if len(sys.argv) > 1 else "build/examples/deep_tanh_mlp")
results = out / "results"
SEED, DEPTH, WIDTH = 0, 10, 32

# 569 tumours x 30 features, 1 = benign; 169 held out as the recorder's probe.
x, y = load_breast_cancer(return_X_y=True)
x_train, x_probe, y_train, y_probe = train_test_split(x, y.astype("float32"), test_size=169,
                                                      random_state=SEED, stratify=y)
scaler = StandardScaler().fit(x_train)  # standardised on the training part only
x_train, x_probe = scaler.transform(x_train).astype("float32"), scaler.transform(x_probe).astype("float32")

INITIALIZERS = {  # too small, scaled to the layer's fan-in and fan-out, too large
    "random_normal(stddev=0.05)": lambda seed: keras.initializers.RandomNormal(stddev=0.05, seed=seed),
    "glorot_uniform": lambda seed: keras.initializers.GlorotUniform(seed=seed),
    "random_normal(stddev=1.0)": lambda seed: keras.initializers.RandomNormal(stddev=1.0, seed=seed),
}

for initializer, make in INITIALIZERS.items():
    keras.utils.set_random_seed(SEED)
    # A NEW seeded initializer per layer: one shared instance would give every layer the same weights.
    hidden = [keras.layers.Dense(WIDTH, activation="tanh", kernel_initializer=make(SEED * 100 + i),
                                 name=f"hidden{i}") for i in range(1, DEPTH + 1)]
    model = keras.Sequential([keras.Input((x.shape[1],)), *hidden,
                              keras.layers.Dense(1, kernel_initializer=make(SEED * 100 + DEPTH + 1),
                                                 name="logit")], name="deep_tanh")
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[keras.metrics.BinaryAccuracy(threshold=0.0)])
    run = initializer.replace("random_normal(stddev=", "normal-").rstrip(")")
    recorder = GradientRecorder(results, probe=(x_probe, y_probe), run=run, overwrite=True,
                                labels={"activation": "tanh", "initializer": initializer, "depth": DEPTH,
                                        "seed": SEED})
    history = model.fit(x_train, y_train, epochs=20, batch_size=32, callbacks=[recorder], verbose=0)
    print(f"{run}: training accuracy {history.history['binary_accuracy'][-1]:.3f}")

print(render_report(results, out / "page"))
