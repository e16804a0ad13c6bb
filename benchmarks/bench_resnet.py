"""How fast do the backends train a graph model? ResNet-20 at batch 128, against hand-written PyTorch and
Keras. A standalone benchmark that prints figures and ratios, and tests nothing.

    python benchmarks/bench_resnet.py              # about 10 minutes on 2 idle cores
    python benchmarks/bench_resnet.py --quick      # a smoke run, rough figures
    python benchmarks/bench_resnet.py --threads 1 --json resnet.json

The workload is ``harness.RESNET20`` (specs/resnet20.nns without its Rescaling: three stages of three basic
residual blocks, 16/32/64 filters, projection shortcuts where the stride is 2), sparse categorical
cross-entropy on the fused softmax, Adam 1e-3, batch 128, float32, on synthetic 32x32x3 data.

1. PyTorch: the torch backend (native mode) through nnspec's one loop (``runtime.loop.fit``) against the two
   hand-written PyTorch loops of ``harness.race_torch_loops`` over ``harness._torch_resnet20`` (a BasicBlock
   module: the usual way to write ResNet-20 in PyTorch); the target is judged against the tuned one
   (``Adam(fused=True)``, channels-last). Target: ≥ 0.95x.
2. Keras: the Keras backend (native mode) through ``runtime.loop.fit`` against ``harness._keras_resnet20``, a
   functional ``keras.Model`` compiled with Adam and the accuracy metric, trained by its own ``fit``.
   Target: ≥ 0.95x.
3. NumPy: the reference backend's training step (``train_batch``, float32 and float64) at batch 128, reported
   next to them: the NumPy backend is the readable reference, not a fast path.

Every ratio is the median over alternating rounds of the per-round ratio (``harness.alternate``).
"""

from __future__ import annotations

import sys

import numpy as np

from harness import BATCH, LR, RESNET20, Report, arguments, fit_epoch, median_time, race_torch_loops

TARGET = 0.95


def bench_torch(report: Report, n: int, rounds: int, warmup: int) -> None:
    from runtime.trainers import make_trainer

    report.section(f"PyTorch: {RESNET20.title}, Adam {LR}, batch {BATCH}, {n} samples")
    x, y = RESNET20.synthetic(n)
    spec = RESNET20.spec()
    trainer = make_trainer("torch", spec, dtype=np.float32, mode="native")
    t = race_torch_loops(RESNET20, x, y, {
        "fit": ("backend via loop.fit", lambda idx: trainer.train_batch(x[idx], y[idx], 0, LR),
                lambda r: fit_epoch(trainer, spec, x, y, seed=r)),
    }, rounds=rounds, warmup=warmup)
    report.verdict("resnet20 torch: backend / tuned hand-written loop", t.ratio("fit", "tuned"), TARGET)
    print(f"  for information: backend / untuned hand-written loop {t.ratio('fit', 'hand'):.2f}x")
    report.results["torch"] = {**t.as_dict(), "ratio_tuned": t.ratio("fit", "tuned"),
                               "ratio_untuned": t.ratio("fit", "hand")}


def bench_keras(report: Report, n: int, rounds: int) -> None:
    """bench_keras.py's measurement (a first fit per side, then alternating fits of one epoch) on ResNet-20."""
    from bench_keras import measure

    measure(report, RESNET20, n, rounds, epochs=1)


def bench_numpy(report: Report, repeats: int) -> None:
    from runtime.trainers import make_trainer

    report.section(f"NumPy (the reference): one training step of {RESNET20.title}, batch {BATCH}")
    x, y = RESNET20.synthetic(BATCH)
    spec = RESNET20.spec()
    figures = {}
    for dtype in (np.float32, np.float64):
        trainer = make_trainer("numpy", spec, dtype=dtype, mode="native")
        xs = x.astype(dtype)
        step = median_time(lambda: trainer.train_batch(xs, y, 0, LR), repeats, warmup=1)
        figures[np.dtype(dtype).name] = step
        print(f"  {np.dtype(dtype).name}: {step:.2f} s per step ({BATCH / step:.0f} samples/s), median of {repeats}")
    report.results["numpy_step_s"] = figures


def main(argv: list[str] | None = None) -> int:
    ap = arguments(__doc__)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--skip", nargs="*", default=(), choices=("torch", "keras", "numpy"), help="sides to leave out")
    args = ap.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    report = Report("bench_resnet", "ResNet-20 at batch 128: the torch and keras backends vs hand-written loops, "
                    "the NumPy step", quick=args.quick, libraries=("numpy", "torch", "keras", "tensorflow"))
    n = 512 if args.quick else 1_536
    rounds = 2 if args.quick else 5
    if "torch" not in args.skip:
        bench_torch(report, n, rounds, warmup=2 if args.quick else 4)
    if "keras" not in args.skip:
        bench_keras(report, n, rounds)
    if "numpy" not in args.skip:
        bench_numpy(report, 1 if args.quick else 3)
    return report.finish(args.json)


if __name__ == "__main__":
    sys.exit(main())
