"""Hand-written backpropagation checked against central finite differences in float64.

Table-driven: every layer kind, activation, loss and regularizer has a row, and a
completeness test fails when a kind of the language has none.
"""

from __future__ import annotations

import typing

import numpy as np
import pytest

from backends.numpy import layers as numpy_layers
from backends.numpy.activations import activate
from backends.numpy.layers import Context
from backends.numpy.losses import loss_and_grad
from backends.numpy.model import NumpyModel
from compiler.ir import training as tr
from compiler.ir import values as iv
from compiler.ir.layers import LAYER_CLASSES
from compiler.pipeline import compile_text
from compiler.weights import weight_specs

H = 1e-6
TOLERANCE = 1e-6
MAX_ENTRIES = 24  # finite differences on at most this many entries of each array


def rel_error(numeric: np.ndarray, analytic: np.ndarray) -> float:
    scale = max(np.abs(numeric).max(), np.abs(analytic).max(), 1e-8)
    return float(np.abs(numeric - analytic).max() / scale)


def numeric_grad(f, array: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, list[tuple]]:
    """Central differences (f(a + h) − f(a − h)) / 2h on up to MAX_ENTRIES entries of ``array``."""
    indices = list(np.ndindex(array.shape))
    if len(indices) > MAX_ENTRIES:
        indices = [indices[i] for i in rng.choice(len(indices), MAX_ENTRIES, replace=False)]
    out = np.zeros(len(indices))
    for k, idx in enumerate(indices):
        old = array[idx]
        array[idx] = old + H
        up = f()
        array[idx] = old - H
        down = f()
        array[idx] = old
        out[k] = (up - down) / (2 * H)
    return out, indices


