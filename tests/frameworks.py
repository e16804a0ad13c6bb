"""The one way a test asks for PyTorch, TensorFlow or Keras.

``need("torch")`` returns the module. Where the framework is not installed the test is skipped with a
reason naming the extra that installs it, unless ``NNSPEC_REQUIRE_BACKENDS=1`` (set by ``.ci/run``):
then the import error propagates and the test fails, so no backend test vanishes silently in CI.
``tests/conftest.py`` also refuses to start a run that requires the frameworks when one is missing.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

FRAMEWORKS = ("torch", "tensorflow", "keras")
EXTRA = {"torch": "torch", "tensorflow": "keras", "keras": "keras"}  # the pip extra that installs each


def frameworks_required() -> bool:
    """True where every framework must be present (CI): a missing one fails instead of skipping."""
    return os.environ.get("NNSPEC_REQUIRE_BACKENDS", "") not in ("", "0")


def missing_frameworks() -> list[str]:
    """The frameworks of ``FRAMEWORKS`` that cannot be imported here."""
    missing = []
    for name in FRAMEWORKS:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


def need(name: str) -> ModuleType:
    """Import framework ``name`` for a test: skip with the install hint when absent, fail in CI."""
    if frameworks_required():
        return importlib.import_module(name)
    return pytest.importorskip(name, reason=f"{name} is not installed (pip install -e '.[{EXTRA[name]}]'); "
                                            "NNSPEC_REQUIRE_BACKENDS=1 makes this a failure")
