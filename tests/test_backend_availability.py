"""A missing framework gives a one-line hint how to install it, not a traceback; frameworks are
imported only by the commands that need them. In the test suite a missing framework skips only the tests
that need it, with the reason; where NNSPEC_REQUIRE_BACKENDS=1 (CI) it fails the run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from frameworks import FRAMEWORKS, need

ROOT = Path(__file__).resolve().parent.parent

BLOCK = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ImportError(f"No module named {{name!r}}")
sys.meta_path.insert(0, Block())
from cli import main
sys.argv = ["nnspec", *{args!r}]
main()
"""


def run_blocked(blocked: set[str], *args: str) -> subprocess.CompletedProcess:
    code = BLOCK.format(blocked=blocked, args=list(args))
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("backend,package,hint", [("torch", "torch", "nnspec[torch]"),
                                                  ("keras", "keras", "nnspec[keras]")])
def test_missing_framework_gives_an_install_hint(tmp_path, backend, package, hint):
    result = run_blocked({package}, "train", str(ROOT / "specs" / "digits_mlp.nns"), "--backend", backend,
                         "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    message = result.stderr.strip().splitlines()[-1]
    assert f"the {backend} backend needs {package}" in message and hint in message
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_training_with_numpy_needs_neither_framework(tmp_path):
    result = run_blocked({"torch", "tensorflow", "keras"}, "train", str(ROOT / "specs" / "digits_mlp.nns"),
                         "--epochs", "1", "--out", str(tmp_path / "run"), "-q")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "run" / "weights.npz").exists()


def test_every_framework_is_present_where_they_are_required():
    """Under NNSPEC_REQUIRE_BACKENDS=1 (CI) this fails when a framework is missing; elsewhere it skips."""
    for name in FRAMEWORKS:
        need(name)


def test_ci_requires_every_framework():
    assert "NNSPEC_REQUIRE_BACKENDS=1" in (ROOT / ".ci" / "run").read_text()


PROBE = """
from frameworks import need

def test_uses_torch():
    need("torch")
"""


def run_suite_blocked(tmp_path: Path, required: bool) -> subprocess.CompletedProcess:
    """Run a one-test suite (using tests/conftest.py) in a fresh process where no framework imports."""
    for helper in ("conftest.py", "frameworks.py"):
        (tmp_path / helper).write_text((ROOT / "tests" / helper).read_text())
    (tmp_path / "test_probe.py").write_text(PROBE)
    code = BLOCK.split("from cli import main")[0].format(blocked=set(FRAMEWORKS)).replace(
        "raise ImportError", "raise ModuleNotFoundError") + \
        "import pytest\nsys.exit(pytest.main(['-q', '-rs', '-p', 'no:cacheprovider', '-p', 'no:xdist', '.']))\n"
    env = {**os.environ, "NNSPEC_REQUIRE_BACKENDS": "1" if required else "0"}
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env=env)


def test_a_missing_framework_skips_with_its_reason(tmp_path):
    result = run_suite_blocked(tmp_path, required=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 skipped" in result.stdout and "torch is not installed (pip install -e '.[torch]')" in result.stdout


def test_a_missing_framework_fails_the_run_where_frameworks_are_required(tmp_path):
    result = run_suite_blocked(tmp_path, required=True)
    assert result.returncode != 0
    assert "NNSPEC_REQUIRE_BACKENDS is set but torch, tensorflow, keras cannot be imported" in \
        result.stdout + result.stderr
    assert "skipped" not in result.stdout
