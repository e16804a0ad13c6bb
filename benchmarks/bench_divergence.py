"""What does the divergence check (compiler/semantics/divergence.py) cost per training step? A standalone
benchmark that prints figures, and tests nothing.

    python benchmarks/bench_divergence.py            # about 1-2 minutes on 2 idle cores
    python benchmarks/bench_divergence.py --quick    # a smoke run, rough figures
    python benchmarks/bench_divergence.py --json divergence.json

Model: ``harness.MLP`` (784-256-256-10, relu, softmax fused with sparse categorical cross-entropy), Adam,
float32, batch 128, synthetic data; 270k weights, so the weights and Adam's two slots are 3.2 MB.
Timing, load and JSON are ``harness.py``'s. There is no target: the README quotes the share.

- NumPy and PyTorch (canonical mode, ``train_batch``): the median time of a whole step, and of what the
  check adds to it, timed on its own: ``UpdateUndo.take`` (copies of the weights and optimizer state
  before the update) and the finiteness check of the weights and optimizer state after it (PyTorch:
  one fused kernel, no host synchronisation; the check of the gradients before the update and the read
  of the loss existed already). The share is check / step.
- Keras (native mode): the backend's step (``train_batch``: Keras' own forward, loss and optimizer, traced
  once, with the guard that undoes a diverging update inside the graph) against Keras' own unguarded
  step on the same model built by hand (``harness.keras_model`` without metrics, ``train_on_batch``),
  alternating, median of the per-round ratios. The guard cannot be timed apart from the traced step, so
  the ratio holds the guard's cost together with any other difference of the two steps.

Host synchronisations per PyTorch step are counted too (``Tensor.item`` calls): the loss and one flag,
as before the check covered the updated weights.
"""

from __future__ import annotations

import statistics
import sys

import numpy as np

from harness import BATCH, MLP, Report, alternate, arguments, keras_model, median_time


def numpy_and_torch(report: Report, spec, x, y, repeats: int) -> None:
    from runtime.trainers import make_trainer

    for backend in ("numpy", "torch"):
        trainer = make_trainer(backend, spec, dtype=np.float32, mode="canonical")
        step = median_time(lambda: trainer.train_batch(x, y, 0, 1e-4), repeats)
        if backend == "numpy":
            check = median_time(lambda: (trainer._before.take(), trainer._non_finite_weights()), repeats)
        else:
            def check_torch():
                trainer._before.take()
                trainer._flag_non_finite(trainer._before.state_tensors(), trainer._found_inf)
            check = median_time(check_torch, repeats)
        print(f"  {backend:>6}: step {step * 1e3:8.2f} ms, check {check * 1e3:6.3f} ms = "
              f"{100 * check / step:5.1f}% of a step")
        report.results[backend] = {"step_s": step, "check_s": check, "share": check / step}
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
            print(f"          host synchronisations (Tensor.item) per step: {len(calls)}")
            report.results[backend]["item_calls_per_step"] = len(calls)


def keras_steps(report: Report, spec, x, y, rounds: int, steps: int) -> None:
    from runtime.trainers import make_trainer

    trainer = make_trainer("keras", spec, dtype=np.float32, mode="native")
    own = keras_model(MLP, metrics=False)
    batches = [(x[i * BATCH:(i + 1) * BATCH], y[i * BATCH:(i + 1) * BATCH]) for i in range(steps)]
    trainer.train_batch(*batches[0], 0, 1e-3)  # tracing
    own.train_on_batch(*batches[0])

    def guarded(r):
        for s, (xb, yb) in enumerate(batches):
            trainer.train_batch(xb, yb, s, 1e-3)

    def keras_own(r):
        for xb, yb in batches:
            own.train_on_batch(xb, yb)

    t = alternate({"guarded": guarded, "own": keras_own}, rounds, steps * BATCH)
    ratio = t.ratio("own", "guarded")
    step_g = statistics.median(t.wall["guarded"]) / steps
    step_o = statistics.median(t.wall["own"]) / steps
    print(f"   keras: step guarded (backend) {step_g * 1e3:.2f} ms, Keras' own train_on_batch {step_o * 1e3:.2f} ms: "
          f"guarded/own = {ratio:.3f} (median of {t.rounds} rounds of {steps} steps)")
    report.results["keras"] = {**t.as_dict(), "ratio_guarded_over_own": ratio}


def main(argv: list[str] | None = None) -> int:
    args = arguments(__doc__).parse_args(argv)
    repeats, rounds, n = (20, 3, 2048) if args.quick else (100, 7, 10240)
    report = Report("bench_divergence", "what the divergence check costs per training step", quick=args.quick,
                    libraries=("numpy", "torch", "keras"))
    spec = MLP.spec()
    x, y = MLP.synthetic(n)
    numpy_and_torch(report, spec, x[:BATCH], y[:BATCH], repeats)
    keras_steps(report, spec, x, y, rounds, min(60, n // BATCH))
    return report.finish(args.json)


if __name__ == "__main__":
    sys.exit(main())