# ---- layers: d/dx and d/dweights of sum(y · r) through the layer's own backprop ------------------
LAYER_CASES = {
    "Input": ("Input([3, 4, 2])", (3, 4, 2)),
    "Rescaling": ("Rescaling(0.5, offset=-1)", (5,)),
    "Dense": ("Dense(3)", (5,)),
    "Conv2D": ("Conv2D(3, 3)", (6, 6, 2)),
    "Conv2D/same-strided": ("Conv2D(3, [3, 2], strides=2, padding=same)", (7, 6, 2)),
    "Conv2D/even-same": ("Conv2D(2, 4, padding=same)", (5, 5, 2)),
    "Conv2D/dilated": ("Conv2D(2, 3, dilation_rate=2, padding=same)", (7, 7, 2)),
    "MaxPooling2D": ("MaxPooling2D(2)", (6, 6, 2)),
    "MaxPooling2D/same-overlap": ("MaxPooling2D(3, strides=2, padding=same)", (7, 6, 2)),
    "AveragePooling2D": ("AveragePooling2D(2)", (6, 6, 2)),
    "AveragePooling2D/same": ("AveragePooling2D(3, strides=2, padding=same)", (7, 6, 2)),
    "GlobalAveragePooling2D": ("GlobalAveragePooling2D()", (4, 3, 2)),
    "Flatten": ("Flatten()", (3, 4, 2)),
    "Dropout": ("Dropout(0.4)", (20,)),
    "SpatialDropout2D": ("SpatialDropout2D(0.5)", (3, 3, 6)),
    "BatchNormalization": ("BatchNormalization()", (4, 4, 3)),
    "BatchNormalization/dense-no-scale": ("BatchNormalization(scale=false)", (5,)),
    "Activation": ("Activation(tanh)", (5,)),
    "Normalization": ("Normalization()", (5,)),
    "Normalization/per-position-inverted": ("Normalization(axis=[1, 2], invert=true)", (3, 4, 2)),
    "Normalization/given": ("Normalization(mean=[1, -2], variance=[4, 0.25])", (3, 2)),
    "DepthwiseConv2D": ("DepthwiseConv2D(3)", (5, 6, 2)),
    "DepthwiseConv2D/multiplier-same-strided": ("DepthwiseConv2D([3, 2], strides=2, padding=same, depth_multiplier=3)",
                                                (7, 6, 2)),
    "DepthwiseConv2D/strided-dilated-no-bias": ("DepthwiseConv2D(3, strides=2, padding=same, dilation_rate=2, "
                                                "use_bias=false)", (7, 8, 3)),
    "SeparableConv2D": ("SeparableConv2D(3, 3)", (5, 6, 2)),
    "SeparableConv2D/multiplier-same-dilated": ("SeparableConv2D(4, [2, 3], padding=same, depth_multiplier=2, "
                                                "dilation_rate=[2, 1])", (6, 5, 3)),
    "SeparableConv2D/strided-no-bias": ("SeparableConv2D(2, [3, 2], strides=3, use_bias=false)", (7, 8, 2)),
    "UpSampling2D": ("UpSampling2D()", (3, 4, 2)),
    "UpSampling2D/nearest-uneven": ("UpSampling2D([3, 1])", (2, 3, 2)),
    "UpSampling2D/bilinear": ("UpSampling2D(interpolation=bilinear)", (3, 4, 2)),
    "UpSampling2D/bilinear-uneven": ("UpSampling2D([3, 2], interpolation=bilinear)", (4, 1, 2)),
    "LayerNormalization": ("LayerNormalization()", (5,)),
    "LayerNormalization/image-channels": ("LayerNormalization(epsilon=0.01)", (3, 4, 3)),
    "LayerNormalization/whole-image-no-center": ("LayerNormalization(axis=[1, 2, 3], center=false)", (3, 4, 2)),
    "LayerNormalization/keras-order-no-scale": ("LayerNormalization(axis=[-1, 1], scale=false)", (3, 4, 2)),
    "GroupNormalization": ("GroupNormalization(2)", (3, 4, 6)),
    "GroupNormalization/instance": ("GroupNormalization(-1, center=false)", (3, 3, 4)),
    "GroupNormalization/vector-height-axis": ("GroupNormalization(3, axis=1, scale=false)", (6, 2)),
    "Conv2DTranspose": ("Conv2DTranspose(3, 3)", (4, 5, 2)),
    "Conv2DTranspose/same-strided": ("Conv2DTranspose(2, [3, 2], strides=2, padding=same)", (3, 4, 2)),
    "Conv2DTranspose/output-padding": ("Conv2DTranspose(2, [4, 3], strides=[2, 3], padding=same, output_padding=[1, 2])",
                                       (3, 3, 2)),
    "Conv2DTranspose/valid-small-kernel": ("Conv2DTranspose(2, 2, strides=3, use_bias=false)", (3, 2, 3)),
    "Conv2DTranspose/dilated": ("Conv2DTranspose(2, 3, dilation_rate=[2, 1], padding=same)", (4, 4, 2)),
    "ZeroPadding2D": ("ZeroPadding2D()", (3, 4, 2)),
    "ZeroPadding2D/asymmetric": ("ZeroPadding2D([[0, 2], [3, 1]])", (3, 4, 2)),
    "Cropping2D": ("Cropping2D(1)", (4, 5, 2)),
    "Cropping2D/asymmetric": ("Cropping2D([[2, 0], [1, 3]])", (4, 6, 2)),
    "GlobalMaxPooling2D": ("GlobalMaxPooling2D()", (4, 3, 2)),
    "GlobalMaxPooling2D/keepdims": ("GlobalMaxPooling2D(keepdims=true)", (3, 3, 4)),
    "Reshape": ("Reshape([4, -1])", (3, 4, 2)),
    "Reshape/to-image": ("Reshape([2, 3, 2])", (12,)),
    "Permute": ("Permute([2, 1, 3])", (3, 4, 2)),
    "Permute/channels-first": ("Permute([3, 1, 2])", (3, 4, 2)),
    "Permute/sequence": ("Permute([2, 1])", (3, 5)),
    "ReLU": ("ReLU()", (3, 4, 2)),
    "ReLU/leaky": ("ReLU(negative_slope=0.25)", (7,)),
    "ReLU/clipped-threshold-slope": ("ReLU(max_value=1.0, negative_slope=0.3, threshold=0.5)", (4, 5)),
    "ReLU/relu6-slope": ("ReLU(6, negative_slope=0.1)", (9,)),
    "ReLU/max-below-threshold": ("ReLU(max_value=0.25, threshold=0.75)", (9,)),
    "LeakyReLU": ("LeakyReLU()", (3, 4, 2)),
    "LeakyReLU/slope": ("LeakyReLU(1.5)", (6,)),
    "PReLU": ("PReLU(random_normal)", (3, 4, 2)),
    "PReLU/shared": ("PReLU(random_normal, shared_axes=[1, 2])", (3, 4, 2)),
    "PReLU/dense": ("PReLU(alpha_regularizer=l2(0.1))", (6,)),
    "ELU": ("ELU()", (3, 4, 2)),
    "ELU/alpha": ("ELU(0.5)", (6,)),
    "Softmax": ("Softmax()", (6,)),
    "Softmax/channels": ("Softmax()", (3, 4, 2)),
    "Softmax/spatial": ("Softmax([1, 2])", (3, 4, 2)),
    "Softmax/height": ("Softmax(1)", (3, 4, 2)),
    # merges: a tuple of shapes, one per input, each its own Input (``_layer``)
    "Add": ("Add()", ((3, 2), (3, 2))),
    "Add/broadcast-three": ("Add()", ((4, 1, 3), (1, 5, 3), (4, 5, 1))),
    "Subtract": ("Subtract()", ((2, 3, 2), (2, 1, 2))),
    "Multiply": ("Multiply()", ((4,), (4,), (4,))),
    "Multiply/broadcast": ("Multiply()", ((3, 1, 2), (3, 4, 1))),
    "Average": ("Average()", ((3, 2, 2), (1, 2, 2), (3, 2, 1))),
    "Maximum": ("Maximum()", ((5,), (5,), (5,))),
    "Maximum/broadcast": ("Maximum()", ((2, 3, 1), (2, 1, 4))),
    "Minimum": ("Minimum()", ((5,), (5,))),
    "Minimum/broadcast-three": ("Minimum()", ((2, 3, 2), (1, 3, 2), (2, 1, 2))),
    "Concatenate": ("Concatenate()", ((3, 4, 2), (3, 4, 1))),
    "Concatenate/height": ("Concatenate(axis=1)", ((2, 4, 2), (1, 4, 2), (3, 4, 2))),
    "Concatenate/vectors": ("Concatenate()", ((3,), (5,))),
}


