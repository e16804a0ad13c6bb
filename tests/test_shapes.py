"""Output shapes, parameter counts and automatic names, checked against Keras 3's documented formulas.

Every expected value below is computed by hand (the arithmetic is in the comments), never by the
code under test. Shapes exclude the batch axis, as in the IR.

Keras' formulas used (``keras.ops.operation_utils.compute_conv_output_shape`` / pooling):
    valid: out = ceil((n - (k - 1)·d) / s)   (= floor((n - (k - 1)·d - 1) / s) + 1)
    same:  out = ceil(n / s)
    pooling strides default to the pool size.
"""

from __future__ import annotations

import pytest

from compiler.ir.layers.geometry import same_padding
from compiler.pipeline import compile_text
from spec_lang.diagnostics import SpecError

TRAIN = "train { loss = mse  optimizer = adam }"


def model(input_shape: list[int], *layers: str) -> str:
    """A spec text: ``model m`` on line 1, the Input on line 2, each layer on its own line after it."""
    body = "\n".join(f"    {layer}" for layer in layers)
    return f"model m {{\n    Input({input_shape})\n{body}\n}}\n{TRAIN}\n"


def compile_layers(input_shape: list[int], *layers: str):
    return compile_text(model(input_shape, *layers)).spec


def last(input_shape: list[int], layer: str):
    """The IR of ``layer`` applied directly to an Input of ``input_shape``."""
    return compile_layers(input_shape, layer).layers[-1]


def compile_error(input_shape: list[int], *layers: str) -> str:
    with pytest.raises(SpecError) as info:
        compile_layers(input_shape, *layers)
    return str(info.value)


# ---- Conv2D output shapes ------------------------------------------------------------------
CONV_CASES = [
    # (input [h, w, c], call, expected output shape)
    # valid, odd kernel 3, strides 1/2/3 on 28: ceil(26/1)=26, ceil(26/2)=13, ceil(26/3)=9 (floor(25/3)+1 = 9)
    ([28, 28, 1], "Conv2D(8, 3)", (26, 26, 8)),
    ([28, 28, 1], "Conv2D(8, 3, strides=2)", (13, 13, 8)),
    ([28, 28, 1], "Conv2D(8, 3, strides=3)", (9, 9, 8)),
    # valid, even kernel 4 on 28: ceil(25/1)=25, ceil(25/2)=13 (floor(24/2)+1), ceil(25/3)=9 (floor(24/3)+1)
    ([28, 28, 1], "Conv2D(8, 4)", (25, 25, 8)),
    ([28, 28, 1], "Conv2D(8, 4, strides=2)", (13, 13, 8)),
    ([28, 28, 1], "Conv2D(8, 4, strides=3)", (9, 9, 8)),
    # same on 28: ceil(28/1)=28, ceil(28/2)=14, ceil(28/3)=10, whatever the kernel
    ([28, 28, 1], "Conv2D(8, 3, padding=same)", (28, 28, 8)),
    ([28, 28, 1], "Conv2D(8, 3, strides=2, padding=same)", (14, 14, 8)),
    ([28, 28, 1], "Conv2D(8, 3, strides=3, padding=same)", (10, 10, 8)),
    ([28, 28, 1], "Conv2D(8, 4, padding=same)", (28, 28, 8)),
    ([28, 28, 1], "Conv2D(8, 4, strides=2, padding=same)", (14, 14, 8)),
    ([28, 28, 1], "Conv2D(8, 4, strides=3, padding=same)", (10, 10, 8)),
    # odd input 7: valid k2 s2: ceil(6/2)=3 (floor(5/2)+1); same: ceil(7/2)=4
    ([7, 7, 3], "Conv2D(4, 2, strides=2)", (3, 3, 4)),
    ([7, 7, 3], "Conv2D(4, 2, strides=2, padding=same)", (4, 4, 4)),
    # odd input 7: valid k3 s3: ceil(5/3)=2 (floor(4/3)+1); same: ceil(7/3)=3
    ([7, 7, 3], "Conv2D(4, 3, strides=3)", (2, 2, 4)),
    ([7, 7, 3], "Conv2D(4, 3, strides=3, padding=same)", (3, 3, 4)),
    # positional strides and padding: Conv2D(filters, kernel_size, strides, padding)
    ([28, 28, 1], "Conv2D(8, 3, 2, same)", (14, 14, 8)),
    # kernel 1, stride 2 valid: ceil((28-0)/2) = 14
    ([28, 28, 1], "Conv2D(8, 1, strides=2)", (14, 14, 8)),
    # kernel as large as the input, valid: ceil((5-4)/1) = 1
    ([5, 5, 2], "Conv2D(3, 5)", (1, 1, 3)),
    # non-square input 10x12, kernel [3, 5]: valid (10-2, 12-4) = (8, 8); same (10, 12)
    ([10, 12, 3], "Conv2D(16, [3, 5])", (8, 8, 16)),
    ([10, 12, 3], "Conv2D(16, [3, 5], padding=same)", (10, 12, 16)),
    # ... with strides [2, 3], valid: (ceil(8/2), ceil(8/3)) = (4, 3)  [floor(7/2)+1=4, floor(7/3)+1=3]
    ([10, 12, 3], "Conv2D(16, [3, 5], strides=[2, 3])", (4, 3, 16)),
    # ... same: (ceil(10/2), ceil(12/3)) = (5, 4)
    ([10, 12, 3], "Conv2D(16, [3, 5], strides=[2, 3], padding=same)", (5, 4, 16)),
    # dilation 2, k3 on 28 valid: effective 2·2+1 = 5 → ceil((28-4)/1) = 24
    ([28, 28, 1], "Conv2D(8, 3, dilation_rate=2)", (24, 24, 8)),
    # dilation 3, k3: 28 - 2·3 = 22
    ([28, 28, 1], "Conv2D(8, 3, dilation_rate=3)", (22, 22, 8)),
    # dilation 2, even kernel 4: 28 - 3·2 = 22
    ([28, 28, 1], "Conv2D(8, 4, dilation_rate=2)", (22, 22, 8)),
    # dilation with same: ceil(28/1) = 28
    ([28, 28, 1], "Conv2D(8, 3, padding=same, dilation_rate=2)", (28, 28, 8)),
    # non-square kernel and dilation [2, 1] on 10x12: (10 - 2·2, 12 - 4·1) = (6, 8)
    ([10, 12, 3], "Conv2D(4, [3, 5], dilation_rate=[2, 1])", (6, 8, 4)),
]


