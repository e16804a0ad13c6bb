"""The run directory ``nnspec train`` writes, the same for every backend:

spec.nns (the source as trained), ir.json (the compiled IR), weights.npz (no pickle;
keys "layer/weight"), history.json and history.csv (one row per epoch), curves.png (loss
and metrics per epoch), run.json (backend, dtype, seed, data, timing, outcome).
Every file is written to a temporary name, flushed, fsynced and renamed: a crash leaves
either the old file or the new one, never half of one.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from pathlib import Path

import numpy as np


def new_run_dir(out: Path | None, name: str, root: Path = Path("runs")) -> Path:
    """``out`` if given (it must be empty or absent), else ``runs/<name>-<date>-<time>[-n]``."""
    if out is not None:
        if out.exists() and any(out.iterdir()):
            raise FileExistsError(f"run directory {out} is not empty; choose another --out")
        out.mkdir(parents=True, exist_ok=True)
        return out
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        path = root / (f"{name}-{stamp}" + (f"-{n}" if n else ""))
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a run directory under {root}")  # pragma: no cover


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file, fsync and rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def save_weights(path: Path, weights: dict[str, np.ndarray]) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **{k: np.asarray(v) for k, v in weights.items()})
    write_atomic(path, buffer.getvalue())


def load_weights(path: Path) -> dict[str, np.ndarray]:
    """Weights saved by ``save_weights`` (pickle refused)."""
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def history_csv(epochs: list[dict[str, float]]) -> str:
    keys = list(dict.fromkeys(k for e in epochs for k in e))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=keys, lineterminator="\n")
    writer.writeheader()
    for e in epochs:
        writer.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in e.items()})
    return out.getvalue()


def plot_curves(path: Path, epochs: list[dict[str, float]], title: str) -> None:
    """One panel per quantity (loss, then each metric), training and validation overlaid."""
    from backends.plots import pyplot, save_figure

    plt = pyplot()

    names = [k for k in epochs[0] if k not in ("epoch", "learning_rate", "seconds") and not k.startswith("val_")
             and "/" not in k]  # per-layer statistics of --track have their own plot
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.6), squeeze=False)
    x = [e["epoch"] for e in epochs]
    for ax, name in zip(axes[0], names):
        ax.plot(x, [e[name] for e in epochs], marker="o", ms=3, label="training")
        if f"val_{name}" in epochs[0]:
            ax.plot(x, [e[f"val_{name}"] for e in epochs], marker="o", ms=3, label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path)


def write_run(run_dir: Path, *, source_text: str, ir_json: str, weights: dict[str, np.ndarray],
              epochs: list[dict[str, float]], info: dict, title: str) -> None:
    write_atomic(run_dir / "spec.nns", source_text.encode())
    write_atomic(run_dir / "ir.json", ir_json.encode())
    save_weights(run_dir / "weights.npz", weights)
    write_atomic(run_dir / "history.json", json.dumps(epochs, indent=2).encode())
    write_atomic(run_dir / "history.csv", history_csv(epochs).encode())
    write_atomic(run_dir / "run.json", json.dumps(info, indent=2).encode())
    if epochs:
        plot_curves(run_dir / "curves.png", epochs, title)
