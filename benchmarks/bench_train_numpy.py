"""How fast does the NumPy backend train? A standalone benchmark that prints figures, and tests nothing.

    python benchmarks/bench_train_numpy.py             # about 1 minute on 2 idle cores
    python benchmarks/bench_train_numpy.py --quick     # a smoke run
    python benchmarks/bench_train_numpy.py --threads 1 # both sides on one thread: steadier on a busy machine
    python benchmarks/bench_train_numpy.py --json train.json

The workloads, the hand-written PyTorch loops, the timing and the verdicts are ``harness.py``'s.

What it measures
----------------
The NumPy backend (``backends.numpy.trainer.NumpyTrainer``, float32, weights from the canonical
initializers) driven by the whole shared loop, ``runtime.loop.fit``, one epoch at a time, against the
hand-written PyTorch loops training the same model on the same batches (batch 128, Adam 1e-3, float32,
``torch.set_num_threads`` left at its default, printed): the TUNED loop (``Adam(fused=True)``,
channels-last), which the targets are judged against, and the usual untuned one, for information.

0. Roofline: NumPy float32 (2048x2048) @ (2048x2048), best of a few, in GFLOP/s (2·n³ flops).
1. ``harness.MLP`` on 20,000 synthetic samples, up to 5 rounds. Training FLOPs per sample ≈ 3 × 2 ×
   multiply-adds of the forward pass = 6 × (784·256 + 256·256 + 256·10) = 1,612,800; the NumPy side's
   achieved FLOP/s (fastest epoch) is that times its samples/s, compared with the roofline.
   Target: NumPy ≥ 0.8x the tuned PyTorch loop's samples/s.
2. ``harness.CNN`` on 1,024 synthetic samples per epoch, up to 6 rounds.
   Target: NumPy ≥ 0.3x the tuned PyTorch loop's samples/s.
   (For either model, no further rounds start once a side has used 15 s, after at least 2.)
3. Peak memory of a NumPy training step: ``tracemalloc`` (which sees NumPy's array allocations) is
   started with the trainer already built, the baseline is the traced size just before a few training
   steps, and the figure is (peak during those steps) − baseline: everything one step allocates. It is
   compared with parameters + activations computed by hand from the layer shapes: every weight (moving
   statistics included) × 4 bytes, counted once, plus every layer's output for a batch of 128 (the
   batch itself included) × 4 bytes. Adam's two slots exist before the baseline and are not counted
   (printed for information). Target: peak ≤ 2x parameters + activations.

Both libraries use every core by default, so on a busy machine the figures swing by several times:
the header warns when other processes keep the CPUs busy, and UNSTABLE marks runs that spread by more
than 30%. To see where the NumPy side spends its time (one BLAS thread):

    OPENBLAS_NUM_THREADS=1 python -m cProfile -s tottime benchmarks/bench_train_numpy.py --quick | head -40
"""

from __future__ import annotations

import gc
import resource
import sys
import tracemalloc

import numpy as np

from harness import BATCH, CNN, LR, MLP, Report, arguments, fit_epoch, race_torch_loops, timed

MLP_TARGET = 0.8      # NumPy samples/s ≥ 0.8x the tuned hand-written PyTorch loop
CNN_TARGET = 0.3      # NumPy samples/s ≥ 0.3x the tuned loop
MEMORY_TARGET = 2.0   # peak of a step ≤ 2x (parameters + activations)