def _is_merge_case(shape) -> bool:
    return isinstance(shape[0], tuple)


def _layer(call: str, shape) -> tuple:
    if _is_merge_case(shape):  # a merge of one Input per shape: model m { x0 = Input(...) ... Add()(x0, x1) }
        inputs = " ".join(f"x{i} = Input({list(s)})" for i, s in enumerate(shape))
        names = ", ".join(f"x{i}" for i in range(len(shape)))
        spec = compile_text(f"model m {{ {inputs} {call}({names}) }}").spec
        return spec, spec.layers[-1]
    if call.startswith("Input"):  # a model needs a layer after its Input
        spec = compile_text(f"model m {{ {call} Flatten() }}").spec
        return spec, spec.layers[0]
    spec = compile_text(f"model m {{ Input({list(shape)}) {call} }}").spec
    return spec, spec.layers[-1]


@pytest.mark.parametrize("case", sorted(LAYER_CASES))
@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
def test_layer_gradients(case, training):
    call, shape = LAYER_CASES[case]
    spec, layer = _layer(call, shape)
    rng = np.random.default_rng(1)
    own = [w for w in weight_specs(spec) if w.layer == layer.name]
    weights = {w.name.split("/")[1]: rng.normal(size=w.shape) for w in own}
    for key in ("moving_variance", "variance"):
        if key in weights:
            weights[key] = np.abs(weights[key]) + 0.5
    state = {k: weights.pop(k) for k in [w.name.split("/")[1] for w in own if not w.trainable]}
    ctx = Context(training=training, seed=3, step=5)
    forward = numpy_layers.LAYERS[layer.kind]
    if _is_merge_case(shape):
        _check_merge(layer, forward, [rng.normal(size=(3, *s)) for s in shape], ctx, rng)
        return
    x = rng.normal(size=(3, *shape))

    def f():
        saved = {k: v.copy() for k, v in state.items()}
        y, _ = forward(layer, weights, state, x, ctx)
        for k, v in saved.items():
            state[k][...] = v
        return float((y * r).sum())

    y, backprop = forward(layer, weights, {k: v.copy() for k, v in state.items()}, x, ctx)
    r = rng.normal(size=y.shape)
    dx, grads = backprop(r)
    assert dx.shape == x.shape
    numeric, idx = numeric_grad(f, x, rng)
    assert rel_error(numeric, np.array([dx[i] for i in idx])) < TOLERANCE
    assert set(grads) == set(weights)
    for name, w in weights.items():
        numeric, idx = numeric_grad(f, w, rng)
        assert rel_error(numeric, np.array([grads[name][i] for i in idx])) < TOLERANCE, name


