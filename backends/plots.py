"""Plotting helpers shared by every command that writes a PNG (matplotlib without a display)."""

from __future__ import annotations

import io
from pathlib import Path

from backends.run_dir import write_atomic


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed), imported only when a plot is made."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path, dpi: int = 100) -> None:
    """Write ``fig`` as a PNG atomically and close it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    pyplot().close(fig)
    write_atomic(path, buffer.getvalue())