# (layer, output shape of one sample, number of weights), written out by hand from the workloads.
MLP_LAYERS = [
    ("input", (784,), 0),
    ("dense", (256,), 784 * 256 + 256),
    ("dense_1", (256,), 256 * 256 + 256),
    ("dense_2", (10,), 256 * 10 + 10),
]
CNN_LAYERS = [
    ("input", (32, 32, 3), 0),
    ("conv2d", (32, 32, 32), 3 * 3 * 3 * 32 + 32),
    ("batch_normalization", (32, 32, 32), 4 * 32),       # gamma, beta, moving mean, moving variance
    ("activation", (32, 32, 32), 0),
    ("max_pooling2d", (16, 16, 32), 0),
    ("conv2d_1", (16, 16, 64), 3 * 3 * 32 * 64 + 64),
    ("batch_normalization_1", (16, 16, 64), 4 * 64),
    ("activation_1", (16, 16, 64), 0),
    ("max_pooling2d_1", (8, 8, 64), 0),
    ("flatten", (4096,), 0),
    ("dense", (10,), 4096 * 10 + 10),
]
MLP_MACS = 784 * 256 + 256 * 256 + 256 * 10     # multiply-adds of one sample's forward pass
MLP_TRAIN_FLOPS = 3 * 2 * MLP_MACS              # forward + two backward matmuls per layer


def roofline(repeats: int) -> float:
    """Best GFLOP/s of a float32 2048x2048 @ 2048x2048 product."""
    n = 2048
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), dtype=np.float32)
    np.matmul(a, b, out=out)  # warm-up
    best = min(timed(lambda: np.matmul(a, b, out=out))[0] for _ in range(repeats))
    return 2 * n ** 3 / best / 1e9


def race(report: Report, workload, n: int, rounds: int, warmup: int, budget_s: float, target: float):
    """The NumPy trainer against the hand-written loops; returns (timings, trainer, x, y)."""
    from backends.numpy.trainer import NumpyTrainer

    report.section(f"{workload.title}, Adam {LR}, {n} samples")
    x, y = workload.synthetic(n)
    spec = workload.spec()
    trainer = NumpyTrainer(spec, dtype=np.float32)
    t = race_torch_loops(workload, x, y, {
        "numpy": ("NumPy backend via loop.fit", lambda idx: trainer.train_batch(x[idx], y[idx], 0, LR),
                  lambda r: fit_epoch(trainer, spec, x, y, seed=r)),
    }, rounds=rounds, warmup=warmup, budget_s=budget_s)
    ratio = t.ratio("numpy", "tuned")
    report.verdict(f"{workload.name}: NumPy / tuned PyTorch loop", ratio, target)
    print(f"  for information: NumPy / untuned loop {t.ratio('numpy', 'hand'):.2f}x (per-round medians); "
          f"fastest epochs NumPy / tuned {t.best_rate('numpy') / t.best_rate('tuned'):.2f}x")
    report.results[workload.name] = {**t.as_dict(), "ratio_vs_tuned": ratio, "ratio_vs_untuned": t.ratio("numpy", "hand")}
    return t, trainer, x, y


def hand_count(layers) -> dict:
    params = sum(p for _, _, p in layers)
    per_sample = sum(int(np.prod(shape)) for _, shape, _ in layers)
    return {"params": params, "param_bytes": 4 * params,
            "activation_floats_per_sample": per_sample, "activation_bytes": 4 * per_sample * BATCH,
            "total_bytes": 4 * params + 4 * per_sample * BATCH}


def step_peak(trainer, x: np.ndarray, y: np.ndarray, steps: int) -> int:
    """tracemalloc: peak during ``steps`` training steps minus the traced size just before them."""
    batches = [(x[i * BATCH:(i + 1) * BATCH].copy(), y[i * BATCH:(i + 1) * BATCH].copy()) for i in range(steps)]
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for s, (xb, yb) in enumerate(batches):
            trainer.train_batch(xb, yb, 10_000 + s, LR)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak - base


def mb(n: float) -> str:
    return f"{n / 2**20:.2f} MiB"


def memory(report: Report, name: str, trainer, x, y, layers, steps: int) -> None:
    hand = hand_count(layers)
    held = sum(v.size for v in trainer.params.values())
    trainable = sum(trainer.params[k].size for k in trainer.model.trainable)
    peak = step_peak(trainer, x, y, steps)
    ratio = peak / hand["total_bytes"]
    print(f"  {name}: params {hand['params']:,} (trainer holds {held:,}) = {mb(hand['param_bytes'])}; activations "
          f"{hand['activation_floats_per_sample']:,} floats/sample x {BATCH} = {mb(hand['activation_bytes'])}")
    print(f"  {name}: step peak - baseline over {steps} steps = {mb(peak)} vs params + activations "
          f"{mb(hand['total_bytes'])} (Adam slots, not counted: {mb(2 * 4 * trainable)})")
    report.verdict(f"{name} peak memory / (params + activations)", ratio, MEMORY_TARGET, at_least=False)
    report.results[f"memory_{name}"] = {**hand, "steps": steps, "peak_minus_baseline_bytes": peak,
                                        "params_in_trainer": held, "ratio": ratio}


