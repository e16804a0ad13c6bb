"""The oracle tier: the NumPy reference against plain Keras (tests/keras_oracle.py: Keras' own layers,
losses and regularizers, float64, the same initial weights), step by step and in the final weights.

- Every output activation × every loss × from_logits, directly or followed by layers Keras passes the
  tensor through (a linear Activation, a rate-0 dropout) or not (Flatten, a dropout in training): an
  accepted pairing matches Keras' loss and weights to round-off; a refused one is nnspec's error, at the
  loss or the layer (compiler.semantics.losses).
- Every layer kind, activation and regularizer (kernel, bias, activity ÷ batch size).

Run alone with ``pytest -m oracle``.
"""

from __future__ import annotations

import numpy as np
import pytest

from backends.numpy.trainer import NumpyTrainer
from compiler.ir.layers import LAYER_CLASSES
from compiler.ir.values import REGULARIZER_KINDS
from compiler.pipeline import compile_text
from compiler.semantics.losses import CROSS_ENTROPIES, loss_problems
from spec_lang.diagnostics import SpecError

import keras_oracle

pytestmark = pytest.mark.oracle

STEPS = 4
RATE = 0.125  # exact in float32
TOL = 1e-12

OUTPUT_ACTIVATIONS = ("softmax", "sigmoid", "linear", "relu", "tanh")
# after the output layer: nothing; layers Keras passes the same tensor through; a reshape (a new tensor)
FOLLOWERS = {"none": "", "identity": "Activation(linear) Dropout(0.0)", "flatten": "Flatten()",
             "dropout": "Dropout(0.5)"}
LOSSES = ("categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy", "mse", "mae")


def spec_text(layers: str, loss: str, input_shape="[4]", seed=3) -> str:
    return (f"model oracle {{ Input({input_shape}) {layers} }}\n"
            f"train {{ loss = {loss} optimizer = sgd(learning_rate={RATE}) batch_size = 8 seed = {seed} }}\n")


def targets(loss: str, units: int, rng, n=8) -> np.ndarray:
    if loss == "sparse_categorical_crossentropy":
        return rng.integers(0, units, size=n)
    if loss == "categorical_crossentropy":
        return np.eye(units)[rng.integers(0, units, size=n)]
    if loss == "binary_crossentropy":
        return (rng.random((n, units)) > 0.5).astype(np.float64)
    return rng.normal(size=(n, units))


def relative(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))


def assert_steps_match(spec, x, y, steps=STEPS, tol=TOL):
    """STEPS updates of plain SGD on both sides: the loss of each step and every weight after it agree."""
    numpy_run = NumpyTrainer(spec, dtype=np.float64)
    keras_run = keras_oracle.KerasRun(spec, RATE, {k: v.copy() for k, v in numpy_run.get_weights().items()})
    for step in range(steps):
        expected = keras_run.step(x, y)
        loss, _ = numpy_run.train_batch(x, y, step, RATE)
        assert relative(loss, expected) < tol, (step, loss, expected)
        theirs = keras_run.weights()
        for name, value in numpy_run.get_weights().items():
            assert relative(value, theirs[name]) < tol, (step, name)


def matrix():
    for act in OUTPUT_ACTIVATIONS:
        for follower in FOLLOWERS:
            for loss in LOSSES:
                for from_logits in ((False, True) if loss in CROSS_ENTROPIES else (False,)):
                    yield pytest.param(act, follower, loss, from_logits,
                                       id=f"{act}-{follower}-{loss}{'-logits' if from_logits else ''}")


def output_spec(act, follower, loss, from_logits):
    units = 1 if loss == "binary_crossentropy" and act == "sigmoid" else 3
    written = f"{loss}(from_logits=true)" if from_logits else loss
    return spec_text(f"Dense(5, activation=tanh) Dense({units}, activation={act}) {FOLLOWERS[follower]}", written), units


def refused(act, follower, loss, from_logits) -> bool:
    """The pairings compiler.semantics.losses refuses, restated here from its table so that a change to it
    fails this test: a softmax/sigmoid output (through pass-through layers) under a cross-entropy with
    from_logits=true, with the other activation's cross-entropy, or followed by a dropout in training."""
    if loss not in CROSS_ENTROPIES or act not in ("softmax", "sigmoid") or follower == "flatten":
        return False
    wrong_pair = (act == "softmax") != (loss != "binary_crossentropy")
    return from_logits or wrong_pair or follower == "dropout"


@pytest.mark.parametrize("act, follower, loss, from_logits", list(matrix()))
def test_output_activation_and_loss_match_keras_or_are_refused(act, follower, loss, from_logits):
    text, units = output_spec(act, follower, loss, from_logits)
    if refused(act, follower, loss, from_logits):
        with pytest.raises(SpecError) as error:
            compile_text(text, "oracle.nns")
        message = str(error.value)
        assert "error:" in message and "Keras" in message
        # the first error's source line (errors come in source order): the dropout's, else the loss's
        assert ("Dropout(0.5)" if follower == "dropout" else "loss =") in message.splitlines()[1]
        return
    spec = compile_text(text, "oracle.nns").spec
    rng = np.random.default_rng(7)
    x = rng.normal(size=(8, 4)) * 2
    y = targets(loss, units, rng)
    if follower == "dropout":  # masks differ by design: the loss in inference mode, where Keras drops nothing
        numpy_run = NumpyTrainer(spec, dtype=np.float64)
        keras_run = keras_oracle.KerasRun(spec, RATE, numpy_run.get_weights())
        assert relative(numpy_run.evaluate_batch(x, y)[0], keras_run.evaluate(x, y)) < TOL
        return
    assert_steps_match(spec, x, y)


@pytest.mark.parametrize("layers, loss", [
    ("Dense(3, activation=softmax) Activation(linear) Dropout(0.0)", "categorical_crossentropy"),
    ("Dense(2, activation=sigmoid)", "binary_crossentropy"),
    ("Dense(3, activation=sigmoid) Flatten()", "categorical_crossentropy"),
])
def test_keras_traced_step_reads_the_same_logits(layers, loss):
    """Keras' traced train_on_batch (what fit runs) fuses as its eager step does."""
    spec = compile_text(spec_text(layers, loss), "oracle.nns").spec
    rng = np.random.default_rng(8)
    x = rng.normal(size=(8, 4)) * 2
    y = targets(loss, spec.output_shape[-1], rng)
    numpy_run = NumpyTrainer(spec, dtype=np.float64)
    keras_run = keras_oracle.KerasRun(spec, RATE, {k: v.copy() for k, v in numpy_run.get_weights().items()})
    for step in range(2):
        expected = keras_run.traced_step(x, y)
        loss_value, _ = numpy_run.train_batch(x, y, step, RATE)
        assert relative(loss_value, expected) < TOL


def test_refusals_are_exactly_the_semantics_table():
    """Every refused case above is one of compiler.semantics.losses' problems, and no accepted one is."""
    for param in matrix():
        act, follower, loss, from_logits = param.values
        text, _ = output_spec(act, follower, loss, from_logits)
        try:
            compile_text(text, "oracle.nns")
            compiled = True
        except SpecError:
            compiled = False
        assert compiled != refused(act, follower, loss, from_logits), param.id


# ---- every layer kind, activation and regularizer -------------------------------------------------------
REGULARIZERS = {"l1": "l1(0.0625)", "l2": "l2(0.125)", "l1l2": "l1l2(l1=0.03125, l2=0.0625)"}

