"""Settings shared by the whole suite.

- Hypothesis runs derandomized and without an example database everywhere (profile ``nnspec``), so a
  property test explores the same examples on every run and machine: a failure is reproducible, and a
  pass today is a pass tomorrow. Tests may raise ``max_examples`` or lift ``deadline``; nothing else.
- With ``NNSPEC_REQUIRE_BACKENDS=1`` (``.ci/run`` sets it) the run refuses to start unless PyTorch,
  TensorFlow and Keras all import, and ``frameworks.need`` fails instead of skipping.
"""

from __future__ import annotations

import pytest
from hypothesis import settings

from frameworks import frameworks_required, missing_frameworks

settings.register_profile("nnspec", derandomize=True, database=None, deadline=None, print_blob=True)
settings.load_profile("nnspec")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Fail the whole run at once when the frameworks are required and one is missing."""
    if frameworks_required():
        missing = missing_frameworks()
        if missing:
            pytest.exit(f"NNSPEC_REQUIRE_BACKENDS is set but {', '.join(missing)} cannot be imported: "
                        "install '.[test]' (it pulls every framework)", returncode=pytest.ExitCode.USAGE_ERROR)