def main(argv: list[str] | None = None) -> int:
    ap = arguments(__doc__)
    ap.add_argument("--threads", type=int, help="limit NumPy's BLAS and torch to N threads, as `nnspec train "
                    "--threads N` does (default: each library's own default); steadier on a busy machine")
    args = ap.parse_args(argv)
    if args.threads:
        from backends.threads import limit_threads

        limit_threads(args.threads)
    import torch

    report = Report("bench_train_numpy", "the NumPy backend vs hand-written PyTorch loops", quick=args.quick,
                    libraries=("numpy", "torch"))
    report.note("torch_num_threads", torch.get_num_threads())
    try:  # informational only; comes with scikit-learn
        from threadpoolctl import threadpool_info

        blas = [f"{i.get('internal_api')} {i.get('version')} ({i.get('num_threads')} threads)"
                for i in threadpool_info() if i.get("user_api") == "blas"]
    except Exception:  # noqa: BLE001 - any failure just means "unknown"
        blas = ["unknown"]
    report.note("numpy_blas", blas)
    print(f"  NumPy BLAS: {'; '.join(blas)}; torch.get_num_threads() = {torch.get_num_threads()}"
          + (" (set by --threads)" if args.threads else " (default, not set)"))

    mlp_n, mlp_rounds = (4_000, 2) if args.quick else (20_000, 5)
    cnn_n, cnn_rounds = (512, 2) if args.quick else (1_024, 6)
    warmup = 3 if args.quick else 5
    budget = 4.0 if args.quick else 15.0  # seconds per side and model: no further rounds past it

    repeats = 3 if args.quick else 5
    peak_gflops = roofline(repeats)
    report.results["roofline_gflops"] = peak_gflops
    print(f"\nroofline: numpy float32 2048x2048 @ 2048x2048, best of {repeats}: {peak_gflops:.1f} GFLOP/s")

    mlp, mlp_trainer, x, y = race(report, MLP, mlp_n, mlp_rounds, warmup, budget, MLP_TARGET)
    gflops = mlp.best_rate("numpy") * MLP_TRAIN_FLOPS / 1e9
    tuned_gflops = mlp.best_rate("tuned") * MLP_TRAIN_FLOPS / 1e9
    report.results["mlp"].update(numpy_gflops=gflops, tuned_gflops=tuned_gflops, roofline_share=gflops / peak_gflops)
    print(f"  training FLOPs/sample = 6 x {MLP_MACS:,} = {MLP_TRAIN_FLOPS:,}; NumPy achieves {gflops:.1f} GFLOP/s"
          f" = {gflops / peak_gflops:.0%} of the roofline (tuned PyTorch {tuned_gflops:.1f} GFLOP/s"
          f" = {tuned_gflops / peak_gflops:.0%})")
    _, cnn_trainer, xc, yc = race(report, CNN, cnn_n, cnn_rounds, warmup, budget, CNN_TARGET)

    report.section("3. peak memory of a NumPy training step (tracemalloc: peak of the traced steps - baseline)")
    memory(report, "MLP", mlp_trainer, x, y, MLP_LAYERS, 3)
    memory(report, "CNN", cnn_trainer, xc, yc, CNN_LAYERS, 2)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    maxrss = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    report.results["max_rss_bytes"] = maxrss
    print(f"  process max RSS (getrusage, NumPy + PyTorch + data, for information): {mb(maxrss)}")
    return report.finish(args.json)


if __name__ == "__main__":
    sys.exit(main())
