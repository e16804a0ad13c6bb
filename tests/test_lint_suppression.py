"""Lints can be silenced: a trailing `# nnspec: ignore[code]`, a file-level `# nnspec: ignore-file[code]`,
and `--ignore CODE` on every command that prints lints. Parametrised over every registered code, so a new
lint without an example here fails."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from cli.exit_codes import EXIT_ERRORS, EXIT_OK
from compiler.passes.lint import CODES
from compiler.pipeline import compile_text
from spec_lang.formatter import format_source

runner = CliRunner()


def spec(layers: str, train: str = "loss = sparse_categorical_crossentropy\n    optimizer = adam(learning_rate=1e-3)"
         ) -> str:
    body = "\n".join(f"    {line.strip()}" for line in layers.strip().splitlines())
    settings = "\n".join(f"    {line.strip()}" for line in train.strip().splitlines())
    return f"model m {{\n{body}\n}}\n\ntrain {{\n{settings}\n}}\n"


# One spec per code that makes the compiler (or lint) report that code.
EXAMPLES = {
    "init-activation": spec("Input([4])\nDense(8, activation=relu, kernel_initializer=glorot_uniform)\n"
                            "Dense(3, activation=softmax)"),
    "saturating-depth": spec("Input([4])\n" + "Dense(8, activation=tanh)\n" * 5 + "Dense(3, activation=softmax)"),
    "dropout-before-batchnorm": spec("Input([4])\nDense(8, activation=relu)\nDropout(0.2)\nBatchNormalization()\n"
                                     "Dense(3, activation=softmax)"),
    "bias-before-batchnorm": spec("Input([4])\nDense(8)\nBatchNormalization()\nActivation(relu)\n"
                                  "Dense(3, activation=softmax)"),
    "softmax-from-logits": spec("Input([4])\nDense(3, activation=softmax)\nFlatten()",
                                "loss = sparse_categorical_crossentropy(from_logits=true)\noptimizer = adam()"),
    "logits-not-probabilities": spec("Input([4])\nDense(3)"),
    "one-unit-softmax": spec("Input([4])\nDense(1, activation=softmax)"),
    "learning-rate": spec("Input([4])\nDense(3, activation=softmax)",
                          "loss = sparse_categorical_crossentropy\noptimizer = adam(learning_rate=5.0)"),
    "data-shape": spec("Input([5])\nDense(3, activation=softmax)",
                       "loss = sparse_categorical_crossentropy\noptimizer = adam()\ndata = iris"),
    "data-classes": spec("Input([4])\nDense(4, activation=softmax)",
                         "loss = sparse_categorical_crossentropy\noptimizer = adam()\ndata = iris"),
    "early-stopping-validation": spec("Input([4])\nDense(3, activation=softmax)",
                                      "loss = sparse_categorical_crossentropy\noptimizer = adam()\n"
                                      "early_stopping = monitor(val_loss, patience=2)"),
    "unscaled-inputs": spec("Input([30])\nDense(1, activation=sigmoid)",
                            "loss = binary_crossentropy\noptimizer = adam()\ndata = breast_cancer"),
    "bad-suppression": spec("Input([4])\nDense(3, activation=softmax)  # nnspec: ignore[no-such-code]"),
}


def codes_of(text: str, **kwargs) -> list[str]:
    return [w.code for w in compile_text(text, "m.nns", **kwargs).warnings]


def silence_lines(text: str, code: str, lines: set[int]) -> str:
    """``text`` with ``code`` added to a trailing suppression comment on each of ``lines`` (1-based)."""
    out = text.splitlines()
    for n in lines:
        line = out[n - 1]
        if "# nnspec: ignore[" in line:
            out[n - 1] = line.replace("# nnspec: ignore[", f"# nnspec: ignore[{code}, ", 1)
        else:
            out[n - 1] = f"{line}  # nnspec: ignore[{code}]"
    return "\n".join(out) + "\n"


def warned_lines(text: str, code: str) -> set[int]:
    return {w.span.line for w in compile_text(text, "m.nns").warnings if w.code == code}


@pytest.fixture(params=sorted(CODES))
def example(request) -> tuple[str, str]:
    code = request.param
    assert code in EXAMPLES, f"add a spec that triggers lint code '{code}' to EXAMPLES"
    text = EXAMPLES[code]
    assert code in codes_of(text), f"EXAMPLES['{code}'] does not trigger it"
    return code, text


def without(codes: list[str], code: str) -> list[str]:
    return [c for c in codes if c != code]


def test_a_trailing_comment_silences_the_code_on_its_line(example):
    code, text = example
    silenced = silence_lines(text, code, warned_lines(text, code))
    assert codes_of(silenced) == without(codes_of(text), code)


def test_an_ignore_file_comment_silences_the_code_everywhere(example):
    code, text = example
    assert codes_of(f"# nnspec: ignore-file[{code}]\n{text}") == without(codes_of(text), code)


def test_ignore_silences_the_code(example):
    code, text = example
    assert codes_of(text, ignore=[code]) == without(codes_of(text), code)


def test_check_ignore_silences_the_code(example, tmp_path):
    code, text = example
    path = tmp_path / "m.nns"
    path.write_text(text)
    assert f"[{code}]" in runner.invoke(app, ["check", str(path)]).output
    result = runner.invoke(app, ["check", str(path), "--ignore", code, "--strict"])
    assert f"[{code}]" not in result.output
    if not without(codes_of(text), code):
        assert result.exit_code == EXIT_OK, result.output  # --strict has nothing left to fail on


def test_fmt_keeps_suppression_comments_where_they_apply(example):
    code, text = example
    silenced = silence_lines(text, code, warned_lines(text, code))
    formatted = format_source(silenced, "m.nns")
    assert f"ignore[{code}" in formatted
    assert codes_of(formatted) == codes_of(silenced)


def test_a_suppression_covers_every_line_of_a_call_written_over_several():
    text = spec("Input([4])\nDense(8,\nactivation=relu,\nkernel_initializer=glorot_uniform)\n"
                "Dense(3, activation=softmax)")
    assert warned_lines(text, "init-activation") == {3}
    assert "init-activation" not in codes_of(silence_lines(text, "init-activation", {5}))


def test_a_suppression_silences_only_its_own_line_and_code():
    text = spec("Input([4])\nDense(8, activation=relu, kernel_initializer=glorot_uniform)\n"
                "Dense(8, activation=relu, kernel_initializer=glorot_uniform)\nDense(3, activation=softmax)",
                "loss = sparse_categorical_crossentropy\noptimizer = adam(learning_rate=5.0)")
    silenced = silence_lines(text, "init-activation", {3})
    assert codes_of(silenced) == ["init-activation", "learning-rate"]  # line 4 and the rate still warn
    assert codes_of(silence_lines(text, "learning-rate", {3})) == codes_of(text)


@pytest.mark.parametrize("comment, expected", [
    ("# nnspec: ignore[learnig-rate]",
     "unknown lint code 'learnig-rate' in a suppression comment; did you mean 'learning-rate'?"),
    ("# nnspec: ignore[]", "not a suppression comment"),
    ("# nnspec: ignroe[learning-rate]", "not a suppression comment"),
    ("# nnspec: ignore-file[xyz]", "unknown lint code 'xyz' in a suppression comment"),
])
def test_a_bad_suppression_comment_is_a_warning_that_says_why(comment, expected):
    text = spec("Input([4])\nDense(3, activation=softmax)",
                f"loss = sparse_categorical_crossentropy\noptimizer = adam(learning_rate=5.0)  {comment}")
    result = compile_text(text, "m.nns")
    bad = [w for w in result.warnings if w.code == "bad-suppression"]
    assert len(bad) == 1 and expected in bad[0].message
    assert bad[0].span.line == 8  # the comment's line
    assert "learning-rate" in [w.code for w in result.warnings]  # a bad comment silences nothing


def test_a_suppression_alone_on_its_line_is_reported_not_applied():
    text = spec("Input([4])\nDense(3, activation=softmax)",
                "loss = sparse_categorical_crossentropy\n# nnspec: ignore[learning-rate]\n"
                "optimizer = adam(learning_rate=5.0)")
    result = compile_text(text, "m.nns")
    assert [w.code for w in result.warnings] == ["learning-rate", "bad-suppression"]
    assert "move it to the end of the line" in result.warnings[1].message


def test_a_reason_may_follow_the_codes():
    text = spec("Input([4])\nDense(3, activation=softmax)",
                "loss = sparse_categorical_crossentropy\n"
                "optimizer = adam(learning_rate=5.0)  # nnspec: ignore[learning-rate] fine-tuning on purpose")
    assert codes_of(text) == []


# --ignore on every command that prints lints, on a spec that warns [learning-rate] and trains in a moment.
LR_SPEC = spec("Input([4])\nDense(3, activation=softmax)",
               "loss = sparse_categorical_crossentropy\noptimizer = adam(learning_rate=5e-6)\nbatch_size = 50\n"
               "epochs = 1\ndata = iris")
COMMANDS = {
    "check": [],
    "compile": [],
    "emit": [],
    "train": ["--out", "{tmp}/run", "-q"],
    "equiv": ["--backends", "numpy", "--steps", "2", "--out", "{tmp}/equiv"],
    "diagnose": ["--batches", "1", "--plot", "{tmp}/d.png"],
    "lr-find": ["--steps", "10", "--plot", "{tmp}/lr.png"],
}


@pytest.fixture
def lr_spec(tmp_path) -> Path:
    path = tmp_path / "lr.nns"
    path.write_text(LR_SPEC)
    return path


def test_the_commands_spec_warns_unless_ignored(lr_spec):
    assert "[learning-rate]" in runner.invoke(app, ["check", str(lr_spec)]).stderr
    for extra in (["--ignore", "data-shape,learning-rate"], ["--ignore", "data-shape", "--ignore", "learning-rate"]):
        result = runner.invoke(app, ["check", str(lr_spec), "--strict", *extra])
        assert result.exit_code == EXIT_OK and "[learning-rate]" not in result.stderr, result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_that_prints_lints_takes_ignore(command, lr_spec, tmp_path):
    args = [a.format(tmp=tmp_path) for a in COMMANDS[command]]
    result = runner.invoke(app, [command, str(lr_spec), *args, "--ignore", "learning-rate"])
    assert result.exit_code == EXIT_OK, result.output
    assert "[learning-rate]" not in result.stderr


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unknown_ignore_code_is_a_usage_error(command, lr_spec, tmp_path):
    args = [a.format(tmp=tmp_path) for a in COMMANDS[command]]
    result = runner.invoke(app, [command, str(lr_spec), *args, "--ignore", "learning-rat"])
    assert result.exit_code == EXIT_ERRORS
    assert "unknown lint code 'learning-rat'; did you mean 'learning-rate'?" in result.output
    assert "Traceback" not in result.output
    assert not any(tmp_path.glob("*/*")), "nothing is written when an option is wrong"


def test_a_warning_found_at_train_time_is_silenced_the_same_ways(tmp_path):
    """unscaled-inputs on a data file is found only once train loads it: the spec's comments and --ignore
    silence it too."""
    import numpy as np

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "raw.npz", x=rng.normal(500.0, 300.0, (40, 3)), y=rng.integers(0, 2, 40))
    text = spec("Input([3])\nDense(2, activation=softmax)",
                'loss = sparse_categorical_crossentropy\noptimizer = adam()\nbatch_size = 40\ndata = "raw.npz"')
    path = tmp_path / "m.nns"
    variants = {"warns": (text, []), "comment": (silence_lines(text, "unscaled-inputs", {2}), []),
                "file": (f"# nnspec: ignore-file[unscaled-inputs]\n{text}", []),
                "option": (text, ["--ignore", "unscaled-inputs"])}
    for name, (source, extra) in variants.items():
        path.write_text(source)
        result = runner.invoke(app, ["train", str(path), "--out", str(tmp_path / name), "-q", *extra])
        assert result.exit_code == EXIT_OK, result.output
        assert ("[unscaled-inputs]" in result.stderr) == (name == "warns"), (name, result.stderr)
