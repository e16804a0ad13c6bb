"""How fast does nnspec train on a GPU? A standalone benchmark that prints figures and ratios, and tests nothing.

    python benchmarks/bench_gpu.py                       # on cuda:0: a couple of minutes on an H200
    python benchmarks/bench_gpu.py --device cpu --quick  # a smoke run anywhere (CPU figures)
    python benchmarks/bench_gpu.py --json gpu.json --workloads seed_cnn --dtypes mixed_bfloat16

On a GPU machine without this project's environment, ``benchmarks/gpu_session.sh`` installs what is
missing and runs this script (README, "Performance").

What it measures
----------------
In one process, on one device, three workloads, each in ``float32`` (TF32 matmuls and convolutions
allowed on both sides) and in ``mixed_bfloat16`` (bfloat16 autocast, float32 weights):

1. ``mlp``: ``harness.MLP``, 784-256-256-10, batch 128, on 60,000 synthetic samples;
2. ``cnn``: ``harness.CNN``, bench_torch.py's 32x32x3 CNN, batch 128, on 20,000 synthetic samples;
3. ``seed_cnn``: the model of ``specs/seed_cnn.nns`` (128x128x3, two blocks of 128 filters, 440,202
   parameters, its regularizers and dropouts), batch 32, on 8,192 synthetic images (x uniform in
   0..255, as its Rescaling(1/255) expects), categorical cross-entropy as the spec has it.

Data: x ~ N(0, 1) (``Workload.synthetic``) or uniform 0..255 for the seed CNN, labels uniform in 0..9, from
a fixed seed; the same arrays for both sides. No validation split (neither side validates).

Each against each, ``epochs`` epochs (5; ``--quick``: 2, on far fewer samples); the first epoch of each
side is warm-up (allocator, cuDNN/oneDNN algorithm choice, first-call costs) and samples/s is taken over
the epochs after it:

- hand: the usual hand-written PyTorch loop, data already on the device: ``Adam(fused=True)``,
  channels-last images and weights, ``zero_grad(set_to_none=True)``, a ``torch.randperm`` batch order on
  the device, ``torch.autocast(dtype=bfloat16)`` for mixed_bfloat16, the loss accumulated on the device
  and read once per epoch (``.item()``). The seed CNN's loss includes its regularizer penalties as the
  spec's does. Time: from the end of epoch 1 to the end of the last epoch (both synchronised by the read).
- nnspec: ``nnspec train SPEC --backend torch --device DEVICE [--tf32] --dtype DTYPE --data x.npz
  --epochs E --threads N``, run in this process through the CLI's own entry point (Typer's
  ``CliRunner``), not quiet (the line per epoch is printed into the runner's buffer; the rich bar needs a
  terminal), with a checkpoint after every epoch, as any ``nnspec train`` does. Time: from the start of
  epoch 2 (after epoch 1's checkpoint) to the return of ``runtime.loop.fit`` (after the last epoch's
  checkpoint); the clock is read through the loop's ``LoopEvents.epoch_start`` (``runtime.loop.fit`` is
  wrapped for the run), so data loading, building the model and writing the run directory's final
  files (plots, history) are not counted, while metrics, progress and every checkpoint are.

Ratio: nnspec samples/s / hand samples/s; the target (issue 10) is >= 0.9 on each row. GPU utilisation:
the mean of ``nvidia-smi`` samples every 200 ms over each side's timed epochs (``harness.GpuUtilisation``;
"n/a" on a CPU). Global PyTorch settings (TF32, cuDNN benchmark and determinism flags) are put back as
they were after each side, so one side cannot change the other's; both sides use ``--threads`` host
threads (default: the cores this process may use).

Nothing is asserted; the script exits 0 when every run completed, 1 when an nnspec run failed (its
output is printed), 2 when the device cannot be used.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from harness import (CNN, LR, MLP, ROOT, GpuUtilisation, Report, arguments, cores, format_utilisation,
                     torch_module)

TARGET = 0.9
DTYPES = ("float32", "mixed_bfloat16")
SEED_SPEC = ROOT / "specs" / "seed_cnn.nns"


# ---------------------------------------------------------------------------------------------
# workloads
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    """One workload: its spec text, its synthetic data, its hand-written module and penalty."""

    name: str
    title: str
    batch: int
    samples: int  # per epoch, full run
    quick_samples: int
    spec_text: Callable[[int], str]  # seed -> the spec (epochs and data are given on the command line)
    data: Callable[[int, int], tuple[np.ndarray, np.ndarray]]  # (n, seed) -> (x float32, y int64)
    module: Callable[[], object]  # a fresh torch.nn.Module (logits out)
    penalty: Callable[[object, object], object] | None = None  # (module, logits) -> the spec's penalties


def seed_cnn_text(seed: int) -> str:
    """specs/seed_cnn.nns with its own train block replaced by the benchmark's (the model untouched):
    categorical cross-entropy, Adam 1e-3, batch 32, accuracy, no validation split, no data set named."""
    text = SEED_SPEC.read_text(encoding="utf-8")
    match = re.search(r"^train\s*\{", text, flags=re.MULTILINE)
    if match is None:
        raise SystemExit(f"{SEED_SPEC}: no train block found")
    return (text[:match.start()] + "train {\n    loss = categorical_crossentropy\n"
            f"    optimizer = adam(learning_rate={LR})\n    batch_size = 32\n    epochs = 1\n    seed = {seed}\n"
            "    metrics = [accuracy]\n}\n")


def seed_cnn_module():
    """The seed CNN in plain PyTorch: [Conv2d(128, 3, pad 1) → BatchNorm2d(ε 1e-3, Keras' momentum) → ReLU →
    MaxPool2d(3, ceil_mode) (= pool 3 'same': 128 → 43 → 15)] x 2 → Dropout2d(0.1) → Flatten → Dropout(0.3) →
    Linear(28800, 10); the input times 1/255 first."""
    import torch.nn as nn

    class SeedCNN(nn.Module):
        def __init__(self):
            super().__init__()

            def block(c_in):
                return [nn.Conv2d(c_in, 128, 3, padding=1), nn.BatchNorm2d(128, eps=1e-3, momentum=0.01), nn.ReLU(),
                        nn.MaxPool2d(3, ceil_mode=True)]

            self.features = nn.Sequential(*block(3), *block(128), nn.Dropout2d(0.1), nn.Flatten(), nn.Dropout(0.3))
            self.dense = nn.Linear(15 * 15 * 128, 10)

        def forward(self, x):
            return self.dense(self.features(x * (1 / 255)))

    return SeedCNN()


def seed_cnn_penalty(module, logits):
    """The seed spec's penalties, as nnspec (and Keras) add them to the loss: l1l2(1e-5, 1e-4) on the Dense
    kernel, l2(1e-4) on its bias, l1(1e-5) on its (softmax) output divided by the batch size."""
    w, b = module.dense.weight, module.dense.bias
    probabilities = logits.float().softmax(dim=-1)
    return (1e-5 * w.abs().sum() + 1e-4 * (w * w).sum() + 1e-4 * (b * b).sum()
            + 1e-5 * probabilities.abs().sum() / len(logits))


def seed_cnn_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images of 128x128x3, uniform in [0, 255) (float32), labels uniform in 0..9 (int64)."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 128, 128, 3), dtype=np.float32) * 255
    return x, rng.integers(0, 10, n).astype(np.int64)


CASES = {c.name: c for c in (
    Case("mlp", MLP.title, 128, 60_000, 4_096, lambda seed: MLP.spec_text(seed=seed, metrics=True), MLP.synthetic,
         lambda: torch_module(MLP)),
    Case("cnn", CNN.title, 128, 20_000, 512, lambda seed: CNN.spec_text(seed=seed, metrics=True), CNN.synthetic,
         lambda: torch_module(CNN)),
    Case("seed_cnn", "seed CNN 128x128x3 (specs/seed_cnn.nns): [Conv2D 128 3x3 -> BN -> relu -> MaxPool 3 same] x 2 "
         "-> Dropout -> Dense(10)", 32, 8_192, 64, seed_cnn_text, seed_cnn_data, seed_cnn_module, seed_cnn_penalty),
)}


# ---------------------------------------------------------------------------------------------
# the two sides
# ---------------------------------------------------------------------------------------------

@dataclass
class Side:
    """One side's figures: samples/s over the epochs after the first, GPU utilisation, last epoch's loss
    (and, for nnspec, the header line ``nnspec train`` printed: where and how it trained)."""

    rate: float | None = None
    utilisation: float | None = None
    loss: float | None = None
    error: str | None = None
    header: str | None = None


@contextlib.contextmanager
def torch_settings_kept():
    """Put PyTorch's global switches (TF32, cuDNN benchmark/determinism, deterministic algorithms, float32
    matmul precision) back as they were when the block ends."""
    import torch

    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    saved = (torch.get_float32_matmul_precision(), matmul.allow_tf32, cudnn.allow_tf32, cudnn.benchmark,
             cudnn.deterministic, torch.are_deterministic_algorithms_enabled())
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(saved[0])
        matmul.allow_tf32, cudnn.allow_tf32, cudnn.benchmark, cudnn.deterministic = saved[1:5]
        torch.use_deterministic_algorithms(saved[5])


def synchronize(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize(device)
    elif device == "mps":
        torch.mps.synchronize()


def hand_side(case: Case, x: np.ndarray, y: np.ndarray, device: str, dtype: str, epochs: int, seed: int = 0) -> Side:
    """The hand-written loop (module docstring) for ``epochs`` epochs; figures over epochs 2..E."""
    import torch
    import torch.nn.functional as F

    with torch_settings_kept():
        if device.startswith("cuda"):  # TF32 allowed, as `nnspec train --tf32` allows it
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        torch.manual_seed(seed)
        dev = torch.device(device)
        image = x.ndim == 4
        model = case.module().to(dev)
        if image:
            model = model.to(memory_format=torch.channels_last)
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=LR, fused=True)
        xd, yd = torch.from_numpy(x).to(dev), torch.from_numpy(y).to(dev)
        n, batch, bf16 = len(xd), case.batch, dtype == "mixed_bfloat16"

        def epoch() -> float:
            order = torch.randperm(n, device=dev)
            total = torch.zeros((), device=dev)
            for s in range(0, n, batch):
                i = order[s:s + batch]
                xb = xd[i].permute(0, 3, 1, 2) if image else xd[i]  # NHWC memory seen as NCHW: channels-last
                opt.zero_grad(set_to_none=True)
                with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
                    logits = model(xb)
                    loss = F.cross_entropy(logits, yd[i])  # autocast computes it in float32
                    if case.penalty is not None:
                        loss = loss + case.penalty(model, logits)
                loss.backward()
                opt.step()
                total += loss.detach() * len(i)
            return (total / n).item()  # the one read per epoch: it waits for the device

        loss = epoch()  # warm-up
        synchronize(device)
        sampler = GpuUtilisation(device).start()
        t0 = time.perf_counter()
        for _ in range(epochs - 1):
            loss = epoch()
        synchronize(device)
        seconds = time.perf_counter() - t0
        utilisation = sampler.stop()
    return Side(rate=n * (epochs - 1) / seconds, utilisation=utilisation, loss=loss)


@contextlib.contextmanager
def epoch_clock(device: str):
    """While the block runs, ``runtime.loop.fit`` is wrapped: the clock is read when each epoch starts and
    when ``fit`` returns (``marks``), and GPU utilisation is sampled from the start of epoch 2 to the end."""
    import runtime.loop as loop
    from backends.contract import LoopEvents

    record = {"marks": [], "utilisation": None}
    original = loop.fit
    sampler = GpuUtilisation(device)

    def fit(*args, events=None, **kwargs):
        events = events or LoopEvents()
        inner = events.epoch_start

        def epoch_start(epoch, *rest):
            record["marks"].append(time.perf_counter())
            if len(record["marks"]) == 2:
                sampler.start()
            return inner(epoch, *rest)

        try:
            return original(*args, events=dataclasses.replace(events, epoch_start=epoch_start), **kwargs)
        finally:
            record["marks"].append(time.perf_counter())
            record["utilisation"] = sampler.stop()

    # cli.train may hold its own reference to fit (a module-level import): wrap that one too
    holders = [m for m in (loop, sys.modules.get("cli.train")) if m is not None and getattr(m, "fit", None) is original]
    for module in holders:
        module.fit = fit
    try:
        yield record
    finally:
        for module in holders:
            module.fit = original


def nnspec_side(case: Case, data_path: Path, spec_path: Path, device: str, dtype: str, epochs: int, threads: int,
                out: Path) -> Side:
    """``nnspec train`` (module docstring) in this process; figures over epochs 2..E."""
    from typer.testing import CliRunner

    from cli import app

    args = ["train", str(spec_path), "--backend", "torch", "--device", device, "--dtype", dtype,
            "--data", str(data_path), "--epochs", str(epochs), "--threads", str(threads), "--out", str(out)]
    if device.startswith("cuda"):
        args.append("--tf32")
    with torch_settings_kept(), epoch_clock(device) as clock:
        result = CliRunner().invoke(app, args)
    if result.exit_code != 0:
        tail = " | ".join(line for line in result.output.strip().splitlines()[-3:])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            tail += f" ({type(result.exception).__name__}: {result.exception})"
        return Side(error=f"nnspec {' '.join(args)}: exit {result.exit_code}: {tail}")
    marks = clock["marks"]
    if len(marks) != epochs + 1:
        return Side(error=f"expected {epochs} epochs timed through runtime.loop.fit, saw {len(marks) - 1}")
    history = json.loads((out / "history.json").read_text())
    n = json.loads((out / "run.json").read_text())["train_samples"]
    header = next((line for line in result.output.splitlines() if line.startswith("training ")), None)
    return Side(rate=n * (epochs - 1) / (marks[-1] - marks[1]), utilisation=clock["utilisation"],
                loss=float(history[-1]["loss"]), header=header)


# ---------------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------------

def device_name(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return "Apple GPU (MPS)" if device == "mps" else "CPU"


def usable_device(requested: str) -> str:
    """``requested`` in its normal form (``cuda`` → ``cuda:0``); exit 2 with one line when torch cannot use it."""
    import torch

    def refuse(message: str):
        print(f"bench_gpu: error: {message}", file=sys.stderr)
        raise SystemExit(2)

    device = "cuda:0" if requested == "cuda" else requested
    if re.fullmatch(r"cuda:\d+", device):
        if not torch.cuda.is_available():
            refuse(f"PyTorch sees no CUDA device here (torch {torch.__version__}); use --device cpu for a smoke run")
        if int(device.split(":")[1]) >= torch.cuda.device_count():
            refuse(f"there is no {device}: PyTorch sees {torch.cuda.device_count()} CUDA device(s)")
    elif device == "mps":
        if not torch.backends.mps.is_available():
            refuse("PyTorch sees no MPS device here")
    elif device != "cpu":
        refuse(f"unknown device {requested!r}: cuda, cuda:N, mps or cpu")
    return device


def print_table(rows: list[dict], gpu: str) -> None:
    print(f"\nnnspec train --backend torch vs the hand-written PyTorch loop on {gpu} (samples/s over the epochs "
          f"after the first; target nnspec/hand >= {TARGET})")
    head = f"  {'workload':<9} {'dtype':<15} {'hand':>10} {'nnspec':>10} {'ratio':>6}  {'GPU util hand':>13}  " \
           f"{'GPU util nnspec':>15}"
    print(head)
    print("  " + "-" * (len(head) - 2))
    for r in rows:
        def rate(v):
            return f"{v:10.0f}" if v is not None else f"{'failed':>10}"

        ratio = f"{r['ratio']:6.2f}" if r["ratio"] is not None else f"{'n/a':>6}"
        print(f"  {r['workload']:<9} {r['dtype']:<15} {rate(r['hand'].rate)} {rate(r['nnspec'].rate)} {ratio}  "
              f"{format_utilisation(r['hand'].utilisation):>13}  {format_utilisation(r['nnspec'].utilisation):>15}")


def main(argv: list[str] | None = None) -> int:
    ap = arguments(__doc__)
    ap.add_argument("--device", default="cuda", help="cuda (= cuda:0), cuda:N, mps or cpu [default: cuda]")
    ap.add_argument("--workloads", default=",".join(CASES), help=f"comma-separated, of {', '.join(CASES)}")
    ap.add_argument("--dtypes", default=",".join(DTYPES), help=f"comma-separated, of {', '.join(DTYPES)}")
    ap.add_argument("--epochs", type=int, help="epochs per side, the first one warm-up [default: 5; --quick: 2]")
    ap.add_argument("--threads", type=int, help="host threads on both sides (nnspec's --threads) [default: the "
                    "cores this process may use]")
    args = ap.parse_args(argv)
    names = [w.strip() for w in args.workloads.split(",") if w.strip()]
    dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    unknown = [w for w in names if w not in CASES] + [d for d in dtypes if d not in DTYPES]
    if unknown:
        ap.error(f"unknown workload or dtype: {', '.join(unknown)}")
    epochs = args.epochs or (2 if args.quick else 5)
    if epochs < 2:
        ap.error("--epochs must be at least 2 (the first is warm-up)")
    import torch

    from backends.threads import limit_threads

    device = usable_device(args.device)
    threads = limit_threads(args.threads or cores())
    report = Report("bench_gpu", "nnspec train --backend torch on a device vs a hand-written PyTorch loop",
                    quick=args.quick, libraries=("numpy", "torch"))
    gpu = device_name(device)
    cuda = torch.version.cuda or "none"
    print(f"  device {device}: {gpu}; torch {torch.__version__} (CUDA {cuda}); {threads} host threads; "
          f"{epochs} epochs per side, the first one warm-up")
    sampling = GpuUtilisation(device).describe()
    print(f"  GPU utilisation: {sampling}")
    for key, value in (("device", device), ("device_name", gpu), ("cuda", cuda), ("threads", threads),
                       ("epochs", epochs), ("utilisation_sampling", sampling)):
        report.note(key, value)
    rows, failed = [], False
    with tempfile.TemporaryDirectory(prefix="bench_gpu-") as tmp:
        work = Path(tmp)
        for name in names:
            case = CASES[name]
            n = case.quick_samples if args.quick else case.samples
            x, y = case.data(n, 0)
            data_path, spec_path = work / f"{name}.npz", work / f"{name}.nns"
            np.savez(data_path, x=x, y=y)
            spec_path.write_text(case.spec_text(0), encoding="utf-8")
            report.section(f"{case.title}: {n} samples, batch {case.batch}")
            for dtype in dtypes:
                hand = hand_side(case, x, y, device, dtype, epochs)
                ours = nnspec_side(case, data_path, spec_path, device, dtype, epochs, threads, work / f"{name}-{dtype}")
                if device.startswith("cuda"):
                    torch.cuda.empty_cache()
                ratio = ours.rate / hand.rate if ours.rate and hand.rate else None
                print(f"  {dtype}: hand {hand.rate:.0f} samples/s (GPU {format_utilisation(hand.utilisation)}, last "
                      f"loss {hand.loss:.4f}); nnspec "
                      + (f"{ours.rate:.0f} samples/s (GPU {format_utilisation(ours.utilisation)}, last loss "
                         f"{ours.loss:.4f})" if ours.error is None else f"FAILED: {ours.error}"))
                if ours.header:
                    print(f"    nnspec said: {ours.header}")
                if ratio is not None:
                    report.verdict(f"{name} {dtype}: nnspec / hand-written", ratio, TARGET)
                failed |= ours.error is not None
                rows.append({"workload": name, "dtype": dtype, "hand": hand, "nnspec": ours, "ratio": ratio})
                report.results[f"{name}/{dtype}"] = {"samples": n, "batch": case.batch, "ratio": ratio,
                                                     "hand": dataclasses.asdict(hand),
                                                     "nnspec": dataclasses.asdict(ours)}
            del x, y
    print_table(rows, gpu)
    report.finish(args.json)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
