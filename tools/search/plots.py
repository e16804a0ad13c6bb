"""The study's PNG plots, drawn by Optuna's matplotlib visualizations:

- ``history.png``: the optimization history (each complete trial's value, and the best so far);
- ``importances.png``: parameter importances (Optuna's default evaluator over the complete trials:
  PED-ANOVA in Optuna 5) — only with at least two complete trials whose values and parameters vary,
  else skipped with a note;
- ``parallel.png``: parallel coordinates of the parameters against the value, when the trials have
  two or more parameters; ``slice.png`` (each parameter against the value) when they have one.
"""

from __future__ import annotations

import io
from pathlib import Path


def _png(axes) -> bytes:
    import matplotlib.pyplot as plt

    figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
    figure.set_size_inches(max(figure.get_size_inches()[0], 8), max(figure.get_size_inches()[1], 5))
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()


def write_plots(study, out: Path) -> list[str]:
    """Write the plots of ``study`` into ``out``; returns a note for each plot skipped and why. Warnings of
    the plotting (an axis with one value, Optuna's experimental API) are not shown."""
    import warnings

    from runtime.files import WriteError

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return _write_plots(study, out)
        except WriteError:
            raise
        except (ValueError, RuntimeError, TypeError, KeyError, OverflowError) as exc:  # trials Optuna cannot plot
            return [f"plots skipped: {(str(exc).splitlines() or [type(exc).__name__])[0][:200]}"]


def _write_plots(study, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    from optuna.visualization import matplotlib as vis

    from runtime.files import write_file
    from tools.search.quiet import quiet_optuna

    quiet_optuna()
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    notes = []
    if not complete:
        return ["no plots: no trial completed"]
    write_file(Path(out) / "history.png", _png(vis.plot_optimization_history(study)))
    values = {t.value for t in complete}
    varied = [name for name in {n for t in complete for n in t.params}
              if len({repr(t.params.get(name)) for t in complete}) > 1]
    if len(complete) < 2 or len(values) < 2 or not varied:
        notes.append("importances.png skipped: it needs two complete trials whose values and parameters differ")
    else:
        try:
            write_file(Path(out) / "importances.png", _png(vis.plot_param_importances(study)))
        except (ValueError, RuntimeError) as exc:  # e.g. no parameter common to every complete trial
            notes.append(f"importances.png skipped: {str(exc).splitlines()[0]}")
    params = {n for t in complete for n in t.params}
    if len(params) >= 2:
        write_file(Path(out) / "parallel.png", _png(vis.plot_parallel_coordinate(study)))
    elif params:
        write_file(Path(out) / "slice.png", _png(vis.plot_slice(study)))
    return notes
