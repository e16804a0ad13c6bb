"""Keras is the oracle of the example graphs' shapes, parameter counts and wiring.

For every example spec that is not a plain stack (specs/resnet20.nns, unet.nns, two_tasks.nns, digits_merges.nns),
and for mobilenet.nns,
the model is written here BY HAND in plain Keras 3 functional code — independent of nnspec's Keras backend
(backends/keras) and of its emitter — from the paper's description in the spec's header, layer by layer in the
spec's order, in a fresh Keras session so that Keras names the layers itself (conv2d, conv2d_1, add, ...).
Then, layer by layer, nnspec's IR must agree with the Keras model on: the layer names and kinds (in order),
every output shape, the trainable and non-trainable parameter counts, and which layers each one reads (the
"Connected to" of Keras' summary, in order); and on the model's totals, inputs and outputs.

``test_every_graph_example_is_built_here`` fails when an example spec with a graph has no hand-built model.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pytest

from compiler.ir.graph import Graph
from compiler.pipeline import compile_file
from example_specs import CONCRETE
from frameworks import need

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.filterwarnings(  # Keras' convert_to_numpy under NumPy 2, not ours
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")


# ---- the models, by hand --------------------------------------------------------------------------------------
def resnet20(keras):
    """He et al. 2016, section 4.2: 3x3 conv(16), three stages of three basic blocks (16, 32, 64 filters), the
    first block of stages 2 and 3 strided with a projection shortcut (1x1 conv + BN), global pooling, softmax."""
    L = keras.layers

    def basic(x, filters, strides=1):
        y = L.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False)(x)
        y = L.BatchNormalization(momentum=0.9)(y)
        y = L.Activation("relu")(y)
        y = L.Conv2D(filters, 3, padding="same", use_bias=False)(y)
        y = L.BatchNormalization(momentum=0.9)(y)
        if strides != 1:  # the projection shortcut (option B), written after the body as in the spec
            x = L.Conv2D(filters, 1, strides=strides, use_bias=False)(x)
            x = L.BatchNormalization(momentum=0.9)(x)
        return L.Activation("relu")(L.Add()([y, x]))

    inputs = keras.Input((32, 32, 3))
    x = L.Rescaling(1 / 255)(inputs)
    x = L.Conv2D(16, 3, padding="same", use_bias=False)(x)
    x = L.BatchNormalization(momentum=0.9)(x)
    x = L.Activation("relu")(x)
    for filters in (16, 32, 64):
        for block in range(3):
            x = basic(x, filters, strides=2 if block == 0 and filters != 16 else 1)
    x = L.GlobalAveragePooling2D()(x)
    outputs = L.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="resnet20")


def unet(keras):
    """Ronneberger et al. 2015, small: two down steps (conv pair, 2x2 max pooling), a bottom pair, up by a
    stride-2 Conv2DTranspose and by UpSampling2D, each concatenated with the down path's features at that
    resolution and followed by a conv pair, then a per-pixel softmax over 4 classes."""
    L = keras.layers

    def pair(x, filters):
        x = L.Conv2D(filters, 3, padding="same", activation="relu")(x)
        return L.Conv2D(filters, 3, padding="same", activation="relu")(x)

    inputs = keras.Input((32, 32, 3))
    x = L.Rescaling(1 / 255)(inputs)
    down1 = pair(x, 16)
    x = L.MaxPooling2D(2)(down1)
    down2 = pair(x, 32)
    x = L.MaxPooling2D(2)(down2)
    x = pair(x, 64)
    up2 = L.Conv2DTranspose(32, 2, strides=2)(x)
    x = pair(L.Concatenate()([up2, down2]), 32)
    up1 = L.UpSampling2D(2)(x)
    x = pair(L.Concatenate()([up1, down1]), 16)
    outputs = L.Conv2D(4, 1, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="unet")


def mobilenet(keras):
    """Howard et al. 2017, small: strided 3x3 conv, depthwise-separable blocks (depthwise 3x3 + BN + ReLU6,
    pointwise 1x1 + BN + ReLU6), one SeparableConv2D, global pooling, dropout, softmax."""
    L = keras.layers

    def separable(x, filters, strides):
        x = L.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False)(x)
        x = L.BatchNormalization(momentum=0.9)(x)
        x = L.ReLU(max_value=6)(x)
        x = L.Conv2D(filters, 1, use_bias=False)(x)
        x = L.BatchNormalization(momentum=0.9)(x)
        return L.ReLU(max_value=6)(x)

    inputs = keras.Input((32, 32, 3))
    x = L.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = L.Conv2D(16, 3, strides=2, padding="same", use_bias=False)(x)
    x = L.BatchNormalization(momentum=0.9)(x)
    x = L.ReLU(max_value=6)(x)
    for filters, strides in ((32, 1), (64, 2), (64, 1), (128, 2)):
        x = separable(x, filters, strides)
    x = L.SeparableConv2D(128, 3, padding="same", use_bias=False)(x)
    x = L.BatchNormalization(momentum=0.9)(x)
    x = L.ReLU(max_value=6)(x)
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dropout(0.2)(x)
    outputs = L.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="mobilenet")


def two_tasks(keras):
    """Two named inputs (an 8x8 image, 3 measurements), a conv path joined with the measurements, two heads."""
    L = keras.layers
    image = keras.Input((8, 8, 1), name="image")
    meta = keras.Input((3,), name="meta")
    x = L.Rescaling(1 / 16)(image)
    x = L.Conv2D(16, 3, activation="relu")(x)
    x = L.Conv2D(32, 3, activation="relu")(x)
    pixels = L.Flatten()(x)
    shared = L.Dense(64, activation="relu")(L.Concatenate()([pixels, meta]))
    digit = L.Dense(10, activation="softmax")(shared)
    ink = L.Dense(1)(shared)
    return keras.Model([image, meta], [digit, ink], name="two_tasks")


def digits_merges(keras):
    """Two 3x3 convolutions of one normalized stem joined by every merge, cropped, max-pooled per channel,
    reshaped to 4x8, permuted, layer-normalized, flattened, softmax."""
    L = keras.layers
    image = keras.Input((8, 8, 1), name="image")
    x = L.Rescaling(1 / 16)(image)
    x = L.ZeroPadding2D(1)(x)
    x = L.Conv2D(16, 3, activation="relu")(x)
    stem = L.GroupNormalization(4)(x)
    a = L.Conv2D(16, 3, padding="same")(stem)
    b = L.Conv2D(16, 3, padding="same")(stem)
    gate = L.Conv2D(16, 1, activation="sigmoid")(stem)
    high = L.Maximum()([a, b])
    low = L.Minimum()([a, b])
    spread = L.Subtract()([high, low])
    mean = L.Average()([a, b])
    gated = L.Multiply()([mean, gate])
    x = L.Concatenate()([spread, gated])
    x = L.Cropping2D(1)(x)
    x = L.Activation("relu")(x)
    x = L.GlobalMaxPooling2D()(x)
    x = L.Reshape((4, 8))(x)
    x = L.Permute((2, 1))(x)
    x = L.LayerNormalization()(x)
    x = L.Flatten()(x)
    outputs = L.Dense(10, activation="softmax")(x)
    return keras.Model(image, outputs, name="digits_merges")


MODELS = {"resnet20": resnet20, "unet": unet, "mobilenet": mobilenet, "two_tasks": two_tasks,
          "digits_merges": digits_merges}
# what each one adds up to (keras.Model.summary()'s totals; the specs' headers quote them)
TOTALS = {  # name: (trainable, non-trainable)
    "resnet20": (272_474, 1_568),
    "unet": (117_332, 0),
    "mobilenet": (36_906, 1_216),
    "digits_merges": (5_442, 0),
}


# ---- the comparison -------------------------------------------------------------------------------------------
def compiled(name: str):
    with contextlib.chdir(ROOT):
        return compile_file(f"specs/{name}.nns").spec


def keras_model(name: str):
    keras = need("keras")
    keras.backend.clear_session()  # Keras names layers from per-session counters: conv2d, conv2d_1, ...
    return MODELS[name](keras)


def count(weights) -> int:
    return int(sum(np.prod(w.shape) for w in weights))


def keras_layers(model) -> list[dict]:
    """Each layer of the Keras model in the order its layers were created (Input layers included)."""
    layers = []
    for layer in model.layers:
        node = layer._inbound_nodes[0]
        sources = tuple(t._keras_history[0].name for t in node.input_tensors)
        shape = tuple(layer.output.shape[1:])
        layers.append({"name": layer.name, "kind": "Input" if type(layer).__name__ == "InputLayer" else
                       type(layer).__name__, "shape": shape, "trainable": count(layer.trainable_weights),
                       "non_trainable": count(layer.non_trainable_weights), "inputs": sources})
    return layers


def nnspec_layers(spec) -> list[dict]:
    return [{"name": layer.name, "kind": layer.kind, "shape": tuple(layer.output_shape),
             "trainable": layer.trainable_params, "non_trainable": layer.non_trainable_params,
             "inputs": tuple(layer.inputs)} for layer in spec.layers]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_layers_shapes_counts_and_wiring_equal_keras(name):
    if not (ROOT / "specs" / f"{name}.nns").exists():
        pytest.fail(f"specs/{name}.nns is missing")
    spec = compiled(name)
    model = keras_model(name)
    ours = {layer["name"]: layer for layer in nnspec_layers(spec)}
    theirs = {layer["name"]: layer for layer in keras_layers(model)}
    assert list(ours) == [layer.name for layer in spec.layers]
    assert sorted(ours) == sorted(theirs), "the layer names differ from Keras' own"
    for layer_name in ours:
        assert ours[layer_name] == theirs[layer_name], f"{name}: layer {layer_name}"
    assert spec.trainable_params == count(model.trainable_weights)
    assert spec.non_trainable_params == count(model.non_trainable_weights)
    assert spec.trainable_params + spec.non_trainable_params == model.count_params()
    assert list(spec.output_names) == [t._keras_history[0].name for t in model.outputs]
    assert [layer.name for layer in spec.input_layers] == [t._keras_history[0].name for t in model.inputs]
    assert [tuple(layer.output_shape) for layer in spec.output_layers] == [tuple(t.shape[1:]) for t in model.outputs]


@pytest.mark.parametrize("name", sorted(TOTALS))
def test_totals_are_the_ones_quoted(name):
    """The totals the spec's header quotes (as keras.Model.summary() shows them) are the Keras model's."""
    trainable, non_trainable = TOTALS[name]
    model = keras_model(name)
    assert (count(model.trainable_weights), count(model.non_trainable_weights)) == (trainable, non_trainable)
    header = (ROOT / "specs" / f"{name}.nns").read_text(encoding="utf-8")
    assert f"{trainable + non_trainable:,} total, {trainable:,} trainable, {non_trainable:,} non-trainable" in header


def test_every_graph_example_is_built_here():
    """An example spec whose model is not a plain stack (or has several inputs/outputs) needs its Keras model
    above; a stack's counts are checked by tests/test_specs.py and the backends' tests."""
    graphs = set()
    for path in CONCRETE:
        spec = compile_file(path).spec
        if not Graph.of(spec.layers, spec.outputs).is_stack or len(spec.outputs) > 1:
            graphs.add(path.stem)
    assert graphs >= {"resnet20", "unet", "two_tasks"}
    assert graphs - set(MODELS) == set(), f"example graphs without a hand-built Keras model: {graphs - set(MODELS)}"
