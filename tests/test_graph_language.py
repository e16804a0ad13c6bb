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


def test_inputs_written_as_a_list_get_a_hint():
    d = syntax_error("model m {\n    Add()([a, b])\n}\n").diagnostics[0]
    assert (d.span.line, d.span.column) == (2, 11) and d.hint == "a line's inputs are names, without a list: Add()(a, b)"


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


# ---- building graphs -----------------------------------------------------------------------------------------------
from compiler.pipeline import compile_text  # noqa: E402
from compiler.summary import connections, render_summary  # noqa: E402


def compiled(body: str, blocks: str = ""):
    return compile_text("model m {\n" + body + "}\n" + blocks).spec


def wiring(spec) -> list[tuple[str, tuple[str, ...]]]:
    return [(layer.name, layer.inputs) for layer in spec.layers]


def test_a_stack_is_wired_in_sequence_with_its_last_layer_the_output():
    spec = compiled("    Input([4])\n    Dense(3)\n    Dense(2)\n")
    assert wiring(spec) == [("input_layer", ()), ("dense", ("input_layer",)), ("dense_1", ("dense",))] \
        or wiring(spec)[1:] == [("dense", (spec.layers[0].name,)), ("dense_1", ("dense",))]
    assert spec.outputs == ("dense_1",) and spec.output_keys == ()
    assert "Connected to" not in render_summary(spec)


def test_residual_adds_the_body_to_its_input_and_the_add_follows_the_body():
    spec = compiled("    x = Input([4])\n    Dense(4)\n    residual {\n        Dense(8)\n        Dense(4)\n    }\n"
                    "    Dense(1)\n")
    assert wiring(spec) == [("x", ()), ("dense", ("x",)), ("dense_1", ("dense",)), ("dense_2", ("dense_1",)),
                            ("add", ("dense_2", "dense")), ("dense_3", ("add",))]
    assert spec.outputs == ("dense_3",)


def test_residual_with_a_shortcut_adds_both_branches():
    spec = compiled("    x = Input([4])\n    residual {\n        Dense(8)\n    } shortcut {\n        Dense(8)\n    }\n")
    assert wiring(spec)[1:] == [("dense", ("x",)), ("dense_1", ("x",)), ("add", ("dense", "dense_1"))]
    assert spec.layers[-1].output_shape == (8,)


def test_parallel_gives_its_input_to_every_branch_and_merges_in_order():
    spec = compiled("    x = Input([4])\n    parallel Concatenate() {\n        branch {\n            Dense(2)\n"
                    "        }\n        branch {\n            Dense(3)\n            Dense(5)\n        }\n"
                    "        branch {\n        }\n    }\n")
    assert wiring(spec)[1:] == [("dense", ("x",)), ("dense_1", ("x",)), ("dense_2", ("dense_1",)),
                                ("concatenate", ("dense", "dense_2", "x"))]
    assert spec.layers[-1].output_shape == (11,)


def test_named_lines_explicit_inputs_and_several_inputs_and_outputs():
    spec = compiled("    image = Input([8])\n    meta = Input([3])\n    Dense(4)(image)\n    f = Dense(3)\n"
                    "    both = Concatenate()(f, meta)\n    output label = Dense(2, activation=softmax)(both)\n"
                    "    output value = Dense(1)(both)\n")
    assert [layer.name for layer in spec.input_layers] == ["image", "meta"]
    assert wiring(spec)[2:] == [("dense", ("image",)), ("dense_1", ("dense",)), ("concatenate", ("dense_1", "meta")),
                                ("dense_2", ("concatenate",)), ("dense_3", ("concatenate",))]
    assert spec.outputs == ("dense_2", "dense_3") and spec.output_keys == ("label", "value")


def test_a_repeat_of_a_block_with_skips_gives_each_iteration_its_own_names():
    blocks = "block unit(n) {\n    skip = Dense(n)\n    h = Dense(n)\n    Add()(skip, h)\n}\n"
    spec = compiled("    x = Input([4])\n    repeat 3 {\n        unit(4)\n    }\n", blocks)
    adds = [layer for layer in spec.layers if layer.kind == "Add"]
    assert [a.inputs for a in adds] == [("dense", "dense_1"), ("dense_2", "dense_3"), ("dense_4", "dense_5")]
    assert spec.layers[2].inputs == ("dense",) and spec.layers[4].inputs == ("add",)  # naming keeps the flow


