"""How fast does the PyTorch backend train? A standalone benchmark that prints figures, and tests nothing.

Run it with the interpreter of the environment where nnspec and torch are installed, from anywhere:

    python benchmarks/bench_torch.py              # a few minutes on 2 busy cores
    python benchmarks/bench_torch.py --quick      # a smoke run
    python benchmarks/bench_torch.py --json torch.json

It never fails on a slow result: "meets" / "misses" are printed as text; it exits non-zero only
when something crashes.

What it measures
----------------
The torch backend (``make_trainer("torch", spec, dtype=float32, mode="native")``) driven by the
WHOLE shared loop, ``runtime.loop.fit`` one epoch at a time (batch order, NumPy fancy indexing
of each batch, the conversion to tensors, per-batch loss bookkeeping, outputs kept for metrics),
against a HAND-WRITTEN PyTorch loop training the same model: same layer sizes, batch 128,
``torch.optim.Adam(lr=1e-3)`` with its defaults, float32, the same permutation, the usual idiom
(``zero_grad(set_to_none=True)``, ``F.cross_entropy(model(xb), yb)`` on logits, ``backward()``,
``step()``, ``loss.item()``), batches gathered from tensors already in memory. The epochs alternate
backend / hand-written (and which goes first) after a few warm-up steps on each side, so slow
drift of the machine hits both alike. ``torch.set_num_threads`` is left at its default (printed)
unless ``--threads`` is given.

1. MLP 784-256-256-10 (relu; softmax + sparse categorical cross-entropy, which the backend fuses
   into a loss on the logits, as ``F.cross_entropy`` does) on 20,000 synthetic samples.
2. CNN on 32x32x3: Conv2D(32, 3, same) → BatchNormalization → relu → MaxPooling2D(2) →
   Conv2D(64, 3, same) → BatchNormalization → relu → MaxPooling2D(2) → Flatten → Dense(10), on a
   few thousand synthetic samples. The hand-written loop gets the data in PyTorch's native NCHW
   layout (contiguous) and ``BatchNorm2d(eps=1e-3, momentum=0.01)``; the backend gets NHWC, as
   specs are.

Target for both: backend samples/s ≥ 0.95x the hand-written loop's.

For information, two more lines per model:
- "train_batch loop": the backend's ``train_batch`` called in a plain loop on the same batches
  (NumPy fancy indexing included), without ``fit``'s bookkeeping: the difference to ``fit`` is
  the shared loop's own cost;
- "hand-written, tuned": the hand-written loop with ``Adam(fused=True)`` (and, for the CNN, the
  NHWC data viewed as NCHW, i.e. ``channels_last`` memory) — the two things the backend does by
  itself, so this line shows what is left once a hand-written loop does them too.

How to read it: samples/s are totals over the timed epochs. The ratio judged against the target is
the median of the per-round ratios (each round times all four variants back to back), which a
burst of load from other processes distorts less than the totals (also printed). Figures are only
meaningful on an otherwise idle machine: the load average is printed before and after. On a busy
machine ``--threads 1`` gives steadier figures: two OpenMP threads on two shared cores spend much
of their time waiting for each other.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BATCH = 128
LR = 1e-3
TARGET = 0.95

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


def verdict(ok: bool) -> str:
    return "meets" if ok else "misses"


def loadavg() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


# ---------------------------------------------------------------------------------------------
# the sides
# ---------------------------------------------------------------------------------------------

def torch_mlp():
    import torch.nn as nn

    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))


def torch_cnn():
    import torch.nn as nn

    def bn(c):  # Keras' defaults: epsilon 1e-3, moving = 0.99·moving + 0.01·batch
        return nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)

    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), bn(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), bn(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 8 * 8, 10),
    )


class HandLoop:
    """The hand-written PyTorch training loop: one ``epoch(order)`` = the batches of ``order``."""

    def __init__(self, model, x: np.ndarray, y: np.ndarray, *, fused: bool = False, nhwc: bool = False):
        """``nhwc``: ``x`` is (N, H, W, C); each gathered batch is viewed as NCHW (channels_last memory)."""
        import torch

        self.torch = torch
        self.model = model.float().train()
        self.opt = torch.optim.Adam(self.model.parameters(), lr=LR, **({"fused": True} if fused else {}))
        self.x = torch.from_numpy(x)
        self.y = torch.from_numpy(y.astype(np.int64))
        self.nhwc = nhwc

    def step(self, xb, yb) -> float:
        import torch.nn.functional as F

        self.opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(self.model(xb), yb)
        loss.backward()
        self.opt.step()
        return loss.item()

    def epoch(self, order: list[np.ndarray]) -> float:
        total = 0.0
        for idx in order:
            i = self.torch.from_numpy(idx)
            xb = self.x[i].permute(0, 3, 1, 2) if self.nhwc else self.x[i]
            total += self.step(xb, self.y[i]) * len(idx)
        return total


def backend_trainer(spec_text: str):
    from runtime.trainers import make_trainer
    from compiler.pipeline import compile_text

    spec = compile_text(spec_text).spec
    return spec, make_trainer("torch", spec, dtype=np.float32, mode="native")


def fit_epoch(trainer, spec, x, y, seed: int) -> float:
    from runtime.loop import fit

    history = fit(trainer, spec, x, y, x[:0], y[:0], epochs=1, seed=seed)
    return history.epochs[0]["loss"]


def train_batch_epoch(trainer, x, y, order, step0: int) -> float:
    total = 0.0
    for s, idx in enumerate(order):
        loss, _ = trainer.train_batch(x[idx], y[idx], step0 + s, LR)
        total += loss * len(idx)
    return total / len(x)


def compare(name: str, spec_text: str, make_model, x_nhwc: np.ndarray, x_hand: np.ndarray, y: np.ndarray,
            rounds: int, warmup: int) -> dict:
    """Alternate one epoch of each side ``rounds`` times; samples/s of each and their ratios."""
    import torch

    from compiler.semantics.batch_order import batches

    spec, trainer = backend_trainer(spec_text)
    _, plain = backend_trainer(spec_text)
    torch.manual_seed(0)
    hand = HandLoop(make_model(), x_hand, y)
    tuned = HandLoop(make_model(), x_nhwc, y, fused=True, nhwc=x_nhwc.ndim == 4)
    for s in range(warmup):  # warm-up: allocator, oneDNN primitives, first-call costs
        idx = np.arange(s * BATCH, (s + 1) * BATCH) % len(x_nhwc)
        trainer.train_batch(x_nhwc[idx], y[idx], s, LR)
        plain.train_batch(x_nhwc[idx], y[idx], s, LR)
        hand.epoch([idx])
        tuned.epoch([idx])
    times = {"fit": [], "train_batch": [], "hand": [], "tuned": []}
    losses = {}
    for r in range(rounds):
        order = batches(len(x_nhwc), BATCH, r, 0)  # the permutation fit() uses with seed=r, epoch 0
        runs = {
            "fit": lambda r=r: fit_epoch(trainer, spec, x_nhwc, y, seed=r),
            "train_batch": lambda r=r, order=order: train_batch_epoch(plain, x_nhwc, y, order, 1000 * r),
            "hand": lambda order=order: hand.epoch(order) / len(x_nhwc),
            "tuned": lambda order=order: tuned.epoch(order) / len(x_nhwc),
        }
        for key in (list(runs) if r % 2 == 0 else list(reversed(runs))):
            gc.collect()
            t0 = time.perf_counter()
            losses[key] = runs[key]()
            times[key].append(time.perf_counter() - t0)
    samples = len(x_nhwc) * rounds
    rate = {k: samples / sum(v) for k, v in times.items()}

    def median_ratio(ours: str, theirs: str) -> float:  # (samples/ours) / (samples/theirs), round by round
        return statistics.median(t / o for o, t in zip(times[ours], times[theirs]))

    return {
        "model": name, "samples_per_epoch": len(x_nhwc), "rounds": rounds, "warmup_steps": warmup,
        "seconds": times, "samples_per_s": rate,
        "ratio_total": rate["fit"] / rate["hand"], "ratio": median_ratio("fit", "hand"),
        "ratio_train_batch": median_ratio("train_batch", "hand"),
        "ratio_vs_tuned": median_ratio("fit", "tuned"),
        "last_loss": losses,
    }


# ---------------------------------------------------------------------------------------------
# output
# ---------------------------------------------------------------------------------------------

def print_compare(res: dict) -> None:
    rate, sec = res["samples_per_s"], res["seconds"]
    print(f"  {res['rounds']} rounds x {res['samples_per_epoch']} samples, batch {BATCH}, "
          f"after {res['warmup_steps']} warm-up steps per side")
    rows = [("backend via loop.fit", "fit"), ("backend train_batch loop", "train_batch"),
            ("hand-written loop", "hand"), ("hand-written, tuned", "tuned")]
    for label, key in rows:
        print(f"  {label:26s}: {rate[key]:9.0f} samples/s   epochs "
              + " ".join(f"{t:.2f}s" for t in sec[key]) + f"   last loss {res['last_loss'][key]:.4f}")
    print(f"  ratio backend (fit) / hand-written: per-round median {res['ratio']:.2f}x "
          f"(totals {res['ratio_total']:.2f}x)   target >= {TARGET}x: {verdict(res['ratio'] >= TARGET)}")
    print(f"  for information (per-round medians): train_batch loop / hand-written {res['ratio_train_batch']:.2f}x; "
          f"fit / hand-written tuned {res['ratio_vs_tuned']:.2f}x")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps: a smoke run, figures are rough")
    ap.add_argument("--threads", type=int, help="torch.set_num_threads(N) (default: torch's own default)")
    ap.add_argument("--json", metavar="PATH", type=Path, help="also write the figures as JSON to PATH")
    args = ap.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    mlp_n, cnn_n, rounds, warmup = (4_096, 512, 1, 3) if args.quick else (20_000, 2_048, 5, 5)
    env = {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
           "torch": torch.__version__, "torch_num_threads": torch.get_num_threads(), "load_before": loadavg()}
    print("bench_torch: the PyTorch backend (native mode, float32) vs a hand-written PyTorch loop"
          + (" (--quick)" if args.quick else ""))
    print(f"  Python {env['python']} on {env['platform']}, {env['cpus']} CPUs, load average {env['load_before']}")
    print(f"  torch {env['torch']}, torch.get_num_threads() = {env['torch_num_threads']}"
          + (" (set by --threads)" if args.threads else " (default, not set)"))

    rng = np.random.default_rng(0)
    results = {"environment": env}

    print(f"\n1. MLP 784-256-256-10, Adam 1e-3, {mlp_n} samples")
    x = rng.standard_normal((mlp_n, 784), dtype=np.float32)
    y = rng.integers(0, 10, mlp_n)
    res = compare("mlp", MLP_SPEC, torch_mlp, x, x, y, rounds, warmup)
    print_compare(res)
    results["mlp"] = res

    print(f"\n2. CNN 32x32x3 (conv32-bn-relu-pool, conv64-bn-relu-pool, dense10), Adam 1e-3, {cnn_n} samples")
    x = rng.standard_normal((cnn_n, 32, 32, 3), dtype=np.float32)
    y = rng.integers(0, 10, cnn_n)
    x_nchw = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    res = compare("cnn", CNN_SPEC, torch_cnn, x, x_nchw, y, rounds, max(2, warmup // 2))
    print_compare(res)
    results["cnn"] = res

    env["load_after"] = loadavg()
    print(f"\nload average after: {env['load_after']}; total {time.perf_counter() - start:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
