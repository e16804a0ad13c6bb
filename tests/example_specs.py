"""The example specs under specs/, in two kinds: concrete specs (a model to train) and search spaces
(``*_search.nns``: specs with search dimensions, for ``nnspec search``; every command that needs a
concrete model refuses them). Tests that train, emit or compare every example iterate over
``CONCRETE``; ``SEARCH`` are checked as spaces (tests/test_specs.py). ``GRAPHS``: the concrete specs whose model
is not a plain stack. ``SHRUNK``: the graphs and the 32×32 image models, whose 50 float64 equivalence steps run
on 8 samples in batches of 2 (tests/test_example_equivalence.py), not at their own batch size."""

from __future__ import annotations

from pathlib import Path

SPECS_DIR = Path(__file__).resolve().parent.parent / "specs"
ALL = sorted(SPECS_DIR.glob("*.nns"))
SEARCH = [p for p in ALL if p.stem.endswith("_search")]
CONCRETE = [p for p in ALL if p not in SEARCH]


def _is_graph(path: Path) -> bool:
    from compiler.ir.graph import Graph
    from compiler.pipeline import compile_file

    spec = compile_file(path).spec
    return not Graph.of(spec.layers, spec.outputs).is_stack


GRAPHS = [p for p in CONCRETE if _is_graph(p)]
SHRUNK = [p for p in CONCRETE if p in GRAPHS or p.stem in ("mobilenet",)]
