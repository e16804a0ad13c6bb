"""How fast does the NumPy backend train? A standalone benchmark that prints figures, and tests nothing.

Run it with the interpreter of the environment where nnspec and torch are installed, from anywhere:

    python benchmarks/bench_train_numpy.py             # about 25-40 s on 2 idle cores
    python benchmarks/bench_train_numpy.py --quick     # a smoke run, about 15 s
    python benchmarks/bench_train_numpy.py --json train.json

It uses only public tools: ``time.perf_counter`` for time, ``tracemalloc`` (and ``resource.getrusage``,
for information) for memory. It never fails on a slow result: "meets" / "misses" are printed as text.
It exits non-zero only when something crashes.

What it measures
----------------
The NumPy backend (``backends.numpy.trainer.NumpyTrainer``, float32, weights from the canonical
initializers) against a HAND-WRITTEN PyTorch loop training the same model: same layer sizes,
batch 128, Adam(lr=1e-3), float32, the same batches (same order, same number of steps), and
``torch.set_num_threads`` left at its default (printed). The PyTorch loop is the usual idiom:
``zero_grad(set_to_none=True)``, ``F.cross_entropy(model(xb), yb)`` on logits, ``backward()``,
``step()``, ``loss.item()`` accumulated per batch as the NumPy loop accumulates its loss.

0. Roofline: NumPy float32 (2048x2048) @ (2048x2048), best of a few, in GFLOP/s (2·n³ flops).
1. MLP 784-256-256-10 (relu; softmax + sparse categorical cross-entropy, which the backend fuses into
   a loss on the logits, as ``F.cross_entropy`` does) on 20,000 synthetic samples (x ~ N(0, 1),
   random integer labels), up to 5 epochs per side. The NumPy side is the whole shared loop,
   ``runtime.loop.fit``, one epoch at a time (batch order, per-batch loss bookkeeping included);
   the PyTorch side runs the same permutation. After a warm-up of a few steps on each side, the
   epochs alternate NumPy / PyTorch (and which goes first), so slow drift of the machine hits both
   alike. Training FLOPs per sample ≈ 3 × 2 × multiply-adds of the forward pass
   = 6 × (784·256 + 256·256 + 256·10) = 1,612,800; the NumPy side's achieved FLOP/s (best epoch) is
   that times its samples/s, and is compared with the roofline.
   Target: NumPy ≥ 0.8x the PyTorch loop's samples/s.
2. CNN on 32x32x3: Conv2D(32, 3, same) → BatchNormalization → relu → MaxPooling2D(2) →
   Conv2D(64, 3, same) → BatchNormalization → relu → MaxPooling2D(2) → Flatten → Dense(10) (softmax /
   logits + cross-entropy), 1,024 synthetic samples (8 steps) per epoch, up to 6 alternating epochs
   per side. PyTorch gets the same data in its native NCHW layout; its BatchNorm2d uses Keras'
   eps = 1e-3 and momentum (1 − 0.99). Target: NumPy ≥ 0.3x the PyTorch loop's samples/s.
   (For either model, no further epochs start once a side has used 15 s, after at least 2.)
3. Peak memory of a NumPy training step: ``tracemalloc`` (which sees NumPy's array allocations) is
   started with the trainer already built, the baseline is the traced size just before a few
   training steps, and the figure is (peak during those steps) − baseline: everything one step
   allocates (activations kept for backpropagation, im2col matrices, gradients, their clipped copies,
   temporaries). It is compared with parameters + activations computed by hand from the layer
   shapes: every weight of every layer (moving statistics included) × 4 bytes, counted once (one set
   of gradients is that size), plus every layer's output for a batch of 128 (the Input layer's,
   i.e. the batch itself, included; the Keras layer output, so a Dense's pre-activation is not
   counted separately) × 4 bytes. Adam's two slots (2 × the trainable parameters) are NOT counted:
   they exist before the baseline, so the measured figure excludes them too (they are printed for
   information). Target: peak ≤ 2x parameters + activations.

How to read it
--------------
Each side's samples/s is given for its fastest epoch ("best epoch", the figure the ratio and the
verdict use: it is the least disturbed by other processes) and over all its timed epochs; the
"per-round median" is the median of the NumPy/PyTorch ratios of the rounds (each round = one epoch
of each side, back to back). Both libraries use every core by default (OpenBLAS threads for NumPy,
OpenMP/MKL/oneDNN threads for PyTorch), so the figures are only meaningful on an otherwise idle
machine: a busy core slows multithreaded BLAS calls and PyTorch's OpenMP barriers by several
times, erratically. Printed before the run: the load average and the share of the CPUs other
processes used during one second (from /proc/stat; a WARNING above 15%); after each model, UNSTABLE
when the epochs of one side differ by more than 30%. Then rerun before drawing conclusions; never
draw them from a difference of a few per cent. To see where the NumPy side spends
its time (one BLAS thread: the profile is then less disturbed by other processes):

    OPENBLAS_NUM_THREADS=1 python -m cProfile -s tottime benchmarks/bench_train_numpy.py --quick | head -40
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BATCH = 128
LR = 1e-3
MLP_TARGET = 0.8      # NumPy samples/s ≥ 0.8x the hand-written PyTorch loop
CNN_TARGET = 0.3      # NumPy samples/s ≥ 0.3x
MEMORY_TARGET = 2.0   # peak of a step ≤ 2x (parameters + activations)

TRAIN = """
train {
    loss = sparse_categorical_crossentropy
    optimizer = adam(learning_rate=1e-3)
    batch_size = 128
    epochs = 1
    seed = 0
}
"""

MLP_SPEC = """
model bench_mlp {
    Input([784])
    Dense(256, activation=relu)
    Dense(256, activation=relu)
    Dense(10, activation=softmax)
}
""" + TRAIN

CNN_SPEC = """
model bench_cnn {
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
""" + TRAIN

# (layer, output shape of one sample, number of weights), written out by hand from the specs above.
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


def verdict(ok: bool) -> str:
    return "meets" if ok else "misses"


def cpu_busy_elsewhere(seconds: float = 1.0) -> float | None:
    """Share of all CPUs busy during ``seconds`` while this process sleeps (Linux /proc/stat), else None."""
    def sample():
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        return sum(values[:8]), values[3] + values[4]  # total, idle + iowait

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


def busy_warning(busy: float | None) -> str:
    """A warning line when other processes hold a good part of the CPUs (load average if /proc is absent)."""
    cpus = os.cpu_count() or 1
    if busy is None:
        try:
            busy = os.getloadavg()[0] / cpus
        except OSError:
            return ""
    if busy < 0.15:
        return ""
    return (f"  WARNING: {busy:.0%} of the CPUs busy with other processes: both sides use every core, so the"
            " figures below may be off by several times. Rerun on an idle machine.")


def loadavg() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


# ---------------------------------------------------------------------------------------------
# environment and roofline
# ---------------------------------------------------------------------------------------------

def environment() -> dict:
    import torch

    env = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "torch_num_threads": torch.get_num_threads(),
        "load_before": loadavg(),
        "cpu_busy_elsewhere": cpu_busy_elsewhere(),
    }
    try:  # informational only; comes with scikit-learn
        from threadpoolctl import threadpool_info

        env["numpy_blas"] = [f"{i.get('internal_api')} {i.get('version')} ({i.get('num_threads')} threads)"
                             for i in threadpool_info() if i.get("user_api") == "blas"]
    except Exception:  # noqa: BLE001 - any failure just means "unknown"
        env["numpy_blas"] = ["unknown"]
    return env


def roofline(repeats: int) -> float:
    """Best GFLOP/s of a float32 2048x2048 @ 2048x2048 product."""
    n = 2048
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), dtype=np.float32)
    np.matmul(a, b, out=out)  # warm-up
    best = min(_timed(lambda: np.matmul(a, b, out=out)) for _ in range(repeats))
    return 2 * n ** 3 / best / 1e9


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# ---------------------------------------------------------------------------------------------
# the two sides
# ---------------------------------------------------------------------------------------------

def numpy_side(spec_text: str):
    from backends.numpy.trainer import NumpyTrainer
    from compiler.pipeline import compile_text

    spec = compile_text(spec_text).spec
    return spec, NumpyTrainer(spec, dtype=np.float32)


def torch_mlp():
    import torch
    import torch.nn as nn

    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))


def torch_cnn():
    import torch
    import torch.nn as nn

    torch.manual_seed(0)

    def bn(c):  # Keras' defaults: epsilon 1e-3, moving = 0.99·moving + 0.01·batch
        return nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)

    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), bn(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), bn(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 8 * 8, 10),
    )


class TorchLoop:
    """The hand-written PyTorch training loop: one ``epoch(order)`` = the batches of ``order``."""

    def __init__(self, model, x: np.ndarray, y: np.ndarray):
        import torch
        import torch.nn.functional as F

        self.torch, self.F = torch, F
        self.model = model.float().train()
        self.opt = torch.optim.Adam(self.model.parameters(), lr=LR)
        self.x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        self.y = torch.from_numpy(y.astype(np.int64))

    def step(self, xb, yb) -> float:
        self.opt.zero_grad(set_to_none=True)
        loss = self.F.cross_entropy(self.model(xb), yb)
        loss.backward()
        self.opt.step()
        return loss.item()

    def epoch(self, order: list[np.ndarray]) -> float:
        total = 0.0
        for idx in order:
            i = self.torch.from_numpy(idx)
            total += self.step(self.x[i], self.y[i]) * len(idx)
        return total


def numpy_epoch(trainer, spec, x, y, seed: int) -> float:
    from runtime.loop import fit

    history = fit(trainer, spec, x, y, x[:0], y[:0], epochs=1, seed=seed)
    return history.epochs[0]["loss"]


def warm_up(trainer, loop: TorchLoop, x, y, steps: int) -> None:
    for s in range(steps):
        idx = np.arange(s * BATCH, (s + 1) * BATCH) % len(x)
        trainer.train_batch(x[idx], y[idx], s, LR)
        loop.epoch([idx])


def compare(name: str, spec_text: str, torch_model, x_np: np.ndarray, x_torch: np.ndarray, y: np.ndarray,
            rounds: int, warmup: int, budget_s: float) -> dict:
    """Alternate one epoch of each side, up to ``rounds`` times (at least 2; fewer rounds when either
    side has used ``budget_s`` seconds); samples/s of each and their ratio."""
    from compiler.semantics.batch_order import batches

    spec, trainer = numpy_side(spec_text)
    loop = TorchLoop(torch_model, x_torch, y)
    warm_up(trainer, loop, x_np, y, warmup)
    t_np, t_torch, losses = [], [], {"numpy": [], "torch": []}
    steps = 0
    for r in range(rounds):
        order = batches(len(x_np), BATCH, r, 0)  # the permutation fit() uses with seed=r, epoch 0

        def run_numpy():
            losses["numpy"].append(numpy_epoch(trainer, spec, x_np, y, seed=r))

        def run_torch():
            losses["torch"].append(loop.epoch(order) / len(x_np))

        gc.collect()
        first, second = (run_numpy, run_torch) if r % 2 == 0 else (run_torch, run_numpy)
        a = _timed(first)
        gc.collect()
        b = _timed(second)
        tn, tt = (a, b) if r % 2 == 0 else (b, a)
        t_np.append(tn)
        t_torch.append(tt)
        steps += len(order)
        if r + 1 >= 2 and max(sum(t_np), sum(t_torch)) > budget_s:
            break
    n = len(x_np)
    np_rate, torch_rate = n * len(t_np) / sum(t_np), n * len(t_torch) / sum(t_torch)
    np_best, torch_best = n / min(t_np), n / min(t_torch)
    return {
        "model": name, "samples_per_epoch": n, "rounds": len(t_np), "steps_per_side": steps,
        "warmup_steps": warmup,
        "numpy_seconds": t_np, "torch_seconds": t_torch,
        "numpy_samples_per_s": np_rate, "torch_samples_per_s": torch_rate, "ratio_total": np_rate / torch_rate,
        "numpy_best_samples_per_s": np_best, "torch_best_samples_per_s": torch_best,
        "ratio": np_best / torch_best,
        "ratio_median_per_round": statistics.median(tt / tn for tn, tt in zip(t_np, t_torch)),
        "epoch_spread": {"numpy": max(t_np) / min(t_np) - 1, "torch": max(t_torch) / min(t_torch) - 1},
        "last_loss_numpy": losses["numpy"][-1], "last_loss_torch": losses["torch"][-1],
        "trainer": trainer,
    }


# ---------------------------------------------------------------------------------------------
# memory
# ---------------------------------------------------------------------------------------------

def hand_count(layers) -> dict:
    params = sum(p for _, _, p in layers)
    per_sample = sum(int(np.prod(shape)) for _, shape, _ in layers)
    return {"params": params, "param_bytes": 4 * params,
            "activation_floats_per_sample": per_sample, "activation_bytes": 4 * per_sample * BATCH,
            "total_bytes": 4 * params + 4 * per_sample * BATCH}


def step_peak(trainer, x: np.ndarray, y: np.ndarray, steps: int) -> dict:
    """tracemalloc: peak during ``steps`` training steps minus the traced size just before them."""
    batches = [(x[i * BATCH:(i + 1) * BATCH].copy(), y[i * BATCH:(i + 1) * BATCH].copy()) for i in range(steps)]
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for s, (xb, yb) in enumerate(batches):
            loss, out = trainer.train_batch(xb, yb, 10_000 + s, LR)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return {"steps": steps, "peak_minus_baseline_bytes": peak - base}


def memory_report(trainer, x, y, layers, steps: int) -> dict:
    hand = hand_count(layers)
    actual = sum(v.size for v in trainer.params.values())
    trainable = sum(trainer.params[k].size for k in trainer.model.trainable)
    peak = step_peak(trainer, x, y, steps)
    return {**hand, **peak, "params_in_trainer": actual, "adam_slot_bytes": 2 * 4 * trainable,
            "ratio": peak["peak_minus_baseline_bytes"] / hand["total_bytes"]}


# ---------------------------------------------------------------------------------------------
# output
# ---------------------------------------------------------------------------------------------

def mb(n: float) -> str:
    return f"{n / 2**20:8.2f} MiB"


def print_compare(res: dict, target: float) -> None:
    print(f"  {res['rounds']} rounds x {res['samples_per_epoch']} samples, batch {BATCH} "
          f"({res['steps_per_side']} steps per side after {res['warmup_steps']} warm-up steps)")
    for side in ("numpy", "torch"):
        print(f"  {side:6} : {res[side + '_best_samples_per_s']:8.0f} samples/s best epoch, "
              f"{res[side + '_samples_per_s']:8.0f} all epochs   epochs "
              + " ".join(f"{t:.2f}s" for t in res[side + "_seconds"]) + f"   last loss {res['last_loss_' + side]:.4f}")
    spread = {side: max(res[side + "_seconds"]) / min(res[side + "_seconds"]) - 1 for side in ("numpy", "torch")}
    if max(spread.values()) > 0.3:
        print("  UNSTABLE: epochs of one side differ by up to "
              + ", ".join(f"{v:.0%} ({k})" for k, v in spread.items())
              + ": the machine was busy; the figures are unreliable, rerun on an idle machine")
    print(f"  ratio numpy/torch: {res['ratio']:.2f}x best epochs (all epochs {res['ratio_total']:.2f}x, "
          f"per-round median {res['ratio_median_per_round']:.2f}x)"
          f"   target >= {target}x: {verdict(res['ratio'] >= target)}")


def print_memory(name: str, m: dict) -> None:
    print(f"  {name}: params {m['params']:,} (trainer holds {m['params_in_trainer']:,}) = {mb(m['param_bytes'])};"
          f" activations {m['activation_floats_per_sample']:,} floats/sample x {BATCH} = {mb(m['activation_bytes'])}")
    print(f"  {name}: step peak - baseline over {m['steps']} steps = {mb(m['peak_minus_baseline_bytes'])}"
          f"  vs params + activations {mb(m['total_bytes'])}: {m['ratio']:.2f}x"
          f"   target <= {MEMORY_TARGET}x: {verdict(m['ratio'] <= MEMORY_TARGET)}"
          f"   (Adam slots, not counted: {mb(m['adam_slot_bytes']).strip()})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps: a smoke run, figures are rough")
    ap.add_argument("--json", metavar="PATH", type=Path, help="also write the figures as JSON to PATH")
    args = ap.parse_args(argv)
    start = time.perf_counter()

    mlp_n, mlp_rounds = (4_000, 2) if args.quick else (20_000, 5)
    cnn_n, cnn_rounds = (512, 2) if args.quick else (1_024, 6)
    warmup = 3 if args.quick else 5
    budget = 4.0 if args.quick else 15.0  # seconds per side and model: no further rounds past it

    env = environment()
    print("bench_train_numpy: NumPy backend vs a hand-written PyTorch loop" + (" (--quick)" if args.quick else ""))
    print(f"  Python {env['python']} on {env['platform']}, {env['cpus']} CPUs, load average {env['load_before']}")
    print(f"  numpy {env['numpy']} (BLAS: {'; '.join(env['numpy_blas'])}), torch {env['torch']}, "
          f"torch.get_num_threads() = {env['torch_num_threads']} (default, not set)")
    if env["cpu_busy_elsewhere"] is not None:
        print(f"  CPUs busy with other processes over 1 s before starting: {env['cpu_busy_elsewhere']:.0%}")
    busy = busy_warning(env["cpu_busy_elsewhere"])
    if busy:
        print(busy)

    peak_gflops = roofline(3 if args.quick else 5)
    print(f"\nroofline: numpy float32 2048x2048 @ 2048x2048, best of {3 if args.quick else 5}: "
          f"{peak_gflops:.1f} GFLOP/s")

    rng = np.random.default_rng(0)

    # 1. MLP
    x = rng.standard_normal((mlp_n, 784), dtype=np.float32)
    y = rng.integers(0, 10, mlp_n)
    print(f"\n1. MLP 784-256-256-10 (relu, softmax + sparse CE), {mlp_n} samples")
    mlp = compare("mlp", MLP_SPEC, torch_mlp(), x, x, y, mlp_rounds, warmup, budget)
    print_compare(mlp, MLP_TARGET)
    gflops = mlp["numpy_best_samples_per_s"] * MLP_TRAIN_FLOPS / 1e9
    torch_gflops = mlp["torch_best_samples_per_s"] * MLP_TRAIN_FLOPS / 1e9
    print(f"  training FLOPs/sample = 6 x {MLP_MACS:,} = {MLP_TRAIN_FLOPS:,}; numpy achieves {gflops:.1f} GFLOP/s"
          f" = {gflops / peak_gflops:.0%} of the roofline (torch {torch_gflops:.1f} GFLOP/s"
          f" = {torch_gflops / peak_gflops:.0%})")
    mlp_mem = memory_report(mlp.pop("trainer"), x, y, MLP_LAYERS, 3)

    # 2. CNN
    xc = rng.standard_normal((cnn_n, 32, 32, 3), dtype=np.float32)
    yc = rng.integers(0, 10, cnn_n)
    print(f"\n2. CNN 32x32x3: [Conv2D 3x3 same -> BN -> relu -> MaxPool 2] x (32, 64) -> Flatten -> Dense(10), "
          f"{cnn_n} samples")
    cnn = compare("cnn", CNN_SPEC, torch_cnn(), xc, xc.transpose(0, 3, 1, 2), yc, cnn_rounds, warmup, budget)
    print_compare(cnn, CNN_TARGET)
    cnn_mem = memory_report(cnn.pop("trainer"), xc, yc, CNN_LAYERS, 2)

    print("\n3. peak memory of a NumPy training step (tracemalloc: peak of the traced steps - baseline before them)")
    print_memory("MLP", mlp_mem)
    print_memory("CNN", cnn_mem)

    usage = resource.getrusage(resource.RUSAGE_SELF)
    maxrss = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    elapsed = time.perf_counter() - start
    print(f"\nprocess max RSS (getrusage, NumPy + PyTorch + data, for information): {mb(maxrss).strip()}")
    print(f"load average after: {loadavg()} (before: {env['load_before']}; this benchmark itself adds up to"
          f" {os.cpu_count()}); total {elapsed:.1f} s")

    print("\nsummary:")
    print(f"  MLP numpy/torch   {mlp['ratio']:5.2f}x  (target >= {MLP_TARGET}x)  {verdict(mlp['ratio'] >= MLP_TARGET)}")
    print(f"  CNN numpy/torch   {cnn['ratio']:5.2f}x  (target >= {CNN_TARGET}x)  {verdict(cnn['ratio'] >= CNN_TARGET)}")
    print(f"  MLP peak memory   {mlp_mem['ratio']:5.2f}x  (target <= {MEMORY_TARGET}x)  "
          f"{verdict(mlp_mem['ratio'] <= MEMORY_TARGET)}")
    print(f"  CNN peak memory   {cnn_mem['ratio']:5.2f}x  (target <= {MEMORY_TARGET}x)  "
          f"{verdict(cnn_mem['ratio'] <= MEMORY_TARGET)}")

    if args.json:
        doc = {
            "benchmark": "bench_train_numpy", "quick": args.quick, "environment": env,
            "load_after": loadavg(), "seconds": elapsed,
            "roofline_gflops": peak_gflops,
            "mlp": {**mlp, "train_flops_per_sample": MLP_TRAIN_FLOPS, "numpy_gflops": gflops,
                    "roofline_fraction": gflops / peak_gflops, "torch_gflops": torch_gflops,
                    "target": MLP_TARGET, "meets": mlp["ratio"] >= MLP_TARGET},
            "cnn": {**cnn, "target": CNN_TARGET, "meets": cnn["ratio"] >= CNN_TARGET},
            "memory": {"target": MEMORY_TARGET,
                       "mlp": {**mlp_mem, "meets": mlp_mem["ratio"] <= MEMORY_TARGET},
                       "cnn": {**cnn_mem, "meets": cnn_mem["ratio"] <= MEMORY_TARGET}},
            "max_rss_bytes": maxrss,
        }
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
