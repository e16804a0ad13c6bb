"""How does the thread count change training speed, on an idle and on a busy machine? Prints figures, tests nothing.

    python benchmarks/bench_threads.py                     # about 1-2 minutes on 2 cores
    python benchmarks/bench_threads.py --threads 1,2,4     # other thread counts ("all": every core)
    python benchmarks/bench_threads.py --busy 2 --seconds 5
    python benchmarks/bench_threads.py --spec specs/vgg_cnn.nns --batch-size 256   # a larger workload
    python benchmarks/bench_threads.py --quick             # 1 and 2 threads, 1 s each: a smoke run
    python benchmarks/bench_threads.py --json threads.json

What it measures
----------------
``harness.DIGITS_CNN`` (8×8×1 images: Rescaling(1/16), Conv2D(16, 3, same, relu), MaxPooling2D(2),
Conv2D(32, 3, same, relu), Flatten, Dense(10, softmax); Adam, batch 32, float32, native mode) trained
by nnspec's NumPy and PyTorch trainers with 1 thread (nnspec's default), 2 threads and every core
("all": the libraries' own default), each in a fresh process that calls
``backends.threads.limit_threads`` exactly as ``nnspec train --threads N`` does. Each configuration is
timed twice: on the machine as it is, and with ``--busy`` competing processes (default: one per
two cores, at least one) that spin on a core each, as another user's job would. A process trains
for a few warm-up steps, then for ``--seconds`` seconds, and reports samples per second.

How to read it
--------------
Each row: backend, threads asked for (and the count that means in that process), samples/s
without and with the competing processes, and the slowdown the competition causes. The last
lines compare, per backend and situation, each thread count with one thread. A thread count whose
busy figure collapses (many times slower than one thread) is one a default must not choose on a
shared machine. The load average and the CPU count are printed first; other users' work changes
the "idle" column too, so rerun before concluding anything from a difference of a few per cent.
There is no target here: the figures explain ``--threads``' default (one thread).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from harness import DIGITS_CNN, Report, arguments


def child(backend: str, threads: str, seconds: float, spec_path: str, batch_size: int) -> dict:
    """Train in this process with the given threads; the figures as a dict."""
    from backends.threads import available_cores, limit_threads

    n = limit_threads(available_cores() if threads == "all" else int(threads))
    import numpy as np

    from compiler.pipeline import compile_text
    from runtime.data import load_dataset
    from runtime.trainers import make_trainer
    from tools.equiv import step_batches

    if spec_path:
        spec = compile_text(Path(spec_path).read_text(), spec_path).spec
        if batch_size:
            spec = spec.model_copy(update={"training": spec.training.model_copy(update={"batch_size": batch_size})})
    else:
        spec = DIGITS_CNN.spec(batch_size=batch_size or None)
    data = load_dataset(spec, dtype=np.dtype("float32"))
    trainer = make_trainer(backend, spec, dtype=np.dtype("float32"), mode="native")
    x, y = data.x_train, data.y_train
    order = iter(step_batches(len(x), spec.training.batch_size, 0, 20_000))
    for step in range(5):  # warm-up: first-call costs, allocator, JIT of the framework
        idx = next(order)
        trainer.train_batch(x[idx], y[idx], step, 1e-3)
    samples, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        idx = next(order)
        step += 1
        trainer.train_batch(x[idx], y[idx], step, 1e-3)
        samples += len(idx)
    elapsed = time.perf_counter() - start
    return {"backend": backend, "asked": threads, "threads": n, "samples_per_s": samples / elapsed}


def run_child(backend: str, threads: str, args) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    out = subprocess.run([sys.executable, __file__, "--child", backend, threads, str(args.seconds),
                          "--spec", str(args.spec or ""), "--batch-size", str(args.batch_size or 0)], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def spinners(n: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def main(argv: list[str] | None = None) -> int:
    parser = arguments(__doc__)
    parser.add_argument("--threads", default=None, help="comma-separated counts; 'all' is every core "
                        "(default 1,2,all; --quick 1,2)")
    parser.add_argument("--backends", default="numpy,torch")
    parser.add_argument("--busy", type=int, default=None, help="competing busy processes (default: cores // 2, ≥ 1)")
    parser.add_argument("--seconds", type=float, default=None, help="timed seconds per configuration (default 3; --quick 1)")
    parser.add_argument("--spec", default=None, help="train this spec instead (e.g. specs/vgg_cnn.nns)")
    parser.add_argument("--batch-size", type=int, default=None, help="override the spec's batch size")
    parser.add_argument("--child", nargs=3, metavar=("BACKEND", "THREADS", "SECONDS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        backend, threads, seconds = args.child
        print(json.dumps(child(backend, threads, float(seconds), args.spec, args.batch_size)))
        return 0
    args.threads = args.threads or ("1,2" if args.quick else "1,2,all")
    args.seconds = args.seconds or (1.0 if args.quick else 3.0)

    from backends.threads import available_cores

    cores = available_cores()
    busy = args.busy if args.busy is not None else max(1, cores // 2)
    report = Report("bench_threads", "training speed by thread count, as is and with busy processes beside it",
                    quick=args.quick, libraries=("numpy", "torch"))
    print(f"  {args.spec or DIGITS_CNN.title}{f', batch {args.batch_size}' if args.batch_size else ''}; "
          f"competing processes: {busy}; {args.seconds:g} s per configuration")
    rows = []
    for backend in args.backends.split(","):
        for threads in args.threads.split(","):
            idle = run_child(backend, threads, args)
            procs = spinners(busy)
            try:
                time.sleep(0.5)
                loaded = run_child(backend, threads, args)
            finally:
                for p in procs:
                    p.kill()
                    p.wait()
            rows.append({"backend": backend, "asked": threads, "threads_idle": idle["threads"],
                         "threads_busy": loaded["threads"], "idle": idle["samples_per_s"],
                         "busy": loaded["samples_per_s"]})
            r = rows[-1]
            print(f"  {backend:6} threads {threads:>7} (= {r['threads_idle']} / {r['threads_busy']}): "
                  f"{r['idle']:9.0f} samples/s as is, {r['busy']:9.0f} with {busy} busy "
                  f"({r['idle'] / r['busy']:.2f}x slower)", flush=True)
    report.section("against one thread (samples/s ratio; above 1 is faster):")
    for backend in args.backends.split(","):
        base = next((r for r in rows if r["backend"] == backend and r["asked"] == "1"), None)
        if base is None:
            continue
        for r in rows:
            if r["backend"] == backend and r["asked"] != "1":
                print(f"  {backend:6} threads {r['asked']:>7}: as is {r['idle'] / base['idle']:.2f}x, "
                      f"with competition {r['busy'] / base['busy']:.2f}x")
    report.results.update(cores=cores, busy=busy, rows=rows)
    return report.finish(args.json)


if __name__ == "__main__":
    sys.exit(main())