@pytest.mark.parametrize("input_shape, call, expected", CONV_CASES, ids=[c[1] + str(c[0]) for c in CONV_CASES])
def test_conv2d_output_shape(input_shape, call, expected):
    layer = last(input_shape, call)
    assert layer.input_shape == tuple(input_shape)
    assert layer.output_shape == expected


@pytest.mark.parametrize("call", [
    "Conv2D(8, 3, strides=2, dilation_rate=2)",
    "Conv2D(8, 3, strides=[1, 2], dilation_rate=[2, 1])",  # Keras checks max(strides) and max(dilation_rate)
    "Conv2D(8, 3, strides=2, padding=same, dilation_rate=2)",
])
def test_conv2d_rejects_strides_with_dilation(call):
    # Keras 3 (BaseConv.__init__): "strides > 1 not supported in conjunction with dilation_rate > 1"
    message = compile_error([28, 28, 1], call)
    assert "dilation" in message


@pytest.mark.parametrize("call", ["Conv2D(8, 6)", "Conv2D(8, 3, dilation_rate=3)", "Conv2D(8, [2, 6])"])
def test_conv2d_kernel_larger_than_input_is_an_error(call):
    # 5x5 input; valid: k6 → ceil((5-5)/1) = 0; k3 d3 spans 7 → ceil((5-6)/1) < 0: Keras rejects an empty output
    message = compile_error([5, 5, 1], call)
    assert "Conv2D" in message


def test_conv2d_same_with_kernel_larger_than_input_is_fine():
    # same: ceil(5/1) = 5 whatever the kernel
    assert last([5, 5, 1], "Conv2D(2, 7, padding=same)").output_shape == (5, 5, 2)


