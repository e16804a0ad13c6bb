"""The activation layers ReLU, LeakyReLU, PReLU, ELU and Softmax against plain Keras (float64), and their rules.

- defaults, shapes and parameter counts: every argument's default is the one in Keras' constructor; the IR's
  output shape, parameter count and ``alpha`` shape equal those of Keras' own layer built on the same input;
  Keras' automatic name stem; what nnspec refuses is a ``path:line:col: error:`` message;
- forward and gradients: the NumPy reference's output, input gradient and ``alpha`` gradient equal Keras'
  (``tf.GradientTape``), with inputs exactly on every kink (0, the threshold, max_value, 6), where the
  derivative is TensorFlow's; the torch lowering (images NCHW inside) gives the same in NHWC order;
- what the rest of nnspec takes them for: auto-init (He before the ReLU family, PReLU and clipped ReLUs
  included; Glorot before a softmax), the init-activation lint, and the loss fusion (a Softmax() output fuses
  with a categorical cross-entropy; a softmax over other axes is refused under one).
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from backends.numpy import layers as numpy_layers
from backends.numpy.layers import Context
from compiler.pipeline import compile_text
from compiler.semantics.losses import loss_input
from spec_lang.diagnostics import SpecError

from frameworks import need

TOL = 1e-12

CASES = [
    # (input shape, layer)
    ([7], "ReLU()"),
    ([3, 4, 2], "ReLU()"),
    ([7], "ReLU(6)"),
    ([7], "ReLU(6, negative_slope=0.5)"),
    ([7], "ReLU(negative_slope=0.25)"),
    ([3, 4, 2], "ReLU(max_value=1.5, negative_slope=0.125, threshold=0.25)"),
    ([7], "ReLU(threshold=0.5)"),
    ([7], "ReLU(max_value=0.25, threshold=0.75)"),
    ([7], "ReLU(max_value=0)"),
    ([7], "LeakyReLU()"),
    ([3, 4, 2], "LeakyReLU(0.375)"),
    ([7], "LeakyReLU(1.5)"),
    ([7], "PReLU()"),
    ([3, 4, 2], "PReLU(random_normal)"),
    ([3, 4, 2], "PReLU(random_normal, shared_axes=[1, 2])"),
    ([3, 4, 2], "PReLU(random_normal, shared_axes=3)"),
    ([5, 3], "PReLU(random_normal, shared_axes=[1])"),
    ([7], "ELU()"),
    ([3, 4, 2], "ELU(0.5)"),
    ([7], "ELU(-1.25)"),
    ([7], "Softmax()"),
    ([3, 4, 2], "Softmax()"),
    ([3, 4, 2], "Softmax(1)"),
    ([3, 4, 2], "Softmax(-2)"),
    ([3, 4, 2], "Softmax([1, 2])"),
    ([3, 4, 2], "Softmax([1, 2, 3])"),
    ([5, 3], "Softmax([-2])"),
]
IDS = [f"{call}@{shape}" for shape, call in CASES]
KERAS_DEFAULTS = {  # the IR argument -> Keras' argument of the same name, for every kind
    "ReLU": ("max_value", "negative_slope", "threshold"), "LeakyReLU": ("negative_slope",), "ELU": ("alpha",),
    "Softmax": ("axis",), "PReLU": ("shared_axes",),
}


def spec_of(shape, call, loss="mse"):
    return compile_text(f"model m {{\n    Input({shape})\n    {call}\n}}\ntrain {{ loss = {loss} optimizer = sgd }}\n",
                        "k4.nns").spec


@pytest.fixture(scope="module")
def keras_oracle():
    need("keras")
    import keras_oracle  # tests/ is on sys.path under pytest

    return keras_oracle


def test_defaults_are_keras_constructor_defaults(keras_oracle):
    from compiler.ir.layers import LAYER_CLASSES

    keras = keras_oracle.keras
    for kind, names in KERAS_DEFAULTS.items():
        theirs = inspect.signature(getattr(keras.layers, kind).__init__).parameters
        ours = LAYER_CLASSES[kind].model_fields
        for name in names:
            assert ours[name].default == theirs[name].default, (kind, name)
    # PReLU's alpha starts at zero in both (Keras: "Zeros")
    assert inspect.signature(keras.layers.PReLU.__init__).parameters["alpha_initializer"].default == "Zeros"
    assert LAYER_CLASSES["PReLU"].model_fields["alpha_initializer"].default.kind == "zeros"
    assert keras.layers.LeakyReLU().negative_slope == 0.3  # the layer's, not the function's 0.2


@pytest.mark.parametrize("shape, call", CASES, ids=IDS)
def test_shape_parameter_count_and_name_are_keras(shape, call, keras_oracle):
    keras = keras_oracle.keras
    layer = spec_of(shape, call).layers[-1]
    with keras_oracle.float64():
        theirs = keras_oracle.keras_layer(layer)
        out = theirs(keras.Input(tuple(shape), dtype="float64"))
        fresh = getattr(keras.layers, layer.kind)()  # named by Keras itself
    assert tuple(out.shape[1:]) == layer.output_shape == tuple(shape)
    assert theirs.count_params() == layer.trainable_params
    assert layer.non_trainable_params == 0
    assert [(v.name, tuple(v.shape)) for v in theirs.weights] == [(w.name, w.shape) for w in layer.weights(shape)]
    assert fresh.name.rstrip("_0123456789") == type(layer).snake_name


def kink_input(shape, layer, rng) -> np.ndarray:
    """Random values, with some entries exactly on the layer's kinks (0, the threshold, max_value, 6)."""
    x = rng.normal(size=(4, *shape)) * 2
    points = [0.0, 6.0, -1e-300]
    for name in ("threshold", "max_value"):
        if getattr(layer, name, None) is not None:
            points.append(float(getattr(layer, name)))
    flat = x.reshape(-1)
    for i, p in enumerate(points):
        flat[i * 3 % flat.size] = p
    return x


