"""What ``nnspec equiv`` shows: a table of per-step losses, the largest weight difference per
layer, the first step and layer where backends part, and an overlay plot of the loss curves."""

from __future__ import annotations

from pathlib import Path

from tools.equiv import Divergence, Trace, relative_error


def shown_steps(n: int) -> list[int]:
    """Steps worth a row: the first five, every tenth, the last (0-based)."""
    return sorted({*range(min(5, n)), *range(9, n, 10), n - 1}) if n else []


def loss_table(traces: list[Trace], all_steps: bool = False) -> str:
    names = [t.backend for t in traces]
    reference = traces[0]
    head = f"{'step':>5}  " + "  ".join(f"{n:>22}" for n in names) + \
        "".join(f"  {'rel. diff ' + n:>16}" for n in names[1:])
    rows = [head]
    n = min(len(t.losses) for t in traces)  # a backend whose training diverged stopped early
    for i in (range(n) if all_steps else shown_steps(n)):
        cells = "  ".join(f"{t.losses[i]:>22.15g}" for t in traces)
        diffs = "".join(f"  {relative_error(t.losses[i], reference.losses[i]):>16.2e}" for t in traces[1:])
        rows.append(f"{i + 1:>5}  {cells}{diffs}")
    return "\n".join(rows)


def weight_table(traces: list[Trace], results: dict[str, Divergence]) -> str:
    reference = traces[0]
    layers = list(dict.fromkeys(k.split("/")[0] for k in reference.weights))
    head = f"{'layer':<28}" + "".join(f"  {'max rel. diff ' + t.backend:>22}" for t in traces[1:])
    rows = [head]
    for layer in layers:
        cells = ""
        for t in traces[1:]:
            errors = [e for k, e in results[t.backend].weight_errors.items() if k.split("/")[0] == layer]
            cells += f"  {max(errors):>22.2e}"
        rows.append(f"{layer:<28}{cells}")
    return "\n".join(rows)


def plot_losses(path: Path, traces: list[Trace], title: str) -> None:
    from runtime.plots import pyplot, save_figure

    plt = pyplot()

    fig, (ax, ax_diff) = plt.subplots(1, 2, figsize=(11, 4))
    styles = ["-", "--", ":"]
    for i, t in enumerate(traces):
        ax.plot(range(1, len(t.losses) + 1), t.losses, styles[i % 3], lw=2 - 0.4 * i, label=t.backend)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title("loss per step")
    ax.legend()
    ax.grid(alpha=0.3)
    reference = traces[0]
    for t in traces[1:]:
        diffs = [max(relative_error(a, b), 1e-17) for a, b in zip(t.losses, reference.losses)]
        ax_diff.semilogy(range(1, len(diffs) + 1), diffs, label=f"{t.backend} vs {reference.backend}")
    ax_diff.set_xlabel("step")
    ax_diff.set_title("relative difference of the loss")
    ax_diff.grid(alpha=0.3)
    if len(traces) > 1:
        ax_diff.legend()
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path)
