"""The README stays true: its generated reference matches the code, its commands match CI."""

from pathlib import Path

from compiler.reference import BEGIN, END, reference

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_reference_in_readme_is_current():
    block = README[README.index(BEGIN) + len(BEGIN): README.index(END)]
    assert block.strip() == reference().strip(), "run: python -m compiler.reference"


def test_every_layer_kind_is_documented():
    from compiler.ir.layers import LAYER_CLASSES

    for kind in LAYER_CLASSES:
        assert f"#### `{kind}`" in README


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    command = next(line for line in ci.splitlines() if "pytest" in line)
    assert command.strip() in README


def test_tour_spec_compiles_with_only_the_seeds_warning():
    from compiler.pipeline import compile_text

    tour = README[README.index("## A tour"):]
    spec = tour.split("```\n", 2)[1]
    result = compile_text(spec, "README.md")
    assert result.spec.name == "seed_cnn"
    assert [w.code for w in result.warnings] == ["bias-before-batchnorm"]  # the seed keeps Keras' conv biases


def _promise_rows() -> list[tuple[str, list[str]]]:
    """(promise, [test references]) for every row of the README's "Promises and their tests" table."""
    import re

    section = README[README.index("### Promises and their tests"):]
    section = section[: section.index("\n## ")]
    rows = []
    for line in section.splitlines():
        if not line.startswith("| ") or line.startswith("| promise") or line.startswith("|---"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        rows.append((cells[0], re.findall(r"`(tests/[^`:]+\.py::[^`\[]+)(?:\[[^`]*\])?`", cells[-1])))
    return rows


def test_every_reliability_promise_names_tests_that_exist():
    """Each row of the README's promise table names at least one test, and every test it names is a test
    function defined in that file: a renamed or deleted test cannot leave a promise unbacked."""
    import ast

    rows = _promise_rows()
    assert len(rows) > 50
    defined: dict[str, set[str]] = {}
    for promise, tests in rows:
        assert tests, f"the promise {promise!r} names no test"
        for ref in tests:
            file, name = ref.split("::")
            if file not in defined:
                tree = ast.parse((ROOT / file).read_text())
                defined[file] = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
            assert name in defined[file], f"{ref} (named by the README) does not exist"