# ---- pooling ---------------------------------------------------------------------------------
POOL_CASES = [
    # default strides = pool size; valid on 28: pool 2 → ceil((28-1)/2) = 14 ; pool 3 → ceil(26/3) = 9
    ([28, 28, 8], "{}(2)", (14, 14, 8)),
    ([28, 28, 8], "{}(3)", (9, 9, 8)),
    # same: ceil(28/2) = 14 ; ceil(28/3) = 10
    ([28, 28, 8], "{}(2, padding=same)", (14, 14, 8)),
    ([28, 28, 8], "{}(3, padding=same)", (10, 10, 8)),
    # odd input 7, pool 2: valid ceil(6/2) = 3 (floor(5/2)+1), same ceil(7/2) = 4
    ([7, 7, 2], "{}(2)", (3, 3, 2)),
    ([7, 7, 2], "{}(2, padding=same)", (4, 4, 2)),
    # the seed's pooling: 128, pool 3, same → ceil(128/3) = 43
    ([128, 128, 3], "{}(3, padding=same)", (43, 43, 3)),
    # non-square pool [2, 3] (strides [2, 3]) on 12x12: valid (ceil(11/2), ceil(10/3)) = (6, 4)
    ([12, 12, 4], "{}([2, 3])", (6, 4, 4)),
    # ... same: (ceil(12/2), ceil(12/3)) = (6, 4); on 13x13: (ceil(13/2), ceil(13/3)) = (7, 5)
    ([12, 12, 4], "{}([2, 3], padding=same)", (6, 4, 4)),
    ([13, 13, 4], "{}([2, 3], padding=same)", (7, 5, 4)),
    # valid on 13x13: (ceil(12/2), ceil(11/3)) = (6, 4)  [floor(11/2)+1 = 6, floor(10/3)+1 = 4]
    ([13, 13, 4], "{}([2, 3])", (6, 4, 4)),
    # explicit strides: pool 2 stride 1 valid → ceil(27/1) = 27 ; same → 28
    ([28, 28, 8], "{}(2, strides=1)", (27, 27, 8)),
    ([28, 28, 8], "{}(2, strides=1, padding=same)", (28, 28, 8)),
    # overlapping pool 3 stride 2 valid → ceil(26/2) = 13 ; same → ceil(28/2) = 14
    ([28, 28, 8], "{}(3, strides=2)", (13, 13, 8)),
    ([28, 28, 8], "{}(3, strides=2, padding=same)", (14, 14, 8)),
    # positional: pool_size, strides, padding
    ([28, 28, 8], "{}(3, 2, same)", (14, 14, 8)),
    # non-square strides [1, 2], pool 2 on 10x10 valid: (ceil(9/1), ceil(9/2)) = (9, 5)
    ([10, 10, 1], "{}(2, strides=[1, 2])", (9, 5, 1)),
]


@pytest.mark.parametrize("kind", ["MaxPooling2D", "AveragePooling2D"])
@pytest.mark.parametrize("input_shape, call, expected", POOL_CASES, ids=[c[1] + str(c[0]) for c in POOL_CASES])
def test_pooling_output_shape(kind, input_shape, call, expected):
    layer = last(input_shape, call.format(kind))
    assert layer.kind == kind
    assert layer.output_shape == expected
    assert (layer.trainable_params, layer.non_trainable_params) == (0, 0)


@pytest.mark.parametrize("kind", ["MaxPooling2D", "AveragePooling2D"])
def test_pooling_strides_default_to_pool_size(kind):
    # Keras: strides=None means strides = pool_size; the IR records the strides in force
    assert last([12, 12, 1], f"{kind}([2, 3])").strides == (2, 3)
    assert last([12, 12, 1], f"{kind}(2, strides=1)").strides == (1, 1)
    assert last([12, 12, 1], f"{kind}()").pool_size == (2, 2)  # Keras' default pool_size=(2, 2)


@pytest.mark.parametrize("kind", ["MaxPooling2D", "AveragePooling2D"])
def test_pooling_same_with_window_larger_than_input(kind):
    # same: ceil(2/3) = 1
    assert last([2, 2, 1], f"{kind}(3, padding=same)").output_shape == (1, 1, 1)


@pytest.mark.parametrize("kind", ["MaxPooling2D", "AveragePooling2D"])
def test_pooling_window_larger_than_input_is_an_error(kind):
    # 2x2 input, pool 3 valid: ceil((2-2)/3) = 0
    message = compile_error([2, 2, 1], f"{kind}(3)")
    assert kind in message


