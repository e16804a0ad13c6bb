"""ZeroPadding2D, Cropping2D, GlobalMaxPooling2D, Reshape and Permute against plain Keras (float64), and their rules.

- shape and parameter count: the IR's output shape and parameter count (0) equal those of Keras' own layer built
  on the same input, for every form of every argument; what Keras refuses is a ``path:line:col: error:``
  message at the layer or the argument;
- forward and gradient: the NumPy reference's output and input gradient equal Keras' (``tf.GradientTape``),
  tied maxima of GlobalMaxPooling2D included (the gradient is shared equally, as TensorFlow's ``reduce_max``);
- the torch lowering, which holds images NCHW: the same output and input gradient as NumPy, in NHWC order;
- auto-init and the lints look through them (none adds a nonlinearity); ``fmt`` keeps every argument form.
"""

from __future__ import annotations

import numpy as np
import pytest

from backends.numpy import layers as numpy_layers
from backends.numpy.layers import Context
from compiler.pipeline import compile_text
from spec_lang.diagnostics import SpecError

from frameworks import need

TOL = 1e-12

CASES = [
    # (input shape, layer)
    ([3, 4, 2], "ZeroPadding2D()"),
    ([3, 4, 2], "ZeroPadding2D(2)"),
    ([3, 4, 2], "ZeroPadding2D([0, 3])"),
    ([3, 4, 2], "ZeroPadding2D([[1, 0], [2, 3]])"),
    ([3, 4, 2], "ZeroPadding2D([1, [0, 2]])"),
    ([5, 6, 2], "Cropping2D()"),
    ([5, 6, 2], "Cropping2D(2)"),
    ([5, 6, 2], "Cropping2D([1, 0])"),
    ([5, 6, 2], "Cropping2D([[0, 4], [3, 2]])"),
    ([5, 6, 2], "Cropping2D([[2, 1], 1])"),
    ([4, 3, 5], "GlobalMaxPooling2D()"),
    ([4, 3, 5], "GlobalMaxPooling2D(keepdims=true)"),
    ([4, 3, 2], "Reshape([6, 4])"),
    ([4, 3, 2], "Reshape([-1])"),
    ([4, 3, 2], "Reshape([2, -1, 3])"),
    ([12], "Reshape([3, 2, 2])"),
    ([6, 4], "Reshape([4, 6])"),
    ([4, 3, 2], "Permute([2, 1, 3])"),
    ([4, 3, 2], "Permute([3, 1, 2])"),
    ([4, 3, 2], "Permute([2, 3, 1])"),
    ([5, 3], "Permute([2, 1])"),
    ([5], "Permute([1])"),
]
IDS = [f"{call}@{shape}" for shape, call in CASES]


def spec_of(shape, call):
    return compile_text(f"model m {{\n    Input({shape})\n    {call}\n}}\ntrain {{ loss = mse optimizer = sgd }}\n",
                        "k3.nns").spec


@pytest.fixture(scope="module")
def keras_oracle():
    need("keras")
    import keras_oracle  # tests/ is on sys.path under pytest

    return keras_oracle


@pytest.mark.parametrize("shape, call", CASES, ids=IDS)
def test_shape_and_parameter_count_are_keras(shape, call, keras_oracle):
    keras = keras_oracle.keras
    layer = spec_of(shape, call).layers[-1]
    with keras_oracle.float64():
        theirs = keras_oracle.keras_layer(layer)
        out = theirs(keras.Input(tuple(shape), dtype="float64"))
    assert tuple(out.shape[1:]) == layer.output_shape
    assert theirs.compute_output_shape((None, *shape))[1:] == layer.output_shape
    assert theirs.count_params() == layer.trainable_params + layer.non_trainable_params == 0
    fresh = getattr(keras.layers, layer.kind)(**_keras_arguments(layer))  # named by Keras itself
    assert fresh.name.rstrip("_0123456789") == type(layer).snake_name


def _keras_arguments(layer) -> dict:
    """The layer's arguments, by Keras' names, for a Keras layer named automatically."""
    return {name: getattr(layer, name) for name in type(layer).argument_names() if name != "name"}


def _random_input(shape, rng, ties=False):
    if ties:  # small integers: many pixels equal each channel's maximum
        return rng.integers(-2, 3, size=(3, *shape)).astype(np.float64)
    return rng.normal(size=(3, *shape))


@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
@pytest.mark.parametrize("shape, call", CASES, ids=IDS)
def test_forward_and_input_gradient_are_keras(shape, call, ties, keras_oracle):
    tf = keras_oracle.tf
    layer = spec_of(shape, call).layers[-1]
    rng = np.random.default_rng(3)
    x = _random_input(shape, rng, ties)
    y, backprop = numpy_layers.LAYERS[layer.kind](layer, {}, {}, x, Context(training=True))
    r = rng.normal(size=y.shape)
    dx, grads = backprop(r)
    with keras_oracle.float64():
        theirs = keras_oracle.keras_layer(layer)
        tx = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(tx)
            ty = theirs(tx)
            total = tf.reduce_sum(ty * r)
        tdx = tape.gradient(total, tx)
    assert y.shape == tuple(ty.shape) and grads == {}
    np.testing.assert_allclose(y, ty.numpy(), rtol=0, atol=TOL)
    np.testing.assert_allclose(dx, tdx.numpy(), rtol=0, atol=TOL)


