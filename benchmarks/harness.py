"""What every benchmark in this folder shares: the workloads, the hand-written baselines, timing, load
reporting, verdicts and JSON output. Each ``bench_*.py`` script imports it (``from harness import …``:
a script's own folder is the first entry of ``sys.path``) and only chooses what to measure.

Only public tools are used: ``time.perf_counter`` and ``time.process_time`` for time, ``os.getloadavg``
and ``/proc/stat`` for the load, ``resource.getrusage`` and ``tracemalloc`` for memory.

Workloads (written once; a script picks one by name):

- ``MLP``: Input(784) → Dense(256, relu) → Dense(256, relu) → Dense(10, softmax), sparse categorical
  cross-entropy (fused with the softmax into a loss on the logits, as ``F.cross_entropy`` does),
  Adam 1e-3, batch 128, on synthetic data (x ~ N(0, 1), random labels).
- ``CNN``: Input(32×32×3) → [Conv2D(f, 3, same) → BatchNormalization → relu → MaxPooling2D(2)] for
  f = 32, 64 → Flatten → Dense(10, softmax); the same training.
- ``DIGITS_CNN``: scikit-learn's 8×8×1 digits: Rescaling(1/16) → Conv2D(16, 3, same, relu) →
  MaxPooling2D(2) → Conv2D(32, 3, same, relu) → Flatten → Dense(10, softmax), batch 32.

Hand-written baselines (written once):

- ``TorchLoop(workload, x, y, tuned=False)``: the usual PyTorch loop — ``torch.optim.Adam(lr=1e-3)``
  with its defaults, the images in PyTorch's native NCHW layout (contiguous),
  ``zero_grad(set_to_none=True)``, ``F.cross_entropy(model(xb), yb)`` on logits, ``backward()``,
  ``step()``, ``loss.item()``; BatchNorm2d with Keras' ε 1e-3 and momentum (1 − 0.99).
- ``TorchLoop(…, tuned=True)``: the same loop tuned as PyTorch's documentation advises for CPUs:
  ``Adam(fused=True)`` and channels-last memory (the NHWC images viewed as NCHW, the model's weights
  converted with ``memory_format=torch.channels_last``). **Every speed target is judged against this
  one**; the untuned loop is printed for information.
- ``keras_model(workload)``: ``keras.Sequential`` of the same layers, ``compile(Adam(1e-3),
  "sparse_categorical_crossentropy", metrics=["accuracy"])``: Keras' own ``fit`` (a traced
  ``tf.function``; Keras itself turns XLA off on a CPU-only machine) is the tuned Keras baseline.

Timing (``alternate``): after a warm-up, rounds of one run of every variant back to back, the order
reversed every other round, so slow drift of the machine hits every variant alike; wall and CPU time
per run. A ratio is the median over the rounds of the per-round ratio of two variants' speeds (a
paired comparison: a burst of load from another process distorts it less than totals would); the
totals and the fastest runs are printed too.

Load (``Report``): the load average and the share of the CPUs other processes used over one second
before the run (a WARNING above 15%), the cores this process may use, and the load average after.

GPU utilisation (``GpuUtilisation``, for ``bench_gpu.py``): ``nvidia-smi`` sampled every 200 ms in the
background while a side runs (NVML through ``torch.cuda.utilization`` where ``nvidia-smi`` cannot run);
"n/a" on a CPU.

Verdicts: one line each, ``target >= 0.95x: met`` or ``missed``; nothing is asserted, and a script exits
non-zero only when something crashes. ``--json PATH`` writes the environment, the figures and the
verdicts.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import platform
import statistics
import sys
import textwrap
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

BATCH = 128
LR = 1e-3
BUSY_WARNING = 0.15  # share of the CPUs other processes use before a run that earns a WARNING


# ---------------------------------------------------------------------------------------------
# workloads
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Workload:
    """A model every benchmark means the same thing by: its spec, its synthetic data, its baselines."""

    name: str
    title: str
    input_shape: tuple[int, ...]
    layers: str                 # the model block's body, one layer a line
    batch_size: int = BATCH
    data: str | None = None     # a built-in data set (otherwise the scripts make synthetic data)
    preamble: str = ""          # blocks the model's body uses, written before the model

    def spec_text(self, *, seed: int = 0, metrics: bool = False, batch_size: int | None = None) -> str:
        """The spec: this model, sparse categorical cross-entropy, Adam 1e-3, one epoch."""
        body = "\n".join(f"    {line.strip()}" for line in self.layers.strip().splitlines())
        train = ["loss = sparse_categorical_crossentropy", f"optimizer = adam(learning_rate={LR})",
                 f"batch_size = {batch_size or self.batch_size}", "epochs = 1", f"seed = {seed}"]
        train += ["metrics = [accuracy]"] if metrics else []
        train += [f"data = {self.data}"] if self.data else []
        return (textwrap.dedent(self.preamble).strip() + "\n\n" if self.preamble else "") + (
                f"model {self.name} {{\n{body}\n}}\n\ntrain {{\n"
                + "".join(f"    {line}\n" for line in train) + "}\n")

    def spec(self, **kwargs):
        """The compiled spec (``compiler.pipeline.compile_text``) of ``spec_text(**kwargs)``."""
        from compiler.pipeline import compile_text

        return compile_text(self.spec_text(**kwargs), f"<{self.name}>").spec

    def synthetic(self, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """``n`` samples: x ~ N(0, 1) float32 of the input shape, labels uniform in 0..9 (int64)."""
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((n, *self.input_shape), dtype=np.float32)
        return x, rng.integers(0, 10, n).astype(np.int64)


MLP = Workload("mlp", "MLP 784-256-256-10 (relu, softmax + sparse CE)", (784,), """
    Input([784])
    Dense(256, activation=relu)
    Dense(256, activation=relu)
    Dense(10, activation=softmax)
