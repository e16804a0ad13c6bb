"""Lints: each code fires on a spec made for it, at the right line, with a hint; and stays quiet on a
close variant that is fine. Lints are warnings: a spec that has them still compiles."""

from __future__ import annotations

import pytest

from compiler.pipeline import compile_text

DEFAULT_TRAIN = ["loss = mse", "optimizer = adam"]


def spec_text(input_shape, layers, train=DEFAULT_TRAIN, prelude: str = "") -> str:
    """One layer and one train setting per line, so every span has its own line."""
    body = "\n".join(f"    {layer}" for layer in layers)
    settings = "\n".join(f"    {s}" for s in train)
    return f"{prelude}model m {{\n    Input({input_shape})\n{body}\n}}\ntrain {{\n{settings}\n}}\n"


def line_of(text: str, needle: str) -> int:
    """1-based number of the first line of ``text`` that contains ``needle``."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in the spec")


def warnings(text: str, code: str | None = None):
    found = compile_text(text).warnings
    assert all(w.severity == "warning" for w in found)
    return [w for w in found if code is None or w.code == code]


def codes(text: str) -> set[str]:
    return {w.code for w in warnings(text)}


def assert_fires_once(text: str, code: str, needle: str):
    """``code`` warns exactly once, on the line holding ``needle``, and says how to fix it."""
    found = warnings(text, code)
    assert len(found) == 1, found
    assert found[0].span is not None
    assert found[0].span.line == line_of(text, needle)
    return found[0]


def assert_hint(diagnostic) -> None:
    assert diagnostic.hint, f"{diagnostic.code} has no hint"


CLASSIFY = ["loss = sparse_categorical_crossentropy", "optimizer = adam"]


# ---- init-activation ------------------------------------------------------------------------
@pytest.mark.parametrize("layers, needle", [
    (["Dense(8, activation=relu, kernel_initializer=glorot_uniform)", "Dense(1)"], "glorot_uniform"),
    (["Dense(8, activation=elu, kernel_initializer=glorot_normal)", "Dense(1)"], "glorot_normal"),
    (["Dense(8, activation=tanh, kernel_initializer=he_uniform)", "Dense(1)"], "he_uniform"),
    (["Dense(8, activation=sigmoid, kernel_initializer=he_normal)", "Dense(1)"], "he_normal"),
    # the activation that follows, through BatchNormalization
    (["Dense(8, kernel_initializer=glorot_uniform)", "BatchNormalization()", "Activation(relu)", "Dense(1)"],
     "glorot_uniform"),
])
def test_init_activation_fires(layers, needle):
    text = spec_text([4], layers)
    assert_hint(assert_fires_once(text, "init-activation", needle))


@pytest.mark.parametrize("layers", [
    ["Dense(8, activation=relu, kernel_initializer=he_uniform)", "Dense(1)"],
    ["Dense(8, activation=relu, kernel_initializer=he_normal)", "Dense(1)"],
    ["Dense(8, activation=tanh, kernel_initializer=glorot_uniform)", "Dense(1)"],
    ["Dense(8, activation=sigmoid, kernel_initializer=glorot_normal)", "Dense(1)"],
    ["Dense(8, activation=relu)", "Dense(1)"],  # auto
    ["Dense(8, activation=tanh, kernel_initializer=auto(distribution=normal))", "Dense(1)"],
    ["Dense(8, kernel_initializer=he_uniform)", "Dense(1)"],  # He before linear: not flagged
    ["Dense(3, activation=softmax, kernel_initializer=glorot_uniform)"],
    ["Dense(8, activation=relu, kernel_initializer=lecun_normal)", "Dense(1)"],  # lecun: no opinion
])
def test_init_activation_quiet(layers):
    assert "init-activation" not in codes(spec_text([4], layers))


# ---- saturating-depth -------------------------------------------------------------------------
def test_saturating_depth_fires_at_the_fifth_layer():
    layers = [f"Dense(8, activation=tanh, name=t{i})" for i in range(1, 6)] + ["Dense(1)"]
    text = spec_text([4], layers)
    assert_hint(assert_fires_once(text, "saturating-depth", "name=t5"))


def test_saturating_depth_counts_sigmoid_and_activation_layers():
    layers = ["Dense(8, activation=sigmoid)", "Dense(8, activation=tanh)", "Dense(8)", "Activation(tanh)",
              "Dense(8, activation=sigmoid)", "Dense(8, activation=tanh, name=fifth)", "Dense(1)"]
    text = spec_text([4], layers)
    assert_fires_once(text, "saturating-depth", "name=fifth")


@pytest.mark.parametrize("layers", [
    # 4 tanh layers: below the threshold of 5
    ["Dense(8, activation=tanh)"] * 4 + ["Dense(1)"],
    # 5 tanh layers, with a BatchNormalization in between
    ["Dense(8, activation=tanh)"] * 2 + ["BatchNormalization()"] + ["Dense(8, activation=tanh)"] * 3 + ["Dense(1)"],
    # 5 tanh layers broken by a relu layer
    ["Dense(8, activation=tanh)"] * 3 + ["Dense(8, activation=relu)"] + ["Dense(8, activation=tanh)"] * 2,
    # 5 relu layers
    ["Dense(8, activation=relu)"] * 5 + ["Dense(1)"],
])
def test_saturating_depth_quiet(layers):
    assert "saturating-depth" not in codes(spec_text([4], layers))


def test_saturating_depth_in_repeat_warns_once():
    text = spec_text([4], ["repeat 10 {", "    Dense(8, activation=tanh)", "}", "Dense(1)"])
    assert_fires_once(text, "saturating-depth", "activation=tanh")


# ---- dropout-before-batchnorm -----------------------------------------------------------------
@pytest.mark.parametrize("input_shape, layers, needle", [
    ([4], ["Dense(8)", "Dropout(0.5)", "BatchNormalization()", "Dense(1)"], "Dropout"),
    ([8, 8, 1], ["Conv2D(4, 3, use_bias=false)", "SpatialDropout2D(0.1)", "BatchNormalization()", "Flatten()",
                 "Dense(1)"], "SpatialDropout2D"),
])
def test_dropout_before_batchnorm_fires(input_shape, layers, needle):
    text = spec_text(input_shape, layers)
    assert_hint(assert_fires_once(text, "dropout-before-batchnorm", needle))


@pytest.mark.parametrize("layers", [
    ["Dense(8, use_bias=false)", "BatchNormalization()", "Dropout(0.5)", "Dense(1)"],
    ["Dense(8, use_bias=false)", "BatchNormalization()", "Activation(relu)", "Dropout(0.5)", "Dense(1)"],
    ["Dropout(0.5)", "Dense(8, use_bias=false)", "BatchNormalization()", "Dense(1)"],
])
def test_dropout_after_batchnorm_is_fine(layers):
    assert "dropout-before-batchnorm" not in codes(spec_text([4], layers))


# ---- bias-before-batchnorm --------------------------------------------------------------------
@pytest.mark.parametrize("input_shape, layers, needle", [
    ([4], ["Dense(8)", "BatchNormalization()", "Activation(relu)", "Dense(1)"], "Dense(8)"),
    ([8, 8, 1], ["Conv2D(4, 3)", "BatchNormalization()", "Activation(relu)", "Flatten()", "Dense(1)"], "Conv2D"),
    ([4], ["Dense(8, activation=linear)", "BatchNormalization()", "Dense(1)"], "Dense(8"),
])
def test_bias_before_batchnorm_fires(input_shape, layers, needle):
    text = spec_text(input_shape, layers)
    assert_hint(assert_fires_once(text, "bias-before-batchnorm", needle))


@pytest.mark.parametrize("layers", [
    ["Dense(8, use_bias=false)", "BatchNormalization()", "Dense(1)"],
    ["Dense(8)", "BatchNormalization(center=false)", "Dense(1)"],  # no beta: the bias is not cancelled
    ["Dense(8, activation=relu)", "BatchNormalization()", "Dense(1)"],  # a nonlinearity in between
    ["Dense(8)", "Dropout(0.1)", "Dense(1)"],
])
def test_bias_before_batchnorm_quiet(layers):
    assert "bias-before-batchnorm" not in codes(spec_text([4], layers))


# ---- output against the loss ------------------------------------------------------------------
@pytest.mark.parametrize("layers, loss", [  # right after the softmax/sigmoid it is an error (test_keras_oracle.py)
    (["Dense(3, activation=softmax)", "Flatten()"], "loss = categorical_crossentropy(from_logits=true)"),
    (["Dense(3)", "Activation(softmax)", "Activation(linear)", "Flatten()"],
     "loss = sparse_categorical_crossentropy(from_logits=true)"),
    (["Dense(1, activation=sigmoid)", "BatchNormalization()"], "loss = binary_crossentropy(from_logits=true)"),
])
def test_softmax_from_logits_fires(layers, loss):
    text = spec_text([4], layers, [loss, "optimizer = adam"])
    assert_hint(assert_fires_once(text, "softmax-from-logits", "loss ="))


@pytest.mark.parametrize("layers, loss", [
    (["Dense(3)"], "loss = categorical_crossentropy"),
    (["Dense(3, activation=relu)"], "loss = sparse_categorical_crossentropy(from_logits=false)"),
    (["Dense(1)"], "loss = binary_crossentropy"),
    (["Dense(3, activation=tanh)", "Dropout(0.5)"], "loss = categorical_crossentropy"),
])
def test_logits_not_probabilities_fires(layers, loss):
    text = spec_text([4], layers, [loss, "optimizer = adam"])
    assert_hint(assert_fires_once(text, "logits-not-probabilities", "loss ="))


@pytest.mark.parametrize("layers, loss", [
    (["Dense(3, activation=softmax)"], "loss = categorical_crossentropy"),
    (["Dense(3, activation=softmax)"], "loss = categorical_crossentropy(from_logits=false)"),
    (["Dense(3)", "Activation(softmax)"], "loss = sparse_categorical_crossentropy"),
    (["Dense(3)"], "loss = sparse_categorical_crossentropy(from_logits=true)"),
    (["Dense(1, activation=sigmoid)"], "loss = binary_crossentropy"),
    (["Dense(1)"], "loss = binary_crossentropy(from_logits=true)"),
    (["Dense(1)"], "loss = mse"),  # regression: no opinion on the output
    (["Dense(1, activation=sigmoid)"], "loss = mae"),
])
def test_output_against_loss_quiet(layers, loss):
    found = codes(spec_text([4], layers, [loss, "optimizer = adam"]))
    assert not found & {"softmax-from-logits", "logits-not-probabilities", "one-unit-softmax"}


@pytest.mark.parametrize("loss", ["loss = categorical_crossentropy", "loss = sparse_categorical_crossentropy"])
def test_one_unit_softmax_fires(loss):
    text = spec_text([4], ["Dense(8, activation=relu)", "Dense(1, activation=softmax)"], [loss, "optimizer = adam"])
    assert_hint(assert_fires_once(text, "one-unit-softmax", "loss ="))


# ---- learning-rate ------------------------------------------------------------------------------
@pytest.mark.parametrize("optimizer", [
    "optimizer = adam(learning_rate=5.0)", "optimizer = adam(learning_rate=1e-7)",
    "optimizer = adamw(learning_rate=0.5)", "optimizer = sgd(learning_rate=10)",
    "optimizer = rmsprop(learning_rate=1e-8)",
])
def test_learning_rate_fires(optimizer):
    text = spec_text([4], ["Dense(1)"], ["loss = mse", optimizer])
    assert_hint(assert_fires_once(text, "learning-rate", "optimizer ="))


@pytest.mark.parametrize("optimizer", [
    "optimizer = adam", "optimizer = adam(learning_rate=1e-3)", "optimizer = adam(learning_rate=3e-4)",
    "optimizer = sgd", "optimizer = sgd(learning_rate=0.1, momentum=0.9)", "optimizer = rmsprop",
    "optimizer = adagrad", "optimizer = adamw",
])
def test_learning_rate_quiet(optimizer):
    assert "learning-rate" not in codes(spec_text([4], ["Dense(1)"], ["loss = mse", optimizer]))


# ---- data-shape / data-classes --------------------------------------------------------------------
def test_iris_with_matching_model_is_fine():
    text = spec_text([4], ["Dense(8, activation=relu)", "Dense(3, activation=softmax)"], [*CLASSIFY, "data = iris"])
    assert warnings(text) == []


def test_digits_as_image_is_fine():
    # 8·8·1 = 64 features
    text = spec_text([8, 8, 1], ["Flatten()", "Dense(10, activation=softmax)"], [*CLASSIFY, "data = digits"])
    assert warnings(text) == []


def test_data_shape_fires():
    text = spec_text([5], ["Dense(3, activation=softmax)"], [*CLASSIFY, "data = iris"])
    assert_fires_once(text, "data-shape", "Input(")


@pytest.mark.parametrize("layers, train", [
    (["Dense(4, activation=softmax)"], [*CLASSIFY, "data = iris"]),  # iris: 3 classes
    (["Dense(1, activation=sigmoid)"], ["loss = binary_crossentropy", "optimizer = adam", "data = iris"]),
    (["Dense(3)"], ["loss = mse", "optimizer = adam", "data = regression(features=4)"]),  # one target
    (["Dense(2, activation=softmax)"], [*CLASSIFY, "data = spirals(classes=3)"]),
])
def test_data_classes_fires(layers, train):
    input_shape = [2] if "spirals" in train[-1] else [4]
    text = spec_text(input_shape, layers, train)
    assert_fires_once(text, "data-classes", layers[-1])


@pytest.mark.parametrize("input_shape, layers, train", [
    ([30], ["Dense(1, activation=sigmoid)"], ["loss = binary_crossentropy", "optimizer = adam",
                                              "data = breast_cancer"]),
    ([4], ["Dense(1)"], ["loss = mse", "optimizer = adam", "data = regression(features=4)"]),
    ([3], ["Dense(5, activation=softmax)"], [*CLASSIFY, "data = blobs(classes=5, features=3)"]),
    ([2], ["Dense(3, activation=softmax)"], [*CLASSIFY, "data = spirals"]),
])
def test_data_quiet(input_shape, layers, train):
    assert not codes(spec_text(input_shape, layers, train)) & {"data-shape", "data-classes"}


@pytest.mark.parametrize("input_shape, layer, code", [
    ([5], "Dense(3, activation=softmax)", "data-shape"),
    ([4], "Dense(4, activation=softmax)", "data-classes"),
])
def test_data_lints_have_a_hint(input_shape, layer, code):
    (found,) = warnings(spec_text(input_shape, [layer], [*CLASSIFY, "data = iris"]), code)
    assert_hint(found)


# ---- early-stopping-validation ------------------------------------------------------------------
def test_early_stopping_without_validation_fires():
    text = spec_text([4], ["Dense(1)"], ["loss = mse", "optimizer = adam", "early_stopping = monitor(val_loss)"])
    found = warnings(text, "early-stopping-validation")
    assert len(found) == 1
    # reported on the train section (its span starts at "train {")
    assert found[0].span.line == line_of(text, "train {")
    assert_hint(found[0])


@pytest.mark.parametrize("settings", [
    ["early_stopping = monitor(val_loss)", "validation_split = 0.2"],
    ["early_stopping = monitor(loss)"],  # monitors the training loss: needs no validation data
    ["metrics = [mae]", "early_stopping = monitor(mae, patience=3)"],
    [],
])
def test_early_stopping_quiet(settings):
    text = spec_text([4], ["Dense(1)"], ["loss = mse", "optimizer = adam", *settings])
    assert "early-stopping-validation" not in codes(text)


# ---- lints are warnings, deduplicated by source position -------------------------------------------
def test_warnings_do_not_stop_compilation():
    text = spec_text([5], [
        "Dense(8, activation=relu, kernel_initializer=glorot_uniform)", "Dropout(0.5)", "BatchNormalization()",
        "Dense(3, activation=softmax)", "Flatten()",
    ], ["loss = sparse_categorical_crossentropy(from_logits=true)", "optimizer = adam(learning_rate=5.0)",
        "early_stopping = monitor(val_loss)", "data = iris"])
    result = compile_text(text)
    assert {w.code for w in result.warnings} == {
        "init-activation", "dropout-before-batchnorm", "softmax-from-logits", "learning-rate", "data-shape",
        "early-stopping-validation"}
    assert all(w.severity == "warning" for w in result.warnings)
    assert result.spec.output_shape == (3,)


def test_clean_spec_has_no_warnings():
    text = spec_text([4], ["Dense(16, activation=relu)", "Dense(3, activation=softmax)"],
                     [*CLASSIFY, "validation_split = 0.2", "early_stopping = monitor(val_loss)", "data = iris"])
    assert warnings(text) == []


def test_block_used_twice_warns_once():
    prelude = "block hidden(units) {\n    Dense(units)\n    BatchNormalization()\n    Activation(relu)\n}\n"
    text = spec_text([4], ["hidden(16)", "hidden(8)", "Dense(1)"], prelude=prelude)
    found = warnings(text, "bias-before-batchnorm")
    assert len(found) == 1
    assert found[0].span.line == line_of(text, "Dense(units)")  # the line inside the block


def test_block_used_twice_lints_once_per_code():
    prelude = ("block bad() {\n    Dense(8, activation=relu, kernel_initializer=glorot_uniform)\n"
               "    Dropout(0.5)\n    BatchNormalization()\n}\n")
    text = spec_text([4], ["bad()", "bad()", "bad()", "Dense(1)"], prelude=prelude)
    found = warnings(text)
    assert sorted(w.code for w in found) == ["dropout-before-batchnorm", "init-activation"]
