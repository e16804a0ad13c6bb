"""A fixture for tests that run whole commands on tiny models: figures are built as usual but not laid out
or rendered to PNG (an empty file is written). Rendering is most of such a command's time, and not what
those tests are about. Use it with ``from plot_stubs import unrendered_plots  # noqa: F401``."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def unrendered_plots(monkeypatch):
    import matplotlib.figure

    def savefig(self, target, *args, **kwargs):
        if hasattr(target, "write"):
            target.write(b"")
        else:
            Path(target).write_bytes(b"")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    monkeypatch.setattr(matplotlib.figure.Figure, "tight_layout", lambda self, *args, **kwargs: None)