def test_tied_maxima_share_the_gradient():
    layer = spec_of([2, 2, 1], "GlobalMaxPooling2D()").layers[-1]
    x = np.array([[[[1.0], [3.0]], [[3.0], [-1.0]]]])
    y, backprop = numpy_layers.LAYERS["GlobalMaxPooling2D"](layer, {}, {}, x, Context(training=True))
    dx, _ = backprop(np.array([[4.0]]))
    assert y.tolist() == [[3.0]]
    assert dx[0, :, :, 0].tolist() == [[0.0, 2.0], [2.0, 0.0]]


@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
@pytest.mark.parametrize("shape, call", CASES, ids=IDS)
def test_torch_lowering_is_numpy_in_nhwc_order(shape, call, ties):
    """torch holds an image NCHW inside the network: the module takes and gives NCHW for an image (3-D shape)
    and the natural layout otherwise; seen in NHWC, its output and input gradient are the reference's."""
    torch = need("torch")
    from backends.torch.layers import RunContext, lower

    layer = spec_of(shape, call).layers[-1]
    rng = np.random.default_rng(4)
    x = _random_input(shape, rng, ties)
    y, backprop = numpy_layers.LAYERS[layer.kind](layer, {}, {}, x, Context(training=True))
    r = rng.normal(size=y.shape)
    dx, _ = backprop(r)

    def inside(a, image):  # NHWC -> the module's layout
        return a.permute(0, 3, 1, 2) if image else a

    def outside(a, image):
        return a.permute(0, 2, 3, 1) if image else a

    image_in, image_out = len(layer.input_shape) == 3, len(layer.output_shape) == 3
    tx = torch.tensor(x, requires_grad=True)
    ty = outside(lower(layer, RunContext(training=True))(inside(tx, image_in)), image_out)
    (ty * torch.from_numpy(r)).sum().backward()
    np.testing.assert_allclose(ty.detach().numpy(), y, rtol=0, atol=TOL)
    np.testing.assert_allclose(tx.grad.numpy(), dx, rtol=0, atol=TOL)


@pytest.mark.parametrize("shape, call, message", [
    ([3, 4, 2], "ZeroPadding2D(-1)", "argument 'padding': expected a value >= 0, received -1"),
    ([3, 4, 2], "ZeroPadding2D([1, 2, 3])", "argument 'padding': expected an integer or a list of 2 integers"),
    ([3, 4, 2], "ZeroPadding2D([[1, -2], 0])", "argument 'padding': expected a value >= 0, received -2"),
    ([6], "ZeroPadding2D()", "ZeroPadding2D expects a 3-D image (batch, height, width, channels), received shape "
                             "(batch, 6)"),
    ([5, 6, 2], "Cropping2D(3)", "Cropping2D crops 3 + 3 rows (top and bottom) from the 5 rows of its input "
                                 "(batch, 5, 6, 2): nothing would be left"),
    ([5, 6, 2], "Cropping2D([[0, 0], [4, 2]])", "Cropping2D crops 4 + 2 columns (left and right) from the 6 "
                                                "columns"),
    ([5, 6, 2], "Cropping2D(-1)", "argument 'cropping': expected a value >= 0, received -1"),
    ([4, 3], "GlobalMaxPooling2D()", "GlobalMaxPooling2D expects a 3-D image"),
    ([4, 3, 2], "Reshape([5, 5])", "Reshape cannot lay out the 24 values of input shape (batch, 4, 3, 2) as "
                                   "target_shape [5, 5] (25 values): the total size must be unchanged"),
    ([4, 3, 2], "Reshape([5, -1])", "24 is not a multiple of 5"),
    ([4, 3, 2], "Reshape([-1, -1])", "argument 'target_shape': expected positive sizes with at most one -1"),
    ([4, 3, 2], "Reshape([0, 24])", "argument 'target_shape': expected positive sizes with at most one -1"),
    ([4, 3, 2], "Reshape([])", "argument 'target_shape': expected at least 1 item(s)"),
    ([4, 3, 2], "Reshape()", "missing required argument 'target_shape'"),
    ([4, 3, 2], "Permute([1, 3])", "argument 'dims': expected a permutation of 1..2"),
    ([4, 3, 2], "Permute([0, 1, 2])", "argument 'dims': expected a permutation of 1..3"),
    ([4, 3, 2], "Permute([2, 1])", "Permute dims [2, 1] reorder 2 axes, but the input (batch, 4, 3, 2) has 3"),
])
def test_errors_point_at_the_layer_or_argument_and_keras_refuses_them_too(shape, call, message, keras_oracle):
    with pytest.raises(SpecError) as error:
        spec_of(shape, call)
    text = str(error.value)
    first = text.splitlines()[0]
    assert first.startswith("k3.nns:3:") and ": error: " in first and message in first, text
    assert "^" in text.splitlines()[2]  # the caret under the source line
    keras = keras_oracle.keras
    kind, written = call.split("(", 1)
    arguments = [eval(written[:-1])] if written[:-1] else []  # noqa: S307 (the test's own literals)
    with pytest.raises(Exception):  # at construction, on the shape, or on the data (TF's pad: negative amounts)
        getattr(keras.layers, kind)(*arguments)(np.zeros((1, *shape)))