def test_a_block_used_with_a_named_input_and_a_residual_inside_a_branch():
    blocks = "block proj(n) {\n    residual {\n        Dense(n)\n    }\n}\n"
    spec = compiled("    x = Input([4])\n    y = Dense(4)\n    proj(4)(x)\n    z = parallel Add() {\n"
                    "        branch {\n            proj(4)\n        }\n        branch {\n        }\n    }\n"
                    "    Add()(y, z)\n", blocks)
    assert wiring(spec)[2:4] == [("dense_1", ("x",)), ("add", ("dense_1", "x"))]
    assert wiring(spec)[-1] == ("add_3", ("dense", "add_2"))


def test_x_equals_input_names_the_layer_unless_name_is_given():
    spec = compiled('    x = Input([4], name="pixels")\n    Dense(1)\n')
    assert spec.layers[0].name == "pixels"


# ---- errors, each at its caret ------------------------------------------------------------------------------------
def error(body: str, blocks: str = "") -> list:
    with pytest.raises(SpecError) as info:
        compile_text("model m {\n" + body + "}\n" + blocks)
    return [(d.span.line, d.span.column, d.message, d.hint) for d in info.value.diagnostics]


ERRORS = [
    ("undefined", "    Input([4])\n    Dense(3)(y)\n", 3, 14, "'y' is not defined"),
    ("used-before-defined", "    Input([4])\n    Dense(3)(y)\n    y = Dense(2)\n", 3, 14,
     "'y' is used before it is defined (at line 4)"),
    ("own-definition-cycle", "    x = Input([4])\n    y = Dense(3)(y)\n", 3, 18, "'y' is used in its own definition: a cycle"),
    ("defined-twice", "    x = Input([4])\n    y = Dense(3)\n    y = Dense(3)\n    Add()(y, x)\n", 4, 5,
     "'y' is already defined at line 3"),
    ("shadows-outer", "    x = Input([4])\n    residual {\n        x = Dense(4)\n    }\n", 4, 9,
     "'x' is already defined at line 2"),
    ("local-name-not-visible", "    x = Input([4])\n    residual {\n        h = Dense(4)\n    }\n    Add()(h, x)\n",
     6, 11, "'h' is not visible here: it is defined at line 4, in another scope"),
    ("unused-line", "    x = Input([4])\n    Dense(3)\n    Dense(2)(x)\n", 3, 5,
     "the output of Dense 'dense' (line 3) is never used"),
    ("unused-name", "    x = Input([4])\n    skip = Dense(3)\n    Dense(2)(x)\n", 3, 5, "'skip' is defined but never used"),
    ("merge-without-inputs", "    x = Input([4])\n    Add()\n", 3, 5, "Add merges two or more inputs: write Add()(a, b)"),
    ("subtract-without-inputs", "    x = Input([4])\n    Subtract()\n", 3, 5,
     "Subtract merges exactly two inputs: write Subtract()(a, b)"),
    ("merge-inputs-in-one-pair", "    x = Input([4])\n    a = Dense(4)\n    Add(a, x)\n", 4, 5,
     "Add's inputs go in a second pair of parentheses: write Add()(a, x)"),
    ("merge-one-input", "    x = Input([4])\n    Add()(x)\n", 3, 5, "Add merges 2 or more inputs, received 1"),
    ("layer-two-inputs", "    x = Input([4])\n    y = Dense(4)\n    Dense(3)(x, y)\n", 4, 5,
     "Dense takes one input, received 2"),
    ("residual-shape", "    x = Input([4])\n    residual {\n        Dense(8)\n    }\n", 3, 5,
     "Add cannot merge shapes (batch, 8), (batch, 4): axis 1 has sizes 8 and 4 (each axis must be equal, or 1)"),
    ("residual-empty", "    x = Input([4])\n    residual {\n    }\n", 3, 5,
     "a residual needs layers in its body: y = body(x) + x"),
    ("too-few-branches", "    x = Input([4])\n    parallel Add() {\n        branch {\n        }\n    }\n", 3, 14,
     "parallel Add() needs at least 2 branches, received 1"),
    ("too-many-branches", "    x = Input([4])\n    parallel Subtract() {\n        branch {\n            Dense(4)\n"
     "        }\n        branch {\n        }\n        branch {\n            Dense(4)\n        }\n    }\n", 9, 9,
     "parallel Subtract() takes exactly 2 branches, received 3"),
    ("parallel-shape", "    x = Input([4])\n    parallel Add() {\n        branch {\n            Dense(3)\n        }\n"
     "        branch {\n        }\n    }\n", 3, 14,
     "Add cannot merge shapes (batch, 3), (batch, 4): axis 1 has sizes 3 and 4 (each axis must be equal, or 1)"),
    ("merge-line-shape", "    x = Input([4])\n    y = Dense(3)\n    Add()(x, y)\n", 4, 5,
     "Add cannot merge shapes (batch, 4), (batch, 3): axis 1 has sizes 4 and 3 (each axis must be equal, or 1)"),
    ("parallel-not-a-merge", "    x = Input([4])\n    parallel Dense(3) {\n        branch {\n        }\n    }\n", 3, 14,
     "parallel joins its branches with a merge layer (Add, Subtract, Multiply, Average, Maximum, Minimum, "
     "Concatenate); Dense is not one"),
    ("output-not-top-level", "    x = Input([4])\n    residual {\n        output y = Dense(4)\n    }\n", 4, 9,
     "`output` marks a model output: it goes only at the top level of the model's body"),
    ("unnamed-inputs", "    Input([4])\n    Dense(2)\n    c = Input([3])\n    Dense(3)(c)\n", 2, 5,
     "a model with several inputs names each one: its name is its data key"),
    ("input-with-inputs", "    x = Input([4])\n    Input([4])(x)\n", 3, 5,
     "an Input takes no input: it is where data enters the model"),
    ("input-name-too-long", "    " + "x" * 120 + " = Input([4])\n    Dense(1)\n", 2, 5,
     "the Input's name (its data key): the name 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...' has 120 characters; "
     "a name is 1 to 100 letters, digits, '_', '-' and '.', starting with a letter or '_'"),
    ("block-two-inputs", "    x = Input([4])\n    y = Dense(4)\n    b(4)(x, y)\n", 4, 5, "block b takes one input, received 2"),
]


