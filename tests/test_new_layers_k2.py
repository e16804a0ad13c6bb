"""DepthwiseConv2D, SeparableConv2D and UpSampling2D against plain Keras (float64), and their rules.

- shape and parameter count: the IR's output shape, parameter count, weight names and layouts equal those of
  Keras' own layer built on the same input; shapes Keras cannot take are ``path:line:col: error:`` messages;
- forward and gradient: the NumPy reference's output, input gradient and weight gradients equal Keras'
  (``tf.GradientTape``) on the same weights; bilinear up-sampling equals torch's
  ``F.interpolate(align_corners=False)`` to round-off, borders included, and Keras' own to float32 (TensorFlow's
  resize computes in float32 whatever the dtype; nnspec's Keras backend is exact in float64);
- auto-init: the depthwise and pointwise kernels get He before a ReLU and Glorot otherwise, with Keras' fans.
"""

from __future__ import annotations

import numpy as np
import pytest

from backends.numpy import layers as numpy_layers
from backends.numpy.layers import Context
from compiler.pipeline import compile_text
from compiler.weights import weight_specs
from spec_lang.diagnostics import SpecError

from frameworks import need

TOL = 1e-12
# TensorFlow's bilinear resize rounds its inputs, weights and outputs to float32 (its output dtype is float32)
FLOAT32_TOL = 1e-6

CASES = [
    # (input shape, layer)
    ([7, 6, 2], "DepthwiseConv2D(3)"),
    ([7, 6, 2], "DepthwiseConv2D([3, 2], strides=2, padding=same, depth_multiplier=3)"),
    ([8, 7, 3], "DepthwiseConv2D(3, strides=2, padding=same, dilation_rate=2, use_bias=false)"),
    ([9, 8, 2], "DepthwiseConv2D(2, strides=3, dilation_rate=[2, 1], depth_multiplier=2, activation=relu)"),
    ([7, 6, 2], "SeparableConv2D(4, 3)"),
    ([6, 5, 3], "SeparableConv2D(4, [2, 3], padding=same, depth_multiplier=2, dilation_rate=[2, 1])"),
    ([8, 9, 2], "SeparableConv2D(3, 3, strides=2, dilation_rate=2, padding=same, use_bias=false, activation=tanh)"),
    ([4, 5, 2], "UpSampling2D()"),
    ([4, 5, 2], "UpSampling2D([3, 1])"),
    ([4, 5, 2], "UpSampling2D(interpolation=bilinear)"),
    ([3, 1, 2], "UpSampling2D([3, 4], interpolation=bilinear)"),
]
IDS = [call for _, call in CASES]


def spec_of(shape, call, loss=True):
    train = "\ntrain { loss = mse optimizer = sgd }" if loss else ""
    return compile_text(f"model m {{\n    Input({shape})\n    {call}\n}}{train}\n", "k2.nns").spec


@pytest.fixture(scope="module")
def keras_oracle():
    need("keras")
    import keras_oracle  # tests/ is on sys.path under pytest

    return keras_oracle


@pytest.mark.parametrize("shape, call", CASES, ids=IDS)
def test_shape_parameters_and_weights_are_keras(shape, call, keras_oracle):
    layer = spec_of(shape, call).layers[-1]
    with keras_oracle.float64():
        theirs = keras_oracle.keras_layer(layer)
        theirs.build((None, *shape))
        assert tuple(theirs.compute_output_shape((None, *shape)))[1:] == layer.output_shape
        assert theirs.count_params() == layer.trainable_params + layer.non_trainable_params
        assert [(v.name, tuple(v.shape)) for v in theirs.weights] == \
            [(w.name, w.shape) for w in layer.weights(layer.input_shape)]
        config = {k: v for k, v in theirs.get_config().items() if k != "name"}
        automatic = type(theirs).from_config(config).name  # Keras' own name for an unnamed layer
    assert automatic.rstrip("_0123456789") == type(layer).snake_name == layer.name