""")

CNN = Workload("cnn", "CNN 32x32x3: [Conv2D 3x3 same -> BN -> relu -> MaxPool 2] x (32, 64) -> Flatten -> Dense(10)",
               (32, 32, 3), """
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
""")

DIGITS_CNN = Workload("digits_cnn", "digits CNN 8x8x1: Rescaling, Conv2D 16 relu, MaxPool 2, Conv2D 32 relu, Dense 10",
                      (8, 8, 1), """
    Input([8, 8, 1])
    Rescaling(1 / 16)
    Conv2D(16, 3, padding=same, activation=relu)
    MaxPooling2D(2)
    Conv2D(32, 3, padding=same, activation=relu)
    Flatten()
    Dense(10, activation=softmax)
""", batch_size=32, data="digits")

# He et al.'s ResNet-20 (specs/resnet20.nns without its Rescaling): the paper's option B shortcuts.
RESNET20 = Workload("resnet20", "ResNet-20 32x32x3: 3 stages x 3 basic blocks (16, 32, 64), projection shortcuts",
                    (32, 32, 3), """
    Input([32, 32, 3])
    Conv2D(16, 3, padding=same, use_bias=false)
    BatchNormalization()
    Activation(relu)
    repeat 3 {
        basic(16)
    }
    downsample(32)
    repeat 2 {
        basic(32)
    }
    downsample(64)
    repeat 2 {
        basic(64)
    }
    GlobalAveragePooling2D()
    Dense(10, activation=softmax)
""", preamble="""
    block basic(filters) {
        residual {
            Conv2D(filters, 3, padding=same, use_bias=false)
            BatchNormalization()
            Activation(relu)
            Conv2D(filters, 3, padding=same, use_bias=false)
            BatchNormalization()
        }
        Activation(relu)
    }

    block downsample(filters) {
        residual {
            Conv2D(filters, 3, strides=2, padding=same, use_bias=false)
            BatchNormalization()
            Activation(relu)
            Conv2D(filters, 3, padding=same, use_bias=false)
            BatchNormalization()
        } shortcut {
            Conv2D(filters, 1, strides=2, use_bias=false)
            BatchNormalization()
        }
        Activation(relu)
    }