def numpy_side(layer, x, alpha, r):
    params = {} if alpha is None else {"alpha": alpha}
    y, backprop = numpy_layers.LAYERS[layer.kind](layer, params, {}, x, Context(training=True))
    dx, grads = backprop(r)
    return y, dx, grads.get("alpha")


@pytest.mark.parametrize("shape, call", CASES, ids=IDS)
def test_forward_and_gradients_are_keras(shape, call, keras_oracle):
    tf = keras_oracle.tf
    layer = spec_of(shape, call).layers[-1]
    rng = np.random.default_rng(4)
    x = kink_input(shape, layer, rng)
    weights = layer.weights(shape)
    alpha = rng.normal(size=weights[0].shape) if weights else None
    # Keras' leaky_relu takes its slope as a float32 attribute even in float64 (LeakyReLU's default 0.3 is
    # 0.30000001192...); nnspec's Keras backend computes with the exact slope (ExactLeakyReLU). Every other
    # value here is exact in float32.
    rounded = layer.model_copy(update={"negative_slope": float(np.float32(layer.negative_slope))}) \
        if layer.kind == "LeakyReLU" else layer
    y, dx, dalpha = numpy_side(rounded, x, alpha, r := rng.normal(size=x.shape))
    with keras_oracle.float64():
        theirs = keras_oracle.keras_layer(layer)
        theirs.build((None, *shape))
        if alpha is not None:
            theirs.weights[0].assign(alpha)
        xt = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            yt = theirs(xt)
            total = tf.reduce_sum(yt * r)
        grads = tape.gradient(total, [xt, *theirs.trainable_weights])
    assert np.max(np.abs(y - yt.numpy())) <= TOL
    assert np.max(np.abs(dx - grads[0].numpy())) <= TOL
    if alpha is not None:
        assert np.max(np.abs(dalpha - grads[1].numpy())) <= TOL


