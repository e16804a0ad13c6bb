"""``nnspec fmt`` on search spaces: a dimension is a call like any other, so a space has one canonical layout,
formatting it again changes nothing, the tree is unchanged and every comment is kept; a concrete spec written
from a point is already canonical."""

from __future__ import annotations

import textwrap

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.space import space_of
from spec_lang.formatter import format_source
from test_formatter import NUMBERS, _check_roundtrip, check


def spec(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def test_dimensions_format_like_calls():
    check("units=choice( 32,64 ,128 )\nmodel m{Input([4])\nDense(units,activation=choice(relu,tanh))"
          "\nrepeat int_range(1,4,step=1){Dense(float_range(0,1)*8//1)}\noptional( Dropout(log_range(1e-3,1E-1)) )}",
          "units = choice(32, 64, 128)\n\nmodel m {\n    Input([4])\n    Dense(units, activation=choice(relu, tanh))\n"
          "    repeat int_range(1, 4, step=1) {\n        Dense(float_range(0, 1) * 8 // 1)\n    }\n"
          "    optional(Dropout(log_range(1e-3, 1e-1)))\n}\n")


LONG = spec("""
# the optimizer and its learning rate
model m {
    Input([64])  # pixels
    choice(Dense(64), Dense(128))  # width
    Dense(10)
}

train {
    loss = sparse_categorical_crossentropy(from_logits=true)
    optimizer = choice(adam(learning_rate=log_range(1e-4, 1e-2)), sgd(learning_rate=log_range(1e-3, 1e-1), momentum=float_range(0.0, 0.99)))  # conditional
    data = digits
}
""")


def test_a_long_choice_explodes_one_option_per_line_and_keeps_its_comments():
    out = _check_roundtrip(LONG)
    assert "    optimizer = choice(\n        adam(learning_rate=log_range(1e-4, 1e-2)),\n" in out
    assert "        sgd(learning_rate=log_range(1e-3, 1e-1), momentum=float_range(0.0, 0.99)),\n    )  # conditional\n" in out
    assert "    choice(Dense(64), Dense(128))  # width\n" in out


def test_comments_between_options_stay_with_their_option():
    src = spec("""
    model m {
        Input([64])
        Dense(
            choice(
                32,  # small
                # the usual
                64,
                128,  # large
            ),
        )
    }
    """)
    out = _check_roundtrip(src)
    assert "32,  # small\n" in out and "# the usual\n" in out and "128,  # large\n" in out
    assert [d.options for d in space_of(out).dimensions] == [(32, 64, 128)]


def test_a_concrete_spec_is_canonical():
    space = space_of(LONG)
    point = {"model.choice[0]": "Dense(128)", "train.optimizer": "sgd",
             "train.optimizer.sgd.learning_rate": 0.01, "train.optimizer.sgd.momentum": 0.9}
    text = space.concrete_text(point, comment="trial 3")
    assert format_source(text) == text
    assert "# the optimizer and its learning rate" in text and "Input([64])  # pixels" in text
    assert "optimizer = sgd(learning_rate=0.01, momentum=0.9)  # conditional" in text


DIMENSIONS = st.one_of(
    st.lists(NUMBERS, min_size=1, max_size=5).map(lambda xs: f"choice({', '.join(xs)})"),
    st.tuples(st.integers(0, 9), st.integers(10, 99), st.integers(1, 3)).map(
        lambda t: f"int_range({t[0]}, {t[1]}, step={t[2]})"),
    st.tuples(NUMBERS, NUMBERS).map(lambda t: f"float_range({t[0]}, {t[1]})"),
    st.tuples(NUMBERS, NUMBERS).map(lambda t: f"log_range({t[0]},{t[1]})"),
)
COMMENTS = st.one_of(st.none(), st.from_regex(r"# [a-z ]{0,10}[a-z]", fullmatch=True))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(DIMENSIONS, COMMENTS), min_size=1, max_size=6), st.booleans())
def test_property_spaces_roundtrip_and_are_idempotent(dims, exploded):
    """Random dimensions (in settings, possibly commented, possibly written one per line inside a call)
    format to a fixed point with the same tree and every comment."""
    if exploded:
        inner = "".join(f"        {d},{'  ' + c if c else ''}\n" for d, c in dims)
        src = f"model m {{\n    Input([4])\n    Dense(\n{inner}    )\n}}\n"
    else:
        src = "train {\n" + "".join(f"    s{i} = {d}{'  ' + c if c else ''}\n" for i, (d, c) in enumerate(dims)) + "}\n"
    _check_roundtrip(src)
