"""Every IR layer kind lowered to a Keras 3 layer: ``LOWERINGS[kind](layer, ctx) -> keras.layers.Layer``.

Keras is the pinned convention for most of the language, so each kind becomes Keras' own layer
with the spec's exact arguments: NHWC, TensorFlow's asymmetric ``same`` padding, pooling (strides
default to the pool size; ``same`` average pooling counts only real pixels), BatchNormalization
(momentum, ε, biased variance in the moving average), activity penalties ÷ batch size
(``Layer.__call__`` in keras/src/layers/layer.py divides by ``shape(output)[0]``).

The thin adapters, and why each one exists:

- ``Penalty`` (every regularizer): Keras' ``L1``, ``L2`` and ``L1L2`` compute ``l1·Σ|x| + l2·Σx²``
  but bring the factor to the weight's dtype with ``ops.cast(python_float, dtype)``; TensorFlow's
  cast first makes a *float32* tensor of a Python float (``L1`` even stores it as a floatx tensor
  when it is built), so in float64 the factor is rounded to float32 (0.01 → 0.009999999776).
  ``Penalty`` is the same formula with the factor applied as a Python scalar (exact in float64,
  rounded to float32 in float32 exactly as Keras).
- float64 only, for the same reason: ``ExactRescaling`` (``Rescaling`` casts scale and offset
  with ``backend.cast``), ``exact_leaky_relu`` (``tf.nn.leaky_relu``'s ``alpha`` is a float32
  attribute of the op) and ``exact_gelu`` (``tf.nn.gelu`` casts 0.044715 and 1/√2 with
  ``math_ops.cast``). In float32 Keras' own layers and activations are used.
- ``ExactBilinearUpSampling2D`` (float64 only): TensorFlow's bilinear ``resize`` computes in float32 whatever
  the dtype; the same half-pixel interpolation as two matrix products (``compiler.semantics.resize``).
- ``PinnedNormalization``: Keras' Normalization reading its variables at every call (Keras caches them
  as tensors, which a later assign would not reach) and given statistics exact in float64.
- ``MaskedDropout`` (canonical mode only): Dropout and SpatialDropout2D multiplying by the scale
  ``keep / (1 − rate)`` that the trainer sets before each step from ``compiler.semantics.masks.keep_mask``
  (NHWC; SpatialDropout2D's mask has shape (N, 1, 1, C)). Native mode uses Keras' own
  ``Dropout`` / ``SpatialDropout2D``, seeded from the spec's seed.
- ``DilatedConv2DTranspose``: Conv2DTranspose with dilation_rate > 1, which TensorFlow's CPU kernel refuses,
  computed with the kernel dilated explicitly (zeros between the taps) and dilation 1: the same sums.
- ``LogitsHead``: when the model ends in the softmax (sigmoid) that a ``from_logits=false``
  (binary) cross-entropy would undo, the pinned meaning computes the loss from the logits.
  Keras does that only by looking at the tensor it is given (``_get_logits``: a ``Softmax`` op in
  graph mode, or a ``_keras_logits`` attribute, whatever activation made it), so the meaning
  would depend on how the model is run. Instead the final activation is split off: the network
  outputs the logits, the loss is told ``from_logits=True``, and the probabilities are made by
  ``LogitsHead.probabilities``. An activity regularizer of that final layer is applied by the
  head to the probabilities, ÷ batch size, as the unsplit Keras layer would.

Mixed precision (``mixed_bfloat16``, ``mixed_float16``: ``compiler.semantics.precision``): every layer
gets Keras' ``DTypePolicy`` of that name (float32 variables, bfloat16/float16 compute; a layer casts
its floating inputs to its compute dtype) except those that keep float32 (``LowerContext.dtype``):
the ``Input``, ``PinnedNormalization`` (statistics and the division in float32), the ``LogitsHead``
and a final ``Activation`` layer — the float32 final activation Keras recommends, so the softmax or
sigmoid, the loss and the outputs are float32. ``Penalty`` sums a half-precision tensor (an activity
penalty) in float32, so every term of the total loss is float32, as Keras' ``Loss`` casts the data loss.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import keras
import tensorflow as tf
from keras import ops

from compiler.semantics.penalties import l1_l2
from compiler.semantics.normalization import statistics
from compiler.semantics.resize import bilinear_matrix
from compiler.ir.values import ActivationFn, Regularizer
from compiler.ir.layers.normalization import EPSILON

LOWERINGS: dict[str, Callable[..., keras.layers.Layer]] = {}
HALF = ("float16", "bfloat16")  # the compute dtypes of the mixed policies


def register(kind: str):
    def wrap(fn):
        LOWERINGS[kind] = fn
        return fn
    return wrap


def derived_seed(seed: int, name: str) -> int:
    """A seed for one weight or layer in native mode: the spec's seed and the name, as a 31-bit int."""
    return zlib.crc32(f"{int(seed)}/{name}".encode()) & 0x7FFFFFFF


