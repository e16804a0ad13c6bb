"""LayerNormalization, GroupNormalization and Conv2DTranspose against plain Keras 3 (float64) and PyTorch.

- the shape rule and the parameter count of each configuration equal those of Keras' own layer, built on the
  same input; every configuration Keras (or TensorFlow, when it runs the layer) refuses is a
  ``path:line:col: error:`` with a caret at the layer or the argument;
- the NumPy forward and its hand-written gradients (input and every weight) equal Keras' layer and
  TensorFlow's gradient tape, per finite-difference case of tests/test_gradients.py; a dilated
  Conv2DTranspose (TensorFlow's CPU kernel refuses dilation) against Keras' layer with the kernel dilated
  by hand;
- the torch lowering (NCHW inside) gives the NumPy forward and gradients, every case;
- the facts: auto-init looks through the normalizations, a transposed kernel's fans are Keras'.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from backends.numpy import layers as numpy_layers
from backends.numpy.layers import Context
from compiler.pipeline import compile_text
from compiler.weights import weight_specs
from frameworks import need
from spec_lang.diagnostics import SpecError
from test_gradients import LAYER_CASES, _layer

KINDS = ("LayerNormalization", "GroupNormalization", "Conv2DTranspose")
CASES = sorted(case for case in LAYER_CASES if case.split("/")[0] in KINDS)
TOL = 1e-12


def _spec(call: str, shape) -> str:
    return f"model m {{\n    Input({list(shape)})\n    {call}\n}}\n"


def _numpy_run(layer, spec, seed=0):
    """x, weights, the NumPy output and its gradients (dx, dweights) for the cotangent r."""
    rng = np.random.default_rng(seed)
    weights = {w.name.split("/")[1]: rng.normal(size=w.shape) for w in weight_specs(spec) if w.layer == layer.name}
    x = rng.normal(size=(3, *layer.input_shape))
    y, backprop = numpy_layers.LAYERS[layer.kind](layer, weights, {}, x, Context(training=True))
    r = rng.normal(size=y.shape)
    dx, grads = backprop(r)
    return x, weights, y, r, dx, grads


def _relative(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))


# ---- shapes and parameter counts -------------------------------------------------------------------------
SHAPE_CASES = [
    ("LayerNormalization()", (7,)),
    ("LayerNormalization(axis=[1, 2, 3])", (4, 5, 3)),
    ("LayerNormalization([-1, 1], center=false)", (4, 5, 3)),
    ("LayerNormalization(2, scale=false)", (4, 5, 3)),
    ("LayerNormalization([1, 2])", (6, 2)),
    ("GroupNormalization()", (2, 2, 64)),
    ("GroupNormalization(4)", (3, 3, 8)),
    ("GroupNormalization(-1, center=false)", (3, 3, 5)),
    ("GroupNormalization(3, axis=1, scale=false)", (6, 4)),
    ("GroupNormalization(2, axis=2)", (3, 4, 5)),
    ("Conv2DTranspose(3, 3)", (5, 4, 2)),
    ("Conv2DTranspose(3, [3, 2], strides=2, padding=same)", (5, 4, 2)),
    ("Conv2DTranspose(2, 4, strides=2, padding=same, use_bias=false)", (3, 3, 4)),
    ("Conv2DTranspose(2, [4, 3], strides=[2, 3], padding=same, output_padding=[1, 2])", (3, 3, 2)),
    ("Conv2DTranspose(2, 2, strides=3)", (3, 2, 3)),
    ("Conv2DTranspose(2, 3, strides=2, output_padding=1)", (3, 4, 1)),
    ("Conv2DTranspose(4, 5, strides=[1, 2], padding=same)", (4, 4, 3)),
]


@pytest.mark.parametrize("call, shape", SHAPE_CASES, ids=[c for c, _ in SHAPE_CASES])
def test_shape_and_parameter_count_are_keras(call, shape):
    keras = need("keras")
    import keras_oracle

    layer = compile_text(_spec(call, shape)).spec.layers[-1]
    with keras_oracle.float64():
        theirs = keras_oracle.keras_layer(layer)
        out = theirs(np.zeros((2, *shape)))
    assert tuple(out.shape[1:]) == tuple(layer.output_shape)
    assert theirs.count_params() == layer.trainable_params and layer.non_trainable_params == 0
    assert [v.name for v in theirs.weights] == [w.name for w in layer.weights(layer.input_shape)]
    assert [tuple(v.shape) for v in theirs.weights] == [w.shape for w in layer.weights(layer.input_shape)]
    assert isinstance(theirs, keras.layers.Layer)


# (the call, the input shape, what the error says, where the caret points: the call or an argument)
ERROR_CASES = [
    ("GroupNormalization(3)", (4, 4, 4), "groups=3 does not divide the 4 channels", "GroupNormalization("),
    ("GroupNormalization(8)", (4, 4, 4), "groups=8 is more than the 4 channels", "GroupNormalization("),
    ("GroupNormalization(0)", (4, 4, 4), "groups is a positive number of groups", "0"),
    ("GroupNormalization(2, axis=4)", (4, 4, 4), "axis 4 is outside the input", "GroupNormalization("),
    ("LayerNormalization(axis=3)", (5,), "axis 3 is outside the input", "LayerNormalization("),
    ("LayerNormalization([1, 4])", (3, 3, 2), "axis 4 is outside the input", "LayerNormalization("),
    ("Conv2DTranspose(2, 3, strides=2, output_padding=2)", (4, 4, 1), "output_padding must be below strides",
     "2)"),
    ("Conv2DTranspose(2, 3, strides=2, dilation_rate=2)", (4, 4, 1), "cannot combine strides > 1 with dilation",
     "Conv2DTranspose("),
    ("Conv2DTranspose(2, 2, strides=2, padding=same, output_padding=0)", (4, 4, 1), "TensorFlow refuses",
     "Conv2DTranspose("),
    ("Conv2DTranspose(2, 3)", (6,), "expects a 3-D image", "Conv2DTranspose("),
]


def _keras_refuses(call: str, shape) -> bool:
    """True when Keras' own layer (on TensorFlow) raises for this configuration, at construction, build or call."""
    keras = need("keras")
    import keras_oracle

    name, _, args = call.partition("(")
    kwargs = {"GroupNormalization(0)": {"groups": 0}, "GroupNormalization(3)": {"groups": 3},
              "GroupNormalization(8)": {"groups": 8}, "GroupNormalization(2, axis=4)": {"groups": 2, "axis": 4},
              "LayerNormalization(axis=3)": {"axis": 3}, "LayerNormalization([1, 4])": {"axis": [1, 4]},
              "Conv2DTranspose(2, 3, strides=2, output_padding=2)":
                  {"filters": 2, "kernel_size": 3, "strides": 2, "output_padding": 2},
              "Conv2DTranspose(2, 3, strides=2, dilation_rate=2)":
                  {"filters": 2, "kernel_size": 3, "strides": 2, "dilation_rate": 2},
              "Conv2DTranspose(2, 2, strides=2, padding=same, output_padding=0)":
                  {"filters": 2, "kernel_size": 2, "strides": 2, "padding": "same", "output_padding": 0},
              "Conv2DTranspose(2, 3)": {"filters": 2, "kernel_size": 3}}[call]
    try:
        with keras_oracle.float64():
            getattr(keras.layers, name)(**kwargs)(np.zeros((2, *shape)))
    except Exception:  # noqa: BLE001 - Keras' and TensorFlow's errors have many classes
        return True
    return False


