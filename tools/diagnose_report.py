"""Tables and plots for ``nnspec diagnose`` and for ``nnspec train --track``'s ``tracking.png``.

Plots name what they show: each line of ``tracking.png`` by its layer and statistic, in a legend
outside the axes (a deep model's lines would hide under one inside); ``diagnose``'s x axis by the
layers' names. ``*_figure`` functions build the matplotlib figure (tests read its labels); the
``plot_*`` functions write it as a PNG.
"""

from __future__ import annotations

import math
from pathlib import Path

from tools.diagnose import Diagnosis, finite

TRACKED = (("activation_variance/", "activation variance"), ("gradient_norm/", "gradient norm"))
LEGEND_ROWS = 18  # legend entries per column beside an axis
MAX_TICK_LABELS = 40  # layer names shown on diagnose's x axis (every k-th beyond that)


def _g(value, fmt=".3g") -> str:
    return format(value, fmt) if finite(value) else "-"


def stats_table(d: Diagnosis) -> str:
    head = ["layer", "activation", "mean", "variance", "var out/in", "grad norm", "grad/weight", "saturated", "dead"]
    rows = [head] + [[s.name, s.activation, _g(s.mean), _g(s.variance), _g(s.variance_ratio), _g(s.grad_norm),
                      _g(s.grad_to_weight), _g(s.saturated, ".0%"), _g(s.dead, ".0%")] for s in d.layers]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.rjust(w) if i > 1 else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def compare_table(results: dict[str, Diagnosis]) -> str:
    """Kernel gradient norm per weighted layer under each initializer, and the overall ratio."""
    names = list(results)
    first = results[names[0]]
    layers = [s.name for s in first.layers if s.grad_norm is not None]
    head = ["layer"] + names
    rows = [head]
    for layer in layers:
        rows.append([layer] + [_g(next((s.grad_norm for s in results[n].layers if s.name == layer), None))
                               for n in names])
    rows.append(["first/last"] + [_g(results[n].gradient_ratio()) for n in names])
    rows.append(["flags"] + [", ".join(f.split(":")[0].split()[0] for f in results[n].flags) or "none"
                             for n in names])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def diagnosis_figure(results: dict[str, Diagnosis], title: str):
    """Activation variance and kernel gradient norm per layer (log scale), one line per initializer;
    the x axis names the layers (input → output)."""
    from runtime.plots import pyplot

    plt = pyplot()
    names = [s.name for s in next(iter(results.values())).layers]
    fig, (ax_var, ax_grad) = plt.subplots(1, 2, figsize=(max(12.0, 0.3 * len(names)), 4.8), layout="constrained")
    for name, d in results.items():
        ax_var.semilogy(range(len(d.layers)), [max(s.variance, 1e-30) for s in d.layers], marker="o", ms=3,
                        label=name)
        weighted = [(i, s.grad_norm) for i, s in enumerate(d.layers) if s.grad_norm]
        ax_grad.semilogy([i for i, _ in weighted], [max(g, 1e-30) for _, g in weighted], marker="o", ms=3, label=name)
    every = math.ceil(len(names) / MAX_TICK_LABELS)
    for ax, what in ((ax_var, "activation variance"), (ax_grad, "kernel gradient norm")):
        ax.set_xticks(range(0, len(names), every), names[::every], rotation=45, ha="right", fontsize=8)
        ax.set_xlim(-0.5, len(names) - 0.5)
        ax.set_xlabel("layer (input → output)")
        ax.set_title(what)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.suptitle(title)
    return fig


def plot_diagnosis(path: Path, results: dict[str, Diagnosis], title: str) -> None:
    """``diagnosis_figure`` written as a PNG at ``path``."""
    from runtime.plots import save_figure

    save_figure(diagnosis_figure(results, title), path)


def tracking_figure(epochs: list[dict], title: str):
    """Per layer, activation variance and gradient norm (``nnspec train --track``) against the epoch,
    log scale, one axis per statistic; every line labelled "<layer>: <statistic>" in a legend beside
    its axis, outside the plotting area."""
    from runtime.plots import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(len(TRACKED), 1, figsize=(10, 8), layout="constrained", sharex=True)
    x = [e["epoch"] for e in epochs]
    styles = ("-", "--", ":", "-.")
    for ax, (prefix, statistic) in zip(axes, TRACKED):
        keys = [k for k in epochs[0] if k.startswith(prefix)]
        for i, key in enumerate(keys):
            ax.semilogy(x, [max(e.get(key, math.nan), 1e-30) for e in epochs], marker="o", ms=3,
                        color=f"C{i % 10}", ls=styles[(i // 10) % len(styles)],
                        label=f"{key.split('/', 1)[1]}: {statistic}")
        ax.set_title(f"{statistic} per layer")
        ax.set_ylabel(statistic)
        ax.grid(alpha=0.3, which="both")
        if keys:
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=7,
                      ncol=math.ceil(len(keys) / LEGEND_ROWS))
    axes[-1].set_xlabel("epoch")
    axes[-1].xaxis.get_major_locator().set_params(integer=True)
    fig.suptitle(title)
    return fig


def plot_tracking(path: Path, epochs: list[dict], title: str) -> None:
    """``tracking_figure`` written as a PNG at ``path``."""
    from runtime.plots import save_figure

    save_figure(tracking_figure(epochs, title), path)