@pytest.mark.parametrize("call, expected", [
    ("GlobalAveragePooling2D()", (16,)),                  # mean over h, w: (C,)
    ("GlobalAveragePooling2D(keepdims=false)", (16,)),
    ("GlobalAveragePooling2D(keepdims=true)", (1, 1, 16)),  # Keras keepdims=True: (1, 1, C)
])
def test_global_average_pooling(call, expected):
    layer = last([7, 5, 16], call)
    assert layer.output_shape == expected
    assert (layer.trainable_params, layer.non_trainable_params) == (0, 0)


# ---- Flatten, Dense, shape-preserving layers ---------------------------------------------------
@pytest.mark.parametrize("input_shape, expected", [
    ([7, 7, 8], (392,)),    # 7·7·8 = 392
    ([5, 3, 2], (30,)),     # 5·3·2 = 30
    ([1, 1, 10], (10,)),
    ([12], (12,)),          # already flat
])
def test_flatten(input_shape, expected):
    assert last(input_shape, "Flatten()").output_shape == expected


def test_dense_output_shape():
    assert last([20], "Dense(7)").output_shape == (7,)
    spec = compile_layers([8, 8, 1], "Flatten()", "Dense(5)")
    assert spec.layers[-1].input_shape == (64,)  # 8·8·1
    assert spec.layers[-1].output_shape == (5,)


@pytest.mark.parametrize("call", [
    "Rescaling(1 / 255)", "Rescaling(2, offset=-1)", "Dropout(0.5)", "SpatialDropout2D(0.2)",
    "BatchNormalization()", "Activation(relu)", "Activation(softmax)",
])
def test_shape_preserving_layers(call):
    layer = last([6, 4, 3], call)
    assert layer.input_shape == layer.output_shape == (6, 4, 3)


@pytest.mark.parametrize("call", ["Rescaling(0.5)", "Dropout(0.5)", "BatchNormalization()", "Activation(tanh)"])
def test_shape_preserving_layers_on_vectors(call):
    assert last([9], call).output_shape == (9,)


# ---- parameter counts ------------------------------------------------------------------------
@pytest.mark.parametrize("input_shape, call, trainable", [
    ([392], "Dense(10)", 3930),                 # 392·10 + 10
    ([64], "Dense(32)", 2080),                  # 64·32 + 32 = 2048 + 32
    ([64], "Dense(32, use_bias=false)", 2048),  # 64·32
    ([1], "Dense(1)", 2),                       # 1·1 + 1
    ([784], "Dense(128, activation=relu)", 100480),  # 784·128 + 128 = 100352 + 128
])
def test_dense_params(input_shape, call, trainable):
    layer = last(input_shape, call)
    assert (layer.trainable_params, layer.non_trainable_params) == (trainable, 0)


@pytest.mark.parametrize("input_shape, call, trainable", [
    ([28, 28, 1], "Conv2D(8, 3)", 80),                      # 3·3·1·8 + 8 = 72 + 8
    ([28, 28, 1], "Conv2D(8, 3, strides=2, padding=same)", 80),  # strides/padding do not change the kernel
    ([10, 12, 3], "Conv2D(16, [3, 5])", 736),               # 3·5·3·16 + 16 = 720 + 16
    ([10, 12, 3], "Conv2D(16, [3, 5], use_bias=false)", 720),
    ([16, 16, 128], "Conv2D(128, 3, padding=same)", 147584),  # 3·3·128·128 + 128 = 147456 + 128
    ([28, 28, 1], "Conv2D(8, 3, dilation_rate=2)", 80),     # dilation does not add weights
    ([8, 8, 4], "Conv2D(2, 1)", 10),                        # 1·1·4·2 + 2
])
def test_conv2d_params(input_shape, call, trainable):
    layer = last(input_shape, call)
    assert (layer.trainable_params, layer.non_trainable_params) == (trainable, 0)