@pytest.mark.parametrize("call, shape, says, at", ERROR_CASES, ids=[c for c, *_ in ERROR_CASES])
def test_what_keras_refuses_is_an_error_at_the_source(call, shape, says, at):
    with pytest.raises(SpecError) as error:
        compile_text(_spec(call, shape), "k1.nns")
    lines = str(error.value).splitlines()
    match = re.match(r"k1\.nns:3:(\d+): error: (.*)", lines[0])
    assert match and says in match.group(2), lines[0]
    column = int(match.group(1))
    source = _spec(call, shape).splitlines()[2]
    assert source[column - 1:].startswith(at), (column, source)
    assert lines[-1].strip().startswith("|") and "^" in lines[-1]
    assert _keras_refuses(call, shape)


def test_scale_and_offset_initializers_refuse_auto_and_orthogonal():
    for init in ("auto", "orthogonal"):
        for call in (f"LayerNormalization(gamma_initializer={init})",
                     f"GroupNormalization(2, beta_initializer={init})"):
            with pytest.raises(SpecError) as error:
                compile_text(_spec(call, (3, 3, 4)), "k1.nns")
            assert re.match(r"k1\.nns:3:\d+: error: .*initializer", str(error.value))


# ---- the NumPy forward and gradients against Keras ------------------------------------------------------
def _keras_forward_and_gradients(layer, x, weights, r, dilate_by_hand=False):
    """Keras' own layer with ``weights``: its output and the tape's gradients of Σ y·r (x first, then the weights
    by name). ``dilate_by_hand``: a Conv2DTranspose's kernel dilated with zeros, run with dilation 1."""
    keras = need("keras")
    tf = need("tensorflow")
    import keras_oracle

    with keras_oracle.float64():
        if dilate_by_hand:
            dh, dw = layer.dilation_rate
            kernel = weights["kernel"]
            kh, kw = kernel.shape[:2]
            dilated = np.zeros(((kh - 1) * dh + 1, (kw - 1) * dw + 1, *kernel.shape[2:]))
            dilated[::dh, ::dw] = kernel
            theirs = keras.layers.Conv2DTranspose(layer.filters, dilated.shape[:2], strides=layer.strides,
                                                  padding=layer.padding, output_padding=layer.output_padding,
                                                  use_bias=layer.use_bias, dtype="float64")
            theirs.build((None, *x.shape[1:]))
            values = {"kernel": dilated, **{k: v for k, v in weights.items() if k != "kernel"}}
        else:
            theirs = keras_oracle.keras_layer(layer)
            theirs.build((None, *x.shape[1:]))
            values = weights
        for v in theirs.weights:
            v.assign(values[v.name])
        xt = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = theirs(xt)
            total = tf.reduce_sum(y * r)
        grads = tape.gradient(total, [xt, *theirs.weights])
    out = {"x": grads[0].numpy()}
    for v, g in zip(theirs.weights, grads[1:]):
        g = g.numpy()
        if dilate_by_hand and v.name == "kernel":
            g = g[::layer.dilation_rate[0], ::layer.dilation_rate[1]]
        out[v.name] = g
    return y.numpy(), out