def _check_merge(layer, forward, xs, ctx, rng) -> None:
    """A merge's list of input gradients against finite differences of sum(y · r), each input in turn. Maximum
    and Minimum have no derivative at a tie: the draws are checked to lie farther apart than the steps."""
    if layer.kind in ("Maximum", "Minimum"):
        assert min(np.abs(a - b).min() for i, a in enumerate(xs) for b in xs[i + 1:]) > 10 * H
    y, backprop = forward(layer, {}, {}, xs, ctx)
    r = rng.normal(size=y.shape)
    dxs, grads = backprop(r)
    assert grads == {} and len(dxs) == len(xs)
    for x, dx in zip(xs, dxs):
        assert dx.shape == x.shape
        numeric, idx = numeric_grad(lambda: float((forward(layer, {}, {}, xs, ctx)[0] * r).sum()), x, rng)
        assert rel_error(numeric, np.array([dx[i] for i in idx])) < TOLERANCE


def test_every_layer_kind_has_a_gradient_case():
    assert {c.split("/")[0] for c in LAYER_CASES} == set(LAYER_CLASSES)
    assert set(numpy_layers.LAYERS) == set(LAYER_CLASSES)


# ---- activations ----------------------------------------------------------------------------------
ACTIVATION_CASES = {
    "linear": iv.ActivationFn(kind="linear"),
    "relu": iv.ActivationFn(kind="relu"),
    "leaky_relu": iv.ActivationFn(kind="leaky_relu", alpha=0.2),
    "elu": iv.ActivationFn(kind="elu", alpha=1.0),
    "gelu": iv.ActivationFn(kind="gelu"),
    "gelu/approximate": iv.ActivationFn(kind="gelu", approximate=True),
    "silu": iv.ActivationFn(kind="silu"),
    "tanh": iv.ActivationFn(kind="tanh"),
    "sigmoid": iv.ActivationFn(kind="sigmoid"),
    "softmax": iv.ActivationFn(kind="softmax"),
}


@pytest.mark.parametrize("case", sorted(ACTIVATION_CASES))
def test_activation_gradients(case):
    fn = ACTIVATION_CASES[case]
    rng = np.random.default_rng(2)
    z = rng.normal(size=(4, 6)) * 2
    y, back = activate(fn, z)
    r = rng.normal(size=y.shape)
    numeric, idx = numeric_grad(lambda: float((activate(fn, z)[0] * r).sum()), z, rng)
    assert rel_error(numeric, np.array([back(r)[i] for i in idx])) < TOLERANCE