# ---- adapters -----------------------------------------------------------------------------------

class Penalty(keras.regularizers.Regularizer):
    """Keras' L1L2 formula ``l1·Σ|x| + l2·Σx²`` with the factors applied as Python scalars (see above)."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, x):
        if keras.backend.standardize_dtype(x.dtype) in HALF:  # an activity penalty under a mixed policy: summed in float32
            x = ops.cast(x, "float32")
        total = l1_l2(ops, x, self.l1, self.l2)  # compiler.semantics.penalties
        return ops.zeros((), dtype=x.dtype) if isinstance(total, float) else total

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class ExactRescaling(keras.layers.Rescaling):
    """``x·scale + offset`` with scale and offset as Python scalars (exact in float64)."""

    def call(self, inputs):
        return ops.cast(inputs, self.compute_dtype) * float(self.scale) + float(self.offset)


def exact_leaky_relu(x, negative_slope=0.2):
    """x if x > 0 else negative_slope·x, the slope in the tensor's dtype."""
    return ops.where(x > 0, x, x * negative_slope)


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_SQRT_2 = math.sqrt(2.0)


def exact_gelu(x, approximate=False):
    """Exact: x·½(1 + erf(x/√2)); approximate: ½x(1 + tanh(√(2/π)(x + 0.044715x³))); constants exact."""
    if approximate:
        return 0.5 * x * (1.0 + ops.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))
    return x * (0.5 * (1.0 + ops.erf(x / _SQRT_2)))


def activation_function(fn: ActivationFn, dtype: str) -> Callable:
    """The Keras activation for ``fn`` (the exact adapters in float64, see above)."""
    kind = fn.kind
    exact = dtype == "float64"
    if kind == "leaky_relu":
        slope = 0.2 if fn.alpha is None else float(fn.alpha)
        return partial(exact_leaky_relu if exact else keras.activations.leaky_relu, negative_slope=slope)
    if kind == "elu":
        return partial(keras.activations.elu, alpha=1.0 if fn.alpha is None else float(fn.alpha))
    if kind == "gelu":
        return partial(exact_gelu if exact else keras.activations.gelu, approximate=bool(fn.approximate))
    return getattr(keras.activations, kind)  # linear, relu, silu, tanh, sigmoid, softmax


class PinnedNormalization(keras.layers.Normalization):
    """Keras' Normalization with the same formula, (x − mean)/max(√variance, ε) (``invert``:
    mean + x·max(√variance, ε)), reading its ``mean`` and ``variance`` variables at every call: Keras'
    own copies them into constant tensors when it adapts or loads (``finalize_state``), which a later
    ``assign`` — nnspec's adapting, canonical weights, a checkpoint — would not reach, in a traced step
    least of all. Given statistics are the spec's values in the layer's dtype (exact in float64)."""

    def __init__(self, layer, **kwargs):
        given = {} if layer.adapts else {"mean": layer.mean, "variance": layer.variance}
        super().__init__(axis=layer.axis, invert=layer.invert, **given, **kwargs)
        self._given = None if layer.adapts else statistics(layer, {}, self.compute_dtype)

    def call(self, inputs):
        inputs = ops.cast(inputs, self.compute_dtype)
        if self._given is None:
            mean = ops.reshape(self.adapt_mean, self._broadcast_shape)
            variance = ops.reshape(self.adapt_variance, self._broadcast_shape)
        else:
            mean, variance = self._given
        scale = ops.maximum(ops.sqrt(variance), EPSILON)
        return mean + inputs * scale if self.invert else (inputs - mean) / scale


