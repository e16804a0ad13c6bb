"""Does a search find a better digits MLP than the hand-written one? The README's proof run, rerunnable.

    python benchmarks/search_proof.py                  # about 1-2 minutes on 2 cores
    python benchmarks/search_proof.py --trials 30 --backend numpy --out runs/search-proof

A standalone script that prints figures and tests nothing. It runs the installed ``nnspec`` as a user does
(``subprocess``):

1. ``nnspec train specs/digits_mlp.nns`` — the hand-written spec; its validation accuracy is that of the
   epoch whose weights the run keeps (``run.json``'s ``weights_epoch``; early stopping restores the best);
2. ``nnspec search specs/digits_mlp_search.nns --trials N --metric val_accuracy`` — the space around it
   (units, depth, dropout, log-uniform learning rates, a choice of optimizers with momentum only under
   SGD, batch size), TPE and median pruning, the defaults;
3. ``nnspec train DIR/best.nns`` from the study directory — the best point retrained — and whether its
   weights equal the best trial's bit for bit (``numpy.array_equal`` over every array of weights.npz).

It prints the three accuracies, the difference in points, the search's counts (complete, pruned, failed)
and wall time, and the verdict of issue 11's proof: the search's best beats the hand-written spec or
matches it within 0.5 points. Exit status 0 when every command ran (whatever the verdict), 1 otherwise.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
HAND = ROOT / "specs" / "digits_mlp.nns"
SPACE = ROOT / "specs" / "digits_mlp_search.nns"
MARGIN = 0.005  # "matches it within 0.5 points"


def nnspec(*args, cwd: Path | None = None) -> float:
    """Run ``nnspec ARGS`` quietly; returns its wall time. Exits 1 with its output when it fails."""
    command = [sys.executable, "-c", "import cli; cli.main()", *map(str, args)]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"search_proof: nnspec {' '.join(map(str, args))}: exit {done.returncode}\n{done.stdout}{done.stderr}",
              file=sys.stderr)
        raise SystemExit(1)
    return time.perf_counter() - start


def kept_accuracy(run: Path) -> float:
    """val_accuracy at the epoch whose weights the run keeps."""
    info = json.loads((run / "run.json").read_text())
    history = json.loads((run / "history.json").read_text())
    return float(history[info["weights_epoch"] - 1]["val_accuracy"])


def same_weights(a: Path, b: Path) -> bool:
    with np.load(a) as x, np.load(b) as y:
        return sorted(x.files) == sorted(y.files) and all(np.array_equal(x[k], y[k]) for k in x.files)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--backend", default="numpy")
    ap.add_argument("--out", type=Path, help="keep the study here (default: a temporary directory)")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="search_proof-"))
    study = args.out or work / "study"
    try:
        nnspec("train", HAND, "--backend", args.backend, "--quiet", "--out", work / "hand")
        hand = kept_accuracy(work / "hand")
        seconds = nnspec("search", SPACE, "--trials", args.trials, "--metric", "val_accuracy", "--backend",
                         args.backend, "--quiet", "--out", study)
        rows = list(csv.DictReader((study / "results.csv").open()))
        states = {s: sum(r["state"] == s for r in rows) for s in ("complete", "pruned", "failed")}
        best_row = next(r for r in rows if r["state"] == "complete")  # results.csv lists the best first
        found = float(best_row["value"])
        nnspec("train", "best.nns", "--backend", args.backend, "--quiet", "--out", work / "retrained", cwd=study)
        retrained = kept_accuracy(work / "retrained")
        exact = same_weights(study / best_row["run_dir"] / "weights.npz", work / "retrained" / "weights.npz")
    finally:
        if args.out is None:
            shutil.rmtree(work, ignore_errors=True)
        else:
            shutil.rmtree(work / "hand", ignore_errors=True)
            shutil.rmtree(work / "retrained", ignore_errors=True)
    print(f"hand-written specs/digits_mlp.nns: val_accuracy {hand:.4f}")
    print(f"search of specs/digits_mlp_search.nns ({args.trials} trials, backend {args.backend}): "
          f"{states['complete']} complete, {states['pruned']} pruned, {states['failed']} failed in {seconds:.1f} s; "
          f"best val_accuracy {found:.4f} (trial {best_row['trial']})")
    print(f"best.nns retrained: val_accuracy {retrained:.4f}; weights equal to the trial's bit for bit: {exact}")
    verdict = "beats" if found > hand else ("matches within 0.5 points" if found >= hand - MARGIN else "MISSES")
    print(f"verdict: the search's best {verdict} the hand-written spec ({100 * (found - hand):+.2f} points)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
