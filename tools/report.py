"""``nnspec report``: compare run directories — what changed in the spec, how each run ended,
how long it took — and overlay their curves in one PNG.

A run directory is input like any other (``load_run``): every file is read through
``runtime.input_files`` (regular files only, at most ``MAX_RUN_FILE_BYTES``; ``weights.npz`` and
``checkpoint.npz`` through ``runtime.safe_npz``) and checked for the shape the report needs.

- Not a run directory at all (missing, a file, unreadable, empty, or none of ``history.json``,
  ``run.json``, ``spec.nns``, ``checkpoint.npz``): ``ReportError``.
- A file that is present but broken (not UTF-8, not JSON, JSON of the wrong shape, a value that is
  not a number, a corrupt ``weights.npz``): ``ReportError`` naming the file and the problem — a
  report built on it would be wrong.
- A file that is missing from a run directory: the run is still reported, with what is missing
  said in ``Run.notes`` (an unfinished run killed before its final write has only
  ``checkpoint.npz``: its history is taken from there). NaN and infinite values are numbers
  (a diverged run's loss); they are shown as ``nan``/``inf`` and left out of the plot.
"""

from __future__ import annotations

import difflib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from runtime.input_files import InputFileError, read_input_text
from runtime.safe_npz import read_npz
from spec_lang.printable import printable

MAX_RUN_FILE_BYTES = 64 * 2**20  # history.json, run.json, spec.nns: far above what training writes
MAX_SPEC_BYTES = 4 * 2**20  # spec.nns: the limit of any spec (spec_lang's reader)
MAX_DIFF_LINES = 5000  # longer specs are compared for equality only (difflib is quadratic at worst)
MAX_QUANTITIES = 12  # columns of the table and panels of the plot: a history with thousands of keys stays readable
RUN_FILES = ("spec.nns", "history.json", "run.json", "weights.npz")
CHECKPOINT = "checkpoint.npz"
# run.json's keys the report shows, with the JSON types each may have
INFO_TYPES = {"backend": (str,), "outcome": (str,), "seconds": (int, float), "weights_epoch": (int, type(None))}


