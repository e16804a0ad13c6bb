"""What does the divergence check (compiler/semantics/divergence.py) cost per training step? A standalone
benchmark that prints figures, and tests nothing.

    python benchmarks/bench_divergence.py            # about 1-2 minutes on 2 idle cores
    python benchmarks/bench_divergence.py --quick    # a smoke run, rough figures

Model: MLP 784-256-256-10 (relu; logits + sparse categorical cross-entropy), Adam, float32, batch 128,
random data; 270k weights, so the weights and Adam's two slots are 3.2 MB.

- NumPy and PyTorch (canonical mode, ``train_batch``): the median time of a whole step, and of what the
  check adds to it, timed on its own: ``UpdateUndo.take`` (copies of the weights and optimizer state
  before the update) and the finiteness check of the weights and optimizer state after it (PyTorch:
  one fused kernel, no host synchronisation; the check of the gradients before the update and the read
  of the loss existed already). The share is check / step.
- Keras (native mode, ``model.fit``): one epoch of ``fit`` with the backend's guarded ``train_step``
  against the same model's fit with Keras' own ``train_step`` (the guard detached), alternating, median
  of the per-round ratios. Keras' own step checks nothing, so the ratio is the whole guard's cost.

Host synchronisations per PyTorch step are counted too (``Tensor.item`` calls): the loss and one flag,
as before the check covered the updated weights.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from compiler.pipeline import compile_text  # noqa: E402

SPEC = """model mlp {
    Input([784])
    Dense(256, activation=relu)
    Dense(256, activation=relu)
    Dense(10)
}
train { loss = sparse_categorical_crossentropy(from_logits=true)  optimizer = adam  batch_size = 128 }
"""


def median_ms(fn, repeats: int) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def numpy_and_torch(spec, x, y, repeats: int) -> None:
    from runtime.trainers import make_trainer

    for backend in ("numpy", "torch"):
        trainer = make_trainer(backend, spec, dtype=np.float32, mode="canonical")
        step = median_ms(lambda: trainer.train_batch(x, y, 0, 1e-4), repeats)
        if backend == "numpy":
            check = median_ms(lambda: (trainer._before.take(), trainer._non_finite_weights()), repeats)
        else:
            def check_torch():
                trainer._before.take()
                trainer._flag_non_finite(trainer._before.state_tensors(), trainer._found_inf)
            check = median_ms(check_torch, repeats)
        print(f"{backend:>6}: step {step:8.2f} ms, check {check:6.3f} ms = {100 * check / step:5.1f}% of a step")
        if backend == "torch":
            import torch

            calls = []
            item = torch.Tensor.item

            def counted(self):
                calls.append(1)
                return item(self)

            torch.Tensor.item = counted
            try:
                trainer.train_batch(x, y, 0, 1e-4)
            finally:
                torch.Tensor.item = item
            print(f"        host synchronisations (Tensor.item) per step: {len(calls)}")


def keras_fit(spec, x, y, rounds: int) -> None:
    from backends.keras.optimizers import floatx
    from backends.keras.trainer import KerasTrainer

    trainer = KerasTrainer(spec, dtype=np.float32, mode="native")
    model = trainer.model
    with floatx("float32"):
        trainer._compile(y)
        guard = model.guard

        def fit(guarded: bool) -> float:
            if (model.guard is not None) != guarded:
                model.guard = guard if guarded else None
                model.train_function = None  # traced again with the other train_step
                model.fit(x[:256], y[:256], batch_size=128, epochs=1, verbose=0, shuffle=False)
            t = time.perf_counter()
            model.fit(x, y, batch_size=128, epochs=1, verbose=0, shuffle=False)
            return time.perf_counter() - t

        ratios, times = [], {True: [], False: []}
        for r in range(rounds):
            order = (True, False) if r % 2 else (False, True)
            got = {g: fit(g) for g in order}
            for g, s in got.items():
                times[g].append(s)
            ratios.append(got[True] / got[False])
        model.guard = guard
    print(f" keras: fit epoch guarded {statistics.median(times[True]):.3f} s, Keras' own train_step "
          f"{statistics.median(times[False]):.3f} s: guarded/own = {statistics.median(ratios):.3f} "
          f"(median of {rounds} rounds)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, rough figures")
    args = parser.parse_args()
    repeats, rounds, n = (20, 3, 2048) if args.quick else (100, 7, 10240)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    spec = compile_text(SPEC).spec
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 784)).astype(np.float32)
    y = rng.integers(0, 10, n)
    numpy_and_torch(spec, x[:128], y[:128], repeats)
    keras_fit(spec, x, y, rounds)


if __name__ == "__main__":
    main()
