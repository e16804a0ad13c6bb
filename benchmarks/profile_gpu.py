"""Where does ``nnspec train --backend torch`` spend its time on a GPU, next to bench_gpu.py's hand-written loop?

    python benchmarks/profile_gpu.py --workloads mlp,cnn,seed_cnn --dtypes float32,mixed_bfloat16

A diagnostic, not a benchmark: each side of bench_gpu.py (the hand loop, ``nnspec train`` through the CLI)
runs two short epochs under ``torch.profiler`` (CPU and CUDA activity); for each side it prints the
operators with the largest self CUDA time and the largest self CPU time, with their call counts, so that
work nnspec adds per step (extra kernels, copies, Python-side operators) shows next to the hand loop's.
Profiling slows both sides; compare counts and shares, not the absolute times.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from bench_gpu import CASES, DTYPES, hand_side, nnspec_side, usable_device

SAMPLES = {"mlp": 8_192, "cnn": 4_096, "seed_cnn": 1_024}


def profiled(label: str, run, rows: int) -> None:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        side = run()
    print(f"\n---- {label}: {side.rate:.0f} samples/s under the profiler" if side.rate else f"\n---- {label}: {side}")
    averages = prof.key_averages()
    for key in ("self_cuda_time_total", "self_cpu_time_total"):
        print(averages.table(sort_by=key, row_limit=rows, max_name_column_width=60))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--workloads", default="mlp,cnn,seed_cnn")
    ap.add_argument("--dtypes", default=",".join(DTYPES))
    ap.add_argument("--rows", type=int, default=22)
    args = ap.parse_args()
    device = usable_device(args.device)
    with tempfile.TemporaryDirectory(prefix="profile_gpu-") as tmp:
        work = Path(tmp)
        for name in args.workloads.split(","):
            case = CASES[name]
            x, y = case.data(SAMPLES[name], 0)
            data_path, spec_path = work / f"{name}.npz", work / f"{name}.nns"
            np.savez(data_path, x=x, y=y)
            spec_path.write_text(case.spec_text(0), encoding="utf-8")
            for dtype in args.dtypes.split(","):
                assert dtype in DTYPES, dtype
                print(f"\n==== {name} {dtype}")
                profiled(f"{name} {dtype} hand", lambda: hand_side(case, x, y, device, dtype, 2), args.rows)
                profiled(f"{name} {dtype} nnspec", lambda: nnspec_side(case, data_path, spec_path, device, dtype, 2,
                                                                       16, work / f"{name}-{dtype}"), args.rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
