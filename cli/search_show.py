"""``nnspec search --show STUDY_DIR``: the study's trials as a table, best first, read from its storage
(so it shows a search still running, and the trials of every worker and machine)."""

from __future__ import annotations

import math

from spec_lang.printable import printable
from tools.search.results import param_names, rows, tally

SHOW_ROWS = 500  # a table of 10,000 rows takes rich ~10 s to lay out, and no one reads it on a terminal


def _cell(value) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    return printable(str(value))


def show_study(info, study, out) -> None:
    """Print the table of ``study`` (``info``: its study.json) — its ``SHOW_ROWS`` best trials — and a
    summary line."""
    from rich.console import Console
    from rich.table import Table

    console = Console(markup=False, emoji=False, highlight=False)
    if not console.is_terminal:
        console = Console(width=200, markup=False, emoji=False, highlight=False)
    maximize = study.direction.name == "MAXIMIZE"
    trials = study.get_trials(deepcopy=False)
    order = [d["name"] for d in (info.fingerprint or {}).get("dimensions", []) if isinstance(d, dict) and "name" in d]
    names = param_names(trials, order)
    table = Table(title=printable(f"study {info.study_name} ({out}): {info.metric}, {study.direction.name.lower()}",
                                  400),
                  title_justify="left")
    for column in ("trial", "state", info.metric, "seconds", *names, "error"):
        table.add_column(printable(column), overflow="fold")
    listed = rows(trials, maximize, order)
    for row in listed[:SHOW_ROWS]:
        table.add_row(str(row["trial"]), row["state"], _cell(row["value"]), _cell(row["duration_s"]),
                      *(_cell(row[n]) for n in names), _cell(row["error"]))
    console.print(table)
    if len(listed) > SHOW_ROWS:
        console.print(f"… {len(listed) - SHOW_ROWS:,} more trials not shown (the {SHOW_ROWS} best are above; "
                      "results.csv lists every trial)", highlight=False)
    t = tally(trials, maximize)
    best = (f"best {printable(info.metric)} {t.best_value:.6g} (trial {t.best_trial})" if t.best_trial is not None
            else "no trial completed")
    console.print(f"{t.done}/{info.trials} trials done: {t.complete} complete, {t.pruned} pruned, {t.failed} failed"
                  f"{f', {t.running} running' if t.running else ''}"
                  f"{f', {t.interrupted} interrupted' if t.interrupted else ''}; {best}", highlight=False)
