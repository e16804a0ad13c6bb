"""The package structure holds: imports run one way (spec_lang → compiler → backends → runtime → tools →
cli), the three backends never import one another, and no modules import each other in a cycle.

The contracts are import-linter's, written in pyproject.toml (``[tool.importlinter]``); this test runs
them, so a forbidden import — at module level or inside a function — fails the suite with
import-linter's report naming the import chain.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("spec_lang", "compiler", "backends", "runtime", "tools", "cli")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """import-linter's check of ``root``'s contracts, in a fresh interpreter (its cache off)."""
    code = "import sys; from importlinter.cli import lint_imports_command; sys.argv = ['lint-imports', '--no-cache']; lint_imports_command()"
    return subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})


def test_import_contracts_are_kept():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_contracts_cover_every_top_level_package():
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    assert set(config["root_packages"]) == set(PACKAGES)
    layers = next(c for c in config["contracts"] if c["type"] == "layers")["layers"]
    assert layers == ["cli", "tools", "runtime", "backends", "compiler", "spec_lang"]
    found = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "benchmarks"}
    assert found == set(PACKAGES), "a new top-level package must join the import contracts"


@pytest.mark.parametrize("importer, forbidden", [
    ("compiler/passes/lint.py", "import runtime.loop"),  # a lower layer importing a higher one
    ("backends/torch/model.py", "from backends.numpy import model as _numpy_model"),  # backends independent
    ("compiler/ir/values.py", "from compiler.passes import lint as _lint"),  # a cycle: lint imports values
])
def test_a_forbidden_import_breaks_the_contracts(tmp_path, importer, forbidden):
    """The check is real: one forbidden import (inside a function, where grimp still sees it) in a copy
    of the tree fails it."""
    for package in PACKAGES:
        subprocess.run(["cp", "-r", str(ROOT / package), str(tmp_path / package)], check=True)
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    target = tmp_path / importer
    target.write_text(target.read_text() + f"\n\ndef _forbidden():\n    {forbidden}\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout
