"""The README stays true: its generated reference matches the code, its commands match CI."""

from pathlib import Path

from compiler.reference import BEGIN, END, reference

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_reference_in_readme_is_current():
    block = README[README.index(BEGIN) + len(BEGIN): README.index(END)]
    assert block.strip() == reference().strip(), "run: python -m compiler.reference"


def test_every_layer_kind_is_documented():
    from compiler.layers import LAYER_CLASSES

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
