"""A missing framework gives a one-line hint how to install it, not a traceback; frameworks are
imported only by the commands that need them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.mark.skipif(not __import__("os").environ.get("CI"), reason="CI only: there every backend must be tested")
def test_ci_has_every_framework_so_no_backend_test_is_skipped():
    import keras  # noqa: F401
    import tensorflow  # noqa: F401
    import torch  # noqa: F401