@pytest.mark.parametrize("shape, call", CASES, ids=IDS)
def test_forward_and_gradients_are_keras(shape, call, keras_oracle):
    tf = need("tensorflow")
    spec = spec_of(shape, call)
    layer = spec.layers[-1]
    rng = np.random.default_rng(5)
    weights = {w.name.split("/")[1]: rng.normal(size=w.shape) for w in weight_specs(spec)}
    x = rng.normal(size=(3, *shape))
    z, backprop = numpy_layers.LAYERS[layer.kind](layer, weights, {}, x, Context(training=True))
    fn = layer.activation_fn
    y = z if fn is None or fn.kind == "linear" else {"relu": lambda a: np.maximum(a, 0), "tanh": np.tanh}[fn.kind](z)
    r = rng.normal(size=y.shape)
    dz = r if fn is None or fn.kind == "linear" else r * {"relu": (z > 0) * 1.0, "tanh": 1 - y ** 2}[fn.kind]
    dx, grads = backprop(dz)

    with keras_oracle.float64():
        theirs = keras_oracle.keras_layer(layer)
        theirs.build((None, *shape))
        for v in theirs.weights:
            v.assign(weights[v.name])
        tx = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(tx)
            ty = theirs(tx)
            total = tf.reduce_sum(ty * r)
        got = tape.gradient(total, [tx, *theirs.weights])
    tol = FLOAT32_TOL if "bilinear" in call else TOL
    scale = max(1.0, float(np.abs(y).max()))
    assert np.abs(np.asarray(ty) - y).max() / scale < tol
    assert np.abs(np.asarray(got[0]) - dx).max() / max(1.0, float(np.abs(dx).max())) < tol
    for v, g in zip(theirs.weights, got[1:]):
        assert np.abs(np.asarray(g) - grads[v.name]).max() / max(1.0, float(np.abs(g).max())) < tol, v.name


@pytest.mark.parametrize("size, shape", [((2, 2), (4, 5)), ((3, 2), (5, 1)), ((4, 3), (1, 3)), ((5, 5), (3, 4))])
def test_bilinear_is_torchs_half_pixel_interpolation_borders_included(size, shape):
    torch = need("torch")
    spec = spec_of([*shape, 2], f"UpSampling2D({list(size)}, interpolation=bilinear)")
    layer = spec.layers[-1]
    x = np.random.default_rng(2).normal(size=(2, *shape, 2))
    y, _ = numpy_layers.LAYERS["UpSampling2D"](layer, {}, {}, x, Context(training=False))
    theirs = torch.nn.functional.interpolate(torch.from_numpy(x).permute(0, 3, 1, 2), scale_factor=size,
                                             mode="bilinear", align_corners=False).permute(0, 2, 3, 1).numpy()
    assert np.abs(theirs - y).max() < TOL
    assert np.abs(tensorflow_kernel(x, size) - y).max() < TOL


def tensorflow_kernel(x, size):
    """TensorFlow's resize_bilinear with half-pixel centres, written from its kernel: for output index i,
    in = (i + ½)·(1/s) − ½, lower = max(⌊in⌋, 0), upper = min(⌈in⌉, n − 1), lerp = in − ⌊in⌋; left of the
    first pixel centre lower = upper = 0, so the border repeats the edge pixel."""
    def taps(n, s):
        out = []
        for i in range(n * s):
            t = (i + 0.5) / s - 0.5
            out.append((max(int(np.floor(t)), 0), min(int(np.ceil(t)), n - 1), t - np.floor(t)))
        return out

    rows = np.stack([x[:, lo] + (x[:, hi] - x[:, lo]) * a for lo, hi, a in taps(x.shape[1], size[0])], axis=1)
    return np.stack([rows[:, :, lo] + (rows[:, :, hi] - rows[:, :, lo]) * a
                     for lo, hi, a in taps(x.shape[2], size[1])], axis=2)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_keras_backends_bilinear_is_the_formula(dtype):
    """nnspec's Keras backend: exact in float64 (its own matrices), Keras' own layer in float32."""
    need("keras")
    from backends.keras.layers import LOWERINGS, LowerContext

    spec = spec_of([5, 3, 2], "UpSampling2D([3, 2], interpolation=bilinear)")
    layer = spec.layers[-1]
    x = np.random.default_rng(4).normal(size=(2, 5, 3, 2))
    y, _ = numpy_layers.LAYERS["UpSampling2D"](layer, {}, {}, x, Context(training=False))
    theirs = LOWERINGS["UpSampling2D"](layer, LowerContext(dtype, False, 0))
    got = np.asarray(theirs(x.astype(dtype)))
    assert np.abs(got - y).max() < (TOL if dtype == "float64" else FLOAT32_TOL)