@pytest.mark.parametrize("case", CASES)
def test_numpy_forward_and_gradients_are_keras(case):
    spec, layer = _layer(*LAYER_CASES[case])
    x, weights, y, r, dx, grads = _numpy_run(layer, spec)
    dilated = layer.kind == "Conv2DTranspose" and max(layer.dilation_rate) > 1
    theirs, their_grads = _keras_forward_and_gradients(layer, x, weights, r, dilate_by_hand=dilated)
    assert y.shape == theirs.shape and _relative(y, theirs) < TOL
    assert _relative(dx, their_grads["x"]) < TOL
    assert set(grads) == set(their_grads) - {"x"}
    for name, g in grads.items():
        assert _relative(g, their_grads[name]) < TOL, name


# ---- torch (NCHW inside) against NumPy ---------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES)
def test_torch_forward_and_gradients_are_numpy(case):
    torch = need("torch")
    from backends.torch.layers import RunContext, lower
    from backends.torch.model import TO_TORCH

    spec, layer = _layer(*LAYER_CASES[case])
    x, weights, y, r, dx, grads = _numpy_run(layer, spec, seed=1)
    module = lower(layer, RunContext()).double()
    tensors = {}
    with torch.no_grad():
        for name, value in weights.items():
            attr, layout = module.KERAS_WEIGHTS[name]
            t = torch.from_numpy(value)
            getattr(module, attr).copy_(t.permute(*TO_TORCH[layout]) if layout in TO_TORCH else t)
            tensors[name] = (getattr(module, attr), layout)
    image = len(layer.input_shape) == 3
    xt = torch.from_numpy(x).requires_grad_(True)
    yt = module(xt.permute(0, 3, 1, 2) if image else xt)
    if yt.dim() == 4:
        yt = yt.permute(0, 2, 3, 1)
    (yt * torch.from_numpy(r)).sum().backward()
    assert _relative(yt.detach().numpy(), y) < TOL
    assert _relative(xt.grad.numpy(), dx) < TOL
    inverse = {k: tuple(np.argsort(v)) for k, v in TO_TORCH.items()}
    for name, (tensor, layout) in tensors.items():
        g = tensor.grad.permute(*inverse[layout]) if layout in inverse else tensor.grad
        assert _relative(g.numpy(), grads[name]) < TOL, name


