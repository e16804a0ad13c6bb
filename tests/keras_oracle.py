"""Plain Keras as the oracle: a spec's model built from Keras' own layers, activations, regularizers and
losses — no nnspec adapter, no nnspec backend — in float64, with the spec's canonical initial weights.

Shared by the oracle tests (tests/test_keras_oracle.py: layers, losses, regularizers; the optimizer and
schedule oracle adds its optimizers here). Only hyperparameters exactly representable in float32 may be
used (Keras on TensorFlow rounds some Python-float settings to float32 even in float64).

``keras_model(spec)``: a functional ``keras.Model`` wired as the spec's graph, with the weights loaded; ``keras_loss(loss)``: Keras' loss
object; ``KerasRun``: steps of plain SGD through ``model.compute_loss`` (the spec's loss plus every
regularizer's penalty, as ``fit`` computes it), eagerly or in one traced ``train_on_batch``.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from compiler.ir.graph import Graph
from compiler.ir.spec import Spec
from compiler.ir.training import Loss
from compiler.semantics.initializers import initial_weights
from frameworks import need

keras = need("keras")
tf = need("tensorflow")

LOSS_CLASSES = {
    "mse": "MeanSquaredError", "mae": "MeanAbsoluteError", "binary_crossentropy": "BinaryCrossentropy",
    "categorical_crossentropy": "CategoricalCrossentropy",
    "sparse_categorical_crossentropy": "SparseCategoricalCrossentropy",
}


@contextmanager
def float64():
    """Keras' default float type float64 inside the block (losses, metrics and totals follow it), restored
    after, so that no other test sees it — the global dtype policy too, which Keras derives from floatx and
    caches the first time it is asked for (asked for here first, so that it is not cached as float64)."""
    old, policy = keras.config.floatx(), keras.config.dtype_policy().name
    keras.config.set_floatx("float64")
    try:
        yield
    finally:
        keras.config.set_floatx(old)
        keras.config.set_dtype_policy(policy)


def keras_activation(fn):
    """Keras' activation function for an IR ``ActivationFn`` (its arguments passed as Keras names them)."""
    kind = fn.kind
    if kind == "leaky_relu":
        return lambda x: keras.activations.leaky_relu(x, negative_slope=fn.alpha)
    if kind == "elu":
        return lambda x: keras.activations.elu(x, alpha=fn.alpha)
    if kind == "gelu":
        return lambda x: keras.activations.gelu(x, approximate=fn.approximate)
    return getattr(keras.activations, kind)


def keras_regularizer(reg):
    return None if reg is None else keras.regularizers.L1L2(l1=reg.l1, l2=reg.l2)


def _weighted(layer) -> dict:
    return {"activation": keras_activation(layer.activation), "use_bias": layer.use_bias,
            "kernel_regularizer": keras_regularizer(layer.kernel_regularizer),
            "bias_regularizer": keras_regularizer(layer.bias_regularizer),
            "activity_regularizer": keras_regularizer(layer.activity_regularizer)}


