"""``nnspec report``: compare run directories — what changed in the spec, how each run ended,
how long it took — and overlay their curves in one PNG."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path



class ReportError(Exception):
    """A directory that is not a readable run directory."""


@dataclass
class Run:
    path: Path
    spec_text: str
    history: list[dict]
    info: dict

    @property
    def label(self) -> str:
        return self.path.name

    def final(self) -> dict:
        """The epoch whose weights were saved: the best one when early stopping restored it."""
        epoch = self.info.get("weights_epoch")
        saved = [e for e in self.history if e.get("epoch") == epoch]
        return saved[0] if saved else (self.history[-1] if self.history else {})


def load_run(path: Path) -> Run:
    try:
        spec_text = (path / "spec.nns").read_text()
        history = json.loads((path / "history.json").read_text())
        info = json.loads((path / "run.json").read_text())
    except FileNotFoundError as exc:
        raise ReportError(f"{path}: not a run directory (missing {Path(exc.filename).name})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: a run file is corrupt ({exc})") from None
    return Run(path, spec_text, history, info)


def spec_changes(base: Run, other: Run, limit: int = 6) -> str:
    """The changed lines of ``other``'s spec against ``base``'s, as ``-old / +new`` (comments ignored)."""
    def code(text):
        return [line.split("#")[0].rstrip() for line in text.splitlines() if line.split("#")[0].strip()]

    diff = [d for d in difflib.unified_diff(code(base.spec_text), code(other.spec_text), lineterm="", n=0)
            if d[:1] in "+-" and not d.startswith(("+++", "---"))]
    if not diff:
        return "same spec"
    shown = "; ".join(d[0] + d[1:].strip() for d in diff[:limit])
    return shown + (f"; … {len(diff) - limit} more" if len(diff) > limit else "")


def comparison_table(runs: list[Run]) -> str:
    """One row per run: epochs, final loss and metrics, time, outcome, spec changes against the first."""
    metrics = list(dict.fromkeys(k for r in runs for k in r.final()
                                 if k not in ("epoch", "seconds", "learning_rate") and "/" not in k))
    head = ["run", "backend", "epochs", *metrics, "seconds", "outcome", "spec vs first"]
    rows = [head]
    for r in runs:
        final = r.final()
        rows.append([r.label, str(r.info.get("backend", "?")), str(len(r.history)),
                     *(f"{final[m]:.4f}" if m in final else "-" for m in metrics),
                     f"{r.info.get('seconds', sum(e.get('seconds', 0) for e in r.history)):.1f}",
                     str(r.info.get("outcome", "?")), spec_changes(runs[0], r) if r is not runs[0] else "(base)"])
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def plot_runs(path: Path, runs: list[Run]) -> None:
    """Loss and each metric per epoch; one colour per run, validation dashed."""
    from backends.plots import pyplot, save_figure

    plt = pyplot()

    names = list(dict.fromkeys(k for r in runs for e in r.history for k in e
                               if k not in ("epoch", "seconds", "learning_rate") and not k.startswith("val_")
                               and "/" not in k))
    fig, axes = plt.subplots(1, max(1, len(names)), figsize=(5 * max(1, len(names)), 3.8), squeeze=False)
    for ax, name in zip(axes[0], names):
        for i, r in enumerate(runs):
            color = f"C{i}"
            x = [e["epoch"] for e in r.history]
            if any(name in e for e in r.history):
                ax.plot(x, [e.get(name) for e in r.history], color=color, label=f"{r.label}")
            if any(f"val_{name}" in e for e in r.history):
                ax.plot(x, [e.get(f"val_{name}") for e in r.history], color=color, ls="--",
                        label=f"{r.label} (validation)")
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)