class ReportError(Exception):
    """A run directory (or one of its files) that cannot be reported: ``path`` is the directory or the file,
    ``reason`` what is wrong with it; ``str()`` is ``path: reason``."""

    def __init__(self, path: Path | str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


def _file_error(path: Path, exc: InputFileError) -> ReportError:
    """An ``InputFileError`` raised with ``shown=str(path)`` as a ``ReportError`` on ``path``."""
    text = str(exc)
    reason = text[len(str(path)):].lstrip(": ") if text.startswith(str(path)) else text
    return ReportError(path, reason)


@dataclass
class Run:
    path: Path
    spec_text: str | None
    history: list[dict]
    info: dict
    notes: list[str] = field(default_factory=list)  # what is missing, one line each

    @property
    def label(self) -> str:
        return self.path.name or str(self.path)

    def final(self) -> dict:
        """The epoch whose weights were saved: the best one when early stopping restored it."""
        epoch = self.info.get("weights_epoch")
        saved = [e for e in self.history if e.get("epoch") == epoch]
        return saved[0] if saved else (self.history[-1] if self.history else {})


def load_run(path: Path) -> Run:
    """The run in directory ``path``, as the module docstring describes; ``ReportError`` if unusable."""
    path = Path(path)
    _require_directory(path)
    present = {name for name in (*RUN_FILES, CHECKPOINT) if os.path.lexists(path / name)}
    if not present & {"spec.nns", "history.json", "run.json", CHECKPOINT}:
        raise ReportError(path, "not a run directory (it has no history.json, run.json or spec.nns; "
                                "`nnspec train` writes run directories)")
    notes: list[str] = []
    spec_text = _read_text(path / "spec.nns", MAX_SPEC_BYTES) if "spec.nns" in present else None
    if spec_text is None:
        notes.append("spec.nns is missing: its spec changes are not shown")
    info = _info(path / "run.json") if "run.json" in present else {}
    if "run.json" not in present:
        notes.append("run.json is missing: backend, time and outcome are not known")
    else:
        lacking = [key for key in ("backend", "outcome", "seconds") if key not in info]
        if lacking:
            notes.append(f"run.json lacks {', '.join(lacking)}: shown as ?")
    if "history.json" in present:
        history = _history(_read_json(path / "history.json"), path / "history.json")
    elif CHECKPOINT in present:
        history = _checkpoint_history(path / CHECKPOINT)
        info.setdefault("outcome", "unfinished")
        notes.append(f"history.json is missing (the run did not finish): its epochs are taken from {CHECKPOINT}")
    else:
        history = []
        notes.append("history.json is missing: no losses or metrics to show")
    if "weights.npz" in present:
        try:
            read_npz(path / "weights.npz", shown=str(path / "weights.npz"))
        except InputFileError as exc:
            raise _file_error(path / "weights.npz", exc) from None
    elif "history.json" in present or "run.json" in present:
        notes.append("weights.npz is missing")
    return Run(path, spec_text, history, info, notes)


def _require_directory(path: Path) -> None:
    try:
        if not path.is_dir():
            what = "does not exist" if not os.path.lexists(path) else "is not a directory"
            raise ReportError(path, f"{what}; `nnspec report` compares run directories written by `nnspec train`")
        os.listdir(path)
    except PermissionError:
        raise ReportError(path, "cannot be read: permission denied") from None
    except OSError as exc:
        raise ReportError(path, f"cannot be read: {exc.strerror or exc}") from None


def _read_text(path: Path, max_bytes: int = MAX_RUN_FILE_BYTES) -> str:
    try:
        return read_input_text(path, str(path), max_bytes=max_bytes)
    except InputFileError as exc:
        raise _file_error(path, exc) from None


def _read_json(path: Path):
    return _parse_json(_read_text(path), path)


def _parse_json(text: str, path: Path, what: str = ""):
    try:
        return json.loads(text)
    except RecursionError:
        raise ReportError(path, f"{what}not valid JSON (nested too deeply)") from None
    except ValueError as exc:  # json.JSONDecodeError, and numbers with too many digits
        raise ReportError(path, f"{what}not valid JSON ({exc})") from None


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _history(document, path: Path, what: str = "") -> list[dict]:
    """``document`` as a list of epochs ``{name: number}``, each with an ``epoch`` (its position when
    absent); ``ReportError`` on ``path`` naming the first value of the wrong type (``what`` prefixes it)."""
    if not isinstance(document, list):
        raise ReportError(path, f"{what}expected a list of epochs, found {_json_type(document)}")
    epochs = []
    for i, entry in enumerate(document, start=1):
        if not isinstance(entry, dict):
            raise ReportError(path, f"{what}entry {i} is {_json_type(entry)}, not an object of numbers")
        for key, value in entry.items():
            if not _is_number(value):
                raise ReportError(path, f"{what}entry {i}: '{_shorten(key)}' is {_shorten(json.dumps(value))}, "
                                        "not a number")
        epoch = entry.get("epoch", i)
        if not isinstance(epoch, int) or epoch < 1:
            raise ReportError(path, f"{what}entry {i}: 'epoch' is {epoch!r}, not a positive whole number")
        epochs.append({**entry, "epoch": epoch})
    return epochs


def _info(path: Path) -> dict:
    document = _read_json(path)
    if not isinstance(document, dict):
        raise ReportError(path, f"expected a JSON object, found {_json_type(document)}")
    for key, types in INFO_TYPES.items():
        if key in document and (not isinstance(document[key], types) or isinstance(document[key], bool)):
            wanted = {"seconds": "a number", "weights_epoch": "an epoch number"}.get(key, "a string")
            raise ReportError(path, f"'{key}' is {_shorten(json.dumps(document[key]))}, not {wanted}")
    return document


def _checkpoint_history(path: Path) -> list[dict]:
    """The epochs recorded in a checkpoint's metadata (an unfinished run)."""
    try:
        meta = read_npz(path, shown=str(path), names=("meta",))["meta"]
    except InputFileError as exc:
        raise _file_error(path, exc) from None
    if meta.dtype.kind != "U" or meta.ndim != 0:
        raise ReportError(path, "its metadata is not a JSON text; not a checkpoint nnspec wrote")
    document = _parse_json(str(meta), path, "its metadata is ")
    if not isinstance(document, dict):
        raise ReportError(path, f"its metadata is {_json_type(document)}, not a JSON object")
    return _history(document.get("history", []), path, "its history: ")


def _json_type(value) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list",
            dict: "an object"}.get(type(value), type(value).__name__)


