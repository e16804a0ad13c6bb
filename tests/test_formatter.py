"""Tests for the canonical spec formatter (``spec_lang.formatter``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spec_lang import ast
from spec_lang.diagnostics import SpecError
from spec_lang.formatter import LINE_LIMIT, format_module, format_source
from spec_lang.parser import parse

SPECS = sorted((Path(__file__).parent.parent / "specs").glob("*.nns"))
SPAN_KEYS = {"span", "func_span", "name_span", "key_span", "keyword_span", "inner_span"}


# ---- helpers ---------------------------------------------------------------
def strip(node):
    """``node`` as plain data without spans; Number.text up to exponent case / ``+``."""
    if isinstance(node, ast.Number):
        return ("Number", node.text.lower().replace("e+", "e"), node.value)
    if dataclasses.is_dataclass(node):
        fields = {f.name: strip(getattr(node, f.name)) for f in dataclasses.fields(node) if f.name not in SPAN_KEYS}
        return (type(node).__name__, fields)
    if isinstance(node, (tuple, list)):
        return [strip(x) for x in node]
    return node


def same_tree(a: str, b: str) -> bool:
    return strip(parse(a).statements) == strip(parse(b).statements)


def check(source: str, expected: str) -> None:
    """``source`` formats to ``expected``, which is stable and means the same."""
    out = format_source(source)
    assert out == expected
    assert format_source(out) == out
    assert same_tree(source, out)


def model(*layers: str) -> str:
    """A model whose body is ``layers``, each already indented."""
    return "model m {\n" + "".join(line + "\n" for line in layers) + "}\n"


# ---- API ---------------------------------------------------------------------
def test_format_module_and_format_source_agree():
    src = "x=1\nmodel m{Dense(x)}"
    assert format_module(parse(src)) == format_source(src) == "x = 1\n\nmodel m {\n    Dense(x)\n}\n"


def test_empty_spec_formats_to_empty_string():
    assert format_source("") == ""
    assert format_source("\n\n  \n") == ""


def test_syntax_error_raises_spec_error():
    with pytest.raises(SpecError):
        format_source("model m { Dense( }")


# ---- layout and blank lines ----------------------------------------------------
def test_braces_indentation_and_one_item_per_line():
    check(
        "model m { Input([2]) repeat 2 { Dense(4) } Dense(1) }\ntrain { loss = mse epochs = 3 }",
        "model m {\n    Input([2])\n    repeat 2 {\n        Dense(4)\n    }\n    Dense(1)\n}\n\n"
        "train {\n    loss = mse\n    epochs = 3\n}\n",
    )


def test_repeat_body_is_always_multi_line_and_empty_bodies_keep_brace_on_own_line():
    check("model m {repeat 3 {A()}}", model("    repeat 3 {", "        A()", "    }"))
    check("block b() {}\ntrain {}", "block b() {\n}\n\ntrain {\n}\n")


def test_one_blank_line_between_top_level_statements():
    check(
        "x = 1\nblock b(f) { A(f) }\n\n\n\nmodel m { b(x) }\ntrain { epochs = 1 }",
        "x = 1\n\nblock b(f) {\n    A(f)\n}\n\nmodel m {\n    b(x)\n}\n\ntrain {\n    epochs = 1\n}\n",
    )


def test_consecutive_constants_keep_source_grouping():
    check("a = 1\nb = 2\n\n\n\nc = 3\nd = 4\n", "a = 1\nb = 2\n\nc = 3\nd = 4\n")


def test_blank_lines_inside_bodies_collapse_to_one_and_vanish_at_edges():
    check(
        "model m {\n\n\n    A()\n    B()\n\n\n\n    C()\n\n}\ntrain {\n\n  x = 1\n\n  y = 2\n\n}\n",
        model("    A()", "    B()", "", "    C()") + "\ntrain {\n    x = 1\n\n    y = 2\n}\n",
    )


def test_no_trailing_whitespace_and_single_final_newline():
    out = format_source("x = 1   \n\n\n# c   \n\n\n")
    assert out == "x = 1\n\n# c\n"


# ---- values ------------------------------------------------------------------
def test_call_spacing_and_keyword_arguments():
    check(
        "model m { Dense( 10 ,activation = relu , use_bias=false, ) }",
        model("    Dense(10, activation=relu, use_bias=false)"),
    )


def test_assignment_spacing_and_block_parameters():
    check("x=1\nblock b( f , k = 3 ,) { A(f,k) }", "x = 1\n\nblock b(f, k=3) {\n    A(f, k)\n}\n")


def test_lists_and_tuples():
    check("x = [ 1,2 ,3, ]\ny = ( a , b )\nz = (a ,)\nw = []", "x = [1, 2, 3]\ny = (a, b)\nz = (a,)\nw = []\n")


def test_strings_use_double_quotes_and_escapes():
    check("x = 'same'", 'x = "same"\n')
    check("x = 'say \"hi\"'", 'x = "say \\"hi\\""\n')
    check("x = 'it\\'s'", 'x = "it\'s"\n')
    check('x = "a\\\\b\\nc\\td"', 'x = "a\\\\b\\nc\\td"\n')


def test_booleans():
    check("x = true\ny = false", "x = true\ny = false\n")


@pytest.mark.parametrize(
    ("number", "expected"),
    [("1E-4", "1e-4"), ("1e+3", "1e3"), ("2.5E+10", "2.5e10"), ("0.30", "0.30"), (".5", ".5"), ("1.", "1."),
     ("007", "007"), ("3e-05", "3e-05")],
)
def test_numbers_keep_text_but_normalise_exponent(number, expected):
    check(f"x = {number}", f"x = {expected}\n")


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("1+2*3", "1 + 2 * 3"),
        ("(1+2)*3", "(1 + 2) * 3"),
        ("((a))", "a"),
        ("(a - b) - c", "a - b - c"),
        ("a - (b - c)", "a - (b - c)"),
        ("a - (b + c)", "a - (b + c)"),
        ("a / (b * c)", "a / (b * c)"),
        ("(a / b) * c", "a / b * c"),
        ("a % (b // c)", "a % (b // c)"),
        ("2 ** 8", "2**8"),
        ("-2 ** 2", "-2**2"),
        ("-(2 ** 2)", "-2**2"),
        ("(-2) ** 2", "(-2)**2"),
        ("2 ** -1", "2**-1"),
        ("2 ** 3 ** 2", "2**3**2"),
        ("(2 ** 3) ** 2", "(2**3)**2"),
        ("(a * b) ** c", "(a * b)**c"),
        ("a ** (b * c)", "a**(b * c)"),
        ("-(a + b)", "-(a + b)"),
        ("+ a * - b", "+a * -b"),
        ("a * (-b)", "a * -b"),
        ("(1, 2) ** 2", "(1, 2)**2"),
    ],
)
def test_operator_spacing_and_minimal_parentheses(expr, expected):
    check(f"x = {expr}", f"x = {expected}\n")


# ---- line breaking -------------------------------------------------------------
def test_line_of_exactly_88_characters_stays():
    line = "    F(" + "a" * 81 + ")"
    assert len(line) == LINE_LIMIT
    check(model(line), model(line))


def test_line_of_89_characters_explodes_with_trailing_comma():
    name = "a" * 82
    check(model(f"    F({name})"), model("    F(", f"        {name},", "    )"))


def test_exploded_call_puts_one_argument_per_line():
    args = ", ".join(f"argument_{i}=value_{i}" for i in range(5))
    check(
        model(f"    Dense({args})"),
        model("    Dense(", *(f"        argument_{i}=value_{i}," for i in range(5)), "    )"),
    )


def test_trailing_comment_counts_toward_line_length():
    src = model("    Dense(32, activation=silu, kernel_initializer=auto(distribution=normal))  # -> he_normal")
    expected = model(
        "    Dense(",
        "        32,",
        "        activation=silu,",
        "        kernel_initializer=auto(distribution=normal),",
        "    )  # -> he_normal",
    )
    check(src, expected)


def test_nested_call_explodes_when_still_too_long():
    inner = ", ".join(f"parameter_{i}={i}" for i in range(6))
    check(
        f"x = outer(1, inner({inner}))",
        "x = outer(\n    1,\n    inner(\n" + "".join(f"        parameter_{i}={i},\n" for i in range(6)) + "    ),\n)\n",
    )


def test_nested_call_stays_flat_when_it_fits_after_exploding_parent():
    src = model("    Dense(64, activation=gelu(approximate=true), kernel_initializer=truncated_normal(stddev=0.1))")
    expected = model(
        "    Dense(",
        "        64,",
        "        activation=gelu(approximate=true),",
        "        kernel_initializer=truncated_normal(stddev=0.1),",
        "    )",
    )
    check(src, expected)


def test_long_list_and_setting_explode():
    items = ", ".join(f"metric_number_{i}" for i in range(6))
    check(
        f"train {{ metrics = [{items}] }}",
        "train {\n    metrics = [\n" + "".join(f"        metric_number_{i},\n" for i in range(6)) + "    ]\n}\n",
    )


def test_call_inside_arithmetic_explodes():
    args = ", ".join(f"argument{i}" for i in range(10))
    check(
        f"x = 1 + foo({args})",
        "x = 1 + foo(\n" + "".join(f"    argument{i},\n" for i in range(10)) + ")\n",
    )


def test_long_block_header_explodes_parameters():
    params = ", ".join(f"parameter_{i}=1" for i in range(6))
    check(
        f"block b({params}) {{ A() }}",
        "block b(\n" + "".join(f"    parameter_{i}=1,\n" for i in range(6)) + ") {\n    A()\n}\n",
    )


def test_short_call_is_joined_back_onto_one_line():
    check(model("    Dense(", "        10,", "        activation=relu,", "    )"), model("    Dense(10, activation=relu)"))


def test_empty_call_never_explodes_without_comment():
    line = "    " + "F" * 90 + "()"
    check(model(line), model(line))


# ---- comments ---------------------------------------------------------------
def test_own_line_and_trailing_comments_at_top_level():
    check(
        "# header\n\n# about x\nx=1 # one\n# about y\ny=2\nmodel m { A() } # end\n# eof",
        "# header\n\n# about x\nx = 1  # one\n# about y\ny = 2\n\nmodel m {\n    A()\n}  # end\n# eof\n",
    )


def test_comments_in_bodies_keep_their_item_and_indentation():
    check(
        "model m {\n# first\nA()   # a\n        # b below\n  B()\n  # last\n}\n",
        model("    # first", "    A()  # a", "    # b below", "    B()", "    # last"),
    )


def test_trailing_comment_after_opening_brace_moves_inside():
    check("model m {  # note\n    A()\n}", model("    # note", "    A()"))
    check("train { # t\n  x = 1 }", "train {\n    # t\n    x = 1\n}\n")
    check("model m { repeat 2 {  # r\n A() } }", model("    repeat 2 {", "        # r", "        A()", "    }"))
    check("block b(f) {  # c\n}", "block b(f) {\n    # c\n}\n")


def test_comment_before_closing_brace_of_empty_body():
    check("model m {\n    # nothing yet\n}", model("    # nothing yet"))


def test_comment_inside_call_forces_explosion():
    check(
        model("    Dense(10,  # units", "          activation=relu)"),
        model("    Dense(", "        10,  # units", "        activation=relu,", "    )"),
    )


def test_comments_attach_to_arguments_in_every_position():
    src = model(
        "    Dense(  # open",
        "        # before units",
        "        10, # units",
        "        activation=relu,",
        "        # after all",
        "    )  # close",
    )
    expected = model(
        "    Dense(",
        "        # open",
        "        # before units",
        "        10,  # units",
        "        activation=relu,",
        "        # after all",
        "    )  # close",
    )
    check(src, expected)


def test_comment_in_nested_call_explodes_both_calls():
    check(
        "x = f(1, g(2,  # two\n 3))",
        "x = f(\n    1,\n    g(\n        2,  # two\n        3,\n    ),\n)\n",
    )


def test_comment_in_list_and_in_empty_call():
    check("x = [1,  # one\n 2]", "x = [\n    1,  # one\n    2,\n]\n")
    check("x = F(  # c\n)", "x = F(\n    # c\n)\n")


def test_comments_in_block_parameters():
    check(
        "block b(f,  # filters\n k=3) { A(f) }",
        "block b(\n    f,  # filters\n    k=3,\n) {\n    A(f)\n}\n",
    )


def test_comment_in_middle_of_expression_goes_before_its_item():
    check("train {\n  z = 1 +  # mid\n    2\n}", "train {\n    # mid\n    z = 1 + 2\n}\n")
    check("x = (1 +\n# own\n 2)", "# own\nx = 1 + 2\n")


def test_comment_between_repeat_and_its_body():
    check("model m { repeat 2 # c\n { A() } }", model("    # c", "    repeat 2 {", "        A()", "    }"))


def test_trailing_comment_after_repeat_and_last_layer():
    check(
        "model m { repeat 2 { A()  # a\n }  # r\n}",
        model("    repeat 2 {", "        A()  # a", "    }  # r"),
    )


def test_comments_at_end_of_file_keep_blank_line():
    check("x = 1\n\n\n# eof 1\n# eof 2\n\n# eof 3", "x = 1\n\n# eof 1\n# eof 2\n\n# eof 3\n")
    check("# only a comment", "# only a comment\n")


def test_blank_line_between_comment_and_statement_is_kept():
    check("# header\n\n\nmodel m { A() }", "# header\n\nmodel m {\n    A()\n}\n")


# ---- whole files -------------------------------------------------------------
MESSY = """\
# header

