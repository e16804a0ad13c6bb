"""Fast paths of NumPy layers: each gives the same numbers as its kind's plain path bit for bit, with less
work or memory; registered with ``register_fast`` (tests/test_numpy_fast_paths.py proves them identical)."""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