""")

WORKLOADS = {w.name: w for w in (MLP, CNN, DIGITS_CNN, RESNET20)}


# ---------------------------------------------------------------------------------------------
# hand-written baselines
# ---------------------------------------------------------------------------------------------

def torch_module(workload: Workload):
    """The workload as plain ``torch.nn`` layers (logits out: ``F.cross_entropy`` applies the softmax)."""
    import torch.nn as nn

    if workload is MLP:
        return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    if workload is CNN:
        def bn(c):  # Keras' defaults: epsilon 1e-3, moving = 0.99·moving + 0.01·batch
            return nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)

        return nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), bn(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), bn(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 8 * 8, 10),
        )
    if workload is RESNET20:
        return _torch_resnet20()
    raise ValueError(f"no hand-written PyTorch model for {workload.name}")


def _torch_resnet20():
    """ResNet-20 as a PyTorch user writes it: a BasicBlock module (two 3x3 convolutions without bias, each
    followed by BatchNorm2d, ReLU after the sum; a 1x1 projection + BatchNorm2d where the stride is 2), BN with
    Keras' ε 1e-3 and momentum (1 − 0.99), global average pooling, a Linear head (logits)."""
    import torch.nn as nn
    import torch.nn.functional as F

    def bn(c):
        return nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)

    class BasicBlock(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, padding=1 if stride == 1 else 0, bias=False)
            self.bn1 = bn(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, padding=1, bias=False)
            self.bn2 = bn(cout)
            self.stride = stride
            self.shortcut = None if stride == 1 else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), bn(cout))

        def forward(self, x):
            # TensorFlow's `same` with stride 2 on an even size pads one pixel at the end only
            y = self.conv1(F.pad(x, (0, 1, 0, 1)) if self.stride == 2 else x)
            y = F.relu(self.bn1(y))
            y = self.bn2(self.conv2(y))
            return F.relu(y + (x if self.shortcut is None else self.shortcut(x)))

    blocks = [BasicBlock(16, 16, 1) for _ in range(3)]
    blocks += [BasicBlock(16, 32, 2)] + [BasicBlock(32, 32, 1) for _ in range(2)]
    blocks += [BasicBlock(32, 64, 2)] + [BasicBlock(64, 64, 1) for _ in range(2)]
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), bn(16), nn.ReLU(), *blocks,
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


