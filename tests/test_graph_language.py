"""The graph language (issue 12): dict literals, named outputs, residual / parallel constructs, outputs; their
errors with carets, the graph they build, ``fmt`` on every construct."""

from __future__ import annotations

import pytest

from compiler.passes.evaluate import DictVal, Evaluator
from spec_lang import ast
from spec_lang.diagnostics import SpecError
from spec_lang.formatter import format_source
from spec_lang.parser import parse


def syntax_error(text: str) -> SpecError:
    with pytest.raises(SpecError) as info:
        parse(text)
    return info.value


# ---- dict literals -----------------------------------------------------------------------------------------------
def test_a_dict_literal_parses_to_keys_in_order_with_their_spans():
    module = parse('train {\n    loss = {label: mse, "my key": mae,}\n}\n')
    value = module.statements[0].settings[0].value
    assert isinstance(value, ast.DictExpr)
    assert [(i.key, i.quoted, i.key_span.column) for i in value.items] == [("label", False, 13), ("my key", True, 25)]
    evaluated = Evaluator({}).evaluate(value, {})
    assert isinstance(evaluated.value, DictVal)
    assert evaluated.value.keys == ("label", "my key")
    assert evaluated.value.get("my key").key_span.column == 25
    assert evaluated.value.get("other") is None


def test_a_dict_key_given_twice_is_an_error_at_the_second():
    err = syntax_error("train {\n    a = {x: 1, x: 2}\n}\n")
    [d] = err.diagnostics
    assert (d.span.line, d.span.column, d.message) == (2, 16, "key 'x' is given twice in this dict")
    assert d.notes[0].span.column == 10


def test_a_dict_key_needs_a_colon():
    d = syntax_error("train {\n    a = {x 1}\n}\n").diagnostics[0]
    assert (d.span.line, d.span.column) == (2, 12) and "expected ':'" in d.message


@pytest.mark.parametrize("source, expected", [
    ("train{a={x:1,'y z':[1,2],}}", 'train {\n    a = {x: 1, "y z": [1, 2]}\n}\n'),
    ("train{a={}}", "train {\n    a = {}\n}\n"),
    ("train{a={x:{y:1}}}", "train {\n    a = {x: {y: 1}}\n}\n"),
    ("train{a={x:1,  # one\n# two\ny:2}}", "train {\n    a = {\n        x: 1,  # one\n        # two\n        y: 2,\n    }\n}\n"),
    ("train{m={digit:[accuracy],ink:[mean_absolute_error,mean_squared_error,mean_absolute_percentage_error],o:[a]}}",
     "train {\n    m = {\n        digit: [accuracy],\n"
     "        ink: [mean_absolute_error, mean_squared_error, mean_absolute_percentage_error],\n"
     "        o: [a],\n    }\n}\n"),
])
def test_fmt_writes_dicts_canonically_and_idempotently(source, expected):
    out = format_source(source)
    assert out == expected
    assert format_source(out) == out