@pytest.mark.parametrize("body, line, column, message", [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_each_graph_error_points_at_its_source(body, line, column, message):
    blocks = "block b(n) {\n    Dense(n)\n}\n"
    found = error(body, blocks)
    assert (line, column, message) in [(l, c, m) for l, c, m, _ in found], found


def test_a_residual_shape_error_suggests_a_projection_shortcut():
    [(_, _, _, hint)] = error("    x = Input([4])\n    residual {\n        Dense(8)\n    }\n")
    assert "shortcut {" in hint


def test_a_block_sees_only_its_own_names():
    blocks = "block b(n) {\n    Dense(n)(x)\n}\n"
    found = error("    x = Input([4])\n    b(4)\n", blocks)
    assert (6, 14, "'x' is not visible here: it is defined at line 2, in another scope") in [f[:3] for f in found]


def test_a_repeated_error_is_reported_once():
    found = error("    x = Input([4])\n    repeat 3 {\n        Dense(3)(nope)\n    }\n")
    assert [f[2] for f in found] == ["'nope' is not defined"]


def test_the_layer_limit_counts_the_construct_merges():
    from compiler.passes.build import MAX_LAYERS
    n = MAX_LAYERS // 2 + 1  # each iteration: a Dense and the residual's Add
    found = error(f"    x = Input([4])\n    repeat {n} {{\n        residual {{\n            Dense(4)\n        }}\n    }}\n")
    assert found[0][2] == f"the model expands to more than {MAX_LAYERS:,} layers (the limit)"


# ---- fmt on every construct -----------------------------------------------------------------------------------------
GRAPH_SOURCE = """\
# a graph
block res(f) {  # a block
    residual {
        Conv2D(f, 3, padding=same)  # conv
        # own line
        BatchNormalization()
    }
    # between
    shortcut { Conv2D(f, 1) }  # after shortcut
}
model m {
    image = Input([32, 32, 3])
    meta=Input([3])
    stem = Conv2D(16, 3, padding=same)
    res(16)(stem)
    parallel Concatenate(axis=-1) {  # par
        branch { Conv2D(8, 1) }
        # second branch
        branch {

            Conv2D(8, 3, padding=same)

            Conv2D(8, 3, padding=same)
        }
        branch {}  # identity
    }
    repeat 2 { s = residual { Dense(3) } }
    Add()(stem,   meta)
    x = Add()(stem, # c
      meta)
    output label = Dense(10, activation=softmax)(features)   # out
    output value = parallel Add() { branch { } branch { Dense(1) } }
}
"""

GRAPH_FORMATTED = """\
# a graph
block res(f) {
    # a block
    # between
    residual {
        Conv2D(f, 3, padding=same)  # conv
        # own line
        BatchNormalization()
    } shortcut {
        Conv2D(f, 1)
    }  # after shortcut
}

model m {
    image = Input([32, 32, 3])
    meta = Input([3])
    stem = Conv2D(16, 3, padding=same)
    res(16)(stem)
    parallel Concatenate(axis=-1) {
        # par
        branch {
            Conv2D(8, 1)
        }
        # second branch
        branch {
            Conv2D(8, 3, padding=same)

            Conv2D(8, 3, padding=same)
        }
        branch {
        }  # identity
    }
    repeat 2 {
        s = residual {
            Dense(3)
        }
    }
    Add()(stem, meta)
    x = Add()(
        stem,  # c
        meta,
    )
    output label = Dense(10, activation=softmax)(features)  # out
    output value = parallel Add() {
        branch {
        }
        branch {
            Dense(1)
        }
    }
}
"""

SPAN_FIELDS = {"span", "func_span", "name_span", "key_span", "keyword_span", "inner_span"}


def _strip(node):
    import dataclasses
    if dataclasses.is_dataclass(node):
        return (type(node).__name__, {f.name: _strip(getattr(node, f.name)) for f in dataclasses.fields(node)
                                      if f.name not in SPAN_FIELDS})
    if isinstance(node, tuple):
        return [_strip(x) for x in node]
    return node


def test_fmt_writes_every_graph_construct_canonically_keeping_comments():
    out = format_source(GRAPH_SOURCE)
    assert out == GRAPH_FORMATTED
    assert format_source(out) == out
    assert _strip(parse(out).statements) == _strip(parse(GRAPH_SOURCE).statements)
    comments = [line.strip() for line in GRAPH_SOURCE.splitlines() if "#" in line]
    for c in comments:
        assert c[c.index("#"):] in out


def test_fmt_explodes_a_long_line_with_inputs():
    long = "    output prediction = Dense(128, activation=relu, kernel_initializer=he_normal)(first_input_name, b)\n"
    out = format_source("model m {\n" + long + "}\n")
    assert format_source(out) == out
    assert all(len(line) <= 88 for line in out.splitlines())


# ---- the summary against Keras ----------------------------------------------------------------------------------------
def test_connected_to_matches_what_keras_prints_for_the_same_functional_model(monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # Keras' summary is a rich table clipped to the terminal
    from frameworks import need
    keras = need("keras")
    spec = compiled("    image = Input([8, 8, 3])\n    stem = Conv2D(4, 3, padding=same)\n    residual {\n"
                    "        Conv2D(4, 3, padding=same)\n        BatchNormalization()\n    }\n"
                    "    parallel Concatenate() {\n        branch {\n            Conv2D(2, 1)\n        }\n"
                    "        branch {\n        }\n    }\n    Flatten()\n    Dense(3)\n")
    layers = keras.layers
    image = keras.Input((8, 8, 3), name="image")
    stem = layers.Conv2D(4, 3, padding="same", name="conv2d")(image)
    body = layers.BatchNormalization(name="batch_normalization")(
        layers.Conv2D(4, 3, padding="same", name="conv2d_1")(stem))
    added = layers.Add(name="add")([body, stem])
    merged = layers.Concatenate(name="concatenate")([layers.Conv2D(2, 1, name="conv2d_2")(added), added])
    out = layers.Dense(3, name="dense")(layers.Flatten(name="flatten")(merged))
    model = keras.Model(image, out)
    printed: list[str] = []
    model.summary(line_length=400, print_fn=lambda line, **_: printed.append(line))
    text = "\n".join(printed)
    keras_rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if len(cells) == 4 and "(" in cells[0] and cells[0] != "Layer (type)":
            keras_rows[cells[0].split(" ")[0]] = cells[3]
    ours = {layer.name: " ".join(c) for layer, c in zip(spec.layers, connections(spec))}
    assert keras_rows == ours
    assert [(p.name, p.count_params()) for p in model.layers] == [
        (layer.name, layer.trainable_params + layer.non_trainable_params) for layer in spec.layers]
    summary = render_summary(spec)
    assert "Connected to" in summary and "batch_normalization[0][0]," in summary


# ---- comments anywhere in a graph spec (property) ---------------------------------------------------------------------
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

GRAPH_COMMENTLESS = """\
block u(f) { residual { Dense(f) } shortcut { Dense(f) } }
model m { x = Input([4]) s = u(4)(x) parallel Add() { branch { Dense(4) } branch { } } output y = Add()(s, x) }
train { loss = {y: mse} }
"""
_GRAPH_SPOTS = [i for i, ch in enumerate(GRAPH_COMMENTLESS) if ch in " \n"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(_GRAPH_SPOTS), st.booleans()), min_size=1, max_size=6,
                unique_by=lambda t: t[0]))
def test_property_comments_anywhere_in_a_graph_spec_are_kept(spots):
    """A comment between any two tokens of every graph construct survives fmt, stably, the tree unchanged."""
    src = GRAPH_COMMENTLESS
    for k, (i, own_line) in enumerate(sorted(spots, reverse=True)):
        src = src[:i] + ("\n" if own_line else " ") + f"# c{k}\n" + src[i:]
    out = format_source(src)
    assert format_source(out) == out
    assert _strip(parse(out).statements) == _strip(parse(src).statements)
    assert sorted(c.text for c in parse(out).comments) == sorted(c.text for c in parse(src).comments)


# ---- lints over the graph ---------------------------------------------------------------------------------------------
def codes(body: str) -> list[tuple[str, int]]:
    result = compile_text("model m {\n" + body + "}\n")
    return [(w.code, w.span.line) for w in result.warnings]


def test_bias_before_batchnorm_is_seen_through_a_residual_add():
    body = ("    x = Input([8, 8, 4])\n    residual {\n        Conv2D(4, 3, padding=same, use_bias=false)\n"
            "        Conv2D(4, 3, padding=same)\n    }\n    BatchNormalization()\n")
    assert ("bias-before-batchnorm", 5) in codes(body)
    assert codes(body.replace("padding=same)\n    }", "padding=same, use_bias=false)\n    }")) == []


def test_bias_before_batchnorm_is_not_claimed_when_the_output_feeds_two_layers():
    body = ("    x = Input([8, 8, 4])\n    c = Conv2D(4, 3, padding=same)\n    BatchNormalization()\n"
            "    Add()(batch, c)\n").replace("    BatchNormalization()\n    Add()(batch, c)",
                                            "    b = BatchNormalization()\n    Add()(b, c)")
    assert [c for c in codes(body) if c[0] == "bias-before-batchnorm"] == []


def test_dropout_before_batchnorm_is_its_input_in_a_graph():
    body = ("    x = Input([4])\n    d = Dropout(0.5)\n    Dense(4)(x)\n    BatchNormalization()(d)\n"
            "    output a = Dense(1)(dense)\n").replace("Dense(1)(dense)", "Dense(1)(n)").replace(
        "    BatchNormalization()(d)", "    n = BatchNormalization()(d)").replace("    Dense(4)(x)\n", "")
    assert ("dropout-before-batchnorm", 3) in codes(body)


def test_saturating_depth_counts_along_the_longest_path():
    chain = "".join("        Dense(4, activation=tanh)\n" for _ in range(3))
    body = (f"    x = Input([4])\n    Dense(4, activation=tanh)\n    Dense(4, activation=tanh)\n    residual {{\n{chain}"
            "    }\n    Dense(1)\n")
    assert ("saturating-depth", 8) in codes(body)  # the fifth tanh kernel on the path through the residual body
    assert [c for c in codes(body.replace(chain, "        Dense(4, activation=tanh)\n")) if c[0] == "saturating-depth"] == []


# ---- search spaces over the constructs ----------------------------------------------------------------------------------
def test_search_paths_go_through_residuals_branches_and_named_lines():
    from compiler.space import space_of
    space = space_of("model m {\n    x = Input([4])\n    residual {\n        Dense(choice(4, 8))\n        Dense(4)\n"
                     "    } shortcut {\n        Dense(4, activation=choice(relu, tanh))\n    }\n"
                     "    parallel Concatenate() {\n        branch {\n            choice(Dense(2), Dense(3))\n        }\n"
                     "        branch {\n        }\n    }\n    g = Dense(int_range(2, 4))\n    Dense(1)(g)\n}\n")
    assert [d.path for d in space.dimensions] == [
        "model.residual[0].dense.units", "model.residual[0].shortcut.dense.activation",
        "model.parallel[0].branch[0].choice[0]", "model.g.units"]
    point = {d.name: (d.options[-1] if d.kind == "choice" else 3) for d in space.dimensions}
    text = space.concrete_text(point, "# point")
    spec = compile_text(text).spec
    assert [layer.output_shape for layer in spec.layers if layer.kind == "Concatenate"] == [(7,)]
    assert "g = Dense(3)" in text and "Dense(3)\n" in text


# ---- nnspec check ---------------------------------------------------------------------------------------------------------
def test_nnspec_check_prints_connected_to_for_a_graph_and_not_for_a_stack(tmp_path):
    from typer.testing import CliRunner

    from cli import app
    graph = tmp_path / "graph.nns"
    graph.write_text("model g {\n    x = Input([4])\n    residual {\n        Dense(4)\n    }\n    Dense(1)\n}\n")
    stack = tmp_path / "stack.nns"
    stack.write_text("model s {\n    Input([4])\n    Dense(4)\n    Dense(1)\n}\n")
    runner = CliRunner()
    out = runner.invoke(app, ["check", str(graph)])
    assert out.exit_code == 0, out.output
    assert "Connected to" in out.output and "dense[0][0]," in out.output and "x[0][0]" in out.output
    out = runner.invoke(app, ["check", str(stack)])
    assert out.exit_code == 0 and "Connected to" not in out.output


def test_a_name_whose_line_failed_is_not_reported_again_where_it_is_used():
    found = error("    x = Input([4])\n    y = Dense(3)(nope)\n    Add()(y, x)\n")
    assert [f[2] for f in found] == ["'nope' is not defined"]


# ---- random graphs (property): what compiles is an IR the compiler could have written, and fmt keeps its meaning ----------
def _indent(lines: list[str]) -> list[str]:
    return ["    " + line for line in lines]


def _residual(body: list[str], shortcut: list[str] | None) -> list[str]:
    if shortcut is None:
        return ["residual {", *_indent(body), "}"]
    return ["residual {", *_indent(body), "} shortcut {", *_indent(shortcut), "}"]


def _parallel(merge: str, branches: list[list[str]]) -> list[str]:
    return [f"parallel {merge}() {{", *_indent([x for b in branches for x in ["branch {", *_indent(b), "}"]]), "}"]


def _graph_bodies(depth: int):
    """Bodies (lists of lines) of vector layers that keep 4 features, so that every merge's shapes agree."""
    line = st.sampled_from(["Dense(4)", "Activation(relu)", "Dropout(0.1)", "BatchNormalization()"]).map(lambda x: [x])
    if depth == 0:
        return st.lists(line, min_size=1, max_size=3).map(lambda units: [x for u in units for x in u])
    inner = _graph_bodies(depth - 1)
    residual = st.builds(_residual, inner, st.one_of(st.none(), inner))
    parallel = st.builds(_parallel, st.sampled_from(["Add", "Average", "Maximum", "Minimum", "Multiply"]),
                         st.lists(inner, min_size=1, max_size=2).map(lambda bs: [[], *bs]))  # one identity branch:
    # two would merge the same output twice, which the IR refuses (tested with the errors)
    repeat = st.builds(lambda n, b: [f"repeat {n} {{", *_indent(b), "}"], st.integers(1, 2), inner)
    units = st.lists(st.one_of(line, residual, parallel, repeat), min_size=1, max_size=3)
    return units.map(lambda us: [x for u in us for x in u])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_graph_bodies(2), st.booleans())