class TorchLoop:
    """The hand-written PyTorch training loop; ``epoch(order)`` trains on the batches of ``order``
    (index arrays into ``x``) and returns the mean loss. ``x`` is given as the spec has it (NHWC
    for images); ``tuned`` chooses the baseline (see the module docstring)."""

    def __init__(self, workload: Workload, x: np.ndarray, y: np.ndarray, *, tuned: bool, seed: int = 0):
        import torch

        self.torch, self.tuned = torch, tuned
        torch.manual_seed(seed)
        model = torch_module(workload).float().train()
        image = x.ndim == 4
        if tuned and image:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.opt = torch.optim.Adam(model.parameters(), lr=LR, **({"fused": True} if tuned else {}))
        x = np.ascontiguousarray(x, dtype=np.float32)
        # tuned: NHWC memory viewed as NCHW per batch (channels_last); untuned: contiguous NCHW once
        self.permute = tuned and image
        self.x = torch.from_numpy(x if self.permute or not image else np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        self.y = torch.from_numpy(y.astype(np.int64))

    def step(self, xb, yb) -> float:
        import torch.nn.functional as F

        self.opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(self.model(xb), yb)
        loss.backward()
        self.opt.step()
        return loss.item()

    def epoch(self, order: list[np.ndarray]) -> float:
        total, count = 0.0, 0
        for idx in order:
            i = self.torch.from_numpy(idx)
            xb = self.x[i].permute(0, 3, 1, 2) if self.permute else self.x[i]
            total += self.step(xb, self.y[i]) * len(idx)
            count += len(idx)
        return total / max(count, 1)


def keras_model(workload: Workload, metrics: bool = True):
    """The workload as a plain ``keras.Sequential``, compiled as a Keras user would (with the accuracy
    metric unless ``metrics=False``)."""
    import keras

    layers = keras.layers
    if workload is MLP:
        stack = [keras.Input((784,)), layers.Dense(256, activation="relu"), layers.Dense(256, activation="relu"),
                 layers.Dense(10, activation="softmax")]
    elif workload is CNN:
        stack = [keras.Input((32, 32, 3))]
        for filters in (32, 64):
            stack += [layers.Conv2D(filters, 3, padding="same"), layers.BatchNormalization(),
                      layers.Activation("relu"), layers.MaxPooling2D(2)]
        stack += [layers.Flatten(), layers.Dense(10, activation="softmax")]
    elif workload is RESNET20:
        model = _keras_resnet20()
        model.compile(optimizer=keras.optimizers.Adam(LR), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"] if metrics else None)
        return model
    else:
        raise ValueError(f"no hand-written Keras model for {workload.name}")
    model = keras.Sequential(stack)
    model.compile(optimizer=keras.optimizers.Adam(LR), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"] if metrics else None)
    return model


def _keras_resnet20():
    """ResNet-20 written with Keras' functional API, as its ResNet examples are."""
    import keras

    L = keras.layers

    def block(x, filters, strides):
        y = L.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False)(x)
        y = L.Activation("relu")(L.BatchNormalization()(y))
        y = L.BatchNormalization()(L.Conv2D(filters, 3, padding="same", use_bias=False)(y))
        if strides != 1:
            x = L.BatchNormalization()(L.Conv2D(filters, 1, strides=strides, use_bias=False)(x))
        return L.Activation("relu")(L.Add()([y, x]))

    inputs = keras.Input((32, 32, 3))
    x = L.Activation("relu")(L.BatchNormalization()(L.Conv2D(16, 3, padding="same", use_bias=False)(inputs)))
    for filters, first_stride in ((16, 1), (32, 2), (64, 2)):
        for i in range(3):
            x = block(x, filters, first_stride if i == 0 else 1)
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, L.Dense(10, activation="softmax")(x))


def epoch_order(n: int, seed: int, batch_size: int = BATCH) -> list[np.ndarray]:
    """The batches of epoch 0 that ``runtime.loop.fit`` uses with this seed (so every side sees them)."""
    from compiler.semantics.batch_order import batches

    return batches(n, batch_size, seed, 0)


def fit_epoch(trainer, spec, x: np.ndarray, y: np.ndarray, seed: int, epochs: int = 1) -> float:
    """``epochs`` epochs of nnspec's one training loop (``runtime.loop.fit``); the last epoch's loss."""
    from runtime.loop import fit

    return fit(trainer, spec, x, y, x[:0], y[:0], epochs=epochs, seed=seed).epochs[-1]["loss"]


# ---------------------------------------------------------------------------------------------
# timing
# ---------------------------------------------------------------------------------------------

def timed(fn: Callable[[], object]) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds of this process, result) of one call, after a garbage collection."""
    gc.collect()
    c0, t0 = time.process_time(), time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, time.process_time() - c0, result


def median_time(fn: Callable[[], object], repeats: int, warmup: int = 3) -> float:
    """Median wall seconds of ``repeats`` calls after ``warmup`` untimed ones (no collection between)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


@dataclass
class Timings:
    """The runs of ``alternate``: seconds per variant, in round order; ``work`` units (samples) per run."""

    work: int
    wall: dict[str, list[float]]
    cpu: dict[str, list[float]]
    last: dict[str, object] = field(default_factory=dict)

    @property
    def rounds(self) -> int:
        return min(len(v) for v in self.wall.values())

    def rate(self, key: str) -> float:
        """Work per second over all the runs of ``key``."""
        return self.work * len(self.wall[key]) / sum(self.wall[key])

    def best_rate(self, key: str) -> float:
        return self.work / min(self.wall[key])

    def ratio(self, a: str, b: str, cpu: bool = False) -> float:
        """How fast ``a`` is against ``b``: the median over the rounds of time(b) / time(a)."""
        t = self.cpu if cpu else self.wall
        return statistics.median(tb / ta for ta, tb in zip(t[a], t[b]))

    def spread(self, key: str) -> float:
        """Slowest run / fastest run − 1."""
        return max(self.wall[key]) / min(self.wall[key]) - 1

    def as_dict(self) -> dict:
        return {"work_per_run": self.work, "rounds": self.rounds, "wall_s": self.wall, "cpu_s": self.cpu,
                "rate": {k: self.rate(k) for k in self.wall}, "best_rate": {k: self.best_rate(k) for k in self.wall}}


