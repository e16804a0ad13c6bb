"""The example specs under specs/, in two kinds: concrete specs (a model to train) and search spaces
(``*_search.nns``: specs with search dimensions, for ``nnspec search``; every command that needs a
concrete model refuses them). Tests that train, emit or compare every example iterate over
``CONCRETE``; ``SEARCH`` are checked as spaces (tests/test_specs.py)."""

from __future__ import annotations

from pathlib import Path

SPECS_DIR = Path(__file__).resolve().parent.parent / "specs"
ALL = sorted(SPECS_DIR.glob("*.nns"))
SEARCH = [p for p in ALL if p.stem.endswith("_search")]
CONCRETE = [p for p in ALL if p not in SEARCH]
