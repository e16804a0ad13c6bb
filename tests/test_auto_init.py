"""``kernel_initializer=auto`` (the default): He for ReLU-family activations, Glorot otherwise.

The activation that counts is the one that follows the layer's linear part: its own, or else the next
``Activation`` layer, looking through BatchNormalization, Dropout, SpatialDropout2D, pooling and
Flatten. Keras' own default is always glorot_uniform; ``auto`` picks what the activation needs
(He et al. 2015 for ReLU-like units, Glorot & Bengio 2010 for symmetric saturating/linear ones).
"""

from __future__ import annotations

import pytest

from compiler.ir.values import Auto, ConstantInit, Orthogonal, RandomNormal, VarianceScaling
from compiler.pipeline import compile_text
from compiler.summary import render_summary, summary_rows

TRAIN = "train { loss = mse  optimizer = adam }"


def compile_layers(input_shape: list[int], *layers: str):
    body = "\n".join(f"    {layer}" for layer in layers)
    return compile_text(f"model m {{\n    Input({input_shape})\n{body}\n}}\n{TRAIN}\n").spec


def kernel_init(spec, index: int = 1):
    return spec.layers[index].kernel_initializer


HE = ["relu", "leaky_relu", "leaky_relu(alpha=0.1)", "elu", "gelu", "gelu(approximate=true)", "silu", "swish"]
GLOROT = ["linear", "none", "tanh", "sigmoid", "softmax"]


@pytest.mark.parametrize("activation", HE)
def test_dense_with_relu_family_activation_gets_he(activation):
    init = kernel_init(compile_layers([4], f"Dense(8, activation={activation})"))
    assert init == VarianceScaling(kind="he_uniform", auto=True)


@pytest.mark.parametrize("activation", GLOROT)
def test_dense_with_other_activation_gets_glorot(activation):
    init = kernel_init(compile_layers([4], f"Dense(8, activation={activation})"))
    assert init == VarianceScaling(kind="glorot_uniform", auto=True)


@pytest.mark.parametrize("activation, family", [(a, "he") for a in HE] + [(a, "glorot") for a in GLOROT])
def test_conv2d_with_own_activation(activation, family):
    init = kernel_init(compile_layers([8, 8, 1], f"Conv2D(4, 3, activation={activation})"))
    assert init == VarianceScaling(kind=f"{family}_uniform", auto=True)


def test_positional_activation_of_dense():
    # Dense(units, activation) as in Keras
    assert kernel_init(compile_layers([4], "Dense(8, relu)")).kind == "he_uniform"


def test_no_activation_at_the_end_is_linear_glorot():
    assert kernel_init(compile_layers([4], "Dense(1)")).kind == "glorot_uniform"


@pytest.mark.parametrize("activation, expected", [
    ("relu", "he_uniform"), ("elu", "he_uniform"), ("gelu", "he_uniform"), ("silu", "he_uniform"),
    ("leaky_relu", "he_uniform"), ("tanh", "glorot_uniform"), ("sigmoid", "glorot_uniform"),
    ("softmax", "glorot_uniform"), ("linear", "glorot_uniform"),
])
def test_followed_directly_by_activation_layer(activation, expected):
    spec = compile_layers([4], "Dense(8)", f"Activation({activation})")
    assert kernel_init(spec) == VarianceScaling(kind=expected, auto=True)


@pytest.mark.parametrize("between", [
    ["BatchNormalization()"],
    ["Dropout(0.5)"],
    ["BatchNormalization()", "Dropout(0.2)"],
])
@pytest.mark.parametrize("activation, expected", [("relu", "he_uniform"), ("tanh", "glorot_uniform")])
def test_dense_looks_through_transparent_layers(between, activation, expected):
    spec = compile_layers([4], "Dense(8)", *between, f"Activation({activation})")
    assert kernel_init(spec).kind == expected


@pytest.mark.parametrize("between", [
    ["BatchNormalization()"],
    ["MaxPooling2D(2)"],
    ["AveragePooling2D(2)"],
    ["SpatialDropout2D(0.1)"],
    ["Flatten()"],
    ["GlobalAveragePooling2D()"],
    ["BatchNormalization()", "MaxPooling2D(2)", "SpatialDropout2D(0.1)", "Flatten()", "Dropout(0.3)"],
])
@pytest.mark.parametrize("activation, expected", [("relu", "he_uniform"), ("gelu", "he_uniform"),
                                                  ("sigmoid", "glorot_uniform")])
def test_conv2d_looks_through_transparent_layers(between, activation, expected):
    spec = compile_layers([8, 8, 1], "Conv2D(4, 3, padding=same)", *between, f"Activation({activation})")
    assert kernel_init(spec) == VarianceScaling(kind=expected, auto=True)


def test_following_dense_is_not_transparent():
    # Dense(8) → Dense(4, relu): the first layer's output is linear (the next Dense is another layer)
    spec = compile_layers([4], "Dense(8)", "Dense(4, activation=relu)")
    assert kernel_init(spec, 1).kind == "glorot_uniform"
    assert kernel_init(spec, 2).kind == "he_uniform"


def test_following_conv_is_not_transparent():
    spec = compile_layers([8, 8, 1], "Conv2D(4, 3)", "Conv2D(4, 3)", "Activation(relu)")
    assert kernel_init(spec, 1).kind == "glorot_uniform"
    assert kernel_init(spec, 2).kind == "he_uniform"