def alternate(runs: dict[str, Callable[[int], object]], rounds: int, work: int, *,
              budget_s: float | None = None, min_rounds: int = 2) -> Timings:
    """Run every variant once per round (``runs[key](round)``), in order on even rounds and in reverse
    order on odd ones; stop early, after ``min_rounds``, once a variant has used ``budget_s`` seconds."""
    wall = {k: [] for k in runs}
    cpu = {k: [] for k in runs}
    out = Timings(work, wall, cpu)
    for r in range(rounds):
        for key in (list(runs) if r % 2 == 0 else list(reversed(runs))):
            w, c, out.last[key] = timed(lambda: runs[key](r))
            wall[key].append(w)
            cpu[key].append(c)
        if budget_s is not None and r + 1 >= min_rounds and max(sum(v) for v in wall.values()) > budget_s:
            break
    return out


def print_rates(t: Timings, labels: dict[str, str], unit: str = "samples/s") -> None:
    """One line per variant: rate over all runs, fastest run, each run's seconds; UNSTABLE if they spread."""
    width = max(len(v) for v in labels.values())
    for key, label in labels.items():
        loss = t.last.get(key)
        tail = f"   last loss {loss:.4f}" if isinstance(loss, float) else ""
        print(f"  {label:<{width}} : {t.rate(key):9.0f} {unit} ({t.best_rate(key):9.0f} fastest)   runs "
              + " ".join(f"{s:.2f}s" for s in t.wall[key]) + tail)
    unstable = {labels[k]: t.spread(k) for k in labels if t.spread(k) > 0.3}
    if unstable:
        print("  UNSTABLE: the runs of " + ", ".join(f"{k} differ by {v:.0%}" for k, v in unstable.items())
              + ": the machine was busy; rerun before drawing conclusions")


# ---------------------------------------------------------------------------------------------
# load and environment
# ---------------------------------------------------------------------------------------------

def cores() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def cpu_busy_elsewhere(seconds: float = 1.0) -> float | None:
    """Share of all CPUs busy during ``seconds`` while this process sleeps (Linux ``/proc/stat``), else None."""
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


def versions(*modules: str) -> dict[str, str]:
    """Each module's version: its ``__version__`` once imported, else its distribution's metadata."""
    out = {}
    for name in modules:
        module = sys.modules.get(name)
        if getattr(module, "__version__", None):
            out[name] = str(module.__version__)
            continue
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _fmt_load(load: list[float] | None) -> str:
    return " ".join(f"{v:.2f}" for v in load) if load else "n/a"


# ---------------------------------------------------------------------------------------------
# a benchmark's report: header, sections, verdicts, JSON
# ---------------------------------------------------------------------------------------------

def verdict(value: float, target: float, at_least: bool = True) -> bool:
    """Met: ``value ≥ target`` (``at_least``), else ``value ≤ target``."""
    return value >= target if at_least else value <= target


