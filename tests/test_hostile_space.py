"""Hostile inputs for search spaces, `nnspec check` over a space and `nnspec fix`: each is a clear error with a
caret (or one line for a params file), or correct behaviour; never a traceback, an internal error or a hang.

Classes, each fixed at its root: a point read from JSON (huge, non-finite, nested, wrongly typed values, a
10 MB file, nesting thousands deep); range bounds beyond what a point holds (``int_range(1, 10**18)``, a float
range wider than a float, a step making more than 2**53 values, ``inf``); sizes (10,000 dimensions, a choice
of 100,000 options, a size of hundreds of digits); shapes of the spec (``optional(optional(...))``, nested
choices, an empty choice inside a layer choice, a constant defined twice, unicode labels); and a
variable-depth repeat that may be 0.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cli import app
from cli.exit_codes import EXIT_ERRORS, EXIT_OK
from compiler.pipeline import compile_text
from compiler.space import space_of
from search_cases import DIGITS_TRAIN as TRAIN
from spec_lang.diagnostics import SpecError
from test_errors import PATH, assert_diagnostic

runner = CliRunner()


def model(*layers: str, before: str = "") -> str:
    body = "".join(f"    {line}\n" for line in layers)
    return before + "model m {\n    Input([64])\n    Rescaling(1 / 16)\n" + body + "    Dense(10)\n}\n" + TRAIN


def check(tmp_path, text: str, *extra: str):
    path = tmp_path / "space.nns"
    path.write_text(text)
    result = runner.invoke(app, ["check", str(path), *extra])
    assert "Traceback" not in result.output and "internal error" not in result.output
    return result


# ---- a point read from JSON -------------------------------------------------------------------------------------
POINT_SPACE = model("repeat int_range(1, 3) {", "    Dense(units, activation=relu)", "}",
                    before="units = choice(16, 32)\n\n").replace(
    "optimizer = adam", "optimizer = adam(learning_rate=log_range(1e-4, 1e-2))")
GOOD = {"units": 16, "model.repeat[0].count": 2, "train.optimizer.learning_rate": 0.001}


def _with(**changes) -> str:
    point = {**GOOD, **{k.replace("__", "."): v for k, v in changes.items()}}
    return json.dumps(point)


@pytest.mark.parametrize("params, message", [
    (_with(units=1e400).replace("Infinity", "1e400"), "units: inf is not a value a dimension takes"),
    (_with(units=0).replace('"units": 0', '"units": ' + "9" * 5000),
     "a number of 5,000 digits is not a value a dimension takes"),
    (_with(units=0).replace('"units": 0', '"units": NaN'), "NaN is not a value a dimension takes"),
    (_with(units=0).replace('"units": 0', '"units": -Infinity'), "-Infinity is not a value a dimension takes"),
    (_with(units={"a": [1]}), "units: a dimension's value is a number, true/false or a label string, not an object"),
    (_with(**{"model.repeat[0].count": True}), "dimension 'model.repeat[0].count': expected an integer in [1, 3]"),
    (_with(**{"model.repeat[0].count": 2.5}), "dimension 'model.repeat[0].count': expected an integer in [1, 3], "
                                              "received 2.5"),
    (_with(units="16"), "dimension 'units': expected one of 16, 32, received '16'"),
    (_with(units=True), "dimension 'units': expected one of 16, 32, received True"),
    (_with(**{"train.optimizer.learning_rate": "1e-3"}), "expected a number in [0.0001, 0.01], log scale"),
    ('{"a": ' * 50_000 + "1" + "}" * 50_000, "nested too deeply"),
    (json.dumps({**GOOD, "pad": "x" * (10 * 2**20)}), "larger than 1,048,576 bytes"),
])
def test_a_hostile_params_file_is_one_line_and_nothing_is_written(tmp_path, params, message):
    space = tmp_path / "space.nns"
    space.write_text(POINT_SPACE)
    path = tmp_path / "point.json"
    path.write_text(params)
    out = tmp_path / "out.nns"
    result = runner.invoke(app, ["fix", str(space), "--params", str(path), "--out", str(out)])
    assert result.exit_code == EXIT_ERRORS, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert not out.exists()


def test_a_whole_float_for_an_int_dimension_is_that_integer(tmp_path):
    space = tmp_path / "space.nns"
    space.write_text(POINT_SPACE)
    path = tmp_path / "point.json"
    path.write_text(_with(units=32.0, **{"model.repeat[0].count": 3.0}))
    result = runner.invoke(app, ["fix", str(space), "--params", str(path)])
    assert result.exit_code == EXIT_OK, result.output
    assert "units = 32\n" in result.stdout and "repeat 3 {" in result.stdout


# ---- bounds beyond what a point holds ----------------------------------------------------------------------------
@pytest.mark.parametrize("layer, line, col, message", [
    ("Dense(int_range(1, 10**18))", 4, 24, "int_range: argument 'high': 1000000000000000000 is beyond ±2**53"),
    ("Dense(int_range(-10**30, 8))", 4, 21, "int_range: argument 'low': "),
    ("Dropout(float_range(-1e308, 1e308))", 4, 33, "the range [-1e+308, 1e+308] is wider than the largest float"),
    ("Dropout(float_range(0.0, 0.5, step=1e-300))", 4, 40, "step 1e-300 makes more than 2**53 values"),
    ("Dropout(float_range(0, inf))", 4, 28, "float_range: argument 'high': expected a number, received name 'inf'"),
    ("Dropout(float_range(0, 1/0))", 4, 28, "division by zero"),
    ("Dense(int_range(1, 8, step=10**20))", 4, 32, "beyond ±2**53"),
])
def test_a_bound_no_point_can_hold_is_an_error_with_a_caret(layer, line, col, message):
    with pytest.raises(SpecError) as info:
        space_of(model(layer), PATH)
    err = info.value
    assert_diagnostic(err.diagnostics[0], err, line, col, message, None)


def test_a_huge_log_range_is_a_space_whose_points_stay_in_range():
    space = space_of(model("Dense(8)").replace("optimizer = adam",
                                               "optimizer = adam(learning_rate=log_range(1e-300, 1e300))"))
    for point in space.extremes() + space.sample(50, seed=0):
        rate = point["train.optimizer.learning_rate"]
        assert 1e-300 <= rate <= 1e300
        compile_text(space.concrete_text(point))


# ---- sizes -----------------------------------------------------------------------------------------------------
def test_ten_thousand_dimensions_are_refused_at_the_first_beyond_the_limit(tmp_path):
    layers = ["Dropout(float_range(0.0, 0.5, step=0.1))"] * 10_000
    result = check(tmp_path, model(*layers))
    assert result.exit_code == EXIT_ERRORS
    assert f"{tmp_path / 'space.nns'}:1004:13: error: a search space has at most 1,000 dimensions" in result.stderr


def test_a_choice_of_100000_options_is_checked_within_the_budget(tmp_path):
    options = ", ".join(str(i) for i in range(1, 100_001))
    result = check(tmp_path, model(f"Dense(choice({options}), activation=relu)"))
    assert result.exit_code == EXIT_OK, result.output
    assert "search space: 1 dimension, 100,000 points" in result.stdout
    assert "of 100,000 distinct points: the base point and the first extremes" in result.stdout


def test_many_dimensions_in_a_long_spec_are_checked_in_part_and_say_so(tmp_path):
    layers = ["Dense(choice(8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096), activation=relu)"] * 300
    result = check(tmp_path, model(*layers))
    assert result.exit_code == EXIT_OK, result.output
    assert "search space: 300 dimensions, about 10^300 points" in result.stdout
    assert "were left out: the space is too large to check whole in a few seconds" in result.stdout
    document = json.loads(check(tmp_path, model(*layers), "--json").stdout)["space"]
    assert document["size"] is None and document["size_text"] == "about 10^300 points"
    assert document["points_skipped"] > 0


# ---- shapes of the spec ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, line, col, message", [
    (model("optional(optional(Dense(1)))"), 4, 5, "optional takes one layer or block call"),
    (model("choice(Dense(choice()), Dense(8))"), 4, 18, "empty choice: a choice needs at least one option"),
    (model("choice(Dense(units=choice()), Dropout(0.1))"), 4, 24, "empty choice"),
    (model("Dense(" + "choice(8, " * 200 + "16" + ")" * 200 + ")"), 4, None, "nested too deeply"),
    (model("Dense(units)", before="units = choice(8, 16)\nunits = 3\n\n"), 2, 1, "constant 'units' is defined twice"),
])
def test_a_malformed_space_is_an_error_with_a_caret(tmp_path, text, line, col, message):
    result = check(tmp_path, text)
    assert result.exit_code == EXIT_ERRORS, result.output
    where = f"{tmp_path / 'space.nns'}:{line}:" + (f"{col}:" if col else "")
    assert any(l.startswith(where) and message in l for l in result.stderr.splitlines()), result.stderr
    assert "^" in result.stderr


def test_choices_nested_thirty_deep_are_conditional_all_the_way_down():
    nested = "choice(8, " * 30 + "16" + ")" * 30
    space = space_of(model(f"Dense({nested})"))
    assert len(space.dimensions) == 30
    assert space.size() == 31
    deepest = space.dimensions[-1]
    assert deepest.conditions == ((space.dimensions[-2].name, space.dimensions[-2].options[-1]),)
    for point in space.extremes():
        compile_text(space.concrete_text(point))


def test_unicode_labels_are_kept_and_named_with_carets(tmp_path):
    result = check(tmp_path, model('Dense(8, activation=choice("relü", "tänh"))'))
    assert result.exit_code == EXIT_ERRORS
    assert "error: Dense: argument 'activation': unknown activation 'relü'" in result.stderr
    assert "unknown activation 'tänh'" in result.stderr
    space = space_of(model('Dense(8, activation=choice("relü", "tänh"))'), PATH)
    assert space.dimension("model.dense.activation").options == ("relü", "tänh")
    assert 'activation="tänh"' in space.concrete_text({"model.dense.activation": "tänh"})
    from compiler.space import ParamsError

    with pytest.raises(ParamsError, match="expected one of relü, tänh, received 'relu'"):
        space.validate({"model.dense.activation": "relu"})


# ---- a variable depth of 0 ---------------------------------------------------------------------------------------
def test_a_variable_depth_of_zero_leaves_the_repeat_out(tmp_path):
    text = model("repeat int_range(0, 2) {", "    Dense(32, activation=relu)", "}")
    result = check(tmp_path, text)
    assert result.exit_code == EXIT_OK, result.output
    space = space_of(text)
    at_zero = space.concrete_text({"model.repeat[0].count": 0})
    assert "repeat" not in at_zero and "Dense(32" not in at_zero
    assert [layer.kind for layer in compile_text(at_zero).spec.layers][-1] == "Dense"
    assert "repeat 2 {" in space.concrete_text({"model.repeat[0].count": 2})
    named = space_of(model("repeat depth {", "    Dense(32)", "}", before="depth = int_range(0, 2)\n\n"))
    assert "repeat" not in named.concrete_text({"depth": 0})
    # a plain repeat 0 is still the compiler's error
    with pytest.raises(SpecError, match="repeat"):
        compile_text(model("repeat 0 {", "    Dense(32)", "}"))
