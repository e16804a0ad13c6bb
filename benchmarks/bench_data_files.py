"""How much do the safe data-file readers cost against numpy's own?

Prints, for a generated data set (default 200,000 samples × 30 float64 features, about 48 MB of x):

1. ``.npz`` stored and compressed: ``runtime.safe_npz.read_npz`` (directory, headers and sizes checked, CRC
   checked) against ``np.load(allow_pickle=False)`` reading the same two arrays.
2. ``.csv``: ``runtime.data_files.read_csv`` (the csv module, field limit, cells into an ``array('d')``) against
   ``np.loadtxt`` (what nnspec used before; it has no cell-size limit).

Medians of ``--runs`` alternating rounds (``harness.alternate``), in seconds, and the median of the per-round
ratios safe / numpy (above 1: the safe reader is slower). Nothing is asserted; there is no target.

    python benchmarks/bench_data_files.py                   # ~1 min on 2 cores
    python benchmarks/bench_data_files.py --quick           # 50,000 samples, 3 rounds
    python benchmarks/bench_data_files.py --json files.json
The refusals themselves (a FIFO, a 116 TiB header, a zip bomb) take well under a millisecond: they stop at
``os.stat`` or the zip directory.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

from harness import Report, alternate, arguments


def numpy_npz(path: Path):
    with np.load(path, allow_pickle=False) as archive:
        return archive["x"], archive["y"]


def numpy_csv(path: Path):
    return np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2, encoding="utf-8-sig")


def compare(report: Report, name: str, safe, baseline, runs: int) -> None:
    t = alternate({"safe": lambda r: safe(), "numpy": lambda r: baseline()}, runs, 1)
    s, b = statistics.median(t.wall["safe"]), statistics.median(t.wall["numpy"])
    ratio = t.ratio("numpy", "safe")  # time(safe) / time(numpy), round by round
    print(f"  {name:<16} safe {s:8.3f} s   numpy {b:8.3f} s   safe / numpy {ratio:5.2f}x (time)")
    report.results[name] = {**t.as_dict(), "safe_median_s": s, "numpy_median_s": b, "time_ratio": ratio}


def main(argv: list[str] | None = None) -> int:
    parser = arguments(__doc__)
    parser.add_argument("--samples", type=int, default=None, help="samples (default 200,000; --quick 50,000)")
    parser.add_argument("--features", type=int, default=30)
    parser.add_argument("--runs", type=int, default=None, help="alternating rounds (default 5; --quick 3)")
    args = parser.parse_args(argv)
    samples = args.samples or (50_000 if args.quick else 200_000)
    runs = args.runs or (3 if args.quick else 5)
    from runtime.data_files import read_csv
    from runtime.safe_npz import read_npz

    report = Report("bench_data_files", "nnspec's safe data-file readers vs numpy's", quick=args.quick)
    print(f"  {samples} samples x {args.features} features, float64; {runs} rounds")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((samples, args.features))
    y = rng.integers(0, 10, samples)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        np.savez(tmp / "stored.npz", x=x, y=y)
        np.savez_compressed(tmp / "compressed.npz", x=x, y=y)
        header = ",".join(f"f{i}" for i in range(args.features)) + ",label"
        np.savetxt(tmp / "d.csv", np.column_stack([x, y]), delimiter=",", header=header, comments="", fmt="%.17g")
        for name in ("stored.npz", "compressed.npz"):
            path = tmp / name
            compare(report, name, lambda: read_npz(path, names=("x", "y")), lambda: numpy_npz(path), runs)
        path = tmp / "d.csv"
        print(f"  (CSV: {path.stat().st_size / 2**20:.0f} MiB)")
        compare(report, "d.csv", lambda: read_csv(path, "'d.csv'", "label"), lambda: numpy_csv(path), max(1, runs // 2))
    return report.finish(args.json)


if __name__ == "__main__":
    sys.exit(main())
