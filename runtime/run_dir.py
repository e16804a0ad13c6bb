"""The run directory ``nnspec train`` writes, the same for every backend:

spec.nns (the source as trained), ir.json (the compiled IR), weights.npz (no pickle;
keys "layer/weight"), history.json and history.csv (one row per epoch), curves.png (loss
and metrics per epoch), run.json (backend, dtype, device, seed, data, timing, outcome), and while
training checkpoint.npz (``runtime.checkpoint``) and the lock file ``.nnspec.lock``
(``runtime.run_lock``: one writer per directory).

Every file goes through ``runtime.files``: written to a unique temporary name, fsynced and
renamed, so a crash leaves the old file or the new one, never half of one. The final files are
written as one group (``write_run``): all are staged before any is renamed, ``run.json`` last,
so a run directory whose ``run.json`` exists holds every file that run.json describes, and a
write that fails (disk full) leaves the previous files and no temporary file.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from pathlib import Path

import numpy as np

from runtime import files
from runtime.files import WriteError, check_output_dir
from runtime.safe_npz import read_npz
from compiler.ir.names import child_path
from runtime.run_lock import LOCK_NAME, RunDirLock, lock_run_dir

write_atomic = files.write_file  # the old name, kept for callers outside this module


def create_run_dir(out: Path | None, name: str, root: Path = Path("runs")) -> tuple[Path, RunDirLock]:
    """A new run directory, created and locked: ``out`` if given (absent, or an empty directory —
    parents are created), else ``runs/<name>-<date>-<time>[-n]``. Emptiness is checked after the
    lock is taken (ignoring the lock file), so two processes given the same ``out`` cannot both
    get it.

    Raises ``WriteError`` for a path that cannot be a directory (a file, under a file, read-only),
    ``RunDirInUse`` when another process holds it, ``FileExistsError`` when it is not empty; in
    every case nothing is left behind in an existing directory."""
    if out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for n in range(1000):
            try:  # the name obeys compiler.ir.names; the path is checked again, in case it got past the rule
                path = child_path(root, f"{name}-{stamp}" + (f"-{n}" if n else ""))
            except ValueError as exc:
                raise WriteError(root, str(exc)) from None
            try:
                _mkdir(path, exist_ok=False)
            except FileExistsError:
                continue
            return path, lock_run_dir(path)
        raise FileExistsError(f"cannot create a run directory under {root}")  # pragma: no cover
    check_output_dir(out)
    _mkdir(out, exist_ok=True)
    lock = lock_run_dir(out)
    if any(entry != LOCK_NAME for entry in os.listdir(out)):
        lock.release(remove=True)
        raise FileExistsError(f"run directory {out} is not empty; choose another --out")
    return out, lock


def check_new_run_dir(out: Path | None) -> None:
    """Before any work: raise as ``create_run_dir(out, ...)`` would for a path that cannot be a
    directory or an ``out`` that is not empty (the lock file aside). Nothing is created."""
    if out is None:
        return
    check_output_dir(out)
    if out.is_dir() and any(entry != LOCK_NAME for entry in os.listdir(out)):
        raise FileExistsError(f"run directory {out} is not empty; choose another --out")


def _mkdir(path: Path, *, exist_ok: bool) -> None:
    try:
        path.mkdir(parents=True, exist_ok=exist_ok)
    except FileExistsError:
        if not exist_ok or not path.is_dir():
            if exist_ok:
                raise WriteError(path, "it is not a directory") from None
            raise
    except OSError as exc:
        raise WriteError(path, exc.strerror or str(exc), exc.errno) from None


def weights_npz(weights: dict[str, np.ndarray]) -> bytes:
    """The weights as NPZ bytes (keys "layer/weight", no pickle)."""
    buffer = io.BytesIO()
    np.savez(buffer, **{k: np.asarray(v) for k, v in weights.items()})
    return buffer.getvalue()


def save_weights(path: Path, weights: dict[str, np.ndarray]) -> None:
    files.write_file(path, weights_npz(weights))


def load_weights(path: Path) -> dict[str, np.ndarray]:
    """Weights saved by ``save_weights``, read by ``runtime.safe_npz.read_npz`` (no pickle, sizes checked
    against the data budget before anything is allocated); ``InputFileError`` names the file."""
    return read_npz(path, shown=str(path))


def history_csv(epochs: list[dict[str, float]]) -> str:
    keys = list(dict.fromkeys(k for e in epochs for k in e))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=keys, lineterminator="\n")
    writer.writeheader()
    for e in epochs:
        writer.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in e.items()})
    return out.getvalue()


def curves_png(epochs: list[dict[str, float]], title: str) -> bytes:
    """A PNG with one panel per quantity (loss, then each metric), training and validation overlaid."""
    from runtime.plots import figure_png, pyplot

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
    return figure_png(fig)


def write_run(run_dir: Path, *, source_text: str, ir_json: str, weights: dict[str, np.ndarray],
              epochs: list[dict[str, float]], info: dict, title: str, plots: bool = True) -> None:
    """The run directory's final files, as one group (``files.write_files``): every file is rendered
    and staged before any is renamed, ``run.json`` last. Either all of them are replaced or (on a
    ``WriteError``) none, and no temporary file is left. ``plots=False`` leaves out ``curves.png`` (a
    search's trials: ``nnspec report RUN --plot FILE`` draws a run's curves from its history later)."""
    group: dict[Path, bytes | str] = {
        run_dir / "spec.nns": source_text,
        run_dir / "ir.json": ir_json,
        run_dir / "weights.npz": weights_npz(weights),
        run_dir / "history.json": json.dumps(epochs, indent=2),
        run_dir / "history.csv": history_csv(epochs),
    }
    if epochs and plots:
        group[run_dir / "curves.png"] = curves_png(epochs, title)
    group[run_dir / "run.json"] = json.dumps(info, indent=2)
    files.write_files(group)