def test_every_activation_has_a_gradient_case():
    assert {c.split("/")[0] for c in ACTIVATION_CASES} == set(typing.get_args(iv.ActivationKind))


# ---- losses ----------------------------------------------------------------------------------------
def _targets(kind: str, rng, n=5, c=4):
    if kind == "sparse_categorical_crossentropy":
        return rng.integers(0, c, n)
    if kind == "categorical_crossentropy":
        return np.eye(c)[rng.integers(0, c, n)]
    if kind == "binary_crossentropy":
        return rng.integers(0, 2, (n, c)).astype(float)
    return rng.normal(size=(n, c))


LOSS_CASES = [(kind, logits) for kind in typing.get_args(tr.Loss.model_fields["kind"].annotation)
              for logits in ((False,) if kind in ("mse", "mae") else (True, False))]


@pytest.mark.parametrize("kind,logits", LOSS_CASES)
def test_loss_gradients(kind, logits):
    rng = np.random.default_rng(3)
    loss = tr.Loss(kind=kind, from_logits=logits)
    y = _targets(kind, rng)
    if logits or kind in ("mse", "mae"):
        out = rng.normal(size=(5, 4)) * 2
    elif kind == "binary_crossentropy":
        out = rng.uniform(0.05, 0.95, size=(5, 4))
    else:  # probabilities that do not sum to 1: Keras renormalises (categorical) or not (sparse)
        out = rng.uniform(0.05, 0.9, size=(5, 4))
    value, grad = loss_and_grad(loss, out, y, logits)
    assert np.isfinite(value)
    numeric, idx = numeric_grad(lambda: loss_and_grad(loss, out, y, logits)[0], out, rng)
    assert rel_error(numeric, np.array([grad[i] for i in idx])) < TOLERANCE


def test_every_loss_has_a_gradient_case():
    assert {k for k, _ in LOSS_CASES} == set(typing.get_args(tr.Loss.model_fields["kind"].annotation))


def test_losses_from_logits_are_stable_for_huge_logits():
    out = np.array([[1000.0, -1000.0, 0.0]])
    for kind, y in (("categorical_crossentropy", np.array([[0.0, 1.0, 0.0]])),
                    ("sparse_categorical_crossentropy", np.array([1])),
                    ("binary_crossentropy", np.array([[0.0, 1.0, 1.0]]))):
        value, grad = loss_and_grad(tr.Loss(kind=kind, from_logits=True), out, y, True)
        assert np.isfinite(value) and np.all(np.isfinite(grad)), kind
    value, _ = loss_and_grad(tr.Loss(kind="categorical_crossentropy"), out, np.array([[0.0, 1.0, 0.0]]), True)
    assert value == pytest.approx(2000.0)


def test_probabilities_are_clipped_like_keras():
    # p = 0 would be log(0); Keras clips to [1e-7, 1 - 1e-7] and feeds log p to the softmax
    # cross-entropy: loss = -log(1e-7) + log((1 - 1e-7) + 1e-7) = -log(1e-7)
    value, _ = loss_and_grad(tr.Loss(kind="sparse_categorical_crossentropy"), np.array([[1.0, 0.0]]), np.array([1]),
                             False)
    assert value == pytest.approx(-np.log(1e-7), rel=1e-12)


