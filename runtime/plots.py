"""Plotting helpers shared by every command that writes a PNG (matplotlib without a display)."""

from __future__ import annotations

import io
from pathlib import Path

from runtime.files import write_file


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed), imported only when a plot is made."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure_png(fig, dpi: int = 100) -> bytes:
    """``fig`` rendered as PNG bytes; the figure is closed."""
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=dpi)
    finally:
        pyplot().close(fig)
    return buffer.getvalue()


def save_figure(fig, path: Path, dpi: int = 100) -> None:
    """Render ``fig`` to PNG bytes, close it, and write them with ``runtime.files.write_file``
    (atomic; a device node such as /dev/null is written in place; ``WriteError`` names the file)."""
    write_file(path, figure_png(fig, dpi))