@pytest.mark.parametrize("input_shape, call, trainable, non_trainable", [
    # gamma + beta trainable (2C), moving mean + variance non-trainable (2C)
    ([16], "BatchNormalization()", 32, 32),
    ([8, 8, 12], "BatchNormalization()", 24, 24),  # channels last: C = 12, not 8·8·12
    ([16], "BatchNormalization(center=false)", 16, 32),  # no beta
    ([16], "BatchNormalization(scale=false)", 16, 32),   # no gamma
    ([16], "BatchNormalization(center=false, scale=false)", 0, 32),
    ([8, 8, 12], "BatchNormalization(scale=false)", 12, 24),
])
def test_batchnorm_params(input_shape, call, trainable, non_trainable):
    layer = last(input_shape, call)
    assert (layer.trainable_params, layer.non_trainable_params) == (trainable, non_trainable)


@pytest.mark.parametrize("call", ["Flatten()", "Dropout(0.1)", "Rescaling(2)", "Activation(relu)",
                                  "MaxPooling2D(2)", "GlobalAveragePooling2D()", "SpatialDropout2D(0.1)"])
def test_layers_without_weights(call):
    layer = last([4, 4, 3], call)
    assert (layer.trainable_params, layer.non_trainable_params) == (0, 0)


def test_small_cnn_totals():
    spec = compile_layers(
        [28, 28, 1],
        "Conv2D(8, 3, activation=relu)",  # → 26x26x8; 3·3·1·8 + 8 = 80
        "BatchNormalization()",           # 2·8 = 16 trainable, 16 non-trainable
        "MaxPooling2D(2)",                # → 13x13x8 (ceil(25/2) = 13)
        "Conv2D(16, 3, padding=same)",    # → 13x13x16; 3·3·8·16 + 16 = 1152 + 16 = 1168
        "GlobalAveragePooling2D()",       # → 16
        "Dense(10, activation=softmax)",  # 16·10 + 10 = 170
    )
    assert [layer.output_shape for layer in spec.layers] == [
        (28, 28, 1), (26, 26, 8), (26, 26, 8), (13, 13, 8), (13, 13, 16), (16,), (10,)]
    assert spec.trainable_params == 80 + 16 + 1168 + 170 == 1434
    assert spec.non_trainable_params == 16
    assert spec.input_shape == (28, 28, 1)
    assert spec.output_shape == (10,)


def test_mlp_totals():
    spec = compile_layers(
        [784],
        "Dense(128, activation=relu)",    # 784·128 + 128 = 100480
        "Dropout(0.2)",
        "Dense(64)",                      # 128·64 + 64 = 8256
        "BatchNormalization()",           # 128 trainable, 128 non-trainable
        "Activation(relu)",
        "Dense(10, activation=softmax)",  # 64·10 + 10 = 650
    )
    assert spec.trainable_params == 100480 + 8256 + 128 + 650 == 109514
    assert spec.non_trainable_params == 128


def test_seed_cnn_totals_match_keras_summary():
    # The seed's Keras model: 440,202 total = 439,690 trainable + 512 non-trainable.
    # conv1 3·3·3·128+128 = 3584; bn 256 (+256); pool 128 → ceil(128/3) = 43
    # conv2 3·3·128·128+128 = 147584; bn 256 (+256); pool 43 → ceil(43/3) = 15
    # flatten 15·15·128 = 28800; dense 28800·10 + 10 = 288010
    spec = compile_layers(
        [128, 128, 3], "Rescaling(1 / 255)",
        "Conv2D(128, 3, padding=same)", "BatchNormalization()", "Activation(relu)", "MaxPooling2D(3, padding=same)",
        "Conv2D(128, 3, padding=same)", "BatchNormalization()", "Activation(relu)", "MaxPooling2D(3, padding=same)",
        "SpatialDropout2D(0.1)", "Flatten()", "Dropout(0.3)", "Dense(10, activation=softmax)",
    )
    assert spec.layers[-2].output_shape == (28800,)
    assert spec.trainable_params == 3584 + 256 + 147584 + 256 + 288010 == 439690
    assert spec.non_trainable_params == 512