def test_property_random_graphs_compile_to_valid_irs_and_fmt_keeps_them(body, skip):
    from compiler.passes.verify import verify
    lines = ["x = Input([4])", *body] + (["last = Activation(linear)", "Add()(x, last)"] if skip else [])
    text = "model m {\n" + "".join(f"    {line}\n" for line in lines) + "}\n"
    spec = compile_text(text).spec
    assert verify(spec) == []
    order = {layer.name: i for i, layer in enumerate(spec.layers)}
    assert all(order[n] < i for i, layer in enumerate(spec.layers) for n in layer.inputs)  # topological order
    formatted = format_source(text)
    assert format_source(formatted) == formatted
    again = compile_text(formatted).spec
    assert [(a.name, a.inputs, a.output_shape) for a in again.layers] == \
        [(a.name, a.inputs, a.output_shape) for a in spec.layers]


def test_a_parallel_may_choose_its_merge():
    from compiler.space import space_of
    space = space_of("model m {\n    x = Input([4])\n    parallel choice(Add(), Concatenate()) {\n        branch {\n"
                     "            Dense(4)\n        }\n        branch {\n        }\n    }\n}\n")
    [dimension] = space.dimensions
    assert dimension.path == "model.parallel[0].merge" and dimension.options == ("Add", "Concatenate")
    spec = compile_text(space.concrete_text({dimension.name: "Concatenate"}, "# point")).spec
    assert spec.layers[-1].kind == "Concatenate" and spec.layers[-1].output_shape == (8,)


