"""Every error of a call is reported, each with its own caret; a bracket left open is pointed at.

Each row of ``CALLS`` is one layer call with two or three errors (a value out of range, an unknown
argument, an unknown activation or initializer, a wrong type, a problem inside a nested call, an
expression that cannot be evaluated); every one must be reported, at its own column, and nothing
else. ``UNCLOSED`` rows are a missing ``)``, ``]`` or ``}``: the error is where the parser gave up,
and a note with its own caret points at the opening bracket.
"""

from __future__ import annotations

import pytest

from compiler.pipeline import compile_text
from spec_lang.diagnostics import Diagnostic, SpecError

PATH = "calls.nns"
PREFIX = "width = 8\nmodel m {\n    Input([8, 8, 3])\n    "  # the call stands on line 4, from column 5
LINE = 4


def call_errors(call: str) -> SpecError:
    with pytest.raises(SpecError) as info:
        compile_text(PREFIX + call + "\n}\n", PATH)
    return info.value


def column_of(call: str, fragment: str) -> int:
    """The 1-based column of ``fragment`` in the call's line (the call starts at column 5)."""
    assert call.count(fragment) == 1, f"{fragment!r} must occur once in {call!r}"
    return 5 + call.index(fragment)


def assert_caret(d: Diagnostic, err: SpecError, line: int, col: int) -> None:
    rendered = d.render(err.source).splitlines()
    assert rendered[0].startswith(f"{PATH}:{line}:{col}: {d.severity}: "), rendered[0]
    assert rendered[2].index("^") == len(f"{line:>4} | ") + col - 1, "\n".join(rendered)


# (call, [(fragment the caret points at, fragment of the message), ...])
CALLS = [
    ("Dense(-64, activation=rleu)",
     [("-64", "argument 'units': expected a value > 0, received -64"), ("rleu", "unknown activation 'rleu'")]),
    ("Dense(0, activaton=relu, use_bias=3)",
     [("0,", "argument 'units': expected a value > 0"), ("activaton", "has no argument 'activaton'"),
      ("3)", "argument 'use_bias': expected true or false, received 3")]),
    ("Dense(8, kernel_initializer=he_unifrom, bias_initializer=zeroes, activation=tanhh)",
     [("he_unifrom", "unknown initializer 'he_unifrom'"), ("zeroes", "unknown initializer 'zeroes'"),
      ("tanhh", "unknown activation 'tanhh'")]),
    ("Dense(8, kernel_regularizer=l2(-1, l3=2), activation=rleu)",
     [("-1", "regularizer l2: argument 'l2': expected a value >= 0"), ("l3", "regularizer l2 has no argument 'l3'"),
      ("rleu", "unknown activation 'rleu'")]),
    ("Dense(widht * 2, activation=leaky_relu(alpha=true))",
     [("widht", "operator '*' needs numbers, received name 'widht'"),
      ("true", "activation leaky_relu: argument 'alpha': expected a number, received true")]),
    ("Conv2D(0, [3, 3, 3], padding=sam)",
     [("0,", "argument 'filters': expected a value > 0"), ("[3, 3, 3]", "argument 'kernel_size'"),
      ("sam", "unknown value 'sam'")]),
    ("Dropout(1.5, name=3, seed=1)",
     [("1.5", "argument 'rate': expected a value < 1.0, received 1.5"), ("3,", "argument 'name': expected a string"),
      ("seed", "Dropout has no argument 'seed'")]),
    ("MaxPooling2D(0, strides=-1, padding=1 / 0)",
     [("0,", "argument 'pool_size': expected a value > 0"), ("-1", "argument 'strides': expected a value > 0"),
      ("1 / 0", "division by zero")]),
]


@pytest.mark.parametrize("call, expected", CALLS, ids=[c for c, _ in CALLS])
def test_every_error_of_a_call_is_reported_with_its_own_caret(call, expected):
    err = call_errors(call)
    errors = [d for d in err.diagnostics if d.severity == "error"]
    assert len(errors) == len(expected), "\n".join(d.render(err.source) for d in errors)
    for (fragment, message), d in zip(sorted(expected, key=lambda e: column_of(call, e[0])), errors):
        assert message in d.message, d.render(err.source)
        assert_caret(d, err, LINE, column_of(call, fragment))


def test_a_misspelled_required_argument_is_one_error_not_two():
    err = call_errors("Dense(unit=8)")
    assert [d.message for d in err.diagnostics] == ["Dense has no argument 'unit'"]
    assert err.diagnostics[0].hint == "did you mean 'units'?"


def test_errors_in_a_block_call_are_all_reported():
    with pytest.raises(SpecError) as info:
        compile_text("block b(units) {\n    Dense(units)\n}\nmodel m {\n    Input([8])\n    b(1 / 0, foo=2)\n}\n", PATH)
    messages = [(d.span.line, d.span.column, d.message) for d in info.value.diagnostics]
    assert messages == [(6, 7, "division by zero in '/'"), (6, 14, "block b has no parameter 'foo'")]


# (spec, (line, column, message) of the error, (line, column) of the opening bracket)
UNCLOSED = [
    pytest.param("model m {\n    Input([8])\n    Dense(3\n    Dense(4)\n}\n",
                 (4, 5, "unexpected 'Dense'; expected one of ')', ','"), (3, 10), id="missing )"),
    pytest.param("model m {\n    Input([8\n    Dense(4)\n}\n",
                 (3, 5, "unexpected 'Dense'; expected one of ',', ']'"), (2, 11), id="missing ]"),
    pytest.param("model m {\n    Input([8])\n    Dense(4)\n",
                 (3, 13, "unexpected end of file"), (1, 9), id="missing } at the end"),
    pytest.param("x = [1, (2, 3]\nmodel m {\n    Input([8])\n}\n",
                 (1, 14, "unexpected ']'; expected one of ')', ','"), (1, 9), id="] closing a ("),
]


@pytest.mark.parametrize("text, error, opened", UNCLOSED)
def test_a_missing_closing_bracket_points_at_the_opening_one(text, error, opened):
    with pytest.raises(SpecError) as info:
        compile_text(text, PATH)
    err = info.value
    first = err.diagnostics[0]
    assert (first.span.line, first.span.column) == error[:2] and error[2] in first.message
    assert_caret(first, err, *error[:2])
    (note,) = first.notes
    assert note.severity == "note" and note.message.endswith("opened here is not closed")
    assert_caret(note, err, *opened)
    rendered = first.render(err.source)
    assert f"{PATH}:{opened[0]}:{opened[1]}: note: " in rendered


def test_no_note_when_the_bracket_is_not_what_is_missing():
    with pytest.raises(SpecError) as info:
        compile_text("model m {\n    Input([8])\n    Dense(3 4)\n}\n", PATH)
    assert info.value.diagnostics[0].notes == ()