# ---- Keras-style automatic names ------------------------------------------------------------------
def test_automatic_names():
    spec = compile_layers(
        [8, 8, 1], "Rescaling(1 / 16)", "Conv2D(4, 3, padding=same)", "BatchNormalization()", "Activation(relu)",
        "Conv2D(4, 3, padding=same)", "BatchNormalization()", "Activation(relu)", "MaxPooling2D(2)",
        "AveragePooling2D(2)", "SpatialDropout2D(0.1)", "GlobalAveragePooling2D()", "Dropout(0.1)", "Dense(8)",
        "Dropout(0.1)", "Dense(4)", "Dense(2)",
    )
    assert [layer.name for layer in spec.layers] == [
        "input_layer", "rescaling", "conv2d", "batch_normalization", "activation",
        "conv2d_1", "batch_normalization_1", "activation_1", "max_pooling2d",
        "average_pooling2d", "spatial_dropout2d", "global_average_pooling2d", "dropout", "dense",
        "dropout_1", "dense_1", "dense_2",
    ]


def test_flatten_name():
    assert [layer.name for layer in compile_layers([2, 2, 1], "Flatten()", "Dense(1)").layers] == [
        "input_layer", "flatten", "dense"]


def test_explicit_name_is_kept_and_does_not_consume_the_counter():
    # Keras counts automatic names per stem; an explicit name is not counted.
    spec = compile_layers([4], 'Dense(8, name="hidden")', "Dense(8)", "Dense(8)")
    assert [layer.name for layer in spec.layers] == ["input_layer", "hidden", "dense", "dense_1"]


def test_explicit_name_as_bare_word():
    assert last([4], "Dense(8, name=encoder)").name == "encoder"


def test_automatic_names_skip_an_explicit_name():
    # "dense" and "dense_2" are taken explicitly: the automatic names go around them.
    spec = compile_layers([4], "Dense(8)", 'Dense(8, name="dense")', "Dense(8)", 'Dense(8, name="dense_2")',
                          "Dense(8)")
    assert [layer.name for layer in spec.layers[1:]] == ["dense_1", "dense", "dense_3", "dense_2", "dense_4"]
    assert len({layer.name for layer in spec.layers}) == len(spec.layers)


def test_duplicate_explicit_names_are_an_error():
    # Keras: "All layers added to a Sequential model should have unique names"
    message = compile_error([4], 'Dense(8, name="a")', 'Dense(8, name="a")')
    assert "duplicate layer name 'a'" in message


# ---- TensorFlow's same padding ---------------------------------------------------------------------
@pytest.mark.parametrize("n, k, s, d, expected", [
    # total = max((ceil(n/s) - 1)·s + (k-1)·d + 1 - n, 0); before = total // 2; after = total - before
    (28, 3, 1, 1, (1, 1)),    # out 28: 27 + 3 - 28 = 2
    (28, 3, 2, 1, (0, 1)),    # out 14: 26 + 3 - 28 = 1 → the extra pixel at the end
    (28, 4, 1, 1, (1, 2)),    # out 28: 27 + 4 - 28 = 3
    (28, 2, 2, 1, (0, 0)),    # out 14: 26 + 2 - 28 = 0
    (7, 3, 2, 1, (1, 1)),     # out 4: 6 + 3 - 7 = 2
    (7, 2, 2, 1, (0, 1)),     # out 4: 6 + 2 - 7 = 1
    (128, 3, 3, 1, (0, 1)),   # out 43: 126 + 3 - 128 = 1
    (5, 1, 1, 1, (0, 0)),     # out 5: 4 + 1 - 5 = 0
    (10, 5, 3, 1, (2, 2)),    # out 4: 9 + 5 - 10 = 4
    (10, 3, 4, 1, (0, 1)),    # out 3: 8 + 3 - 10 = 1
    (10, 1, 4, 1, (0, 0)),    # out 3: 8 + 1 - 10 = -1 → 0
    (5, 7, 1, 1, (3, 3)),     # out 5: 4 + 7 - 5 = 6
    (28, 3, 1, 2, (2, 2)),    # out 28: 27 + 2·2 + 1 - 28 = 4
    (28, 2, 1, 3, (1, 2)),    # out 28: 27 + 1·3 + 1 - 28 = 3
])
def test_same_padding(n, k, s, d, expected):
    assert same_padding(n, k, s, d) == expected


def test_same_padding_default_dilation_is_one():
    assert same_padding(28, 4, 1) == (1, 2)
