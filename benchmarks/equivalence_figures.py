"""The README's agreement figures: how far PyTorch and Keras land from the NumPy reference in canonical mode.

Every example spec in ``specs/`` (its own data set, the first 256 training samples) and every case of the
generated matrix the tests use (``tests/equivalence_cases.py``: every layer kind, activation, loss,
regularizer, optimizer, schedule and clipping mode, on its generated data) is trained for ``--steps``
optimizer steps (default 50) on each backend in canonical mode — the same initial weights, batches and
dropout masks — in float64 and in float32. For each backend, spec and dtype it prints the largest relative
difference from NumPy (``tools.equiv.relative_error``: max |a − b| / max |b|) over every step's loss and
every final weight, then the largest per backend and dtype, against ``nnspec equiv``'s tolerance (1e-9 in
float64, 1e-4 in float32). A spec without a data set is listed as skipped, and so is ``seed_cnn`` (its
128×128 images through 128-filter convolutions make 50 float64 steps take many minutes a backend on a small
CPU) unless ``--only seed_cnn`` names it. The example graphs and the MobileNet (``example_specs.SHRUNK``) run
as tests/test_example_equivalence.py runs them: their first 8 training samples in batches of 2; the graph
matrix (``tests/graph_matrix.py``: every layer kind inside a graph, every merge) on its random data.

    .venv/bin/python benchmarks/equivalence_figures.py [--steps 50] [--dtypes float64,float32] [--only NAME]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from backends.threads import use_threads  # noqa: E402
from compiler.pipeline import compile_file, compile_text  # noqa: E402
from equivalence_cases import CASES, case_data  # noqa: E402
from example_specs import SHRUNK  # noqa: E402
from graph_cases import graph_data  # noqa: E402
from graph_matrix import SPECS as GRAPH_MATRIX  # noqa: E402
from runtime.data import load_dataset  # noqa: E402
from runtime.named_arrays import NamedArrays  # noqa: E402
from tools.equiv import relative_error, run_canonical, tolerance_for  # noqa: E402

BACKENDS = ("torch", "keras")  # each against NumPy
SUBSET = 256


COSTLY = {"seed_cnn": "128×128 images through 128-filter convolutions (run it with --only seed_cnn)"}


def workloads(only: str | None):
    """(name, spec, x, y) for every example spec with data and every case of the matrix; (name, None, why,
    None) for a spec that is skipped."""
    for path in sorted(p for p in (ROOT / "specs").glob("*.nns") if not p.stem.endswith("_search")):  # concrete specs
        if only and only != path.stem:
            continue
        spec = compile_file(path).spec
        if spec.training is None or spec.training.data is None:
            yield path.stem, None, "no data set", None
            continue
        if path.stem in COSTLY and only != path.stem:
            yield path.stem, None, COSTLY[path.stem], None
            continue
        subset = SUBSET
        if path in SHRUNK:  # 50 float64 steps of ResNet-20 at its batch of 128 take many minutes in NumPy
            spec = spec.model_copy(update={"training": spec.training.model_copy(update={"batch_size": 2})})
            subset = 8
        data = load_dataset(spec, base_dir=path.parent, dtype=np.float64)
        yield path.stem, spec, data.x_train[:subset], data.y_train[:subset]
    for name, text in CASES.items():
        if only and only != name:
            continue
        spec = compile_text(text).spec
        x, y = case_data(spec)
        yield name, spec, x, y
    for name, text in GRAPH_MATRIX.items():
        if only and only != name:
            continue
        spec = compile_text(text).spec
        x, y = graph_data(spec, 24, seed=3)  # as tests/test_graph_equivalence.py
        yield name, spec, x, y


def floats_as(y, dtype):
    """Targets in ``dtype`` where they are values; class indices stay integers (each output's, by key)."""
    if isinstance(y, NamedArrays):
        return NamedArrays({k: floats_as(v, dtype) for k, v in y.items()})
    return y.astype(dtype) if y.dtype.kind == "f" else y


def largest_difference(trace, reference) -> float:
    """The largest relative difference over every step's loss and every final weight (∞ where the two
    runs took a different number of steps: one diverged where the other did not)."""
    if len(trace.losses) != len(reference.losses):
        return float("inf")
    losses = [relative_error(a, b) for a, b in zip(trace.losses, reference.losses)]
    weights = [relative_error(trace.weights[k], v) for k, v in reference.weights.items()]
    return max(losses + weights, default=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--dtypes", default="float64,float32")
    parser.add_argument("--only", help="one spec or case by name")
    args = parser.parse_args()
    use_threads(1)
    dtypes = args.dtypes.split(",")
    worst = {(b, d): (0.0, "") for b in BACKENDS for d in dtypes}
    print(f"canonical mode, {args.steps} steps; largest relative difference from NumPy (losses and final weights)")
    print(f"{'spec or case':38s} " + " ".join(f"{b + ' ' + d:>16s}" for d in dtypes for b in BACKENDS))
    start = time.perf_counter()
    for name, spec, x, y in workloads(args.only):
        if spec is None:
            print(f"{name:38s} skipped: {x}")
            continue
        cells = []
        for dtype in dtypes:
            xd, yd = x.astype(dtype), floats_as(y, dtype)
            reference = run_canonical("numpy", spec, xd, yd, steps=args.steps, dtype=dtype)
            for backend in BACKENDS:
                diff = largest_difference(run_canonical(backend, spec, xd, yd, steps=args.steps, dtype=dtype),
                                          reference)
                cells.append(f"{diff:16.1e}")
                if diff >= worst[backend, dtype][0]:
                    worst[backend, dtype] = (diff, name)
        print(f"{name:38s} " + " ".join(cells), flush=True)
    print(f"\nlargest per backend ({time.perf_counter() - start:.0f} s):")
    for (backend, dtype), (diff, name) in worst.items():
        tol = tolerance_for(dtype)
        print(f"  {backend:6s} {dtype}: {diff:.1e} ({name}); tolerance {tol:g}: {'within' if diff <= tol else 'BEYOND'}")


if __name__ == "__main__":
    main()