class Report:
    """Prints a benchmark's header (environment and load), its verdict lines and its footer (load
    after, time taken, the verdicts again); ``finish`` writes everything as JSON when asked."""

    def __init__(self, name: str, title: str, *, quick: bool = False, libraries: tuple[str, ...] = ("numpy",),
                 measure_busy: bool = True):
        self.name, self.started = name, time.perf_counter()
        self.env = {
            "python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "cores_usable": cores(), "versions": versions(*libraries), "load_before": loadavg(),
            "cpu_busy_elsewhere": cpu_busy_elsewhere() if measure_busy else None,
        }
        self.results: dict = {}
        self.verdicts: list[dict] = []
        print(f"{name}: {title}" + (" (--quick: rough figures)" if quick else ""))
        print(f"  Python {self.env['python']} on {self.env['platform']}; {self.env['cpus']} CPUs, "
              f"{self.env['cores_usable']} usable; load average {_fmt_load(self.env['load_before'])}")
        print("  " + ", ".join(f"{k} {v}" for k, v in self.env["versions"].items()))
        busy = self.env["cpu_busy_elsewhere"]
        if busy is not None:
            print(f"  CPUs busy with other processes over 1 s before starting: {busy:.0%}")
            if busy >= BUSY_WARNING:
                print(f"  WARNING: {busy:.0%} of the CPUs are busy with other work: the figures may be off by"
                      " several times; rerun on an idle machine")
        self.quick = quick

    def note(self, key: str, value) -> None:
        """Record an extra environment fact (printed by the caller)."""
        self.env[key] = value

    def section(self, title: str) -> None:
        print(f"\n{title}")

    def verdict(self, label: str, value: float, target: float, *, at_least: bool = True, unit: str = "x",
                against: str = "") -> bool:
        """Print and record ``label: value  target >= target: met|missed`` (``at_least=False``: ``<=``)."""
        ok = verdict(value, target, at_least)
        sign = ">=" if at_least else "<="
        fmt = ".2f" if unit == "x" else ".3f"
        print(f"  {label}: {value:{fmt}}{unit}{f' ({against})' if against else ''}   "
              f"target {sign} {target:g}{unit}: {'met' if ok else 'missed'}")
        self.verdicts.append({"label": label, "value": value, "target": target, "at_least": at_least,
                              "unit": unit, "against": against, "met": ok})
        return ok

    def finish(self, json_path: Path | None) -> int:
        self.env["load_after"] = loadavg()
        elapsed = time.perf_counter() - self.started
        print(f"\nload average after: {_fmt_load(self.env['load_after'])} (before: "
              f"{_fmt_load(self.env['load_before'])}; {self.env['cores_usable']} cores); total {elapsed:.0f} s")
        if self.verdicts:
            print("verdicts:")
            for v in self.verdicts:
                sign = ">=" if v["at_least"] else "<="
                print(f"  {v['label']:<48} {v['value']:8.3f}{v['unit']}  target {sign} {v['target']:g}{v['unit']}: "
                      f"{'met' if v['met'] else 'missed'}")
        if json_path:
            doc = {"benchmark": self.name, "quick": self.quick, "environment": self.env, "seconds": elapsed,
                   "results": self.results, "verdicts": self.verdicts}
            json_path.write_text(json.dumps(doc, indent=2, default=_jsonable) + "\n")
            print(f"wrote {json_path}")
        return 0


def _jsonable(value):
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Timings):
        return value.as_dict()
    return str(value)


