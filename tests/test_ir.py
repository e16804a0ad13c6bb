"""The IR: frozen, strict Pydantic models with spans; an exact JSON round trip; Keras 3 defaults;
and the language's constants, repeats, blocks and aliases expanding to the expected layers."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from compiler.ir.base import SourceSpan
from compiler.ir.spec import Spec
from compiler.ir.training import SGD, Adagrad, Adam, AdamW, EarlyStopping, RMSprop, Training
from compiler.ir.values import ActivationFn, RandomNormal, RandomUniform, Regularizer, VarianceScaling
from compiler.ir.layers import LAYER_CLASSES, BatchNormalization, Conv2D, Dense
from compiler.pipeline import compile_text

SMALL = """\
num_classes = 3

block conv_bn(filters, kernel=3) {
    Conv2D(filters, kernel, padding=same, use_bias=false)
    BatchNormalization()
    Activation(relu)
}

model small {
    Input([8, 8, 1])
    Rescaling(1 / 16)
    conv_bn(4)
    conv_bn(8, kernel=1)
    MaxPooling2D(2)
    AveragePooling2D(2, padding=same)
    SpatialDropout2D(0.1)
    GlobalAveragePooling2D()
    Dropout(0.2)
    Dense(num_classes, activation=softmax, kernel_regularizer=l2(1e-4))
}

