"""The talk's nets in Keras 3 ``model.fit`` (TensorFlow backend), as the seed's R code builds them.

Runs in the benchmark's own venv (benchmarks/setup_peers.sh), never the project's:
    /work/bench-venv/bin/python benchmarks/peers/keras_peer.py --data subset.npz --model cnn \
        --threads 1 --epochs 3 --seed 0
Prints one line ``BENCH_JSON {...}`` with per-epoch wall-clock times and the test accuracy.
Batch 128, shuffle each epoch, no validation split; cnn: Adadelta(lr 1.0, rho .95, eps 1e-7),
dnn: RMSprop(lr 1e-3, rho .9, eps 1e-7) - the project's settings (common.DEFAULT_PARAMS).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from barrier import Barrier, EpochClock, add_barrier_args, emit  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help=".npz with x (n,28,28) uint8, y, x_test, y_test")
    ap.add_argument("--model", choices=("cnn", "dnn"), required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jit", choices=("auto", "on", "off"), default="auto",
                    help="model.compile(jit_compile=...): auto = Keras' default (XLA when possible)")
    add_barrier_args(ap)
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    import keras
    from keras import layers

    keras.utils.set_random_seed(args.seed)
    d = np.load(args.data)
    shape = (28, 28, 1) if args.model == "cnn" else (784,)
    x = (d["x"].astype("float32") / 255.0).reshape(-1, *shape)
    xt = (d["x_test"].astype("float32") / 255.0).reshape(-1, *shape)
    y, yt = d["y"].astype("int64"), d["y_test"].astype("int64")

    if args.model == "cnn":
        model = keras.Sequential([
            keras.Input(shape),
            layers.Conv2D(32, (3, 3), activation="relu"),
            layers.Conv2D(64, (3, 3), activation="relu"),
            layers.MaxPooling2D((2, 2)),
            layers.Dropout(0.25),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dropout(0.5),
            layers.Dense(10, activation="softmax"),
        ])
        opt = keras.optimizers.Adadelta(learning_rate=1.0, rho=0.95, epsilon=1e-7)
    else:
        model = keras.Sequential([
            keras.Input(shape),
            layers.Dense(256, activation="relu"),
            layers.Dropout(0.4),
            layers.Dense(128, activation="relu"),
            layers.Dropout(0.3),
            layers.Dense(10, activation="softmax"),
        ])
        opt = keras.optimizers.RMSprop(learning_rate=1e-3, rho=0.9, epsilon=1e-7)
    jit = {"auto": "auto", "on": True, "off": False}[args.jit]
    model.compile(loss="sparse_categorical_crossentropy", optimizer=opt, metrics=["accuracy"],
                  jit_compile=jit)

    barrier = Barrier(args.ready, args.go)
    clock = EpochClock(barrier)

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            clock.begin()

        def on_epoch_end(self, epoch, logs=None):
            clock.end()

    t0 = time.time()
    model.fit(x, y, batch_size=128, epochs=args.epochs, shuffle=True, verbose=0, callbacks=[Timer()])
    fit_s = time.time() - t0
    _, acc = model.evaluate(xt, yt, batch_size=1024, verbose=0)
    emit({"framework": "keras", "model": args.model, "threads": args.threads, "n": int(len(x)),
          "seed": args.seed, "epochs": clock.epochs, "fit_s": fit_s, "acc": float(acc),
          "jit_compile": bool(getattr(model, "jit_compile", False)),
          "versions": {"keras": keras.__version__, "tensorflow": tf.__version__}}, barrier)


if __name__ == "__main__":
    main()