def arguments(doc: str, *, quick: bool = True) -> argparse.ArgumentParser:
    """The options every benchmark takes: ``--json PATH`` (and ``--quick`` where it has a quick mode)."""
    ap = argparse.ArgumentParser(description=doc.strip().split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    if quick:
        ap.add_argument("--quick", action="store_true", help="fewer rounds and samples: a smoke run, rough figures")
    ap.add_argument("--json", metavar="PATH", type=Path, help="also write the figures and verdicts as JSON to PATH")
    return ap


def race_torch_loops(workload: Workload, x: np.ndarray, y: np.ndarray,
                     ours: dict[str, tuple[str, Callable[[np.ndarray], object], Callable[[int], object]]], *,
                     rounds: int, warmup: int, budget_s: float | None = None) -> Timings:
    """nnspec's side(s) against both hand-written PyTorch loops (``"hand"``: untuned, ``"tuned"``), epoch
    by epoch with ``alternate``. ``ours[key] = (label, warm_step(idx), run(round))``: ``warm_step``
    trains one batch, ``run`` one epoch in the batch order ``epoch_order(len(x), round)``, which the
    hand-written loops follow too. Each side first trains ``warmup`` batches (allocator, oneDNN
    primitives, first-call costs). Prints each side's rates."""
    hand = TorchLoop(workload, x, y, tuned=False)
    tuned = TorchLoop(workload, x, y, tuned=True)
    for s in range(warmup):
        idx = np.arange(s * BATCH, (s + 1) * BATCH) % len(x)
        for _, warm_step, _ in ours.values():
            warm_step(idx)
        hand.epoch([idx])
        tuned.epoch([idx])
    orders = [epoch_order(len(x), r) for r in range(rounds)]
    runs = {key: run for key, (_, _, run) in ours.items()}
    runs["hand"] = lambda r: hand.epoch(orders[r])
    runs["tuned"] = lambda r: tuned.epoch(orders[r])
    t = alternate(runs, rounds, len(x), budget_s=budget_s)
    print(f"  {t.rounds} rounds x {len(x)} samples, batch {BATCH}, after {warmup} warm-up steps per side")
    print_rates(t, {**{key: label for key, (label, _, _) in ours.items()},
                    "hand": "hand-written PyTorch loop", "tuned": "hand-written, tuned"})
    return t


# ---------------------------------------------------------------------------------------------
# GPU utilisation (bench_gpu.py)
# ---------------------------------------------------------------------------------------------

class GpuUtilisation:
    """The utilisation of one CUDA device while something runs: ``start()``, the work, ``stop()`` → the
    mean of the samples in percent (None where none could be taken: a CPU device, no ``nvidia-smi``
    and no NVML). "Utilisation" is NVIDIA's: the share of each sample period in which at least one
    kernel ran on the GPU (not the share of its cores that were busy).

    Sampled every ``period_ms`` by ``nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits
    -lms period_ms`` in the background (the device named by its UUID, so that ``CUDA_VISIBLE_DEVICES``
    cannot mix them up, else by its index: found once, when the sampler is made, never while a side is
    timed); where ``nvidia-smi`` cannot run, ``torch.cuda.utilization(device)`` (NVML, through the
    ``nvidia-ml-py`` package) is polled by a thread at the same period."""

    def __init__(self, device: str, period_ms: int = 200):
        self.device, self.period_ms = device, period_ms
        self.samples: list[float] = []
        self._process = self._thread = None
        self._stop = None
        self.source = None  # "nvidia-smi" | "torch.cuda.utilization" | None
        # which GPU nvidia-smi calls this one, found now (a one-shot query), not while a side is timed
        self._target = _smi_target(device) if device.startswith("cuda") else None

    def describe(self) -> str:
        """How the samples are taken here, for a report's header."""
        if not self.device.startswith("cuda"):
            return "n/a (not a CUDA device)"
        if self._target is not None:
            return f"nvidia-smi -i {self._target}, every {self.period_ms} ms"
        return f"torch.cuda.utilization (NVML), every {self.period_ms} ms, if NVML answers"

    def start(self) -> "GpuUtilisation":
        import subprocess
        import threading

        self.samples = []
        if not self.device.startswith("cuda"):
            return self
        import torch

        index = torch.device(self.device).index or 0
        self._process = None
        if self._target is not None:
            try:
                self._process = subprocess.Popen(
                    ["nvidia-smi", "-i", self._target, "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                     "-lms", str(self.period_ms)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            except OSError:
                self._process = None
        self._stop = threading.Event()
        if self._process is not None:
            self.source = "nvidia-smi"
            self._thread = threading.Thread(target=self._read_smi, daemon=True)
        else:
            try:
                torch.cuda.utilization(index)
            except Exception:  # no NVML here: nothing to sample
                return self
            self.source = "torch.cuda.utilization"
            self._thread = threading.Thread(target=self._poll_nvml, args=(index,), daemon=True)
        self._thread.start()
        return self

    def _read_smi(self) -> None:
        for line in self._process.stdout:
            try:
                self.samples.append(float(line.strip()))
            except ValueError:  # "[N/A]" or a message: not a sample
                pass

    def _poll_nvml(self, index: int) -> None:
        import torch

        while not self._stop.wait(self.period_ms / 1000):
            try:
                self.samples.append(float(torch.cuda.utilization(index)))
            except Exception:
                return

    def stop(self) -> float | None:
        """Stop sampling; the mean utilisation in percent over the samples, or None."""
        if self._stop is not None:
            self._stop.set()
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except Exception:
                self._process.kill()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._process = self._thread = None
        return statistics.fmean(self.samples) if self.samples else None


@functools.cache
def _smi_target(device: str) -> str | None:
    """The ``nvidia-smi -i`` argument for CUDA device ``device``: its UUID (``GPU-…``, as PyTorch reports it),
    else its index, whichever a one-shot query answers with a number; None when neither does (no nvidia-smi)."""
    import subprocess

    import torch

    index = torch.device(device).index or 0
    uuid = getattr(torch.cuda.get_device_properties(index), "uuid", None)
    for target in ([f"GPU-{uuid}"] if uuid is not None else []) + [str(index)]:
        try:
            answer = subprocess.run(["nvidia-smi", "-i", target, "--query-gpu=utilization.gpu",
                                     "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.SubprocessError):
            return None
        if answer.returncode == 0 and answer.stdout.strip().replace(".", "", 1).isdigit():
            return target
    return None


def format_utilisation(percent: float | None) -> str:
    """``"87%"``, or ``"n/a"`` where no sample was taken (a CPU device)."""
    return "n/a" if percent is None else f"{percent:.0f}%"