train {
    loss = sparse_categorical_crossentropy
    optimizer = adam(learning_rate=1e-3)
    schedule = warmup(steps=10, then=cosine(decay_steps=100))
    batch_size = 16
    epochs = 3
    metrics = [accuracy]
    validation_split = 0.2
    early_stopping = monitor(val_loss, patience=2)
    data = digits
}
"""

TRAIN = "train { loss = mse  optimizer = adam }"


def compile_layers(input_shape, *layers: str, prelude: str = "", train: str = TRAIN):
    body = "\n".join(f"    {layer}" for layer in layers)
    return compile_text(f"{prelude}model m {{\n    Input({input_shape})\n{body}\n}}\n{train}\n").spec


def layer_args(spec, drop=("span", "name")) -> list[dict]:
    """Each layer after the Input as a dict, without the fields that depend on where it is written."""
    return [{k: v for k, v in layer.model_dump().items() if k not in drop} for layer in spec.layers[1:]]


def strip_spans(value):
    if isinstance(value, dict):
        return {k: strip_spans(v) for k, v in value.items() if k != "span"}
    if isinstance(value, (list, tuple)):
        return [strip_spans(v) for v in value]
    return value


@pytest.fixture(scope="module")
def small():
    return compile_text(SMALL, "small.nns")


# ---- frozen and strict ---------------------------------------------------------------------------
def test_spec_is_frozen(small):
    with pytest.raises(ValidationError):
        small.spec.name = "other"
    with pytest.raises(ValidationError):
        small.spec.layers[-1].units = 5
    with pytest.raises(ValidationError):
        small.spec.training.optimizer.learning_rate = 0.1
    with pytest.raises(ValidationError):
        small.spec.layers[0].span.line = 99


def test_layers_tuple_is_immutable(small):
    with pytest.raises(TypeError):
        small.spec.layers[0] = small.spec.layers[1]  # type: ignore[index]


def test_unknown_field_is_rejected(small):
    data = small.spec.model_dump()
    with pytest.raises(ValidationError):
        Spec.model_validate({**data, "comment": "not a field"})
    data["layers"][-1]["dropout"] = 0.5
    with pytest.raises(ValidationError):
        Spec.model_validate(data)


@pytest.mark.parametrize("cls, data", [
    (Dense, {"units": 3, "span": {"path": "p", "line": 1, "column": 1, "end_line": 1, "end_column": 2},
             "unit": 4}),
    (SourceSpan, {"path": "p", "line": 1, "column": 1, "end_line": 1, "end_column": 2, "file": "x"}),
    (Adam, {"learning_rate": 0.1, "lr": 0.1}),
    (ActivationFn, {"kind": "relu", "slope": 0.1}),
])
def test_each_node_forbids_extra_fields(cls, data):
    with pytest.raises(ValidationError):
        cls.model_validate(data)


def test_unknown_layer_kind_is_rejected(small):
    data = small.spec.model_dump()
    data["layers"][-1]["kind"] = "Dense3D"
    with pytest.raises(ValidationError):
        Spec.model_validate(data)


# ---- spans -------------------------------------------------------------------------------------------
def test_every_layer_has_a_span_at_its_source_line(small):
    lines = SMALL.splitlines()
    for layer in small.spec.layers:
        span = layer.span
        assert span.path == "small.nns"
        text = lines[span.line - 1][span.column - 1:]
        assert text.startswith(layer.kind + "("), (layer.name, span)


def test_layers_from_a_block_have_the_span_inside_the_block(small):
    # lines 4-6 are the block body; lines 12-13 use the block
    block_lines = [layer.span.line for layer in small.spec.layers if layer.kind in
                   ("Conv2D", "BatchNormalization", "Activation")]
    assert block_lines == [4, 5, 6, 4, 5, 6]
    assert [layer.span.line for layer in small.spec.layers if layer.kind == "Input"] == [10]
    assert small.spec.layers[-1].span.line == 19  # the Dense
    assert small.spec.span.line == 9  # model small {


def test_span_columns_cover_the_call(small):
    dense = small.spec.layers[-1]
    line = SMALL.splitlines()[dense.span.line - 1]
    assert line[dense.span.column - 1:dense.span.end_column - 1] == line.strip()


def test_training_spans(small):
    training = small.spec.training
    assert training.span.line == 22
    assert training.loss.span.line == 23
    assert training.optimizer.span.line == 24


# ---- JSON -------------------------------------------------------------------------------------------
def test_json_round_trip_is_exact(small):
    dumped = small.spec.model_dump_json()
    again = Spec.model_validate_json(dumped)
    assert again == small.spec
    assert again.model_dump_json() == dumped
    assert Spec.model_validate(json.loads(dumped)) == small.spec


def test_json_round_trip_with_every_value_kind():
    spec = compile_layers(
        [4],
        "Dense(8, activation=leaky_relu(alpha=0.1), kernel_initializer=random_normal(0.0, 0.02),"
        " bias_initializer=constant(0.1), kernel_regularizer=l1l2(l1=1e-5, l2=1e-4), bias_regularizer=l1(0.01),"
        " activity_regularizer=l2())",
        "Dense(8, activation=gelu(approximate=true), kernel_initializer=orthogonal(gain=2.0))",
        "Dense(8, activation=elu, kernel_initializer=random_uniform(-0.1, 0.1))",
        "Dense(8, activation=tanh, kernel_initializer=truncated_normal(stddev=0.1), use_bias=false)",
        "Dense(1, kernel_initializer=auto(distribution=normal))",
        train="train { loss = mse optimizer = sgd(momentum=0.9, nesterov=true) "
              "schedule = warmup(steps=5, start=0.1, then=exponential(decay_steps=10, decay_rate=0.5)) "
              "clip_norm = 1.0 data = regression(features=4) }",
    )
    dumped = spec.model_dump_json()
    assert Spec.model_validate_json(dumped) == spec
    assert Spec.model_validate_json(dumped).model_dump_json() == dumped


def test_json_schema_lists_every_layer_kind():
    schema = Spec.model_json_schema()
    items = schema["properties"]["layers"]["items"]
    assert items["discriminator"]["propertyName"] == "kind"
    mapping = items["discriminator"]["mapping"]
    assert set(mapping) == set(LAYER_CLASSES)
    assert set(LAYER_CLASSES) == {"Input", "Rescaling", "Normalization", "Dense", "Conv2D", "MaxPooling2D",
                                  "AveragePooling2D", "GlobalAveragePooling2D", "Flatten", "Dropout",
                                  "SpatialDropout2D", "BatchNormalization", "Activation",
                                  "ZeroPadding2D", "Cropping2D", "GlobalMaxPooling2D", "Reshape", "Permute",
                                  "DepthwiseConv2D", "SeparableConv2D", "UpSampling2D",
                                  "LayerNormalization", "GroupNormalization", "Conv2DTranspose",
                                  "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax",
                                  "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"}
    for kind in LAYER_CLASSES:
        assert kind in schema["$defs"]
    assert schema["additionalProperties"] is False


# ---- Keras 3 defaults -----------------------------------------------------------------------------------
def test_batchnorm_defaults():
    bn = compile_layers([4], "BatchNormalization()").layers[1]
    assert (bn.momentum, bn.epsilon, bn.center, bn.scale) == (0.99, 1e-3, True, True)
    assert BatchNormalization.model_fields["momentum"].default == 0.99
    assert BatchNormalization.model_fields["epsilon"].default == 1e-3


@pytest.mark.parametrize("optimizer, expected", [
    ("adam", Adam(learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False)),
    ("sgd", SGD(learning_rate=0.01, momentum=0.0, nesterov=False)),
    ("rmsprop", RMSprop(learning_rate=1e-3, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False)),
    ("adagrad", Adagrad(learning_rate=1e-3, initial_accumulator_value=0.1, epsilon=1e-7)),
    ("adamw", AdamW(learning_rate=1e-3, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7)),
])
def test_optimizer_defaults(optimizer, expected):
    spec = compile_layers([4], "Dense(1)", train=f"train {{ loss = mse  optimizer = {optimizer} }}")
    assert spec.training.optimizer.model_copy(update={"span": None}) == expected


def test_optimizer_default_values_spelled_out():
    # Keras 3: Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-07)
    adam = Adam.model_construct()
    assert (adam.learning_rate, adam.beta_1, adam.beta_2, adam.epsilon) == (0.001, 0.9, 0.999, 1e-7)
    assert SGD.model_fields["learning_rate"].default == 0.01
    assert RMSprop.model_fields["rho"].default == 0.9
    assert Adagrad.model_fields["initial_accumulator_value"].default == 0.1
    assert AdamW.model_fields["weight_decay"].default == 0.004


def test_training_defaults():
    t = compile_layers([4], "Dense(1)").training
    # Keras' fit(): batch_size=32, epochs=1, validation_split=0.0
    assert (t.batch_size, t.epochs, t.validation_split, t.early_stopping) == (32, 1, 0.0, None)
    assert t.loss.from_logits is False
    assert t.schedule.kind == "constant"
    assert Training.model_fields["batch_size"].default == 32


def test_early_stopping_defaults():
    # Keras EarlyStopping(monitor="val_loss", min_delta=0, patience=0, mode="auto", restore_best_weights=False)
    t = compile_layers([4], "Dense(1)", train="train { loss = mse optimizer = adam validation_split = 0.2 "
                                              "early_stopping = monitor(val_loss) }").training
    assert t.early_stopping == EarlyStopping(monitor="val_loss", patience=0, min_delta=0.0, mode="auto",
                                             restore_best_weights=False)


@pytest.mark.parametrize("activation, expected", [
    ("leaky_relu", ActivationFn(kind="leaky_relu", alpha=0.2)),  # keras.activations.leaky_relu negative_slope=0.2
    ("leaky_relu()", ActivationFn(kind="leaky_relu", alpha=0.2)),
    ("leaky_relu(alpha=0.1)", ActivationFn(kind="leaky_relu", alpha=0.1)),
    ("elu", ActivationFn(kind="elu", alpha=1.0)),
    ("gelu", ActivationFn(kind="gelu", approximate=False)),
    ("relu", ActivationFn(kind="relu")),
])
def test_activation_defaults(activation, expected):
    assert compile_layers([4], f"Dense(2, activation={activation})").layers[1].activation == expected


@pytest.mark.parametrize("init, expected", [
    ("random_normal", RandomNormal(kind="random_normal", mean=0.0, stddev=0.05)),
    ("random_normal()", RandomNormal(kind="random_normal", mean=0.0, stddev=0.05)),
    ("truncated_normal", RandomNormal(kind="truncated_normal", mean=0.0, stddev=0.05)),
    ("random_uniform", RandomUniform(minval=-0.05, maxval=0.05)),
])
def test_initializer_defaults(init, expected):
    assert compile_layers([4], f"Dense(2, kernel_initializer={init})").layers[1].kernel_initializer == expected


@pytest.mark.parametrize("reg, expected", [
    ("l2()", Regularizer(kind="l2", l1=0.0, l2=0.01)),
    ("l2", Regularizer(kind="l2", l1=0.0, l2=0.01)),
    ("l1()", Regularizer(kind="l1", l1=0.01, l2=0.0)),
    ("l2(1e-4)", Regularizer(kind="l2", l1=0.0, l2=1e-4)),
    ("l1l2(l1=1e-5, l2=1e-4)", Regularizer(kind="l1l2", l1=1e-5, l2=1e-4)),
])
def test_regularizer_defaults(reg, expected):
    assert compile_layers([4], f"Dense(2, kernel_regularizer={reg})").layers[1].kernel_regularizer == expected


def test_layer_defaults():
    spec = compile_layers([8, 8, 2], "Conv2D(4, 3)", "GlobalAveragePooling2D()", "Dense(2)")
    conv, _, dense = spec.layers[1:]
    assert (conv.strides, conv.padding, conv.dilation_rate, conv.use_bias) == ((1, 1), "valid", (1, 1), True)
    assert conv.kernel_size == (3, 3)
    assert conv.activation == ActivationFn(kind="linear")
    assert (conv.kernel_regularizer, conv.bias_regularizer, conv.activity_regularizer) == (None, None, None)
    assert dense.use_bias is True
    assert Conv2D.model_fields["padding"].default == "valid"


# ---- constants, repeat and blocks --------------------------------------------------------------------------
def test_constant_arithmetic():
    prelude = ("num_classes = 10\nscale = 1/255\nwide = 2**8\nhalf = 7 // 2\nrest = 7 % 3\n"
               "negative = -3\ndouble = num_classes * 2\n")
    spec = compile_layers([4], "Rescaling(scale, offset=negative)", "Dense(wide)", "Dense(double)", "Dense(half)",
                          "Dense(rest)", "Dense(num_classes - 1 + 2 * 3)", prelude=prelude)
    rescaling = spec.layers[1]
    assert rescaling.scale == 1 / 255          # true division: 0.00392...
    assert rescaling.offset == -3.0
    assert [layer.units for layer in spec.layers[2:]] == [256, 20, 3, 1, 15]  # 2**8, 10*2, 7//2, 7%3, 10-1+6


def test_operator_precedence_follows_python():
    # -2**2 = -(2**2) = -4 ; 2**-1 = 0.5 ; 2**3**2 = 2**9 = 512 ; 10-4-3 = 3 ; 2*3%4 = 6%4 = 2
    prelude = "a = -2**2\nb = 2**-1\nc = 2**3**2\nd = 10 - 4 - 3\ne = 2 * 3 % 4\n"
    spec = compile_layers([4], "Rescaling(a, offset=b)", "Dense(c)", "Dense(d)", "Dense(e)", prelude=prelude)
    assert (spec.layers[1].scale, spec.layers[1].offset) == (-4.0, 0.5)
    assert [layer.units for layer in spec.layers[2:]] == [512, 3, 2]


def test_constants_may_be_defined_after_use_and_in_terms_of_each_other():
    text = "model m {\n    Input([n])\n    Dense(m2)\n}\nm2 = n * 3\nn = 2 + 2\n" + TRAIN
    spec = compile_text(text).spec
    assert spec.input_shape == (4,)
    assert spec.layers[1].units == 12


def test_inline_arithmetic_in_arguments():
    spec = compile_layers([2 * 2], "Dense(3 * (2 + 1))", "Dropout(1 / 4)", "Dense(-(-2))")
    assert spec.input_shape == (4,)
    assert spec.layers[1].units == 9
    assert spec.layers[2].rate == 0.25
    assert spec.layers[3].units == 2


def test_repeat_expands_in_order():
    spec = compile_layers([4], "repeat 3 {", "    Dense(8, activation=relu)", "    Dropout(0.1)", "}", "Dense(1)")
    assert [layer.kind for layer in spec.layers] == ["Input"] + ["Dense", "Dropout"] * 3 + ["Dense"]
    assert [layer.name for layer in spec.layers] == [
        "input_layer", "dense", "dropout", "dense_1", "dropout_1", "dense_2", "dropout_2", "dense_3"]


def test_nested_repeat_with_constant_count():
    spec = compile_layers([4], "repeat outer {", "    repeat 2 { Dense(4) }", "    Dropout(0.5)", "}",
                          prelude="outer = 1 + 1\n")
    assert [layer.kind for layer in spec.layers[1:]] == ["Dense", "Dense", "Dropout"] * 2


def test_block_default_parameters():
    prelude = "block hidden(units, rate=0.5, act=relu) {\n    Dense(units, activation=act)\n    Dropout(rate)\n}\n"
    spec = compile_layers([4], "hidden(16)", "hidden(8, rate=0.1)", "hidden(units=4, act=tanh, rate=0.2)",
                          "hidden(2, 0.3)", prelude=prelude)
    got = [(layer.units, layer.activation.kind) if layer.kind == "Dense" else layer.rate for layer in spec.layers[1:]]
    assert got == [(16, "relu"), 0.5, (8, "relu"), 0.1, (4, "tanh"), 0.2, (2, "relu"), 0.3]


def test_block_default_may_use_a_constant():
    prelude = "width = 6\nblock hidden(units=width) {\n    Dense(units)\n}\n"
    spec = compile_layers([4], "hidden()", "hidden(3)", prelude=prelude)
    assert [layer.units for layer in spec.layers[1:]] == [6, 3]


def test_block_parameter_shadows_constant_and_nested_blocks():
    prelude = ("units = 100\nblock inner(units) {\n    Dense(units)\n}\n"
               "block outer(units) {\n    inner(units * 2)\n    inner(units)\n}\n")
    spec = compile_layers([4], "outer(3)", "Dense(units)", prelude=prelude)
    assert [layer.units for layer in spec.layers[1:]] == [6, 3, 100]


def test_repeat_of_a_block_matches_writing_it_out():
    prelude = "block b(f) {\n    Conv2D(f, 3, padding=same)\n    MaxPooling2D(2)\n}\n"
    repeated = compile_layers([16, 16, 1], "repeat 2 { b(4) }", "Flatten()", "Dense(1)", prelude=prelude)
    written = compile_layers([16, 16, 1], "Conv2D(4, 3, padding=same)", "MaxPooling2D(2)",
                             "Conv2D(4, 3, padding=same)", "MaxPooling2D(2)", "Flatten()", "Dense(1)")
    assert layer_args(repeated, drop=("span",)) == layer_args(written, drop=("span",))
    assert repeated.output_shape == (1,)
    assert repeated.layers[-2].output_shape == (64,)  # 16 → 8 → 4; 4·4·4


# ---- aliases and spellings ---------------------------------------------------------------------------
def test_swish_is_silu_and_none_is_linear():
    spec = compile_layers([4], "Dense(2, activation=swish)", "Dense(2, activation=none)", "Activation(swish)",
                          'Dense(2, activation="swish")')
    assert spec.layers[1].activation == ActivationFn(kind="silu")
    assert spec.layers[2].activation == ActivationFn(kind="linear")
    assert spec.layers[3].activation == ActivationFn(kind="silu")
    assert spec.layers[4].activation == ActivationFn(kind="silu")


def test_call_and_name_mean_the_same():
    a = compile_layers([4], "Dense(2, activation=relu, kernel_initializer=he_normal)", "Activation(tanh)")
    b = compile_layers([4], "Dense(2, activation=relu(), kernel_initializer=he_normal())", "Activation(tanh())")
    assert layer_args(a) == layer_args(b)
    assert a.layers[1].activation == b.layers[1].activation == ActivationFn(kind="relu")
    assert a.layers[1].kernel_initializer == VarianceScaling(kind="he_normal")


def test_strings_and_bare_names_are_equivalent():
    a = compile_layers([8, 8, 1], "Conv2D(4, 3, padding=same, activation=relu)", "MaxPooling2D(2, padding=valid)",
                       "Flatten()", "Dense(2, name=head, kernel_initializer=glorot_normal)",
                       train="train { loss = mse optimizer = adam }")
    b = compile_layers([8, 8, 1], 'Conv2D(4, 3, padding="same", activation="relu")',
                       "MaxPooling2D(2, padding='valid')", "Flatten()",
                       'Dense(2, name="head", kernel_initializer="glorot_normal")',
                       train='train { loss = "mse" optimizer = "adam" }')
    assert layer_args(a, drop=("span",)) == layer_args(b, drop=("span",))
    assert a.layers[1].padding == b.layers[1].padding == "same"
    assert strip_spans(a.model_dump()) == strip_spans(b.model_dump())


def test_integer_and_pair_mean_the_same():
    a = compile_layers([8, 8, 1], "Conv2D(4, 3, strides=2, dilation_rate=1)")
    b = compile_layers([8, 8, 1], "Conv2D(4, [3, 3], strides=[2, 2], dilation_rate=[1, 1])")
    assert layer_args(a) == layer_args(b)


def test_loss_aliases():
    spec = compile_layers([4], "Dense(1)", train="train { loss = mean_squared_error  optimizer = adam }")
    assert spec.training.loss.kind == "mse"
    spec = compile_layers([4], "Dense(1)", train="train { loss = mean_absolute_error  optimizer = adam }")
    assert spec.training.loss.kind == "mae"
