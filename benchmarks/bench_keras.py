"""How fast does the Keras backend train in native mode? A standalone benchmark that prints figures,
and tests nothing.

Run it with the interpreter of the environment where nnspec and keras/tensorflow are installed:

    python benchmarks/bench_keras.py              # about 1-2 minutes on 2 idle cores
    python benchmarks/bench_keras.py --quick      # a smoke run, rough figures
    python benchmarks/bench_keras.py --json keras.json

What it measures
----------------
The Keras backend in native mode (``KerasTrainer(spec, mode="native").native_fit``: Keras'
initializers, ``model.compile`` + ``model.fit`` with the backend's guarded ``train_step``, its
loss and metric objects, its History callback) against a HAND-WRITTEN Keras ``model.fit`` of the
same model on the same data: ``keras.Sequential`` of the same layers (softmax output), ``compile(
Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])``, ``fit(x, y, batch_size=128,
shuffle=True, verbose=0)``, float32, TensorFlow's threads left at their defaults.

1. MLP 784-256-256-10 (relu, softmax) on 20,000 synthetic samples (x ~ N(0, 1), random labels).
2. CNN on 32x32x3: Conv2D(32, 3, same) → BatchNormalization → relu → MaxPooling2D(2) →
   Conv2D(64, 3, same) → BatchNormalization → relu → MaxPooling2D(2) → Flatten → Dense(10, softmax),
   on 3,072 synthetic samples.

Both sides are compiled and warmed up with a first fit of one epoch (tracing excluded). Then rounds
of one ``fit`` of ``--epochs`` epochs per side alternate (which side goes first alternates too), so
slow drift of the machine hits both alike; each fit is timed whole (wall clock, and the process's
CPU time). samples/s is given for each side's fastest fit and its median fit; the ratios are
backend / hand-written for the fastest fits, the median of the per-round ratios (each round = one
fit of each side back to back: a paired comparison, the figure the verdict uses, since it is the
least sensitive to other processes coming and going), and the ratio of the median CPU times
(steadier than wall time on a busy machine). Target: the backend ≥ 0.95x the hand-written fit's
samples/s ("meets"/"misses"). On a machine with a load average above its core count the wall-time
figures swing by tens of percent from run to run: compare the CPU-time ratio, or rerun.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

TARGET = 0.95

MLP = """model mlp {
    Input([784])
    Dense(256, activation=relu)
    Dense(256, activation=relu)
    Dense(10, activation=softmax)
}
train {
    loss = sparse_categorical_crossentropy
    optimizer = adam(learning_rate=1e-3)
    batch_size = 128
    seed = 1
    metrics = [accuracy]
}
"""

CNN = """model cnn {
    Input([32, 32, 3])
    Conv2D(32, 3, padding=same)
    BatchNormalization()
    Activation(relu)
    MaxPooling2D(2)
    Conv2D(64, 3, padding=same)
    BatchNormalization()
    Activation(relu)
    MaxPooling2D(2)
    Flatten()
    Dense(10, activation=softmax)
}
train {
    loss = sparse_categorical_crossentropy
    optimizer = adam(learning_rate=1e-3)
    batch_size = 128
    seed = 1
    metrics = [accuracy]
}
"""


def hand_written(which: str):
    import keras

    if which == "mlp":
        layers = [keras.Input((784,)), keras.layers.Dense(256, activation="relu"),
                  keras.layers.Dense(256, activation="relu"), keras.layers.Dense(10, activation="softmax")]
    else:
        layers = [keras.Input((32, 32, 3))]
        for filters in (32, 64):
            layers += [keras.layers.Conv2D(filters, 3, padding="same"), keras.layers.BatchNormalization(),
                       keras.layers.Activation("relu"), keras.layers.MaxPooling2D(2)]
        layers += [keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")]
    model = keras.Sequential(layers)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def bench(which: str, text: str, n: int, shape: tuple[int, ...], rounds: int, epochs: int) -> dict:
    from backends.keras.trainer import KerasTrainer
    from compiler.pipeline import compile_text

    spec = compile_text(text).spec
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, *shape)).astype(np.float32)
    y = rng.integers(0, 10, n).astype(np.int64)
    empty_x, empty_y = x[:0], y[:0]

    ours = KerasTrainer(spec, dtype=np.float32, mode="native")
    theirs = hand_written(which)

    def timed(fn):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        return time.perf_counter() - t0, time.process_time() - c0

    def run_ours(k):
        return timed(lambda: ours.native_fit(x, y, empty_x, empty_y, epochs=k, seed=1))

    def run_theirs(k):
        return timed(lambda: theirs.fit(x, y, batch_size=128, epochs=k, shuffle=True, verbose=0))

    first_ours, _ = run_ours(1)
    first_theirs, _ = run_theirs(1)

    ours_t, theirs_t, ratios = [], [], []
    for r in range(rounds):
        if r % 2 == 0:
            a, b = run_ours(epochs), run_theirs(epochs)
        else:
            b, a = run_theirs(epochs), run_ours(epochs)
        ours_t.append(a)
        theirs_t.append(b)
        ratios.append(b[0] / a[0])
    samples = n * epochs

    def rate(times, k):
        return samples / min(t[k] for t in times), samples / statistics.median(t[k] for t in times)

    (best_ours, median_ours), (best_theirs, median_theirs) = rate(ours_t, 0), rate(theirs_t, 0)
    (_, cpu_ours), (_, cpu_theirs) = rate(ours_t, 1), rate(theirs_t, 1)
    ratio = best_ours / best_theirs
    paired = statistics.median(ratios)
    return {
        "model": which, "samples": n, "epochs_per_fit": epochs, "fits_per_side": rounds,
        "ours_first_fit_s": first_ours, "hand_written_first_fit_s": first_theirs,
        "ours_samples_per_s_best": best_ours, "ours_samples_per_s_median": median_ours,
        "hand_written_samples_per_s_best": best_theirs, "hand_written_samples_per_s_median": median_theirs,
        "ours_samples_per_cpu_s_median": cpu_ours, "hand_written_samples_per_cpu_s_median": cpu_theirs,
        "ratio_best": ratio, "ratio_per_round_median": paired,
        "ratio_cpu_median": cpu_ours / cpu_theirs,
        "verdict": "meets" if paired >= TARGET else "misses",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples and rounds: rough figures")
    parser.add_argument("--rounds", type=int, default=None, help="alternating rounds per model (default 6)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per side per round (default 2)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    rounds = args.rounds or (2 if args.quick else 6)

    import keras
    import tensorflow as tf

    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(f"python {platform.python_version()} on {platform.platform()}, {os.cpu_count()} CPUs, "
          f"load {load and ' '.join(f'{v:.2f}' for v in load)}")
    print(f"keras {keras.__version__}, tensorflow {tf.__version__}, backend {keras.backend.backend()}, "
          f"intra-op threads {tf.config.threading.get_intra_op_parallelism_threads() or 'default'}, "
          f"inter-op {tf.config.threading.get_inter_op_parallelism_threads() or 'default'}")
    results = []
    for which, text, n, shape in (("mlp", MLP, 5000 if args.quick else 20000, (784,)),
                                  ("cnn", CNN, 1024 if args.quick else 3072, (32, 32, 3))):
        r = bench(which, text, n, shape, rounds, args.epochs)
        results.append(r)
        print(f"\n{which.upper()} ({n} samples, batch 128, Adam 1e-3, float32; {rounds} fits of {args.epochs} "
              f"epochs per side)")
        print(f"  first fit (trace + 1 epoch): backend {r['ours_first_fit_s']:.2f} s, "
              f"hand-written {r['hand_written_first_fit_s']:.2f} s")
        print(f"  backend native_fit : {r['ours_samples_per_s_best']:9.0f} samples/s best fit, "
              f"{r['ours_samples_per_s_median']:9.0f} median, {r['ours_samples_per_cpu_s_median']:9.0f} per CPU-second")
        print(f"  hand-written fit   : {r['hand_written_samples_per_s_best']:9.0f} samples/s best fit, "
              f"{r['hand_written_samples_per_s_median']:9.0f} median, "
              f"{r['hand_written_samples_per_cpu_s_median']:9.0f} per CPU-second")
        print(f"  ratio: per-round median {r['ratio_per_round_median']:.3f}x (fastest fits {r['ratio_best']:.3f}x, "
              f"CPU time {r['ratio_cpu_median']:.3f}x): {r['verdict']} the target >= {TARGET}x")
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(f"\nload after: {load and ' '.join(f'{v:.2f}' for v in load)}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
