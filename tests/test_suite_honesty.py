"""The suite's own rules, checked over every test module: a test never vanishes silently, property tests
are reproducible, and no test asserts on wall-clock time.

- Frameworks are asked for only through ``tests/frameworks.need`` (skip with the install hint; fail under
  ``NNSPEC_REQUIRE_BACKENDS=1``): no ``pytest.importorskip`` and no ``except ImportError`` in a test module.
- Hypothesis runs with the suite's profile (``tests/conftest.py``): derandomized, no example database; no
  test module turns either back on.
- No test module reads a clock to assert on speed (``time.perf_counter``, ``time.monotonic``, ``time.time``
  compared against a bound); hang guards (``hostile_files.hang_guard``, SIGALRM) fail only what would hang.
"""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import settings

TESTS = Path(__file__).resolve().parent
MODULES = sorted(p for p in TESTS.glob("*.py") if p.name not in {"conftest.py", "frameworks.py",
                                                                   "test_suite_honesty.py"})


def offending(pattern: str) -> list[str]:
    rule = re.compile(pattern)
    return [f"{p.name}:{i}: {line.strip()}" for p in MODULES
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if rule.search(line)]


def test_frameworks_are_asked_for_only_through_frameworks_need():
    assert not offending(r"importorskip|except\s+(\(.*)?ImportError|except\s+ModuleNotFoundError")


def test_hypothesis_runs_derandomized_without_a_database():
    assert settings.default.derandomize is True and settings.default.database is None
    assert not offending(r"derandomize\s*=|database\s*=|load_profile|register_profile")


def test_no_test_reads_a_clock_to_assert_on_speed():
    assert not offending(r"perf_counter|time\.monotonic|process_time")
