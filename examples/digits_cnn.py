"""A small CNN on scikit-learn's digits: sigmoid vs relu x a small normal initializer vs Glorot/He.

    python examples/digits_cnn.py OUTDIR

trains 4 runs (about 30 s on 2 cores) into OUTDIR/results and renders OUTDIR/page/index.html.
On the page, look at "Gradient flow". In both sigmoid networks the first convolution (dark blue)
starts two and a half to three decades below the logits layer (orange), every hidden layer soon
sinks near 1e-5, and they sit at chance (10 %) for over ten epochs: glorot_uniform does not save
sigmoid, whose slope is at most 1/4 in every layer. The relu networks learn within an epoch or
two; with he_normal every layer starts within a decade of the others. "Your runs compared" puts
the four side by side.
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from vanishing.html import render_report
from vanishing.keras import GradientRecorder

out = Path(sys.argv[1] if len(sys.argv) > 1 else "build/examples/digits_cnn")
results = out / "results"
SEED = 0

# 1797 images of 8x8 pixels (0..16), 10 classes; 400 held out as the recorder's probe.
digits = load_digits()
x = (digits.images / 16.0).astype("float32")[..., None]
y = digits.target.astype("int32")
x_train, x_probe, y_train, y_probe = train_test_split(x, y, test_size=400, random_state=SEED, stratify=y)


# A NEW initializer for every layer (one instance shared by layers would give them all the same
# weights), seeded, so every run starts from the same draws.
INITIALIZERS = {
    "random_normal(stddev=0.05)": lambda seed: keras.initializers.RandomNormal(stddev=0.05, seed=seed),
    "glorot_uniform": lambda seed: keras.initializers.GlorotUniform(seed=seed),
    "he_normal": lambda seed: keras.initializers.HeNormal(seed=seed),
}
RUNS = [("sigmoid", "random_normal(stddev=0.05)"), ("sigmoid", "glorot_uniform"),
        ("relu", "random_normal(stddev=0.05)"), ("relu", "he_normal")]


def build(activation, initializer):
    def init(layer):  # a distinct seed for each layer
        return INITIALIZERS[initializer](SEED * 100 + layer)

    return keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(16, 3, padding="same", activation=activation, kernel_initializer=init(1),
                            name="conv1"),
        keras.layers.Conv2D(16, 3, padding="same", activation=activation, kernel_initializer=init(2),
                            name="conv2"),
        keras.layers.Conv2D(32, 3, activation=activation, kernel_initializer=init(3), name="conv3"),  # 6x6
        keras.layers.Flatten(),
        keras.layers.Dense(64, activation=activation, kernel_initializer=init(4), name="dense"),
        keras.layers.Dense(10, kernel_initializer=init(5), name="logits"),
    ], name=f"cnn-{activation}")


for activation, initializer in RUNS:
    keras.utils.set_random_seed(SEED)
    model = build(activation, initializer)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    run = f"{activation}-{initializer.split('(')[0]}"
    recorder = GradientRecorder(results, probe=(x_probe, y_probe), run=run, overwrite=True,
                                labels={"activation": activation, "initializer": initializer, "seed": SEED})
    history = model.fit(x_train, y_train, epochs=15, batch_size=32, callbacks=[recorder], verbose=0)
    print(f"{run}: training accuracy {history.history['accuracy'][-1]:.3f}")

print(render_report(results, out / "page"))