def keras_layer(layer):
    """Keras' own layer for an IR layer (float64)."""
    kind, common = layer.kind, {"name": layer.name, "dtype": "float64"}
    if kind == "Dense":
        return keras.layers.Dense(layer.units, **_weighted(layer), **common)
    if kind == "Conv2D":
        return keras.layers.Conv2D(layer.filters, layer.kernel_size, strides=layer.strides, padding=layer.padding,
                                   dilation_rate=layer.dilation_rate, **_weighted(layer), **common)
    if kind in ("MaxPooling2D", "AveragePooling2D"):
        return getattr(keras.layers, kind)(layer.pool_size, strides=layer.strides, padding=layer.padding, **common)
    if kind == "GlobalAveragePooling2D":
        return keras.layers.GlobalAveragePooling2D(keepdims=layer.keepdims, **common)
    if kind == "Flatten":
        return keras.layers.Flatten(**common)
    if kind in ("Dropout", "SpatialDropout2D"):
        return getattr(keras.layers, kind)(layer.rate, seed=1, **common)
    if kind == "BatchNormalization":
        return keras.layers.BatchNormalization(momentum=layer.momentum, epsilon=layer.epsilon, center=layer.center,
                                               scale=layer.scale, **common)
    if kind == "Activation":
        return keras.layers.Activation(keras_activation(layer.activation), **common)
    if kind == "Rescaling":
        return keras.layers.Rescaling(layer.scale, offset=layer.offset, **common)
    if kind == "Normalization":
        if layer.adapts:
            raise ValueError("the oracle builds a Normalization with given mean and variance only")
        return keras.layers.Normalization(axis=layer.axis, mean=layer.mean, variance=layer.variance,
                                          invert=layer.invert, **common)
    if kind == "GlobalMaxPooling2D":
        return keras.layers.GlobalMaxPooling2D(keepdims=layer.keepdims, **common)
    if kind == "ZeroPadding2D":
        return keras.layers.ZeroPadding2D(padding=layer.padding, **common)
    if kind == "Cropping2D":
        return keras.layers.Cropping2D(cropping=layer.cropping, **common)
    if kind == "Reshape":
        return keras.layers.Reshape(layer.target_shape, **common)
    if kind == "Permute":
        return keras.layers.Permute(layer.dims, **common)
    if kind in ("DepthwiseConv2D", "SeparableConv2D"):
        args = {"kernel_size": layer.kernel_size, "strides": layer.strides, "padding": layer.padding,
                "depth_multiplier": layer.depth_multiplier, "dilation_rate": layer.dilation_rate,
                "activation": keras_activation(layer.activation), "use_bias": layer.use_bias,
                "depthwise_regularizer": keras_regularizer(layer.depthwise_regularizer),
                "bias_regularizer": keras_regularizer(layer.bias_regularizer),
                "activity_regularizer": keras_regularizer(layer.activity_regularizer)}
        if kind == "DepthwiseConv2D":
            return keras.layers.DepthwiseConv2D(**args, **common)
        return keras.layers.SeparableConv2D(layer.filters, **args,
                                            pointwise_regularizer=keras_regularizer(layer.pointwise_regularizer),
                                            **common)
    if kind == "UpSampling2D":  # bilinear: TensorFlow resizes in float32 even in float64
        return keras.layers.UpSampling2D(layer.size, interpolation=layer.interpolation, **common)
    if kind in ("LayerNormalization", "GroupNormalization"):
        args = {"epsilon": layer.epsilon, "center": layer.center, "scale": layer.scale,
                "beta_regularizer": keras_regularizer(layer.beta_regularizer),
                "gamma_regularizer": keras_regularizer(layer.gamma_regularizer)}
        if kind == "LayerNormalization":
            return keras.layers.LayerNormalization(axis=layer.axis if isinstance(layer.axis, int) else list(layer.axis),
                                                   **args, **common)
        return keras.layers.GroupNormalization(groups=layer.groups, axis=layer.axis, **args, **common)
    if kind == "Conv2DTranspose":  # dilation_rate > 1: TensorFlow's CPU kernel refuses it
        return keras.layers.Conv2DTranspose(layer.filters, layer.kernel_size, strides=layer.strides,
                                            padding=layer.padding, output_padding=layer.output_padding,
                                            dilation_rate=layer.dilation_rate, **_weighted(layer), **common)
    if kind == "ReLU":
        return keras.layers.ReLU(max_value=layer.max_value, negative_slope=layer.negative_slope,
                                 threshold=layer.threshold, **common)
    if kind == "LeakyReLU":
        return keras.layers.LeakyReLU(negative_slope=layer.negative_slope, **common)
    if kind == "PReLU":
        return keras.layers.PReLU(alpha_regularizer=keras_regularizer(layer.alpha_regularizer),
                                  shared_axes=list(layer.shared) or None, **common)
    if kind == "ELU":
        return keras.layers.ELU(alpha=layer.alpha, **common)
    if kind == "Softmax":
        return keras.layers.Softmax(axis=layer.axis if isinstance(layer.axis, int) else list(layer.axis), **common)
    if kind == "Concatenate":
        return keras.layers.Concatenate(axis=layer.axis, **common)
    if layer.is_merge:  # Add, Subtract, Multiply, Average, Maximum, Minimum: Keras' own, no arguments
        return getattr(keras.layers, kind)(**common)
    raise ValueError(f"the Keras oracle has no layer for {kind!r}: add it to tests/keras_oracle.py")


