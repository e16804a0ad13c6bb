"""A malformed or misplaced search dimension is a ``SpecError`` with one precise diagnostic (line, column,
caret, message, hint), never a crash; a search space given to a command that needs a concrete spec is one
error at its first dimension, exit 2, no traceback.

Each table row is a spec (its first line is line 1), the line and column the error must point at, a fragment
of its message and, where there is one, of its hint. The rendering is checked by ``test_errors``'
``assert_diagnostic`` (``bad.nns:LINE:COL: error: ...``, the source line, the caret under COL).
"""

from __future__ import annotations

import textwrap

import pytest
from typer.testing import CliRunner

from cli import app
from compiler.pipeline import compile_text
from compiler.space import space_of
from spec_lang.diagnostics import SpecError
from test_errors import PATH, assert_diagnostic


def spec(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def model(*layers: str) -> str:
    return "model m {\n    Input([8])\n" + "".join(f"    {line}\n" for line in layers) + "    Dense(2)\n}\n"


def train(*settings: str) -> str:
    lines = ["loss = mse", "optimizer = adam", *settings]
    return "model m {\n    Input([8])\n    Dense(2)\n}\n\ntrain {\n" + "".join(f"    {s}\n" for s in lines) + "}\n"


def case(id: str, text: str, line: int, col: int, message: str, hint: str | None = None):
    return pytest.param(text, line, col, message, hint, id=id)


CASES = [
    # ---- bad dimensions ----
    case("empty choice", model("Dense(choice())"), 3, 11, "empty choice: a choice needs at least one option",
         "choice(a, b, ...)"),
    case("duplicate option", model("Dense(choice(32, 64, 32))"), 3, 26, "duplicate option 32 in choice",
         "each option may appear once"),
    case("duplicate name and string", model('Dense(4, activation=choice(relu, "relu"))'), 3, 38,
         "duplicate option relu in choice"),
    case("choice with a keyword", model("Dense(choice(32, units=64))"), 3, 22,
         "choice takes options, not keyword arguments"),
    case("low above high", model("Dense(int_range(8, 2))"), 3, 24, "int_range: low 8 is greater than high 2",
         "write the smaller bound first"),
    case("float low above high", model("Dropout(float_range(0.5, 0.1))"), 3, 30,
         "float_range: low 0.5 is greater than high 0.1"),
    case("log range including 0", train("optimizer = adam(learning_rate=log_range(0, 0.1))").replace(
        "    optimizer = adam\n", "", 1), 8, 46, "log_range: a log-scaled range needs low > 0, received low 0",
         "cannot include 0"),
    case("log float range below 0", model("Dropout(float_range(-0.5, 0.5, log=true))"), 3, 25,
         "a log-scaled range needs low > 0, received low -0.5"),
    case("non-integer int bound", model("Dense(int_range(1.5, 8))"), 3, 21,
         "int_range: argument 'low': expected an integer, received 1.5"),
    case("non-integer int step", model("Dense(int_range(2, 8, step=0.5))"), 3, 32,
         "int_range: argument 'step': expected an integer, received 0.5"),
    case("step 0", model("Dense(int_range(2, 8, step=0))"), 3, 32,
         "int_range: argument 'step': expected a value > 0, received 0"),
    case("negative float step", model("Dropout(float_range(0.1, 0.5, step=-0.1))"), 3, 40,
         "expected a value > 0, received -0.1"),
    case("step does not divide", model("Dense(int_range(2, 9, step=2))"), 3, 32,
         "int_range: step 2 does not divide high - low (9 - 2)", "make high 8 or 10"),
    case("float step does not divide", model("Dropout(float_range(0.1, 0.5, step=0.3))"), 3, 40,
         "float_range: step 0.3 does not divide high - low (0.5 - 0.1)", "make high 0.4 or 0.7"),
    case("step with log", model("Dense(int_range(2, 8, step=2, log=true))"), 3, 32,
         "int_range: give step or log=true, not both"),
    case("unknown keyword", model("Dense(int_range(2, 8, stride=2))"), 3, 27, "int_range has no argument 'stride'",
         "did you mean 'step'?"),
    case("log_range takes no step", model("Dropout(log_range(0.1, 0.5, step=0.1))"), 3, 33,
         "log_range has no argument 'step'"),
    case("missing high", model("Dense(int_range(2))"), 3, 11, "int_range: missing required argument 'high'"),
    case("too many arguments", model("Dense(int_range(2, 8, 2, false, 1))"), 3, 37,
         "int_range takes at most 4 arguments"),
    case("log not a bool", model("Dense(int_range(2, 8, log=1))"), 3, 31,
         "argument 'log': expected true or false, received 1"),
    # ---- places that cannot vary ----
    case("input shape", "model m {\n    Input([choice(4, 8)])\n    Dense(2)\n}\n", 2, 12,
         "a search dimension cannot go here: Input's arguments are fixed"),
    case("input in a layer choice", "model m {\n    choice(Input([4]), Input([8]))\n    Dense(2)\n}\n", 2, 5,
         "a search dimension cannot go here: Input's arguments are fixed"),
    case("layer name", model('Dense(2, name=choice("a", "b"))'), 3, 19,
         "a search dimension cannot go here: a layer's name is fixed"),
    case("train data", train("data = choice(digits, iris)"), 9, 12,
         "a search dimension cannot go here: the training data is the same for every point"),
    case("seed", train("seed = int_range(0, 9)"), 9, 12, "a search dimension cannot go here: the seed is the same"),
    case("named seed", "s = choice(1, 2)\n\n" + train("seed = s"), 11, 12,
         "a search dimension cannot go here: the seed is the same for every point (trials differ only in their "
         "dimensions) ('s' holds a search dimension)"),
    case("validation split", train("validation_split = float_range(0.1, 0.3)"), 9, 24,
         "a search dimension cannot go here: every point is judged on the same validation data"),
    case("metrics", train("metrics = [choice(mae, mse)]"), 9, 16,
         "a search dimension cannot go here: every point records the same metrics"),
    case("monitored metric", train("early_stopping = monitor(choice(loss, val_loss), patience=int_range(2, 5))"),
         9, 30, "a search dimension cannot go here: the monitored metric is fixed"),
    case("monitor= keyword", train("early_stopping = monitor(monitor=choice(loss, val_loss))"), 9, 38,
         "the monitored metric is fixed"),
    case("a bound that is a dimension", model("Dense(int_range(choice(1, 2), 8))"), 3, 21,
         "a search dimension cannot go here: a dimension's bounds, step and log are fixed values"),
    case("a bound that is a named dimension", "lo = choice(1, 2)\n\n" + model("Dense(int_range(lo, 8))"), 5, 21,
         "a dimension's bounds, step and log are fixed values ('lo' holds a search dimension)"),
    case("a block named like a dimension", "block optional(x) {\n    Dense(x)\n}\n\n" + model(), 1, 7,
         "a block cannot be named 'optional'", "rename the block"),
    # ---- misused dimensions ----
    case("named dimension inside its own options", "units = choice(32, units)\n\n" + model("Dense(units)"), 1, 20,
         "search dimension 'units' is used inside its own definition"),
    case("layer choice of a value", model("choice(Dense(2), 5)"), 3, 22,
         "a choice in a body chooses among layers: this option is not a layer or a block call"),
    case("layer choice of an unknown kind", model("choice(Dense(2), Dence(4))"), 3, 22,
         "this option is not a layer or a block call"),
    case("optional in a value position", model("Dense(optional(4))"), 3, 11, "optional(...) goes in a body",
         "choice(none, value)"),
    case("optional of a value", model("optional(4)"), 3, 5, "optional takes one layer or block call"),
    case("range in a body", model("int_range(1, 2)"), 3, 5, "int_range(...) is a value, not a layer"),
    case("unused named dimension", "u = choice(1, 2)\n\n" + model(), 1, 5, "this search dimension is never used",
         "nothing in the model or the train section uses constant 'u'"),
    case("dimension in an unused block", "block b(x) {\n    Dense(choice(1, 2))\n}\n\n" + model(), 2, 11,
         "this search dimension is never used", "block 'b' is never used"),
    case("two dimensions on one path", model("Dense(choice(1, 2) * choice(3, 4))"), 3, 26,
         "two search dimensions here are both named 'model.dense.units'", "name one of them"),
]


@pytest.mark.parametrize("text, line, col, message, hint", CASES)
def test_bad_dimension_is_one_error_with_a_caret(text, line, col, message, hint):
    with pytest.raises(SpecError) as info:
        space_of(text, PATH)
    err = info.value
    assert len(err.diagnostics) == 1, str(err)
    assert_diagnostic(err.diagnostics[0], err, line, col, message, hint)


def test_every_bad_dimension_is_reported_not_only_the_first():
    text = model("Dense(choice())", "Dense(int_range(8, 2))", 'Dense(2, name=choice("a", "b"))')
    with pytest.raises(SpecError) as info:
        space_of(text, PATH)
    assert [(d.span.line, d.span.column) for d in info.value.diagnostics] == [(3, 11), (4, 24), (5, 19)]


def test_a_wrong_kind_of_value_is_the_compilers_error_at_that_point():
    """``choice(relu, tanh)`` as Dense units is a valid space; the point is refused by the compiler, at the use
    of the value, in the user's file (``nnspec check`` reports it through the extremes)."""
    space = space_of("units = choice(relu, tanh)\n\n" + model("Dense(units)"), PATH)
    with pytest.raises(SpecError) as info:
        from compiler.pipeline import compile_parsed
        compile_parsed(space.concrete_module(space.extremes()[0]), space.source)
    d = info.value.diagnostics[0]
    assert (d.span.path, d.span.line, d.span.column) == (PATH, 5, 11) and "expected a positive integer" in d.message


SPACE = spec("""
model m {
    Input([64])
    Dense(choice(32, 64), activation=relu)
    Dense(10)
}

train {
    loss = sparse_categorical_crossentropy(from_logits=true)
    optimizer = adam
    epochs = 1
    data = digits
}
""")


def test_compiling_a_space_is_one_error_at_its_first_dimension():
    with pytest.raises(SpecError) as info:
        compile_text(SPACE, PATH)
    err = info.value
    assert len(err.diagnostics) == 1
    assert_diagnostic(err.diagnostics[0], err, 3, 11, "this spec is a search space (choice(...) is a search "
                      "dimension), and this command needs a concrete spec", "nnspec search SPEC")
    assert "nnspec fix SPEC --params FILE" in err.diagnostics[0].hint


@pytest.mark.parametrize("command", [
    ["train", "--epochs", "1"], ["compile"], ["emit"], ["equiv"], ["diagnose"], ["lr-find"],
])
def test_commands_that_need_a_concrete_spec_refuse_a_space_with_exit_2(tmp_path, command):
    path = tmp_path / "space.nns"
    path.write_text(SPACE)
    result = CliRunner().invoke(app, [command[0], str(path), *command[1:]])
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert result.exit_code == 2, output
    assert "3:11: error: this spec is a search space" in output and "Traceback" not in output


def test_fmt_accepts_a_space(tmp_path):
    path = tmp_path / "space.nns"
    path.write_text(SPACE.replace("choice(32, 64)", "choice( 32,64 )"))
    result = CliRunner().invoke(app, ["fmt", str(path)])
    assert result.exit_code == 0, result.output
    assert path.read_text() == SPACE


def test_constants_nested_thousands_deep_around_a_dimension_are_an_error_not_a_crash():
    n = 3000
    text = "c0 = choice(1, 2)\n" + "".join(f"c{i} = c{i - 1} + 1\n" for i in range(1, n)) + \
        f"model m {{\n    Input([4])\n    Dense(c{n - 1})\n}}\n"
    with pytest.raises(SpecError, match="nests constants or blocks too deeply"):
        space_of(text, PATH)