# ---- facts ---------------------------------------------------------------------------------------------
def test_auto_init_looks_through_the_normalizations():
    spec = compile_text("""model m {
        Input([4, 4, 3])
        Conv2DTranspose(4, 3, strides=2, padding=same)
        LayerNormalization()
        GroupNormalization(2)
        Activation(relu)
        Conv2DTranspose(2, 3)
        GroupNormalization(2)
        Flatten()
        Dense(2, activation=softmax)
    }""").spec
    kernels = [layer.kernel_initializer.kind for layer in spec.layers if layer.has_kernel]
    assert kernels == ["he_uniform", "glorot_uniform", "glorot_uniform"]


def test_a_transposed_kernels_fans_are_keras():
    need("keras")
    from keras.src.initializers.random_initializers import compute_fans

    spec = compile_text(_spec("Conv2DTranspose(5, [3, 2], strides=2)", (4, 4, 7))).spec
    kernel = next(w for w in weight_specs(spec) if w.name.endswith("/kernel"))
    assert kernel.shape == (3, 2, 5, 7)
    assert kernel.fans == tuple(int(f) for f in compute_fans(kernel.shape)) == (3 * 2 * 5, 3 * 2 * 7)


@pytest.mark.parametrize("layers, fires", [
    ("Conv2D(4, 3) GroupNormalization(-1)", True),  # instance normalization: per-channel means subtracted
    ("Conv2D(4, 3) GroupNormalization(4)", True),  # as many groups as channels: the same
    ("Conv2D(4, 3) GroupNormalization(2)", False),  # two channels a group: only the pair's mean is removed
    ("Conv2D(4, 3) GroupNormalization(-1, center=false)", False),  # as BatchNormalization(center=false)
    ("Conv2D(4, 3) GroupNormalization(2, axis=1)", False),  # groups along the height, not the channels
    ("Conv2D(4, 3) LayerNormalization([1, 2])", True),  # per channel over the image
    ("Conv2D(4, 3) LayerNormalization()", False),  # over the channels: a per-channel bias survives
    ("Conv2D(4, 3) LayerNormalization([1, 2, 3])", False),
    ("Conv2DTranspose(4, 3) GroupNormalization(-1)", True),
    ("Conv2D(4, 3, use_bias=false) GroupNormalization(-1)", False),
    ("Conv2D(4, 3, activation=relu) LayerNormalization([1, 2])", False),
])
def test_bias_before_a_per_channel_normalization_is_linted(layers, fires):
    result = compile_text(f"model m {{ Input([6, 6, 2]) {layers} Flatten() Dense(1) }}", "k1.nns")
    found = [w for w in result.warnings if w.code == "bias-before-batchnorm"]
    assert len(found) == fires
    if fires:
        assert "Normalization after it cancels" in found[0].message