SMALL_RESIDUAL = """\
model r {
    x = Input([8, 8, 3])
    stem = Conv2D(4, 3, padding=same)
    residual {
        Conv2D(4, 3, padding=same, use_bias=false)
        BatchNormalization()
    }
    Activation(relu)
    Flatten()
    Dense(2)
}
"""

SMALL_RESIDUAL_SUMMARY = """\
Model: "r"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━┳━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┓
┃ Layer (type)                             ┃ Output Shape    ┃ Param # ┃ Connected to               ┃ Kernel init                   ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━╇━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┩
│ x (Input)                                │ (None, 8, 8, 3) │       0 │ -                          │                               │
│ conv2d (Conv2D)                          │ (None, 8, 8, 4) │     112 │ x[0][0]                    │ glorot_uniform (auto: linear) │
│ conv2d_1 (Conv2D)                        │ (None, 8, 8, 4) │     144 │ conv2d[0][0]               │ he_uniform (auto: relu)       │
│ batch_normalization (BatchNormalization) │ (None, 8, 8, 4) │      16 │ conv2d_1[0][0]             │                               │
│ add (Add)                                │ (None, 8, 8, 4) │       0 │ batch_normalization[0][0], │                               │
│                                          │                 │         │ conv2d[0][0]               │                               │
│ activation (Activation)                  │ (None, 8, 8, 4) │       0 │ add[0][0]                  │                               │
│ flatten (Flatten)                        │ (None, 256)     │       0 │ activation[0][0]           │                               │
│ dense (Dense)                            │ (None, 2)       │     514 │ flatten[0][0]              │ glorot_uniform (auto: linear) │
└──────────────────────────────────────────┴─────────────────┴─────────┴────────────────────────────┴───────────────────────────────┘
 Total params: 786 (3.07 KB)
 Trainable params: 778 (3.04 KB)
 Non-trainable params: 8 (32.00 B)"""


def test_the_functional_summary_of_a_small_residual_model_is_pinned():
    """The whole table, byte for byte: the columns, one line per input in "Connected to", the totals."""
    assert render_summary(compile_text(SMALL_RESIDUAL).spec) == SMALL_RESIDUAL_SUMMARY
