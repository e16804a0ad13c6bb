"""The command line, its help and the README agree, and every command exits through one table of codes.

- The commands of ``cli.COMMANDS`` are the rows of the README's command table, and no other.
- Every option a command takes is named in its README row (by any of its spellings: ``-q`` or
  ``--quiet``), and every option the row names exists; ``nnspec COMMAND --help`` lists them all.
- The README's exit-code table is ``cli.exit_codes.readme_table()``; ``nnspec --help`` lists every code.
- No command exits with a bare number or defines an exit code of its own: every exit goes through
  ``cli/exit_codes.py``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import COMMANDS, app, load_command
from cli.exit_codes import EXIT_CODES, readme_table

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
runner = CliRunner()


def command_rows() -> dict[str, str]:
    """The README's command table: command name -> its row (the row of ``--version``/``--help`` aside)."""
    section = README.split("## Command line", 1)[1].split("\n\n", 2)[1]
    rows = {}
    for line in section.splitlines():
        match = re.match(r"\| `nnspec ([a-z][a-z-]*)\b[^`]*` \|", line)
        if match:
            assert match.group(1) not in rows, f"two README rows for {match.group(1)}"
            rows[match.group(1)] = line
    return rows


def row_options(row: str) -> set[str]:
    """The options a README row names: ``--x``/``-x`` inside its code spans, except in an example of the
    emitted program (``python model.py --epochs 5``), whose options are the program's."""
    spans = [s for s in re.findall(r"`([^`]*)`", row) if not s.startswith("python ")]
    return {o for s in spans for o in re.findall(r"(?<![\w-])(--?[a-z][a-z0-9-]*)", s)}


def command_options(name: str) -> list[tuple[str, ...]]:
    """Each option of command ``name`` as the tuple of its spellings (``("-q", "--quiet")``), --help aside."""
    command = load_command(name)
    return [tuple(p.opts + p.secondary_opts) for p in command.params
            if p.param_type_name == "option" and "--help" not in p.opts]


def test_the_readme_table_lists_exactly_the_commands():
    assert sorted(command_rows()) == sorted(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_is_in_the_readme_row_and_every_row_option_exists(name):
    row = command_rows()[name]
    named = row_options(row)
    options = command_options(name)
    missing = [spellings for spellings in options if not named & set(spellings)]
    assert not missing, f"nnspec {name}: options missing from its README row: {missing}"
    unknown = named - {o for spellings in options for o in spellings}
    assert not unknown, f"nnspec {name}: its README row names options it does not have: {sorted(unknown)}"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_lists_every_option_and_shows_examples(name):
    result = runner.invoke(app, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Examples:" in result.output or name == "schema", result.output
    for spellings in command_options(name):
        assert any(re.search(rf"(?<![\w-]){re.escape(o)}\b", result.output) for o in spellings), (name, spellings)


def test_the_readme_exit_code_table_is_the_one_in_cli_exit_codes():
    assert readme_table() in README, "regenerate the README's exit-code table from cli.exit_codes.readme_table()"


def test_nnspec_help_lists_every_exit_code():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    text = result.output.split("Exit codes:", 1)[1]
    for code in EXIT_CODES:
        assert re.search(rf"^\s*{code.code}\s+\S", text, re.MULTILINE), code


def exits_with_literals(source: str, where: str) -> list[str]:
    """``typer.Exit(N)``, ``sys.exit(N)``, ``SystemExit(N)`` with a number (or with no code, which means 0),
    and ``EXIT_... = N`` assignments, in the source of one module."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in {"Exit", "exit", "SystemExit"} and (
                    not node.args or isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, int)):
                found.append(f"{where}:{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id.startswith("EXIT_"):
                    found.append(f"{where}:{node.lineno}: {target.id} defined here")
    return found


def test_every_exit_goes_through_the_table():
    modules = [p for package in ("cli", "runtime", "tools") for p in sorted((ROOT / package).rglob("*.py"))
               if p != ROOT / "cli" / "exit_codes.py"]
    offending = [hit for p in modules for hit in exits_with_literals(p.read_text(encoding="utf-8"),
                                                                      str(p.relative_to(ROOT)))]
    assert not offending, "exit through cli/exit_codes.py's names:\n" + "\n".join(offending)


def test_the_check_finds_every_kind_of_bare_exit_code():
    source = "import sys, typer\nEXIT_MINE = 5\nraise typer.Exit(1)\nsys.exit(3)\nraise typer.Exit()\n" \
             "raise SystemExit(2)\nraise typer.Exit(EXIT_OK)\nsys.exit(EXIT_INTERNAL)\n"
    assert [hit.split(":")[1] for hit in exits_with_literals(source, "probe.py")] == ["2", "3", "4", "5", "6"]