# ---- shapes Keras cannot take -----------------------------------------------------------------------------
@pytest.mark.parametrize("shape, call, message", [
    ([4, 4, 2], "DepthwiseConv2D(5)", "DepthwiseConv2D kernel spans 5 pixels along height but the input is only 4"),
    ([6, 4, 2], "SeparableConv2D(2, 3, dilation_rate=2)",
     "SeparableConv2D kernel spans 5 pixels along width but the input is only 4"),
    ([8, 8, 2], "DepthwiseConv2D(3, strides=[1, 2])", "DepthwiseConv2D needs the same stride along height and width"),
    ([8, 8, 2], "SeparableConv2D(2, 3, strides=[2, 1])", "SeparableConv2D needs the same stride"),
    ([8], "DepthwiseConv2D(3)", "DepthwiseConv2D expects a 3-D image (batch, height, width, channels)"),
    ([8, 2], "UpSampling2D()", "UpSampling2D expects a 3-D image (batch, height, width, channels)"),
])
def test_shape_errors_point_at_the_layer(shape, call, message):
    with pytest.raises(SpecError) as info:
        spec_of(shape, call)
    text = str(info.value)
    assert "k2.nns:3:5: error: " in text and message in text and "^" in text


@pytest.mark.parametrize("call, message", [
    ("UpSampling2D(interpolation=bicubic)", "interpolation"),
    ("DepthwiseConv2D(3, depth_multiplier=0)", "depth_multiplier"),
    ("SeparableConv2D(0, 3)", "filters"),
    ("DepthwiseConv2D(3, padding=full)", "padding"),
])
def test_bad_arguments_are_errors(call, message):
    with pytest.raises(SpecError) as info:
        spec_of([8, 8, 2], call)
    assert "k2.nns:3:" in str(info.value) and message in str(info.value)


# ---- auto-init and its lint ---------------------------------------------------------------------------------
@pytest.mark.parametrize("layers, expected", [
    ("DepthwiseConv2D(3, activation=relu)", {"depthwise_initializer": "he_uniform"}),
    ("DepthwiseConv2D(3) BatchNormalization() Activation(relu)", {"depthwise_initializer": "he_uniform"}),
    ("DepthwiseConv2D(3) UpSampling2D() Activation(relu)", {"depthwise_initializer": "he_uniform"}),
    ("DepthwiseConv2D(3, depthwise_initializer=auto(normal)) Activation(tanh)",
     {"depthwise_initializer": "glorot_normal"}),
    ("SeparableConv2D(4, 3, activation=elu)", {"depthwise_initializer": "he_uniform",
                                               "pointwise_initializer": "he_uniform"}),
    ("SeparableConv2D(4, 3) Flatten() Activation(softmax)", {"depthwise_initializer": "glorot_uniform",
                                                             "pointwise_initializer": "glorot_uniform"}),
])
def test_auto_init_chooses_for_the_following_activation(layers, expected):
    layer = compile_text(f"model m {{ Input([6, 6, 2]) {layers} }}").spec.layers[1]
    for field, kind in expected.items():
        init = getattr(layer, field)
        assert (init.kind, init.auto) == (kind, True), field


def test_a_glorot_depthwise_kernel_before_relu_is_linted():
    result = compile_text("model m { Input([6, 6, 2]) SeparableConv2D(4, 3, pointwise_initializer=glorot_uniform, "
                          "activation=relu) }")
    assert [w.code for w in result.warnings] == ["init-activation"]
    assert "glorot_uniform before relu" in result.warnings[0].message


def test_fans_are_keras_compute_fans(keras_oracle):
    from keras.src.initializers.random_initializers import compute_fans

    spec = spec_of([6, 6, 3], "SeparableConv2D(4, [3, 2], depth_multiplier=2)")
    for w in weight_specs(spec):
        assert w.fans == tuple(int(f) for f in compute_fans(w.shape)), w.name