LAYER_MODELS = {
    # images: asymmetric same padding, dilation, pooling with padding, dropout at rate 0, normalization
    "cnn": ("[7, 6, 2]", "Rescaling(0.5, offset=0.25) Normalization(mean=[0.5, -0.25], variance=[4.0, 0.25]) "
                        "Conv2D(3, 3, strides=2, padding=same, activation=relu, kernel_regularizer={r}, "
                        "bias_regularizer={r}) "
                        "BatchNormalization(momentum=0.75, epsilon=0.0625) "
                        "Conv2D(4, [2, 3], padding=same, dilation_rate=[1, 2], activation=leaky_relu(alpha=0.25), "
                        "activity_regularizer={r}) "
                        "MaxPooling2D(2, strides=1, padding=same) AveragePooling2D(2, padding=same) "
                        "SpatialDropout2D(0.0) Activation(elu(alpha=0.5)) "
                        "GlobalAveragePooling2D(keepdims=true) Flatten() Dense(3, activation=softmax)",
            "sparse_categorical_crossentropy"),
    # every other activation, a Dense without bias, BatchNormalization without centre and scale
    "mlp": ("[6]", "Dense(7, activation=silu, kernel_regularizer={r}) Dropout(0.0) "
                   "Dense(6, activation=tanh, bias_regularizer={r}) "
                   "Dense(5, activation=silu, activity_regularizer={r}) BatchNormalization(center=false, scale=false) "
                   "Dense(5, activation=tanh, use_bias=false) Dense(4, activation=sigmoid) Dense(2)", "mse"),
    "mlp-binary": ("[6]", "Dense(5, activation=relu, activity_regularizer={r}, kernel_regularizer={r}) "
                          "Dense(2) Activation(sigmoid)", "binary_crossentropy"),
    # TensorFlow's gelu rounds its constants to float32 even in float64 (5e-9 exact, 9e-10 approximate,
    # per value; nnspec's Keras backend computes it in float64): agreement to GELU_TOL, not round-off
    "mlp-gelu": ("[6]", "Dense(7, activation=gelu, kernel_regularizer={r}) "
                        "Dense(6, activation=gelu(approximate=true), activity_regularizer={r}) Dense(2)", "mae"),
    # padding, cropping, reshaping and permuting images, sequences and vectors; global max pooling both ways
    "reshaping": ("[5, 4, 2]", "ZeroPadding2D([[1, 0], [2, 1]]) Conv2D(3, 3, activation=relu, kernel_regularizer={r}) "
                              "Permute([2, 1, 3]) Cropping2D([[1, 0], [0, 1]]) Reshape([3, 4, 3]) "
                              "Conv2D(4, 2, padding=same, activation=tanh) GlobalMaxPooling2D(keepdims=true) "
                              "Reshape([2, 2]) Permute([2, 1]) Reshape([-1]) Dense(6, activation=tanh) "
                              "Reshape([1, 2, 3]) GlobalMaxPooling2D() Dense(3, activation=softmax)",
                  "sparse_categorical_crossentropy"),
    # depthwise and separable convolutions (multiplier, asymmetric same, strides with dilation, each regularizer
    # slot) and nearest up-sampling; bilinear (TensorFlow resizes in float32): tests/test_new_layers_k2.py
    "depthwise-separable": ("[7, 6, 2]", "DepthwiseConv2D(3, strides=2, padding=same, depth_multiplier=2, "
                                         "activation=relu, depthwise_regularizer={r}, bias_regularizer={r}) "
                                         "UpSampling2D([2, 3]) "
                                         "SeparableConv2D(3, [2, 3], padding=same, dilation_rate=[2, 1], "
                                         "activation=tanh, pointwise_regularizer={r}, activity_regularizer={r}) "
                                         "DepthwiseConv2D(3, strides=2, dilation_rate=2, padding=same, use_bias=false) "
                                         "SeparableConv2D(2, 2, strides=2, depth_multiplier=3, "
                                         "depthwise_regularizer={r}) "
                                         "Flatten() Dense(3, activation=softmax)",
                            "sparse_categorical_crossentropy"),
    # the per-sample normalizations (a group per channel pair, instance normalization, several axes in Keras'
    # order, a vector, each γ/β regularizer slot) and the transposed convolution (TF's asymmetric same crop,
    # output_padding, valid with a kernel smaller than the stride); dilated: tests/test_new_layers_k1.py
    "normalization-transpose": ("[3, 3, 2]", "Conv2DTranspose(4, 3, strides=2, padding=same, activation=relu, "
                                             "kernel_regularizer={r}, activity_regularizer={r}) "
                                             "GroupNormalization(2, beta_regularizer={r}) "
                                             "Conv2DTranspose(3, [3, 4], strides=2, padding=same, output_padding=1, "
                                             "bias_regularizer={r}) "
                                             "LayerNormalization([-1, 1], epsilon=0.0625, gamma_regularizer={r}) "
                                             "Conv2DTranspose(2, 2, strides=3, use_bias=false, activation=tanh) "
                                             "GroupNormalization(-1, center=false) "
                                             "LayerNormalization([1, 2, 3], scale=false) Flatten() Dense(4) "
                                             "LayerNormalization(gamma_regularizer={r}) Dense(3, activation=softmax)",
                                "sparse_categorical_crossentropy"),
    # the activation layers: PReLU per channel (α regularized) and per position, a clipped and thresholded ReLU
    # with a slope, softmax over an image's height and over its spatial axes, relu6, the leaky path, and a
    # Softmax output fused with the loss (slopes exact in float32: Keras' leaky_relu takes a float32 slope)
    "activation-layers": ("[5, 4, 2]", "Conv2D(3, 3, padding=same, kernel_regularizer={r}) "
                                       "PReLU(random_uniform(minval=0.0625, maxval=0.25), shared_axes=[1, 2], "
                                       "alpha_regularizer={r}) "
                                       "Conv2D(4, 2) ReLU(max_value=1.5, negative_slope=0.125, threshold=0.25) "
                                       "Softmax(1) Conv2D(3, 2, padding=same) LeakyReLU(0.375) Softmax([1, 2]) "
                                       "PReLU(alpha_regularizer={r}) ELU(0.5) Flatten() Dense(6) ReLU(6) Dense(5) "
                                       "ReLU(negative_slope=0.25) Dense(4) ReLU() Dense(3) Softmax()",
                          "categorical_crossentropy"),
    # the merges inside a graph, as Keras' own functional model wires them: a residual Add, Subtract and Average,
    # a size-1 axis broadcast by Multiply, Maximum/Minimum of three (ties: the spec pins TensorFlow's rule),
    # Concatenate along the channels and along the height, a value used by four layers
    "merges": ("[4, 4, 2]", "stem = Conv2D(3, 2, padding=same, activation=tanh, kernel_regularizer={r}) "
                            "side = Conv2D(3, 1, activity_regularizer={r}) summed = Add()(side, stem) "
                            "gate = GlobalAveragePooling2D(keepdims=true)(summed) "
                            "a = Conv2D(3, 1, bias_regularizer={r})(summed) "
                            "scaled = Multiply()(a, gate) "
                            "high = Maximum()(a, stem, scaled) low = Minimum()(scaled, a, stem) "
                            "gap = Subtract()(high, low) mean = Average()(gap, a) "
                            "wide = Concatenate()(mean, stem) Concatenate(axis=1)(wide, wide) "
                            "Flatten() Dense(3, activation=softmax)",
               "sparse_categorical_crossentropy"),
}
GELU_TOL = 1e-7