def keras_model(spec: Spec, weights: dict[str, np.ndarray] | None = None):
    """A functional ``keras.Model`` of Keras' own layers wired as ``spec``'s graph (each layer called on its
    inputs' outputs, a merge on their list), with ``weights`` (default: the canonical initial weights of the
    spec's seed) loaded by nnspec's names (``layer/weight``)."""
    weights = initial_weights(spec, spec.training.seed, np.float64) if weights is None else weights
    graph = Graph.of(spec.layers, spec.output_names)
    values: list = []
    for i, layer in enumerate(spec.layers):
        if layer.is_input:
            values.append(keras.Input(layer.output_shape, dtype="float64"))
            continue
        inputs = [values[s] for s in graph.sources[i]]
        values.append(keras_layer(layer)(inputs if layer.is_merge else inputs[0]))
    ins, outs = [values[i] for i in graph.inputs], [values[o] for o in graph.outputs]
    model = keras.Model(ins[0] if len(ins) == 1 else ins, outs[0] if len(outs) == 1 else outs)
    load_weights(model, weights)
    return model


def load_weights(model, weights: dict[str, np.ndarray]) -> None:
    for layer in model.layers:
        for v in layer.weights:
            key = f"{layer.name}/{v.name}"
            if key in weights:
                v.assign(np.asarray(weights[key], dtype=np.float64))


def model_weights(model) -> dict[str, np.ndarray]:
    """Every variable of the model by nnspec's name (``layer/weight``), moving statistics included."""
    return {f"{layer.name}/{v.name}": np.asarray(v.numpy()) for layer in model.layers for v in layer.weights}


def keras_loss(loss: Loss):
    cls = getattr(keras.losses, LOSS_CLASSES[loss.kind])
    return cls(from_logits=loss.from_logits, dtype="float64") if loss.is_classification else cls(dtype="float64")


class KerasRun:
    """``model`` compiled with the spec's loss and plain SGD(``learning_rate``); each ``step`` is one update
    from ``model.compute_loss`` (the loss Keras' ``fit`` minimises) and returns that loss."""

    def __init__(self, spec: Spec, learning_rate: float, weights=None):
        with float64():
            self.model = keras_model(spec, weights)
            self.optimizer = keras.optimizers.SGD(learning_rate=learning_rate)
            self.model.compile(optimizer=self.optimizer, loss=keras_loss(spec.training.loss))

    def step(self, x: np.ndarray, y: np.ndarray) -> float:
        """One eager step (training=True)."""
        model = self.model
        with float64(), tf.GradientTape() as tape:
            pred = model(x, training=True)
            loss = model.compute_loss(x=x, y=y, y_pred=pred, training=True)
        variables = model.trainable_variables
        with float64():
            self.optimizer.apply(tape.gradient(loss, variables), variables)
        return float(loss)

    def traced_step(self, x: np.ndarray, y: np.ndarray) -> float:
        """One step through Keras' own traced ``train_on_batch`` (the graph ``fit`` runs)."""
        with float64():
            return float(self.model.train_on_batch(x, y))

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> float:
        """The loss in inference mode through Keras' own traced ``evaluate``."""
        with float64():
            return float(self.model.evaluate(x, y, batch_size=len(x), verbose=0))

    def weights(self) -> dict[str, np.ndarray]:
        return model_weights(self.model)
