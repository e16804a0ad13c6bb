"""How fast does the Keras backend train in native mode? A standalone benchmark that prints figures,
and tests nothing.

    python benchmarks/bench_keras.py              # about 1-2 minutes on 2 idle cores
    python benchmarks/bench_keras.py --quick      # a smoke run, rough figures
    python benchmarks/bench_keras.py --rounds 8 --epochs 2 --json keras.json

The workloads, the hand-written Keras model, the timing and the verdicts are ``harness.py``'s.

What it measures
----------------
The Keras backend in native mode, driven by nnspec's one training loop (``runtime.loop.fit`` on
``make_trainer("keras", spec, mode="native")``: Keras' initializers, ``model.fit`` with the backend's
guarded ``train_step``, its loss and metric objects), against the hand-written Keras baseline
(``harness.keras_model``: ``keras.Sequential`` of the same layers, ``compile(Adam(1e-3),
"sparse_categorical_crossentropy", metrics=["accuracy"])``, ``fit(x, y, batch_size=128, shuffle=True,
verbose=0)``): Keras' own ``fit`` is the tuned Keras path (a traced ``tf.function``; Keras turns XLA
off by itself on a CPU-only machine), so there is no separate untuned line. Float32, TensorFlow's
threads at their defaults.

1. ``harness.MLP`` on 20,000 synthetic samples.  2. ``harness.CNN`` on 3,072 synthetic samples.

Both sides are compiled and warmed up with a first fit of one epoch (tracing excluded). Then rounds of
one ``fit`` of ``--epochs`` epochs per side alternate. Target: the backend ≥ 0.95x the hand-written
fit's samples/s (median of the per-round ratios); the ratio of CPU times (steadier than wall time on a
busy machine) is printed too.
"""

from __future__ import annotations

import sys

import numpy as np

from harness import BATCH, CNN, MLP, Report, arguments, fit_epoch, keras_model, print_rates, timed, alternate

TARGET = 0.95


def measure(report: Report, workload, n: int, rounds: int, epochs: int) -> None:
    from runtime.trainers import make_trainer

    report.section(f"{workload.title}, {n} samples, batch {BATCH}; {rounds} fits of {epochs} epochs per side")
    x, y = workload.synthetic(n)
    spec = workload.spec(seed=1, metrics=True)
    ours = make_trainer("keras", spec, dtype=np.float32, mode="native")
    theirs = keras_model(workload)

    def run_ours(k):
        return fit_epoch(ours, spec, x, y, seed=1, epochs=k)

    def run_theirs(k):
        return float(theirs.fit(x, y, batch_size=BATCH, epochs=k, shuffle=True, verbose=0).history["loss"][-1])

    first_ours, _, _ = timed(lambda: run_ours(1))
    first_theirs, _, _ = timed(lambda: run_theirs(1))
    print(f"  first fit (trace + 1 epoch): backend {first_ours:.2f} s, hand-written {first_theirs:.2f} s")
    t = alternate({"backend": lambda r: run_ours(epochs), "keras": lambda r: run_theirs(epochs)}, rounds, n * epochs)
    print_rates(t, {"backend": "backend via loop.fit", "keras": "hand-written model.fit"})
    report.verdict(f"{workload.name}: backend / hand-written model.fit", t.ratio("backend", "keras"), TARGET)
    print(f"  for information: CPU time ratio {t.ratio('backend', 'keras', cpu=True):.2f}x (per-round median), "
          f"fastest fits {t.best_rate('backend') / t.best_rate('keras'):.2f}x")
    report.results[workload.name] = {**t.as_dict(), "first_fit_s": {"backend": first_ours, "keras": first_theirs},
                                     "ratio": t.ratio("backend", "keras"),
                                     "ratio_cpu": t.ratio("backend", "keras", cpu=True)}


def main(argv: list[str] | None = None) -> int:
    ap = arguments(__doc__)
    ap.add_argument("--rounds", type=int, default=None, help="alternating rounds per model (default 6; --quick 2)")
    ap.add_argument("--epochs", type=int, default=2, help="epochs per side per round (default 2)")
    args = ap.parse_args(argv)
    rounds = args.rounds or (2 if args.quick else 6)
    import keras
    import tensorflow as tf

    report = Report("bench_keras", "the Keras backend (native mode, float32) vs a hand-written Keras model.fit",
                    quick=args.quick, libraries=("numpy", "keras", "tensorflow"))
    print(f"  keras backend {keras.backend.backend()}, TensorFlow intra-op threads "
          f"{tf.config.threading.get_intra_op_parallelism_threads() or 'default'}, inter-op "
          f"{tf.config.threading.get_inter_op_parallelism_threads() or 'default'}")
    measure(report, MLP, 5_000 if args.quick else 20_000, rounds, args.epochs)
    measure(report, CNN, 1_024 if args.quick else 3_072, rounds, args.epochs)
    return report.finish(args.json)


if __name__ == "__main__":
    sys.exit(main())