@pytest.mark.parametrize("reg", sorted(REGULARIZERS))
@pytest.mark.parametrize("model", sorted(LAYER_MODELS))
def test_layers_and_regularizers_match_keras(model, reg):
    shape, layers, loss = LAYER_MODELS[model]
    spec = compile_text(spec_text(layers.format(r=REGULARIZERS[reg]), loss, shape), "oracle.nns").spec
    rng = np.random.default_rng(9)
    x = rng.normal(size=(8, *spec.input_shape)) * 1.5
    assert_steps_match(spec, x, targets(loss, spec.output_shape[-1], rng), tol=GELU_TOL if "gelu" in model else TOL)


def test_the_oracle_covers_every_layer_kind_activation_and_regularizer():
    text = " ".join(layers for _, layers, _ in LAYER_MODELS.values())
    assert {kind for kind in LAYER_CLASSES if kind != "Input"} <= {k for k in LAYER_CLASSES if f"{k}(" in text}
    from compiler.ir.values import ActivationKind
    from typing import get_args
    assert all(f"activation={kind}" in text or f"Activation({kind}" in text
               for kind in get_args(ActivationKind) if kind != "linear")
    assert set(REGULARIZERS) == set(REGULARIZER_KINDS)
    assert all(f"{slot}_regularizer" in text for slot in ("kernel", "bias", "activity"))


def test_loss_problems_point_at_the_loss_or_the_dropout():
    spec_ok = compile_text(spec_text("Dense(3, activation=softmax)", "categorical_crossentropy"), "o.nns").spec
    assert loss_problems(spec_ok.layers, spec_ok.training.loss) == []
    with pytest.raises(SpecError) as error:
        compile_text(spec_text("Dense(3, activation=softmax) Dropout(0.5)", "categorical_crossentropy"), "o.nns")
    assert "Dropout after the output's softmax" in str(error.value)
    assert "move the Dropout before the output layer" in str(error.value)


def test_the_ir_check_refuses_the_same_pairings():
    """An IR file (not from the compiler) with a refused pairing is refused by compiler.passes.verify."""
    from compiler.passes.verify import verify

    spec = compile_text(spec_text("Dense(3, activation=softmax)", "categorical_crossentropy"), "o.nns").spec
    assert verify(spec) == []
    loss = spec.training.loss.model_copy(update={"from_logits": True})
    bad = spec.model_copy(update={"training": spec.training.model_copy(update={"loss": loss})})
    problems = verify(bad)
    assert len(problems) == 1 and problems[0].startswith("training.loss: ") and "Keras ignores" in problems[0]