@pytest.mark.parametrize("layers, expected", [
    ("Conv2D(4, 3) ZeroPadding2D() Cropping2D(1) Activation(relu)", "he_uniform"),
    ("Conv2D(4, 3) Permute([2, 1, 3]) Reshape([-1]) Activation(elu)", "he_uniform"),
    ("Conv2D(4, 3) GlobalMaxPooling2D() Activation(relu)", "he_uniform"),
    ("Conv2D(4, 3) Reshape([-1]) Activation(softmax)", "glorot_uniform"),
    ("Conv2D(4, 3) Reshape([-1]) Dense(2, activation=relu)", "glorot_uniform"),  # the Dense stops the look-ahead
])
def test_auto_init_looks_through_them(layers, expected):
    spec = compile_text(f"model m {{ Input([6, 6, 2]) {layers} }}", "k3.nns").spec
    assert spec.layers[1].kernel_initializer.kind == expected


def test_an_adapting_normalization_may_follow_them():
    spec = compile_text("model m { Input([6, 5, 2]) ZeroPadding2D() Cropping2D(1) Permute([2, 1, 3]) Reshape([-1, 2]) "
                        "Normalization() Flatten() Dense(2) }", "k3.nns").spec
    assert spec.layers[5].adapts


def test_fmt_keeps_every_argument_form():
    from spec_lang.formatter import format_source as format_text

    text = ("model m {\n    Input([6, 5, 2])\n    ZeroPadding2D([[1, 0], 2])\n    Cropping2D([1, [0, 2]])\n"
            "    Reshape([-1, 2])\n    Permute([2, 1])\n}\n")
    once = format_text(text)
    assert format_text(once) == once
    arguments = [layer.model_dump(exclude={"span"}) for layer in compile_text(text).spec.layers]
    assert [layer.model_dump(exclude={"span"}) for layer in compile_text(once).spec.layers] == arguments
    for written in ("ZeroPadding2D([[1, 0], 2])", "Cropping2D([1, [0, 2]])", "Reshape([-1, 2])", "Permute([2, 1])"):
        assert written in once


@pytest.mark.parametrize("between, fires", [
    ("Cropping2D(1)", True),  # BN(crop(W·h + b)) = BN(crop(W·h)): the same constant per channel
    ("GlobalMaxPooling2D()", True),  # max(z + b) = max(z) + b, per channel
    ("MaxPooling2D(2, padding=same)", True),  # TensorFlow's same pooling pads with −∞: still + b
    ("AveragePooling2D(3, strides=2, padding=same)", True),  # the mean of the real pixels only: still + b
    ("GlobalAveragePooling2D(keepdims=true)", True),
    ("ZeroPadding2D()", False),  # the padded zeros carry no bias: not a constant per channel any more
    ("Permute([2, 1, 3]) Reshape([-1, 4])", False),  # not looked through
    ("Cropping2D(1) Activation(relu)", False),  # a nonlinearity in between
])
def test_bias_before_batchnorm_looks_through_what_keeps_a_channel_offset(between, fires):
    text = f"model m {{ Input([8, 8, 2]) Conv2D(4, 3) {between} BatchNormalization() Flatten() Dense(1) }}"
    found = [w for w in compile_text(text, "k3.nns").warnings if w.code == "bias-before-batchnorm"]
    assert len(found) == int(fires)
    if fires:
        assert "layer 'conv2d' has a bias that the BatchNormalization after it cancels" in found[0].message


@pytest.mark.parametrize("between", ["Cropping2D(1)", "GlobalMaxPooling2D(keepdims=true)", "MaxPooling2D(2)"])
def test_a_bias_before_a_channel_offset_keeping_layer_and_batchnorm_is_indeed_cancelled(between):
    """The lint's claim, on numbers: the BatchNormalization's output does not change with the bias."""
    spec = compile_text(f"model m {{ Input([6, 6, 2]) Conv2D(3, 3) {between} BatchNormalization() }}").spec
    rng = np.random.default_rng(5)
    x = rng.normal(size=(4, 6, 6, 2))
    conv, *rest = spec.layers[1:]
    kernel = rng.normal(size=(3, 3, 2, 3))
    outputs = []
    for bias in (np.zeros(3), np.array([5.0, -3.0, 0.25])):
        h, _ = numpy_layers.LAYERS["Conv2D"](conv, {"kernel": kernel, "bias": bias}, {}, x, Context(training=True))
        for layer in rest:
            params = {"gamma": np.ones(3), "beta": np.zeros(3)} if layer.kind == "BatchNormalization" else {}
            state = {"moving_mean": np.zeros(3), "moving_variance": np.ones(3)} if params else {}
            h, _ = numpy_layers.LAYERS[layer.kind](layer, params, state, h, Context(training=True))
        outputs.append(h)
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=0, atol=1e-9)
