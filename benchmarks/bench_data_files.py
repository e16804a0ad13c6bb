"""How much do the safe data-file readers cost against numpy's own?

Prints, for a generated data set (default 200,000 samples × 30 float64 features, about 48 MB of x):

1. ``.npz`` stored and compressed: ``runtime.safe_npz.read_npz`` (directory, headers and sizes checked, CRC
   checked) against ``np.load(allow_pickle=False)`` reading the same two arrays.
2. ``.csv``: ``runtime.data_files.read_csv`` (the csv module, field limit, cells into an ``array('d')``) against
   ``np.loadtxt`` (what nnspec used before; it has no cell-size limit).

Medians of ``--runs`` alternating rounds, in seconds, and the ratio safe / numpy. Nothing is asserted.
The refusals themselves (a FIFO, a 116 TiB header, a zip bomb) take well under a millisecond: they stop at
``os.stat`` or the zip directory.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runtime.data_files import read_csv  # noqa: E402
from runtime.safe_npz import read_npz  # noqa: E402


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def numpy_npz(path: Path):
    with np.load(path, allow_pickle=False) as archive:
        return archive["x"], archive["y"]


def numpy_csv(path: Path):
    return np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2, encoding="utf-8-sig")


def compare(name: str, safe, baseline, runs: int) -> None:
    safe_times, base_times = [], []
    for _ in range(runs):
        safe_times.append(timed(safe))
        base_times.append(timed(baseline))
    s, b = statistics.median(safe_times), statistics.median(base_times)
    print(f"{name:<22} safe {s:8.3f} s   numpy {b:8.3f} s   ratio {s / b:5.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--features", type=int, default=30)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.samples, args.features))
    y = rng.integers(0, 10, args.samples)
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, {os.cpu_count()} CPUs, load "
          f"{os.getloadavg()[0]:.2f}; {args.samples} samples x {args.features} features")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        np.savez(tmp / "stored.npz", x=x, y=y)
        np.savez_compressed(tmp / "compressed.npz", x=x, y=y)
        header = ",".join(f"f{i}" for i in range(args.features)) + ",label"
        np.savetxt(tmp / "d.csv", np.column_stack([x, y]), delimiter=",", header=header, comments="", fmt="%.17g")
        for name in ("stored.npz", "compressed.npz"):
            path = tmp / name
            compare(name, lambda: read_npz(path, names=("x", "y")), lambda: numpy_npz(path), args.runs)
        path = tmp / "d.csv"
        print(f"(CSV: {path.stat().st_size / 2**20:.0f} MiB)")
        compare("d.csv", lambda: read_csv(path, "'d.csv'", "label"), lambda: numpy_csv(path), max(1, args.runs // 2))


if __name__ == "__main__":
    main()