# ---- whole models: regularizers, fused softmax/sigmoid, every loss through a network -----------------
MODEL_CASES = {
    "kernel-l1": ("Dense(4, activation=tanh, kernel_regularizer=l1(0.05))", "mse"),
    "kernel-l2": ("Dense(4, activation=tanh, kernel_regularizer=l2(0.05))", "mse"),
    "bias-l1l2": ("Dense(4, activation=relu, bias_regularizer=l1l2(l1=0.02, l2=0.03))", "mse"),
    "activity-l1": ("Dense(4, activation=sigmoid, activity_regularizer=l1(0.1))", "mse"),
    "activity-l2-conv": ("Conv2D(2, 2, activity_regularizer=l2(0.1)) Flatten()", "mse"),
    "fused-softmax": ("Dense(4, activation=softmax)", "categorical_crossentropy"),
    "fused-softmax-activity": ("Dense(4, activation=softmax, activity_regularizer=l2(0.3))",
                               "sparse_categorical_crossentropy"),
    "fused-softmax-layer": ("Dense(4) Activation(softmax)", "sparse_categorical_crossentropy"),
    "fused-through-identity": ("Dense(4, activation=softmax, activity_regularizer=l2(0.3)) Activation(linear) "
                               "Dropout(0.0)", "categorical_crossentropy"),
    "fused-sigmoid": ("Dense(4, activation=sigmoid)", "binary_crossentropy"),
    "logits": ("Dense(4)", "categorical_crossentropy(from_logits=true)"),
    "mae": ("Dense(4, activation=elu)", "mae"),
}
REGULARIZER_KINDS_COVERED = {"l1", "l2", "l1l2"}


@pytest.mark.parametrize("case", sorted(MODEL_CASES))
def test_model_gradients(case):
    layers, loss = MODEL_CASES[case]
    shape = "[3, 3, 2]" if "Conv2D" in layers else "[5]"
    text = (f"model m {{ Input({shape}) Dense(6, activation=gelu) Dropout(0.3) {layers} }}" if shape == "[5]"
            else f"model m {{ Input({shape}) {layers} Dense(4) }}")
    spec = compile_text(text + f" train {{ loss = {loss} optimizer = adam }}").spec
    rng = np.random.default_rng(4)
    params = {w.name: rng.normal(size=w.shape) * 0.7 for w in weight_specs(spec)}
    model = NumpyModel(spec, params)
    x = rng.normal(size=(5, *spec.input_shape))
    y = _targets(spec.training.loss.kind, rng)
    ctx = Context(training=True, seed=9, step=2)
    total, grads, _ = model.loss_and_grads(x, y, ctx)
    for name in model.trainable:
        numeric, idx = numeric_grad(lambda: model.loss_and_grads(x, y, ctx)[0], params[name], rng)
        assert rel_error(numeric, np.array([grads[name][i] for i in idx])) < TOLERANCE, name


def test_fusion_follows_keras():
    def fused(layers, loss):
        spec = compile_text(f"model m {{ Input([3]) {layers} }} train {{ loss = {loss} optimizer = adam }}").spec
        return NumpyModel(spec, {w.name: np.ones(w.shape) for w in weight_specs(spec)}).fused

    assert fused("Dense(2, activation=softmax)", "categorical_crossentropy")
    assert fused("Dense(2) Activation(softmax)", "sparse_categorical_crossentropy")
    assert fused("Dense(1, activation=sigmoid)", "binary_crossentropy")
    assert fused("Dense(2, activation=softmax) Activation(linear) Dropout(0.0)", "categorical_crossentropy")
    assert fused("Dense(2, activation=sigmoid) Dropout(0.5)", "mse") is False
    assert not fused("Dense(2, activation=softmax) Flatten()", "categorical_crossentropy")  # a new tensor in Keras
    assert not fused("Dense(2)", "mse")
    assert not fused("Dense(2, activation=softmax)", "mse")


def test_every_regularizer_kind_is_checked():
    assert REGULARIZER_KINDS_COVERED == set(iv.REGULARIZER_KINDS)
    text = " ".join(layers for layers, _ in MODEL_CASES.values())
    assert all(f"{k}(" in text for k in iv.REGULARIZER_KINDS)
    assert all(f"{slot}_regularizer" in text for slot in ("kernel", "bias", "activity"))