a=1E+3 # one
# about b
b = 'it"s'


c = ( 1 + 2 ) * 3 - (4 - 5) + -2 ** 2
block blk( x ,  # the x
  y = 2  # the y
  # dangling param
) {  # after brace
    Dense(x, activation = relu)  # t


    Dense( # open
       y, # why
       # before kw
       kernel = f( 1,
         # inner
         2 ),
       # closing
    )  # after close
    repeat 2 { A() B()  # b
      # end of repeat
    }
    # end of body
} # after block
model m {
}
train { # tr
  x = [1, 2,  # list
   3]
  y = (1, )
  z = 1 +  # mid
    2
  # last
}
# eof
"""

MESSY_FORMATTED = """\
# header

a = 1e3  # one
# about b
b = "it\\"s"

c = (1 + 2) * 3 - (4 - 5) + -2**2

block blk(
    x,  # the x
    y=2,  # the y
    # dangling param
) {
    # after brace
    Dense(x, activation=relu)  # t

    Dense(
        # open
        y,  # why
        # before kw
        kernel=f(
            1,
            # inner
            2,
        ),
        # closing
    )  # after close
    repeat 2 {
        A()
        B()  # b
        # end of repeat
    }
    # end of body
}  # after block

model m {
}

train {
    # tr
    x = [
        1,
        2,  # list
        3,
    ]
    y = (1,)
    # mid
    z = 1 + 2
    # last
}
# eof
"""


def test_messy_file_golden():
    check(MESSY, MESSY_FORMATTED)


INPUTS = [MESSY, MESSY_FORMATTED] + [p.read_text() for p in SPECS]


@pytest.mark.parametrize("source", INPUTS, ids=["messy", "messy_formatted"] + [p.stem for p in SPECS])
def test_idempotent_keeps_comments_and_meaning(source):
    out = format_source(source)
    assert format_source(out) == out
    assert same_tree(source, out)
    for comment in parse(source).comments:
        assert comment.text in out
    assert len(parse(out).comments) == len(parse(source).comments)
    assert out.endswith("\n") and not out.endswith("\n\n")
    assert all(line == line.rstrip() for line in out.splitlines())


def test_formatted_specs_fit_the_line_limit():
    """Every code line of the example specs fits (their header comments are long)."""
    for path in SPECS:
        lines = format_source(path.read_text()).splitlines()
        assert all(len(line) <= LINE_LIMIT for line in lines if not line.lstrip().startswith("#")), path


# ---- property tests ------------------------------------------------------------
NAMES = st.from_regex(r"[a-z_][a-z0-9_]{0,14}", fullmatch=True).filter(
    lambda s: s not in {"true", "false", "block", "model", "train", "repeat", "output", "residual", "shortcut",
                        "parallel", "branch"}
)
NUMBERS = st.one_of(
    st.integers(0, 10**6).map(str),
    st.from_regex(r"(\d{1,3}\.\d{0,3}|\.\d{1,3}|\d{1,3})([eE][+-]?\d{1,2})?", fullmatch=True),
)
STRINGS = st.text(alphabet="ab '\"\\\n\t", max_size=6).map(
    lambda s: "'" + s.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\t", "\\t") + "'"
)
LEAVES = st.one_of(NUMBERS, NAMES, STRINGS, st.sampled_from(["true", "false"]))
SPACE = st.sampled_from(["", " ", "  ", "\n    "])
OPS = st.sampled_from(["+", "-", "*", "/", "//", "%", "**"])


def _compound(children):
    """Fully parenthesised source text for arbitrary operator trees, calls, lists and tuples."""
    binary = st.builds(lambda a, op, b, s1, s2: f"({a}{s1}{op}{s2}{b})", children, OPS, children, SPACE, SPACE)
    unary = st.builds(lambda op, a: f"({op}{a})", st.sampled_from(["-", "+"]), children)
    args = st.builds(lambda p, k: p + k, st.lists(children, max_size=3),  # positional before keyword arguments
                     st.lists(st.builds(lambda k, v: f"{k}={v}", NAMES, children), max_size=3))
    call = st.builds(lambda f, a, s: f"{f}({s}{', '.join(a)})", NAMES, args, SPACE)
    lst = st.builds(lambda a, comma: "[" + ", ".join(a) + ("," if a and comma else "") + "]",
                    st.lists(children, max_size=5), st.booleans())
    tup = st.builds(lambda a: "(" + ", ".join(a) + ("," if len(a) == 1 else "") + ")",
                    st.lists(children, min_size=1, max_size=4))
    return st.one_of(binary, unary, call, lst, tup)


EXPRS = st.recursive(LEAVES, _compound, max_leaves=12)
COMMENT = st.one_of(st.none(), st.from_regex(r"# [a-z ]{0,10}[a-z]", fullmatch=True))


def _check_roundtrip(src: str) -> str:
    out = format_source(src)
    assert same_tree(src, out)
    assert format_source(out) == out
    for comment in parse(src).comments:
        assert comment.text in out
    return out


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EXPRS)
def test_property_expressions_roundtrip_and_are_idempotent(expr):
    _check_roundtrip(f"x = {expr}\n")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.one_of(EXPRS, st.builds(lambda k, v: f"{k}={v}", NAMES, EXPRS)), COMMENT), max_size=8),
       NAMES, st.booleans())
def test_property_argument_lists_with_comments(args, func, multiline):
    """Random (possibly commented, possibly long) argument lists round-trip and keep comments."""
    args = sorted(args, key=lambda a: "=" in a[0].split("(")[0].split("[")[0])  # positional ones first
    if multiline or any(c for _, c in args):
        lines = [f"{a},  {c}" if c else f"{a}," for a, c in args]
        call = f"{func}(\n" + "".join(f"        {line}\n" for line in lines) + "    )"
    else:
        call = f"{func}({', '.join(a for a, _ in args)})"
    out = _check_roundtrip(f"model m {{\n    {call}\n}}\n")
    assert out.startswith("model m {\n    ") and out.endswith("\n}\n")


COMMENTLESS = """\
n = 10
block b(f, k=[1, 2]) { Conv(f, k, act=g(1, h(2))) repeat 2 { Pool(2) } }
model m { Input([8, 8]) b(n) Dense(n * (2 + 1), w=f(a=-x**2, b=(1, 2)), s="a b") }
train { loss = mse metrics = [acc, top(k=5)] }
"""
_SPOTS = [i for i, ch in enumerate(COMMENTLESS) if ch in " \n" and '"' not in COMMENTLESS[:i].rsplit("\n", 1)[-1]]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(_SPOTS), st.booleans()), min_size=1, max_size=6, unique_by=lambda t: t[0]))
def test_property_comments_anywhere_are_kept(spots):
    """A comment between any two tokens (own line or trailing) survives, stably, without changing the tree."""
    src = COMMENTLESS
    for k, (i, own_line) in enumerate(sorted(spots, reverse=True)):
        src = src[:i] + ("\n" if own_line else " ") + f"# c{k}\n" + src[i:]
    out = _check_roundtrip(src)
    assert sorted(c.text for c in parse(out).comments) == sorted(c.text for c in parse(src).comments)
