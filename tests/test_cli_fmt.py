"""`nnspec fmt`: rewrites files canonically, --check for CI, never damages a file it cannot parse."""

import contextlib
from pathlib import Path

from typer.testing import CliRunner

from cli import app

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()

MESSY = """# header
model   m{Input( [4] )   # the input
Dense(3,activation = softmax)}
train{loss=categorical_crossentropy optimizer=adam}
"""
CANONICAL = """# header
model m {
    Input([4])  # the input
    Dense(3, activation=softmax)
}

train {
    loss = categorical_crossentropy
    optimizer = adam
}
"""


def test_example_specs_are_canonically_formatted():
    with contextlib.chdir(ROOT):
        result = runner.invoke(app, ["fmt", "--check", "specs/"])
    assert result.exit_code == 0, result.output


def test_fmt_rewrites_in_place_keeping_comments(tmp_path):
    spec = tmp_path / "m.nns"
    spec.write_text(MESSY)
    result = runner.invoke(app, ["fmt", str(spec)])
    assert result.exit_code == 0
    assert spec.read_text() == CANONICAL


def test_fmt_is_idempotent(tmp_path):
    spec = tmp_path / "m.nns"
    spec.write_text(CANONICAL)
    result = runner.invoke(app, ["fmt", "--check", str(spec)])
    assert result.exit_code == 0 and result.output == ""


def test_fmt_check_prints_a_diff_and_exits_1_without_writing(tmp_path):
    spec = tmp_path / "m.nns"
    spec.write_text(MESSY)
    result = runner.invoke(app, ["fmt", "--check", str(spec)])
    assert result.exit_code == 1
    assert "+    Dense(3, activation=softmax)" in result.output
    assert spec.read_text() == MESSY


def test_fmt_leaves_a_file_with_syntax_errors_untouched(tmp_path):
    spec = tmp_path / "bad.nns"
    spec.write_text("model m { Dense(3 }\n")
    result = runner.invoke(app, ["fmt", str(spec)])
    assert result.exit_code == 2
    assert "bad.nns:1:19: error: unexpected '}'" in result.output
    assert spec.read_text() == "model m { Dense(3 }\n"
    assert not list(tmp_path.glob("*.tmp"))


def test_fmt_stdin_to_stdout():
    result = runner.invoke(app, ["fmt", "-"], input=MESSY)
    assert result.exit_code == 0
    assert result.stdout == CANONICAL


def test_formatted_spec_compiles_to_the_same_ir():
    from compiler.pipeline import compile_text

    def meaning(text):
        spec = compile_text(text, "m.nns").spec
        return [layer.model_dump(exclude={"span"}) for layer in spec.layers], \
            spec.training.model_dump(exclude={"span": True, "loss": {"span"}, "optimizer": {"span"}})

    layers_before, training_before = meaning(MESSY)
    layers_after, training_after = meaning(CANONICAL)
    assert layers_before == layers_after
    assert training_before == training_after
