"""How fast does the PyTorch backend train? A standalone benchmark that prints figures, and tests nothing.

    python benchmarks/bench_torch.py              # a few minutes on 2 busy cores
    python benchmarks/bench_torch.py --quick      # a smoke run
    python benchmarks/bench_torch.py --threads 1 --json torch.json

The workloads, the hand-written loops, the timing and the verdicts are ``harness.py``'s (its docstring
says exactly what each is).

What it measures
----------------
The torch backend (``make_trainer("torch", spec, dtype=float32, mode="native")``) driven by the WHOLE
shared loop, ``runtime.loop.fit``, one epoch at a time (batch order, NumPy fancy indexing of each batch,
the conversion to tensors, per-batch loss bookkeeping), against the two hand-written PyTorch loops
training the same model on the same batches: the TUNED one (``Adam(fused=True)``, channels-last),
which the target is judged against, and the usual untuned one, printed for information. Also for
information: "train_batch loop", the backend's ``train_batch`` called in a plain loop on the same
batches, without ``fit``'s bookkeeping (the difference to ``fit`` is the shared loop's own cost).

1. ``harness.MLP`` on 20,000 synthetic samples.  2. ``harness.CNN`` on 2,048 synthetic samples.

Target for both: backend samples/s ≥ 0.95x the tuned hand-written loop's (median of the per-round
ratios). ``torch.set_num_threads`` is left at its default (printed) unless ``--threads`` is given; on a
busy machine ``--threads 1`` gives steadier figures.
"""

from __future__ import annotations

import sys

import numpy as np

from harness import BATCH, CNN, LR, MLP, Report, arguments, epoch_order, fit_epoch, race_torch_loops

TARGET = 0.95


def backend(workload):
    from runtime.trainers import make_trainer

    spec = workload.spec()
    return spec, make_trainer("torch", spec, dtype=np.float32, mode="native")


def measure(report: Report, workload, n: int, rounds: int, warmup: int) -> None:
    report.section(f"{workload.title}, Adam {LR}, {n} samples")
    x, y = workload.synthetic(n)
    spec, trainer = backend(workload)
    _, plain = backend(workload)

    def train_batch_epoch(r):
        total = 0.0
        for s, idx in enumerate(epoch_order(len(x), r)):
            loss, _ = plain.train_batch(x[idx], y[idx], 1000 * r + s, LR)
            total += loss * len(idx)
        return total / len(x)

    t = race_torch_loops(workload, x, y, {
        "fit": ("backend via loop.fit", lambda idx: trainer.train_batch(x[idx], y[idx], 0, LR),
                lambda r: fit_epoch(trainer, spec, x, y, seed=r)),
        "train_batch": ("backend train_batch loop", lambda idx: plain.train_batch(x[idx], y[idx], 0, LR),
                        train_batch_epoch),
    }, rounds=rounds, warmup=warmup)
    report.verdict(f"{workload.name}: backend / tuned PyTorch loop", t.ratio("fit", "tuned"), TARGET)
    print(f"  for information (per-round medians): backend / untuned loop {t.ratio('fit', 'hand'):.2f}x; "
          f"train_batch loop / tuned {t.ratio('train_batch', 'tuned'):.2f}x; "
          f"tuned / untuned loop {t.ratio('tuned', 'hand'):.2f}x")
    report.results[workload.name] = {**t.as_dict(), "ratio_vs_tuned": t.ratio("fit", "tuned"),
                                     "ratio_vs_untuned": t.ratio("fit", "hand"),
                                     "ratio_train_batch_vs_tuned": t.ratio("train_batch", "tuned")}


def main(argv: list[str] | None = None) -> int:
    ap = arguments(__doc__)
    ap.add_argument("--threads", type=int, help="torch.set_num_threads(N) (default: torch's own default)")
    args = ap.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    report = Report("bench_torch", "the PyTorch backend (native mode, float32) vs hand-written PyTorch loops",
                    quick=args.quick, libraries=("numpy", "torch"))
    report.note("torch_num_threads", torch.get_num_threads())
    print(f"  torch.get_num_threads() = {torch.get_num_threads()}"
          + (" (set by --threads)" if args.threads else " (default, not set)") + f"; batch {BATCH}")
    mlp_n, cnn_n, rounds, warmup = (4_096, 512, 2, 3) if args.quick else (20_000, 2_048, 5, 5)
    measure(report, MLP, mlp_n, rounds, warmup)
    measure(report, CNN, cnn_n, rounds, max(2, warmup // 2))
    return report.finish(args.json)


if __name__ == "__main__":
    sys.exit(main())