def test_own_activation_wins_over_a_later_activation_layer():
    spec = compile_layers([4], "Dense(8, activation=tanh)", "Activation(relu)")
    assert kernel_init(spec).kind == "glorot_uniform"


def test_explicit_linear_then_activation_layer():
    spec = compile_layers([4], "Dense(8, activation=linear)", "BatchNormalization()", "Activation(relu)")
    assert kernel_init(spec).kind == "he_uniform"


def test_softmax_output_layer_is_glorot():
    spec = compile_layers([4], "Dense(16, activation=relu)", "Dense(16, activation=relu)",
                          "Dense(3, activation=softmax)")
    assert [kernel_init(spec, i).kind for i in (1, 2, 3)] == ["he_uniform", "he_uniform", "glorot_uniform"]


def test_only_the_first_activation_after_a_layer_counts():
    # Dense → BN → Activation(relu) → Dense → Activation(tanh): each layer sees its own next activation
    spec = compile_layers([4], "Dense(8)", "BatchNormalization()", "Activation(relu)", "Dense(8)",
                          "Activation(tanh)")
    assert kernel_init(spec, 1).kind == "he_uniform"
    assert kernel_init(spec, 4).kind == "glorot_uniform"


@pytest.mark.parametrize("activation, expected", [("relu", "he_normal"), ("silu", "he_normal"),
                                                  ("tanh", "glorot_normal"), ("softmax", "glorot_normal")])
def test_auto_normal_distribution(activation, expected):
    spec = compile_layers([4], f"Dense(8, activation={activation}, kernel_initializer=auto(distribution=normal))")
    assert kernel_init(spec) == VarianceScaling(kind=expected, auto=True)


def test_auto_uniform_distribution_written_out():
    spec = compile_layers([4], "Dense(8, activation=relu, kernel_initializer=auto(distribution=uniform))",
                          "Dense(8, activation=relu, kernel_initializer=auto)",
                          "Dense(8, activation=relu, kernel_initializer=auto())")
    assert [kernel_init(spec, i) for i in (1, 2, 3)] == [VarianceScaling(kind="he_uniform", auto=True)] * 3


def test_no_auto_left_in_the_ir():
    spec = compile_layers([8, 8, 1], "Conv2D(4, 3)", "Flatten()", "Dense(2)")
    for layer in spec.layers:
        assert not isinstance(getattr(layer, "kernel_initializer", None), Auto)
        assert not isinstance(getattr(layer, "bias_initializer", None), Auto)


def test_bias_initializer_defaults_to_zeros():
    # Keras' bias_initializer="zeros"
    assert compile_layers([4], "Dense(8)").layers[1].bias_initializer == ConstantInit(kind="zeros", value=0.0)


@pytest.mark.parametrize("init, activation", [
    ("glorot_uniform", "relu"), ("glorot_normal", "relu"), ("he_uniform", "tanh"), ("he_normal", "sigmoid"),
    ("lecun_uniform", "relu"), ("lecun_normal", "tanh"), ("he_uniform", "relu"), ("glorot_uniform", "tanh"),
])
def test_explicit_variance_scaling_is_kept_and_not_auto(init, activation):
    spec = compile_layers([4], f"Dense(8, activation={activation}, kernel_initializer={init})")
    assert kernel_init(spec) == VarianceScaling(kind=init, auto=False)


def test_explicit_string_initializer_is_kept():
    spec = compile_layers([4], 'Dense(8, activation=relu, kernel_initializer="glorot_uniform")')
    assert kernel_init(spec) == VarianceScaling(kind="glorot_uniform", auto=False)


def test_explicit_other_initializers_are_kept():
    spec = compile_layers([4], "Dense(8, activation=relu, kernel_initializer=random_normal(stddev=0.1))",
                          "Dense(8, activation=relu, kernel_initializer=orthogonal(gain=2.0))",
                          "Dense(8, activation=relu, kernel_initializer=zeros)")
    assert kernel_init(spec, 1) == RandomNormal(kind="random_normal", mean=0.0, stddev=0.1)
    assert kernel_init(spec, 2) == Orthogonal(gain=2.0)
    assert kernel_init(spec, 3) == ConstantInit(kind="zeros", value=0.0)


# ---- the summary names the activation that decided ----------------------------------------------
def test_summary_shows_auto_choice():
    spec = compile_layers([8, 8, 1], "Conv2D(4, 3)", "BatchNormalization()", "Activation(relu)", "Flatten()",
                          "Dense(8, activation=tanh)", "Dense(8, activation=swish)",
                          "Dense(3, activation=softmax, kernel_initializer=glorot_normal)")
    text = render_summary(spec)
    assert "he_uniform (auto: relu)" in text
    assert "glorot_uniform (auto: tanh)" in text
    assert "he_uniform (auto: silu)" in text  # swish is spelled silu
    notes = [row[3] for row in summary_rows(spec)]
    assert notes == ["", "he_uniform (auto: relu)", "", "", "", "glorot_uniform (auto: tanh)",
                     "he_uniform (auto: silu)", "glorot_normal"]


def test_summary_of_linear_layer():
    text = render_summary(compile_layers([4], "Dense(1)"))
    assert "glorot_uniform (auto: linear)" in text


def test_summary_auto_normal():
    text = render_summary(compile_layers([4], "Dense(8, activation=elu, kernel_initializer=auto(distribution=normal))"))
    assert "he_normal (auto: elu)" in text