def _shorten(text: str, width: int = 40) -> str:
    """``text`` for a message or a table cell (``spec_lang.printable``), at most ``width`` characters."""
    return printable(text, width)


def spec_changes(base: Run, other: Run, limit: int = 6) -> str:
    """The changed lines of ``other``'s spec against ``base``'s, as ``-old / +new`` (comments ignored)."""
    if base.spec_text is None or other.spec_text is None:
        return "? (no spec.nns)" if other.spec_text is None else "? (the first run has no spec.nns)"

    def code(text):
        return [line.split("#")[0].rstrip() for line in text.splitlines() if line.split("#")[0].strip()]

    old, new = code(base.spec_text), code(other.spec_text)
    if old == new:
        return "same spec"
    if max(len(old), len(new)) > MAX_DIFF_LINES:
        return f"different spec (over {MAX_DIFF_LINES} lines: not compared line by line)"
    diff = [d for d in difflib.unified_diff(old, new, lineterm="", n=0)
            if d[:1] in "+-" and not d.startswith(("+++", "---"))]
    if not diff:
        return "same spec"
    shown = "; ".join(_shorten(d[0] + d[1:].strip(), 60) for d in diff[:limit])
    return shown + (f"; … {len(diff) - limit} more" if len(diff) > limit else "")


def comparison_table(runs: list[Run]) -> str:
    """One row per run: epochs, final loss and metrics (the first ``MAX_QUANTITIES``), time, outcome, spec
    changes against the first."""
    metrics = list(dict.fromkeys(k for r in runs for k in r.final()
                                 if k not in ("epoch", "seconds", "learning_rate") and "/" not in k))[:MAX_QUANTITIES]
    head = ["run", "backend", "epochs", *(_shorten(m, 24) for m in metrics), "seconds", "outcome", "spec vs first"]
    rows = [head]
    for r in runs:
        final = r.final()
        rows.append([_shorten(r.label, 40), _shorten(str(r.info.get("backend", "?")), 12), str(len(r.history)),
                     *(f"{final[m]:.4f}" if m in final else "-" for m in metrics),
                     f"{r.info.get('seconds', sum(e.get('seconds', 0) for e in r.history)):.1f}",
                     _shorten(str(r.info.get("outcome", "?")), 80),
                     spec_changes(runs[0], r) if r is not runs[0] else "(base)"])
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def plot_runs(path: Path, runs: list[Run]) -> None:
    """Loss and each metric per epoch (the first ``MAX_QUANTITIES``); one colour per run, validation dashed."""
    from runtime.plots import pyplot, save_figure

    plt = pyplot()

    names = list(dict.fromkeys(k for r in runs for e in r.history for k in e
                               if k not in ("epoch", "seconds", "learning_rate") and not k.startswith("val_")
                               and "/" not in k))[:MAX_QUANTITIES]
    fig, axes = plt.subplots(1, max(1, len(names)), figsize=(5 * max(1, len(names)), 3.8), squeeze=False)
    for ax, name in zip(axes[0], names):
        for i, r in enumerate(runs):
            color = f"C{i}"
            x = [e["epoch"] for e in r.history]
            if any(name in e for e in r.history):
                ax.plot(x, _curve(r.history, name), color=color, label=_shorten(r.label))
            if any(f"val_{name}" in e for e in r.history):
                ax.plot(x, _curve(r.history, f"val_{name}"), color=color, ls="--",
                        label=f"{_shorten(r.label)} (validation)")
        ax.set_title(_shorten(name))
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


def _curve(history: list[dict], name: str) -> list[float]:
    """``name`` per epoch; missing and non-finite values become NaN, which the plot leaves out."""
    values = [e.get(name) for e in history]
    return [float(v) if v is not None and math.isfinite(v) else math.nan for v in values]
