"""What does running a model as a graph cost in the torch backend? Prints figures and ratios; tests nothing.

    python benchmarks/bench_torch_graph.py            # about 20 s
    python benchmarks/bench_torch_graph.py --quick

``backends.torch.model.TorchModel`` runs a stack as a plain loop (each step takes the one before) and any other
graph as a flat program precomputed at build: ``(module, how, source)`` over a list of values, so the hot path
is list indexing. Python's per-layer overhead shows most where the layers are cheapest, so the workload is a
deep stack of tiny Dense layers (64 layers of 16 units, batch 32, float32), forward and backward:

1. the stack loop (what every stack runs);
2. the same model through the graph program (``is_stack`` switched off): the program's overhead per layer;
3. for reference, a naive graph executor that looks every layer's inputs up by name in a dict of values.

And a residual model of the same depth (32 Add merges) through the program, per layer, next to the stack.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from backends.torch.layers import RunContext  # noqa: E402
from backends.torch.model import TorchModel  # noqa: E402
from compiler.pipeline import compile_text  # noqa: E402

DEPTH, UNITS, BATCH = 64, 16, 32


def stack_text() -> str:
    lines = "\n".join("    Dense(16, activation=relu)" for _ in range(DEPTH))
    return f"model deep {{\n    Input([{UNITS}])\n{lines}\n}}\ntrain {{ loss = mse optimizer = sgd }}"


def residual_text() -> str:
    block = "    residual {\n        Dense(16, activation=relu)\n    }"
    lines = "\n".join(block for _ in range(DEPTH // 2))
    return f"model deep {{\n    Input([{UNITS}])\n{lines}\n    Dense(16)\n}}\ntrain {{ loss = mse optimizer = sgd }}"


def model(text: str) -> TorchModel:
    return TorchModel(compile_text(text).spec, RunContext(training=True))


def naive(m: TorchModel, spec):
    """A graph executor that looks each layer's inputs up by name (what the program avoids)."""
    modules = {}
    for step, layer in zip(m.steps, m.step_layers):
        modules.setdefault(layer, []).append(step)
    order = [(layer.name, layer.inputs) for layer in spec.layers]

    def forward(x):
        values = {}
        for name, inputs in order:
            v = x if not inputs else values[inputs[0]] if len(inputs) == 1 else [values[i] for i in inputs]
            for step in modules[name]:
                v = step(v)
            values[name] = v
        return values[order[-1][0]]

    return forward


def timed(fn, x, rounds: int) -> float:
    """Median seconds of forward + backward over ``rounds`` rounds of 20 steps."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(20):
            fn(x).sum().backward()
        times.append((time.perf_counter() - start) / 20)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rounds = 3 if args.quick else 15
    torch.set_num_threads(1)
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(BATCH, UNITS)).astype(np.float32))
    spec = compile_text(stack_text()).spec
    stack = model(stack_text())
    program = model(stack_text())
    program.is_stack = False
    assert not model(residual_text()).is_stack
    residual = model(residual_text())
    runs = {
        "stack loop": lambda v: stack(v)[0],
        "graph program": lambda v: program(v)[0],
        "naive dict executor": naive(stack, spec),
        "residual (program)": lambda v: residual(v)[0],
    }
    for fn in runs.values():  # warm up
        timed(fn, x, 1)
    # alternate the rounds so that a busy machine slows each alike
    results = {name: [] for name in runs}
    for _ in range(rounds):
        for name, fn in runs.items():
            results[name].append(timed(fn, x, 1))
    med = {name: statistics.median(ts) for name, ts in results.items()}
    print(f"torch, {DEPTH} Dense(16, relu) layers ({2 * DEPTH} steps), batch {BATCH}, forward + backward, "
          f"1 thread, median of {rounds} rounds of 20 steps")
    for name, t in med.items():
        print(f"  {name:22s} {t * 1e3:7.3f} ms/step   {t / med['stack loop']:.3f}x the stack loop")
    steps = 2 * DEPTH
    print(f"  program overhead per step over the stack loop: "
          f"{(med['graph program'] - med['stack loop']) / steps * 1e6:+.2f} µs")


if __name__ == "__main__":
    main()