@pytest.mark.parametrize("shape, call", CASES, ids=IDS)
def test_torch_lowering_is_the_reference_in_nhwc(shape, call):
    torch = need("torch")
    from backends.torch.layers import RunContext, lower

    layer = spec_of(shape, call).layers[-1]
    rng = np.random.default_rng(5)
    x = kink_input(shape, layer, rng)
    weights = layer.weights(shape)
    alpha = rng.normal(size=weights[0].shape) if weights else None
    y, dx, dalpha = numpy_side(layer, x, alpha, r := rng.normal(size=x.shape))
    module = lower(layer, RunContext(training=True)).double()
    if alpha is not None:
        with torch.no_grad():
            module.alpha.copy_(torch.from_numpy(alpha))  # Keras' layout, as the weight table loads it
    image = len(shape) == 3
    xt = torch.tensor(x, requires_grad=True)
    yt = module(xt.permute(0, 3, 1, 2) if image else xt)
    yt = yt.permute(0, 2, 3, 1) if image else yt
    (yt * torch.from_numpy(r)).sum().backward()
    assert np.max(np.abs(yt.detach().numpy() - y)) <= TOL
    assert np.max(np.abs(xt.grad.numpy() - dx)) <= TOL
    if alpha is not None:
        assert np.max(np.abs(module.alpha.grad.numpy() - dalpha)) <= TOL


ERRORS = [
    ("[5]", "ReLU(max_value=-1)", "k4.nns:3:20: error: ReLU: argument 'max_value': expected a value >= 0.0"),
    ("[5]", "ReLU(negative_slope=-0.1)", "argument 'negative_slope': expected a value >= 0.0"),
    ("[5]", "ReLU(threshold=-1)", "argument 'threshold': expected a value >= 0.0"),
    ("[5]", "LeakyReLU(-0.5)", "k4.nns:3:15: error: LeakyReLU: argument 'negative_slope'"),
    ("[5]", "Softmax(0)", "k4.nns:3:5: error: Softmax: axis 0 is the batch axis of (batch, 5)"),
    ("[4, 4, 2]", "Softmax([1, -4])", "axis -4 is the batch axis"),
    ("[5]", "Softmax(2)", "k4.nns:3:5: error: Softmax: axis 2 is out of range for the input (batch, 5): give 1 or -1"),
    ("[4, 4, 2]", "Softmax(-5)", "give 1 to 3, or -1 to -3 from the end"),
    ("[4, 4, 2]", "Softmax([3, -1])", "Softmax: axis [3, -1] names axis 3 twice"),
    ("[5]", "Softmax([])", "k4.nns:3:13: error: Softmax: argument 'axis': axis is an empty list"),
    ("[5]", "PReLU(shared_axes=[2])", "k4.nns:3:5: error: PReLU: shared_axes [2] must name axes 1 to 1"),
    ("[4, 4, 2]", "PReLU(shared_axes=0)", "(the batch axis is 0); received 0"),
    ("[4, 4, 2]", "PReLU(shared_axes=[1, 1])", "shared_axes lists an axis twice: [1, 1]"),
    ("[5]", "PReLU(auto)", "argument 'alpha_initializer': auto chooses a kernel's initializer"),
    ("[5]", "PReLU(orthogonal)", "orthogonal needs a weight of rank 2 or more (as Keras); alpha has shape (5,)"),
    ("[5]", "PReLU(alpha_constraint=1)", "PReLU has no argument 'alpha_constraint'"),
]


@pytest.mark.parametrize("shape, call, message", ERRORS, ids=[e[1] for e in ERRORS])
def test_refusals_are_diagnostics_with_a_caret(shape, call, message):
    with pytest.raises(SpecError) as error:
        spec_of(shape, call)
    text = str(error.value)
    assert message in text.splitlines()[0]
    assert call in text.splitlines()[1] and "^" in text.splitlines()[2]


def test_keras_refuses_what_nnspec_refuses(keras_oracle):
    """The argument checks are Keras' own (its constructors raise for the same values)."""
    keras = keras_oracle.keras
    for make in (lambda: keras.layers.ReLU(max_value=-1), lambda: keras.layers.ReLU(negative_slope=-0.1),
                 lambda: keras.layers.ReLU(threshold=-1), lambda: keras.layers.LeakyReLU(-0.5)):
        with pytest.raises(ValueError):
            make()
    with pytest.raises(Exception):  # a shared axis beyond the input's rank
        keras.layers.PReLU(shared_axes=[2]).build((None, 5))