class MaskedDropout(keras.layers.Layer):
    """Dropout (``spatial``: SpatialDropout2D) with the canonical masks: y = x·scale in training, with
    ``scale`` = keep/(1 − rate) of shape ``mask_shape``, set by the trainer before each training call
    (``set_scale``) into a shape-agnostic TensorFlow variable, so that a traced step reads the new mask."""

    def __init__(self, rate: float, spatial: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.rate = float(rate)
        self.spatial = spatial
        self._masks = {}  # holds the variable out of Keras' weight tracking

    @property
    def scale(self):
        return self._masks.get("scale")

    def set_scale(self, value) -> None:
        if self.scale is None:
            self._masks["scale"] = tf.Variable(value, shape=tf.TensorShape(None), trainable=False,
                                               name=f"{self.name}_mask")
        else:
            self.scale.assign(value)

    def mask_shape(self, batch_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (batch_shape[0], 1, 1, batch_shape[-1]) if self.spatial else tuple(batch_shape)

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        if self.scale is None:
            raise RuntimeError(f"layer '{self.name}': no dropout mask was set for this training step")
        shape = tf.shape(inputs)
        if self.spatial:
            shape = tf.stack([shape[0], 1, 1, shape[-1]])
        scale = tf.cast(tf.convert_to_tensor(self.scale), inputs.dtype)  # the mask's dtype under a mixed policy
        return inputs * tf.reshape(scale, shape)  # the reshape gives a static rank

    def compute_output_shape(self, input_shape):
        return input_shape


class DilatedConv2DTranspose(keras.layers.Conv2DTranspose):
    """Keras' Conv2DTranspose with dilation_rate > 1, which TensorFlow's CPU kernel refuses ("Current CPU
    implementations do not yet support dilation rates larger than 1"): the same transposed convolution with
    the kernel dilated explicitly ((k − 1)·d + 1 taps, zeros between the weights) and dilation 1 — the same
    sums, the same output size (Keras' rule uses the dilated kernel's extent either way), on every device."""

    def call(self, inputs):
        kernel = self.kernel
        kh, kw, filters, channels = kernel.shape
        dh, dw = self.dilation_rate
        if dh > 1:  # (kh, kw, f, c) -> (kh, dh, kw, f, c) with zeros after each row -> ((kh − 1)·dh + 1, kw, f, c)
            kernel = ops.pad(ops.expand_dims(kernel, 1), [[0, 0], [0, dh - 1], [0, 0], [0, 0], [0, 0]])
            kernel = ops.reshape(kernel, (kh * dh, kw, filters, channels))[:(kh - 1) * dh + 1]
        if dw > 1:
            kernel = ops.pad(ops.expand_dims(kernel, 2), [[0, 0], [0, 0], [0, dw - 1], [0, 0], [0, 0]])
            kernel = ops.reshape(kernel, (kernel.shape[0], kw * dw, filters, channels))[:, :(kw - 1) * dw + 1]
        outputs = ops.conv_transpose(inputs, kernel, strides=list(self.strides), padding=self.padding,
                                     output_padding=self.output_padding, dilation_rate=1,
                                     data_format=self.data_format)
        if self.use_bias:
            outputs = ops.add(outputs, ops.reshape(self.bias, (1, 1, 1, self.filters)))
        return self.activation(outputs) if self.activation is not None else outputs


class LogitsHead(keras.layers.Layer):
    """The split-off final softmax/sigmoid (see above): passes the logits through; the penalty of an
    activity regularizer is taken on the probabilities."""

    def __init__(self, activation: str, penalty: Penalty | None = None, **kwargs):
        super().__init__(**kwargs)
        self.activation_kind = activation
        self.penalty = penalty

    def probabilities(self, logits):
        return keras.activations.softmax(logits) if self.activation_kind == "softmax" \
            else keras.activations.sigmoid(logits)

    def call(self, logits):
        if self.penalty is not None:
            probabilities = self.probabilities(logits)
            value = self.penalty(probabilities)
            self.add_loss(ops.divide_no_nan(value, ops.cast(ops.shape(probabilities)[0], value.dtype)))
        return logits

    def compute_output_shape(self, input_shape):
        return input_shape


# ---- the lowering table -------------------------------------------------------------------------

@dataclass
class LowerContext:
    """What a lowering needs besides the layer: dtype, mode, seed and the layers' dtype policy."""

    dtype: str  # "float32" | "float64": the variables' (and the float32-kept layers') dtype
    native: bool  # native: Keras' initializers and dropout; canonical: weights loaded, shared masks
    seed: int
    policy: str | None = None  # the layers' Keras DTypePolicy name ("mixed_bfloat16", ...); None: dtype

    def initializer(self, weight: str, init):
        if not self.native:
            return "zeros"  # canonical weights are loaded after the build
        from backends.keras.initializers import keras_initializer

        return keras_initializer(init, derived_seed(self.seed, weight), self.dtype)

    def regularizer(self, reg: Regularizer | None) -> Penalty | None:
        return None if reg is None else Penalty(reg.l1, reg.l2)

    def activation(self, fn: ActivationFn) -> Callable:
        return activation_function(fn, self.dtype)

    def common(self, layer) -> dict:
        return {"name": layer.name, "dtype": self.policy or self.dtype}

    def kept_float(self, layer) -> dict:
        """``common`` for a layer that computes in ``dtype`` under a mixed policy too (see above)."""
        return {"name": layer.name, "dtype": self.dtype}

    def full_precision(self) -> "LowerContext":
        """This context with the layers in ``dtype`` (a mixed policy's float32 final activation)."""
        return LowerContext(self.dtype, self.native, self.seed)


@register("Input")
def lower_input(layer, ctx):
    return keras.layers.InputLayer(shape=tuple(layer.shape), **ctx.kept_float(layer))


@register("Rescaling")
def lower_rescaling(layer, ctx):
    cls = ExactRescaling if ctx.dtype == "float64" else keras.layers.Rescaling
    return cls(scale=float(layer.scale), offset=float(layer.offset), **ctx.common(layer))


def _weighted(layer, ctx) -> dict:
    return dict(
        activation=ctx.activation(layer.activation),
        use_bias=layer.use_bias,
        kernel_initializer=ctx.initializer(f"{layer.name}/kernel", layer.kernel_initializer),
        bias_initializer=ctx.initializer(f"{layer.name}/bias", layer.bias_initializer),
        kernel_regularizer=ctx.regularizer(layer.kernel_regularizer),
        bias_regularizer=ctx.regularizer(layer.bias_regularizer),
        activity_regularizer=ctx.regularizer(layer.activity_regularizer),
        **ctx.common(layer),
    )


@register("Dense")
def lower_dense(layer, ctx):
    return keras.layers.Dense(layer.units, **_weighted(layer, ctx))


@register("Conv2D")
def lower_conv2d(layer, ctx):
    return keras.layers.Conv2D(layer.filters, tuple(layer.kernel_size), strides=tuple(layer.strides),
                               padding=layer.padding, dilation_rate=tuple(layer.dilation_rate),
                               **_weighted(layer, ctx))


def _depthwise(layer, ctx) -> dict:
    """DepthwiseConv2D's and SeparableConv2D's shared arguments (the depthwise kernel's)."""
    kernel = layer.weights(layer.input_shape)[0].name  # "kernel" (DepthwiseConv2D) or "depthwise_kernel"
    return dict(
        kernel_size=tuple(layer.kernel_size), strides=tuple(layer.strides), padding=layer.padding,
        depth_multiplier=layer.depth_multiplier, dilation_rate=tuple(layer.dilation_rate),
        activation=ctx.activation(layer.activation), use_bias=layer.use_bias,
        depthwise_initializer=ctx.initializer(f"{layer.name}/{kernel}", layer.depthwise_initializer),
        bias_initializer=ctx.initializer(f"{layer.name}/bias", layer.bias_initializer),
        depthwise_regularizer=ctx.regularizer(layer.depthwise_regularizer),
        bias_regularizer=ctx.regularizer(layer.bias_regularizer),
        activity_regularizer=ctx.regularizer(layer.activity_regularizer),
        **ctx.common(layer),
    )


@register("DepthwiseConv2D")
def lower_depthwise_conv2d(layer, ctx):
    return keras.layers.DepthwiseConv2D(**_depthwise(layer, ctx))


@register("SeparableConv2D")
def lower_separable_conv2d(layer, ctx):
    return keras.layers.SeparableConv2D(
        layer.filters, **_depthwise(layer, ctx),
        pointwise_initializer=ctx.initializer(f"{layer.name}/pointwise_kernel", layer.pointwise_initializer),
        pointwise_regularizer=ctx.regularizer(layer.pointwise_regularizer))


class ExactBilinearUpSampling2D(keras.layers.UpSampling2D):
    """Keras' bilinear UpSampling2D in float64: TensorFlow's ``resize`` computes bilinear resizing in float32
    whatever the input's dtype (its output is float32; 1e-7 off), so the same interpolation is written as
    y = A_h·x·A_wᵀ with the matrices of ``compiler.semantics.resize`` (TensorFlow's half-pixel centres)."""

    def build(self, input_shape):
        h, w = input_shape[1], input_shape[2]
        self._matrices = (bilinear_matrix(h, self.size[0]), bilinear_matrix(w, self.size[1]))
        super().build(input_shape)

    def call(self, inputs):
        a_h, a_w = (ops.convert_to_tensor(a, dtype=inputs.dtype) for a in self._matrices)
        return ops.einsum("ih,nhwc,jw->nijc", a_h, inputs, a_w)


@register("UpSampling2D")
def lower_up_sampling2d(layer, ctx):
    exact = layer.interpolation == "bilinear" and ctx.dtype == "float64"
    cls = ExactBilinearUpSampling2D if exact else keras.layers.UpSampling2D
    return cls(size=tuple(layer.size), interpolation=layer.interpolation, **ctx.common(layer))


def _pooling(layer) -> dict:
    return {"pool_size": tuple(layer.pool_size), "strides": tuple(layer.strides or layer.pool_size),
            "padding": layer.padding}


@register("MaxPooling2D")
def lower_max_pooling2d(layer, ctx):
    return keras.layers.MaxPooling2D(**_pooling(layer), **ctx.common(layer))


@register("AveragePooling2D")
def lower_average_pooling2d(layer, ctx):
    return keras.layers.AveragePooling2D(**_pooling(layer), **ctx.common(layer))


@register("GlobalAveragePooling2D")
def lower_global_average_pooling2d(layer, ctx):
    return keras.layers.GlobalAveragePooling2D(keepdims=layer.keepdims, **ctx.common(layer))


@register("Flatten")
def lower_flatten(layer, ctx):
    return keras.layers.Flatten(**ctx.common(layer))


@register("GlobalMaxPooling2D")
def lower_global_max_pooling2d(layer, ctx):
    return keras.layers.GlobalMaxPooling2D(keepdims=layer.keepdims, **ctx.common(layer))


@register("ZeroPadding2D")
def lower_zero_padding2d(layer, ctx):
    return keras.layers.ZeroPadding2D(padding=layer.padding, **ctx.common(layer))


@register("Cropping2D")
def lower_cropping2d(layer, ctx):
    return keras.layers.Cropping2D(cropping=layer.cropping, **ctx.common(layer))


@register("Reshape")
def lower_reshape(layer, ctx):
    return keras.layers.Reshape(tuple(layer.target_shape), **ctx.common(layer))


@register("Permute")
def lower_permute(layer, ctx):
    return keras.layers.Permute(tuple(layer.dims), **ctx.common(layer))


@register("Normalization")
def lower_normalization(layer, ctx):
    return PinnedNormalization(layer, **ctx.kept_float(layer))


@register("Dropout")
def lower_dropout(layer, ctx):
    if ctx.native:
        return keras.layers.Dropout(layer.rate, seed=derived_seed(ctx.seed, layer.name), **ctx.common(layer))
    return MaskedDropout(layer.rate, spatial=False, **ctx.common(layer))


@register("SpatialDropout2D")
def lower_spatial_dropout2d(layer, ctx):
    if ctx.native:
        return keras.layers.SpatialDropout2D(layer.rate, seed=derived_seed(ctx.seed, layer.name),
                                             **ctx.common(layer))
    return MaskedDropout(layer.rate, spatial=True, **ctx.common(layer))


@register("BatchNormalization")
def lower_batch_normalization(layer, ctx):
    return keras.layers.BatchNormalization(axis=-1, momentum=layer.momentum, epsilon=layer.epsilon,
                                           center=layer.center, scale=layer.scale, **ctx.common(layer))


def _scale_shift(layer, ctx) -> dict:
    """The arguments LayerNormalization and GroupNormalization share, under Keras' names."""
    return dict(epsilon=layer.epsilon, center=layer.center, scale=layer.scale,
                beta_initializer=ctx.initializer(f"{layer.name}/beta", layer.beta_initializer),
                gamma_initializer=ctx.initializer(f"{layer.name}/gamma", layer.gamma_initializer),
                beta_regularizer=ctx.regularizer(layer.beta_regularizer),
                gamma_regularizer=ctx.regularizer(layer.gamma_regularizer), **ctx.common(layer))


@register("LayerNormalization")
def lower_layer_normalization(layer, ctx):
    axis = layer.axis if isinstance(layer.axis, int) else list(layer.axis)
    return keras.layers.LayerNormalization(axis=axis, **_scale_shift(layer, ctx))


@register("GroupNormalization")
def lower_group_normalization(layer, ctx):
    return keras.layers.GroupNormalization(groups=layer.groups, axis=layer.axis, **_scale_shift(layer, ctx))


@register("Conv2DTranspose")
def lower_conv2d_transpose(layer, ctx):
    cls = DilatedConv2DTranspose if max(layer.dilation_rate) > 1 else keras.layers.Conv2DTranspose
    return cls(layer.filters, tuple(layer.kernel_size), strides=tuple(layer.strides), padding=layer.padding,
               output_padding=None if layer.output_padding is None else tuple(layer.output_padding),
               dilation_rate=tuple(layer.dilation_rate), **_weighted(layer, ctx))


@register("Activation")
def lower_activation(layer, ctx):
    return keras.layers.Activation(ctx.activation(layer.activation), **ctx.common(layer))


class ExactReLU(keras.layers.ReLU):
    """float64: Keras' ReLU (``ReLU.static_call``, the same branches, so the same derivatives at the kinks) with
    max_value, threshold and the slope as Python scalars: Keras casts max_value and threshold with ``ops.cast``
    (through a float32 tensor: 0.1 → 0.10000000149) and its leaky path passes the slope as a float32 attribute."""

    def call(self, inputs):
        s, m, t = float(self.negative_slope), self.max_value, float(self.threshold)
        if s != 0 and m is None and t == 0:
            return exact_leaky_relu(inputs, s)
        x = inputs
        clip = m is not None
        if t != 0:
            y = ops.where(x > t, x, ops.zeros_like(x))
        elif m == 6:
            y, clip = ops.relu6(x), False
        else:
            y = ops.relu(x)
        if clip:
            y = ops.clip(y, 0.0, float(m))
        if s != 0:
            y = y - s * ops.relu(t - x if t != 0 else -x)
        return y


class ExactLeakyReLU(keras.layers.LeakyReLU):
    """float64: Keras' LeakyReLU with the slope in the tensor's dtype (``exact_leaky_relu``)."""

    def call(self, inputs):
        return exact_leaky_relu(inputs, float(self.negative_slope))


@register("ReLU")
def lower_relu(layer, ctx):
    cls = ExactReLU if ctx.dtype == "float64" else keras.layers.ReLU
    return cls(max_value=layer.max_value, negative_slope=layer.negative_slope, threshold=layer.threshold,
               **ctx.common(layer))


@register("LeakyReLU")
def lower_leaky_relu(layer, ctx):
    cls = ExactLeakyReLU if ctx.dtype == "float64" else keras.layers.LeakyReLU
    return cls(negative_slope=layer.negative_slope, **ctx.common(layer))


@register("PReLU")
def lower_prelu(layer, ctx):
    return keras.layers.PReLU(alpha_initializer=ctx.initializer(f"{layer.name}/alpha", layer.alpha_initializer),
                              alpha_regularizer=ctx.regularizer(layer.alpha_regularizer),
                              shared_axes=list(layer.shared) or None, **ctx.common(layer))


@register("ELU")
def lower_elu(layer, ctx):
    return keras.layers.ELU(alpha=layer.alpha, **ctx.common(layer))


@register("Softmax")
def lower_softmax(layer, ctx):
    axis = layer.axis if isinstance(layer.axis, int) else list(layer.axis)
    return keras.layers.Softmax(axis=axis, **ctx.common(layer))


# ---- merge layers: called on the list of their inputs' outputs (backends.keras.model) ----------------------
# Keras' own layers, same rank (the IR refuses others): size-1 axes broadcast, and the gradient of a broadcast
# input is summed over those axes (TensorFlow's BroadcastGradientArgs). Maximum/Minimum fold left to right with
# tf.maximum/tf.minimum, whose gradients (MaximumGrad: x >= y; MinimumGrad: x <= y) give a tie to the left
# operand of each fold: the pinned rule. Average is the left-to-right sum ÷ n.
MERGES = {"Add": keras.layers.Add, "Subtract": keras.layers.Subtract, "Multiply": keras.layers.Multiply,
          "Average": keras.layers.Average, "Maximum": keras.layers.Maximum, "Minimum": keras.layers.Minimum}


def _lower_merge(layer, ctx):
    return MERGES[layer.kind](**ctx.common(layer))


for _kind in MERGES:
    register(_kind)(_lower_merge)


@register("Concatenate")
def lower_concatenate(layer, ctx):
    return keras.layers.Concatenate(axis=layer.axis, **ctx.common(layer))
