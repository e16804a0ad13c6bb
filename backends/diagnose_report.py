"""Tables and plots for ``nnspec diagnose``."""

from __future__ import annotations

from pathlib import Path

from backends.diagnose import Diagnosis, finite


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


def plot_diagnosis(path: Path, results: dict[str, Diagnosis], title: str) -> None:
    """Activation variance and kernel gradient norm per layer (log scale), one line per initializer."""
    from backends.plots import pyplot, save_figure

    plt = pyplot()

    fig, (ax_var, ax_grad) = plt.subplots(1, 2, figsize=(12, 4.2))
    for name, d in results.items():
        ax_var.semilogy(range(len(d.layers)), [max(s.variance, 1e-30) for s in d.layers], marker="o", ms=3,
                        label=name)
        weighted = [(i, s.grad_norm) for i, s in enumerate(d.layers) if s.grad_norm]
        ax_grad.semilogy([i for i, _ in weighted], [max(g, 1e-30) for _, g in weighted], marker="o", ms=3, label=name)
    for ax, what in ((ax_var, "activation variance"), (ax_grad, "kernel gradient norm")):
        ax.set_xlabel("layer (input → output)")
        ax.set_title(what)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path)