AUTO_INIT = [
    ("ReLU()", "he"), ("ReLU(6)", "he"), ("ReLU(max_value=1, threshold=0.5)", "he"),
    ("ReLU(negative_slope=0.1)", "he"), ("LeakyReLU()", "he"), ("PReLU()", "he"), ("ELU()", "he"),
    ("Softmax()", "glorot"), ("Softmax(1)", "glorot"),
]


@pytest.mark.parametrize("call, family", AUTO_INIT, ids=[a[0] for a in AUTO_INIT])
def test_auto_init_takes_the_activation_layer_that_follows(call, family):
    spec = spec_of("[4, 4, 2]", f"Conv2D(3, 2)\n    BatchNormalization()\n    {call}")
    assert spec.layers[1].kernel_initializer.kind == f"{family}_uniform"
    assert spec.layers[1].kernel_initializer.auto


def test_the_activation_each_layer_stands_for():
    def act(call, shape="[5]"):
        layer = spec_of(shape, call).layers[-1]
        fn = layer.activation_fn
        return fn.kind, fn.alpha, layer.activation_is_exact

    assert act("ReLU()") == ("relu", None, True)
    assert act("ReLU(negative_slope=0.25)") == ("leaky_relu", 0.25, True)
    assert act("ReLU(6)") == ("relu", None, False)
    assert act("ReLU(threshold=0.5, negative_slope=0.1)") == ("leaky_relu", 0.1, False)
    assert act("LeakyReLU()") == ("leaky_relu", 0.3, True)
    assert act("ELU(0.5)") == ("elu", 0.5, True)
    assert act("PReLU()") == ("leaky_relu", None, False)
    assert act("Softmax()") == ("softmax", None, True)
    assert act("Softmax(1)") == ("softmax", None, True)  # axis 1 of a (batch, 5) input is the last one
    assert act("Softmax(1)", "[4, 4, 2]") == ("softmax", None, False)
    assert act("Softmax([-1])", "[4, 4, 2]") == ("softmax", None, True)


def test_init_activation_lint_sees_the_activation_layers():
    result = compile_text("model m {\n    Input([5])\n    Dense(4, kernel_initializer=glorot_uniform)\n    PReLU()\n"
                          "    Dense(3, kernel_initializer=he_normal)\n    Softmax()\n}\n", "k4.nns")
    codes = [(w.code, w.message) for w in result.warnings if w.code == "init-activation"]
    assert codes == [("init-activation", "layer 'dense': glorot_uniform before leaky_relu")]


def test_a_softmax_output_layer_fuses_with_the_cross_entropy():
    spec = spec_of("[5]", "Dense(3)\n    Softmax()", "categorical_crossentropy")
    assert loss_input(spec).fused_at == 2 and loss_input(spec).logits
    spec = spec_of("[4, 4, 2]", "Conv2D(3, 1)\n    Softmax()", "categorical_crossentropy")  # per pixel
    assert loss_input(spec).fused_at == 2
    for tail in ("Softmax(1)", "Softmax([1, 2])"):
        with pytest.raises(SpecError) as error:
            spec_of("[4, 4, 2]", f"Conv2D(3, 1)\n    {tail}", "categorical_crossentropy")
        assert f"k4.nns:4:5: error: categorical_crossentropy reads a distribution over the last axis, but the " \
               f"output's Softmax 'softmax' does not normalise over the last axis alone" in str(error.value)
        spec = spec_of("[4, 4, 2]", f"Conv2D(3, 1)\n    {tail}", "mse")  # a loss that reads the output as it is
        assert not loss_input(spec).fused
    with pytest.raises(SpecError, match="Keras ignores from_logits=true"):
        spec_of("[5]", "Dense(3)\n    Softmax()", "categorical_crossentropy(from_logits=true)")
    spec = spec_of("[5]", "Dense(3)\n    ReLU()", "mse")
    assert loss_input(spec).fused_at is None
