"""Every IR layer kind lowered to a ``torch.nn.Module``: ``LOWERINGS[kind](layer, ctx) -> module``.

Layout. Specs are channels-last (NHWC); torch's convolutions and pooling are channels-first.
Inside the lowered network every 4-D tensor is NCHW: the Input layer converts an image batch
once, every 4-D layer works in NCHW, and Flatten converts back to NHWC before flattening, so
the flatten order is NHWC as in Keras (``model.TorchModel`` converts a 4-D *model output* back
too). The conversion at the Input is a view: the memory stays NHWC, torch's ``channels_last``
format, which its CPU kernels keep through the network and run faster in (about 1.5x on the
benchmark CNN), and which makes Flatten's conversion a view too. Weights cross the boundary in
Keras layouts (``KERAS_WEIGHTS`` on each module with weights says which attribute holds which
Keras weight, and in which layout).

torch's own layers are used where they can be configured to match Keras exactly
(``nn.Linear``, ``nn.Conv2d``, ``F.max_pool2d``, ``F.avg_pool2d``, ``F.batch_norm``, the
activations of ``torch.nn.functional``). The adapters, and the torch default each one works around:

- ``KerasConv2d``: TensorFlow's ``same`` padding is asymmetric (the extra pixel at the end) when
  the total padding is odd; torch's ``padding=`` is symmetric. Symmetric amounts use the conv's
  own ``padding=``; otherwise the input is ``F.pad``-ed first.
- ``MaxPool2d``: same padding, as above, with −∞ (``F.pad(value=-inf)``) when asymmetric.
- ``AvgPool2d``: TensorFlow divides by the number of *real* pixels in each window. Symmetric
  ``same``: ``count_include_pad=False``; asymmetric: zero-pad, window sums
  (``divisor_override=1``) divided by a precomputed count map.
- ``KerasBatchNorm``: Keras' momentum is the weight of the *old* moving value (0.99; torch's
  0.1 is the weight of the new one), ε 1e-3 (torch 1e-5), and the moving variance is updated
  with the *biased* batch variance (torch uses the unbiased one). The batch is normalised by
  ``F.batch_norm`` (biased statistics, as Keras) writing the batch mean and unbiased variance
  into scratch buffers (momentum 1); the moving statistics are updated from them, Keras' way,
  only once the step is known to be finite (``commit``).
- ``KerasDropout``: canonical mode multiplies by the shared mask ``compiler.semantics.masks.keep_mask``
  (drawn in NHWC, transposed to NCHW); native mode draws with torch's RNG (a ``torch.Generator``
  seeded from the spec's seed), per element, or per (sample, channel) for SpatialDropout2D.
- ``ToChannelsFirst`` / ``FlattenNHWC``: the layout conversions above.
- ``KerasNormalization``: Keras' Normalization, which torch does not have (see its docstring).
- ``KerasDepthwiseConv2d``: DepthwiseConv2D (and SeparableConv2D's first step) as a grouped ``F.conv2d``, its
  kernel held in a Conv2d kernel's permutation of Keras' layout and viewed as torch's at each call.
- ``UpSample2d``: nearest by ``repeat_interleave`` (exact for any factor); bilinear by ``F.interpolate``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from compiler.semantics.masks import keep_mask
from compiler.semantics.normalization import statistics
from compiler.ir.values import ActivationFn
from compiler.ir.layers.geometry import same_padding, transposed_crop
from compiler.ir.layers.normalization import EPSILON

# Keras-layout conversions of a weight (see model.TorchModel's weight table)
SAME, DENSE_KERNEL, CONV_KERNEL = "same", "dense_kernel", "conv_kernel"


@dataclass
class RunContext:
    """What one forward pass needs to know, shared by every module of a network."""

    training: bool = False
    seed: int = 0
    step: int = 0
    native: bool = False  # native mode: dropout from ``generator``; canonical: ``keep_mask``
    generator: torch.Generator | None = None
    pending: list = field(default_factory=list)  # KerasBatchNorm layers whose batch statistics await commit


Lowering = Callable[[object, RunContext], nn.Module]
LOWERINGS: dict[str, Lowering] = {}


def register(kind: str):
    def wrap(fn: Lowering) -> Lowering:
        LOWERINGS[kind] = fn
        return fn
    return wrap


def lower(layer, ctx: RunContext) -> nn.Module:
    try:
        fn = LOWERINGS[layer.kind]
    except KeyError:
        raise NotImplementedError(f"the torch backend has no lowering for layer kind {layer.kind!r}") from None
    return fn(layer, ctx)


def is_image(shape) -> bool:
    """A per-sample shape (h, w, c): a 4-D tensor, NCHW inside the network."""
    return shape is not None and len(shape) == 3


# ---- activations -----------------------------------------------------------------------------
# ACTIVATIONS[kind](fn, channel_dim) -> callable; channel_dim is where softmax normalises
# (the last axis in Keras = the channel axis: 1 for an NCHW tensor, -1 otherwise).
ACTIVATIONS: dict[str, Callable[[ActivationFn, int], Callable[[torch.Tensor], torch.Tensor]]] = {
    "linear": lambda fn, dim: _identity,
    "relu": lambda fn, dim: F.relu,
    # Keras' leaky_relu function slope is 0.2 (torch's default 0.01)
    "leaky_relu": lambda fn, dim: partial(F.leaky_relu, negative_slope=0.2 if fn.alpha is None else fn.alpha),
    "elu": lambda fn, dim: partial(F.elu, alpha=1.0 if fn.alpha is None else fn.alpha),
    # exact: x·Φ(x) with erf; approximate: ½x(1 + tanh(√(2/π)(x + 0.044715x³))) — torch's two forms
    "gelu": lambda fn, dim: partial(F.gelu, approximate="tanh" if fn.approximate else "none"),
    "silu": lambda fn, dim: F.silu,
    "tanh": lambda fn, dim: torch.tanh,
    "sigmoid": lambda fn, dim: torch.sigmoid,
    "softmax": lambda fn, dim: partial(torch.softmax, dim=dim),
}


def _identity(x):
    return x


class Activation(nn.Module):
    """y = fn(x): an Activation layer, or the activation step after a Dense/Conv2D."""

    def __init__(self, fn: ActivationFn, image: bool):
        super().__init__()
        self.kind = fn.kind
        self.fn = ACTIVATIONS[fn.kind](fn, 1 if image else -1)

    def forward(self, x):
        return self.fn(x)

    def extra_repr(self):
        return self.kind


@register("Activation")
def _activation(layer, ctx):
    return Activation(layer.activation, is_image(layer.input_shape))


# ---- activation layers (ReLU, LeakyReLU, PReLU, ELU, Softmax): elementwise, so NCHW changes nothing but
# PReLU's alpha (held in Keras' layout, viewed channels-first per call) and Softmax's axes (mapped to NCHW)
class KerasReLU(nn.Module):
    """Keras' ReLU(max_value=m, negative_slope=s, threshold=t) with its branches (``ReLU.static_call``), so the
    derivative at every kink is TensorFlow's: a leaky ReLU (s, no m, t = 0) is ``F.leaky_relu``; otherwise
    where(x > t, x, 0) (t ≠ 0) or relu6 (m = 6; gradient 0 at 0 and 6) or relu, clamped to [0, m] (the gradient
    passes at m), minus s·relu(t − x)."""

    def __init__(self, layer):
        super().__init__()
        self.leaky = layer.leaky
        self.slope, self.max_value, self.threshold = layer.negative_slope, layer.max_value, layer.threshold

    def forward(self, x):
        s, m, t = self.slope, self.max_value, self.threshold
        if self.leaky:
            return F.leaky_relu(x, negative_slope=s)
        clip = m is not None
        if t != 0:
            y = torch.where(x > t, x, torch.zeros((), dtype=x.dtype, device=x.device))
        elif m == 6:
            y, clip = F.relu6(x), False
        else:
            y = F.relu(x)
        if clip:
            y = torch.clamp(y, 0.0, m)
        if s != 0:
            y = y - s * F.relu(t - x if t != 0 else -x)
        return y

    def extra_repr(self):
        return f"max_value={self.max_value}, negative_slope={self.slope}, threshold={self.threshold}"


@register("ReLU")
def _relu(layer, ctx):
    return KerasReLU(layer)


@register("LeakyReLU")
def _leaky_relu(layer, ctx):
    return nn.LeakyReLU(negative_slope=layer.negative_slope)  # torch's default slope is 0.01, Keras' layer's 0.3


@register("ELU")
def _elu(layer, ctx):
    return nn.ELU(alpha=layer.alpha)


class KerasPReLU(nn.Module):
    """y = relu(x) − α·relu(−x), α of the input's shape (1 on the shared axes) held in Keras' layout (h, w, c)
    and viewed as (c, h, w) against an NCHW image (torch's nn.PReLU has one α per channel or one in all)."""

    KERAS_WEIGHTS = {"alpha": ("alpha", SAME)}

    def __init__(self, layer):
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(layer.alpha_shape(layer.input_shape)))
        self.image = is_image(layer.input_shape)

    def forward(self, x):
        alpha = self.alpha.permute(2, 0, 1) if self.image else self.alpha
        return F.relu(x) - alpha * F.relu(-x)


@register("PReLU")
def _prelu(layer, ctx):
    return KerasPReLU(layer)


class KerasSoftmax(nn.Module):
    """Softmax over the layer's axes (an image's mapped to NCHW): ``torch.softmax`` over one axis, else
    exp(x − logsumexp(x, axes)) as Keras computes a softmax over several."""

    def __init__(self, layer):
        super().__init__()
        axes = layer.axes(layer.input_shape)
        self.dims = tuple(sorted(NCHW_AXIS[a] for a in axes)) if is_image(layer.input_shape) else axes

    def forward(self, x):
        if len(self.dims) == 1:
            return torch.softmax(x, dim=self.dims[0])
        return torch.exp(x - torch.logsumexp(x, dim=self.dims, keepdim=True))

    def extra_repr(self):
        return f"dims={self.dims}"


@register("Softmax")
def _softmax(layer, ctx):
    return KerasSoftmax(layer)


# ---- layout ----------------------------------------------------------------------------------
class ToChannelsFirst(nn.Module):
    """NHWC → NCHW, once, where an image batch enters the network: a view, so the memory stays
    NHWC (torch's ``channels_last`` format), which torch's CPU convolutions, pooling and batch
    normalization keep and run faster in; Flatten's NHWC order is then a view too."""

    def forward(self, x):
        return x.permute(0, 3, 1, 2)


class FlattenNHWC(nn.Module):
    """NCHW → NHWC → (N, h·w·c): Keras' flatten order."""

    def forward(self, x):
        return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)


@register("Input")
def _input(layer, ctx):
    return ToChannelsFirst() if is_image(layer.shape) else nn.Identity()


@register("Flatten")
def _flatten(layer, ctx):
    return FlattenNHWC() if is_image(layer.input_shape) else nn.Flatten()


class Rescaling(nn.Module):
    """y = x·scale + offset."""

    def __init__(self, scale: float, offset: float):
        super().__init__()
        self.scale, self.offset = float(scale), float(offset)

    def forward(self, x):
        y = x * self.scale
        return y + self.offset if self.offset else y

    def extra_repr(self):
        return f"scale={self.scale}, offset={self.offset}"


@register("Rescaling")
def _rescaling(layer, ctx):
    return Rescaling(layer.scale, layer.offset)


class KerasNormalization(nn.Module):
    """Keras' Normalization: y = (x − mean)/max(√variance, ε) (``invert``: mean + x·max(√variance, ε)),
    ε = 1e-7, with the statistics in Keras' layout (the kept axes' sizes) as buffers ``mean``, ``variance``,
    ``count`` (adapted before training by ``runtime.adapt``), or the spec's given values (constant buffers).
    PyTorch has no such layer. An image batch (NCHW inside the network) is viewed as NHWC for it, so its
    axes are the spec's."""

    KERAS_WEIGHTS = {"mean": ("mean", SAME), "variance": ("variance", SAME), "count": ("count", SAME)}

    def __init__(self, layer):
        super().__init__()
        shape = layer.input_shape
        self.invert, self.image = bool(layer.invert), is_image(shape)
        self.broadcast = layer.broadcast_shape(shape)
        if layer.adapts:
            self.register_buffer("mean", torch.zeros(layer.statistics_shape(shape)))
            self.register_buffer("variance", torch.ones(layer.statistics_shape(shape)))
            self.register_buffer("count", torch.zeros(()))
        else:  # the spec's values, exact in float64 (cast with the module's dtype)
            mean, variance = statistics(layer, {}, np.float64)
            self.register_buffer("mean", torch.from_numpy(mean.copy()), persistent=False)
            self.register_buffer("variance", torch.from_numpy(variance.copy()), persistent=False)
            self.broadcast = None

    def forward(self, x):
        if self.image:
            x = x.permute(0, 2, 3, 1)
        mean, variance = self.mean, self.variance
        if self.broadcast is not None:
            mean, variance = mean.reshape(self.broadcast), variance.reshape(self.broadcast)
        scale = torch.clamp(torch.sqrt(variance), min=EPSILON)
        y = mean + x * scale if self.invert else (x - mean) / scale
        return y.permute(0, 3, 1, 2) if self.image else y

    def extra_repr(self):
        return f"invert={self.invert}"


@register("Normalization")
def _normalization(layer, ctx):
    return KerasNormalization(layer)


# ---- weighted layers ---------------------------------------------------------------------------
class KerasDense(nn.Linear):
    """torch's Linear: z = x·Wᵀ + b with W = Keras' kernel transposed ((units, in) vs (in, units))."""

    KERAS_WEIGHTS = {"kernel": ("weight", DENSE_KERNEL), "bias": ("bias", SAME)}


@register("Dense")
def _dense(layer, ctx):
    return KerasDense(layer.input_shape[-1], layer.units, bias=layer.use_bias)


def _same_amounts(shape, window, strides, dilation=(1, 1)) -> tuple[tuple[int, int], tuple[int, int]]:
    """TensorFlow's (top, bottom), (left, right) for ``same`` on an (h, w, c) input."""
    return (same_padding(shape[0], window[0], strides[0], dilation[0]),
            same_padding(shape[1], window[1], strides[1], dilation[1]))


def _split_padding(amounts):
    """(symmetric padding for torch's ``padding=``, F.pad amounts or None): F.pad only when asymmetric."""
    (top, bottom), (left, right) = amounts
    if top == bottom and left == right:
        return (top, left), None
    return (0, 0), (left, right, top, bottom)


class KerasConv2d(nn.Conv2d):
    """torch's Conv2d (weight (filters, in, kh, kw) = Keras' kernel (kh, kw, in, filters) permuted),
    preceded by ``F.pad`` when TensorFlow's ``same`` padding is asymmetric."""

    KERAS_WEIGHTS = {"kernel": ("weight", CONV_KERNEL), "bias": ("bias", SAME)}

    def __init__(self, layer):
        padding, self.pre_pad = (0, 0), None
        if layer.padding == "same":
            padding, self.pre_pad = _split_padding(
                _same_amounts(layer.input_shape, layer.kernel_size, layer.strides, layer.dilation_rate))
        super().__init__(layer.input_shape[-1], layer.filters, tuple(layer.kernel_size), stride=tuple(layer.strides),
                         padding=padding, dilation=tuple(layer.dilation_rate), bias=layer.use_bias)

    def forward(self, x):
        if self.pre_pad is not None:
            x = F.pad(x, self.pre_pad)
        return self._conv_forward(x, self.weight, self.bias)


@register("Conv2D")
def _conv2d(layer, ctx):
    return KerasConv2d(layer)


class KerasDepthwiseConv2d(nn.Module):
    """Keras' DepthwiseConv2D as torch's grouped convolution (``groups`` = in_channels): output channel
    c·M + m is input channel c convolved with kernel m of c, which is torch's group order. The kernel is held
    as (M, in, kh, kw), Keras' (kh, kw, in, M) permuted as a Conv2d kernel is (``CONV_KERNEL``), and viewed
    as torch's (in·M, 1, kh, kw) at each call; TensorFlow's asymmetric ``same`` padding as ``KerasConv2d``.
    ``pointwise``: SeparableConv2D, a 1×1 convolution (``pointwise`` (filters, in·M, 1, 1)) after it, the bias
    on the pointwise step."""

    KERAS_WEIGHTS = {"kernel": ("weight", CONV_KERNEL), "bias": ("bias", SAME)}

    def __init__(self, layer, pointwise: bool = False):
        super().__init__()
        channels, m = layer.input_shape[-1], layer.depth_multiplier
        self.channels = channels
        self.stride, self.dilation = tuple(layer.strides), tuple(layer.dilation_rate)
        self.padding, self.pre_pad = (0, 0), None
        if layer.padding == "same":
            self.padding, self.pre_pad = _split_padding(
                _same_amounts(layer.input_shape, layer.kernel_size, layer.strides, layer.dilation_rate))
        self.weight = nn.Parameter(torch.empty(m, channels, *layer.kernel_size))
        self.pointwise = nn.Parameter(torch.empty(layer.filters, channels * m, 1, 1)) if pointwise else None
        out = layer.filters if pointwise else channels * m
        self.bias = nn.Parameter(torch.zeros(out)) if layer.use_bias else None

    def forward(self, x):
        if self.pre_pad is not None:
            x = F.pad(x, self.pre_pad)
        w = self.weight
        kernel = w.transpose(0, 1).reshape(-1, 1, w.shape[2], w.shape[3])
        if self.pointwise is None:
            return F.conv2d(x, kernel, self.bias, self.stride, self.padding, self.dilation, self.channels)
        d = F.conv2d(x, kernel, None, self.stride, self.padding, self.dilation, self.channels)
        return F.conv2d(d, self.pointwise, self.bias)

    def extra_repr(self):
        return (f"channels={self.channels}, stride={self.stride}, padding={self.padding}, pre_pad={self.pre_pad}, "
                f"dilation={self.dilation}, pointwise={self.pointwise is not None}")


class KerasSeparableConv2d(KerasDepthwiseConv2d):
    """SeparableConv2D: the depthwise step, then the 1×1 ``pointwise`` convolution with the bias."""

    KERAS_WEIGHTS = {"depthwise_kernel": ("weight", CONV_KERNEL), "pointwise_kernel": ("pointwise", CONV_KERNEL),
                     "bias": ("bias", SAME)}

    def __init__(self, layer):
        super().__init__(layer, pointwise=True)


@register("DepthwiseConv2D")
def _depthwise_conv2d(layer, ctx):
    return KerasDepthwiseConv2d(layer)


@register("SeparableConv2D")
def _separable_conv2d(layer, ctx):
    return KerasSeparableConv2d(layer)


class UpSample2d(nn.Module):
    """Keras' UpSampling2D on NCHW: nearest repeats every pixel (``repeat_interleave``, exact);
    bilinear is ``F.interpolate(mode="bilinear", align_corners=False)``, TensorFlow's half-pixel centres
    with the sample clamped to the edge (``compiler.semantics.resize``)."""

    def __init__(self, layer):
        super().__init__()
        self.size, self.interpolation = tuple(layer.size), layer.interpolation

    def forward(self, x):
        if self.interpolation == "bilinear":
            return F.interpolate(x, scale_factor=self.size, mode="bilinear", align_corners=False)
        return x.repeat_interleave(self.size[0], dim=2).repeat_interleave(self.size[1], dim=3)

    def extra_repr(self):
        return f"size={self.size}, interpolation={self.interpolation}"


@register("UpSampling2D")
def _up_sampling2d(layer, ctx):
    return UpSample2d(layer)


# ---- pooling -----------------------------------------------------------------------------------
def _pool_geometry(layer):
    window = tuple(layer.pool_size)
    strides = tuple(layer.strides or layer.pool_size)
    padding, pre_pad = (0, 0), None
    if layer.padding == "same":
        padding, pre_pad = _split_padding(_same_amounts(layer.input_shape, window, strides))
    return window, strides, padding, pre_pad


def _ceil_mode_out(size: int, window: int, stride: int, pad: int) -> int:
    """torch's pooled size with ``ceil_mode=True``: ⌈(size + 2·pad − window) / stride⌉ + 1, less one when
    the last window would start in the right padding."""
    out = -(-(size + 2 * pad - window) // stride) + 1
    return out - 1 if (out - 1) * stride >= size + pad else out


class MaxPool2d(nn.Module):
    """y = max over each window; ``same`` pads with −∞. TensorFlow's windows start at i·stride − top; when
    torch's implicit padding of ``top`` on both sides with ``ceil_mode`` gives the same number of windows,
    they are the same windows (a window running past the bottom/right edge is clipped, as −∞ padding would
    leave it), so no padded copy of the input is made; otherwise the input is ``F.pad``-ed with −∞ first."""

    def __init__(self, layer):
        super().__init__()
        self.window, self.strides, self.padding, self.pre_pad = _pool_geometry(layer)
        self.ceil_mode = False
        if self.pre_pad is not None:
            left, _, top, _ = self.pre_pad
            begin = (top, left)
            if all(_ceil_mode_out(n, k, s, p) == out and 2 * p <= k for n, k, s, p, out in
                   zip(layer.input_shape[:2], self.window, self.strides, begin, layer.output_shape[:2])):
                self.padding, self.pre_pad, self.ceil_mode = begin, None, True

    def forward(self, x):
        if self.pre_pad is not None:
            x = F.pad(x, self.pre_pad, value=-math.inf)
        return F.max_pool2d(x, self.window, self.strides, self.padding, ceil_mode=self.ceil_mode)

    def extra_repr(self):
        return (f"window={self.window}, strides={self.strides}, padding={self.padding}, pre_pad={self.pre_pad}, "
                f"ceil_mode={self.ceil_mode}")


@register("MaxPooling2D")
def _max_pooling2d(layer, ctx):
    return MaxPool2d(layer)


class AvgPool2d(nn.Module):
    """y = Σ window / (number of real pixels in it), TensorFlow's rule for ``same``."""

    def __init__(self, layer):
        super().__init__()
        self.window, self.strides, self.padding, self.pre_pad = _pool_geometry(layer)
        if self.pre_pad is not None:
            # real pixels per window: window sums of a zero-padded map of ones, shape (1, 1, oh, ow)
            h, w = layer.input_shape[:2]
            left, right, top, bottom = self.pre_pad
            ones = np.pad(np.ones((h, w)), ((top, bottom), (left, right)))
            oh, ow = layer.output_shape[:2]
            count = np.array([[ones[i * self.strides[0]:i * self.strides[0] + self.window[0],
                                    j * self.strides[1]:j * self.strides[1] + self.window[1]].sum()
                               for j in range(ow)] for i in range(oh)])
            self.register_buffer("count", torch.from_numpy(count).reshape(1, 1, oh, ow), persistent=False)

    def forward(self, x):
        if self.pre_pad is None:  # valid, or symmetric same: torch divides by the real pixels
            return F.avg_pool2d(x, self.window, self.strides, self.padding, count_include_pad=False)
        sums = F.avg_pool2d(F.pad(x, self.pre_pad), self.window, self.strides, divisor_override=1)
        return sums / self.count

    def extra_repr(self):
        return f"window={self.window}, strides={self.strides}, padding={self.padding}, pre_pad={self.pre_pad}"


@register("AveragePooling2D")
def _average_pooling2d(layer, ctx):
    return AvgPool2d(layer)


class GlobalAvgPool2d(nn.Module):
    """y[n, c] = mean over (h, w); keepdims gives (N, C, 1, 1) — still NCHW inside."""

    def __init__(self, keepdims: bool):
        super().__init__()
        self.keepdims = keepdims

    def forward(self, x):
        return x.mean(dim=(2, 3), keepdim=self.keepdims)


@register("GlobalAveragePooling2D")
def _global_average_pooling2d(layer, ctx):
    return GlobalAvgPool2d(layer.keepdims)


class GlobalMaxPool2d(nn.Module):
    """y[n, c] = max over (h, w) (``amax``: tied maxima share the gradient equally, as TensorFlow's
    ``reduce_max``); keepdims gives (N, C, 1, 1) — still NCHW inside."""

    def __init__(self, keepdims: bool):
        super().__init__()
        self.keepdims = keepdims

    def forward(self, x):
        return x.amax(dim=(2, 3), keepdim=self.keepdims)


@register("GlobalMaxPooling2D")
def _global_max_pooling2d(layer, ctx):
    return GlobalMaxPool2d(layer.keepdims)


# ---- padding, cropping and reshaping -----------------------------------------------------------
class ZeroPad2d(nn.Module):
    """Zeros around an NCHW image: ``F.pad`` with (left, right, top, bottom)."""

    def __init__(self, layer):
        super().__init__()
        (top, bottom), (left, right) = layer.padding
        self.pads = (left, right, top, bottom)

    def forward(self, x):
        return F.pad(x, self.pads)

    def extra_repr(self):
        return f"pads={self.pads}"


@register("ZeroPadding2D")
def _zero_padding2d(layer, ctx):
    return ZeroPad2d(layer)


class Crop2d(nn.Module):
    """x[:, :, top:h − bottom, left:w − right] of an NCHW image (a view)."""

    def __init__(self, layer):
        super().__init__()
        (top, bottom), (left, right) = layer.cropping
        h, w = layer.input_shape[:2]
        self.rows, self.columns = slice(top, h - bottom), slice(left, w - right)

    def forward(self, x):
        return x[:, :, self.rows, self.columns]

    def extra_repr(self):
        return f"rows={self.rows}, columns={self.columns}"


@register("Cropping2D")
def _cropping2d(layer, ctx):
    return Crop2d(layer)


class ReshapeNHWC(nn.Module):
    """y = x reshaped to (N, *shape) in the spec's NHWC order: an image input (NCHW inside) is viewed as NHWC
    first, and an image output is viewed as NCHW again, so the values keep Keras' row-major order."""

    def __init__(self, layer):
        super().__init__()
        self.shape = tuple(layer.output_shape)
        self.image_in, self.image_out = is_image(layer.input_shape), is_image(layer.output_shape)

    def forward(self, x):
        if self.image_in:
            x = x.permute(0, 2, 3, 1)
        x = x.reshape(x.shape[0], *self.shape)
        return x.permute(0, 3, 1, 2) if self.image_out else x

    def extra_repr(self):
        return f"shape={self.shape}"


@register("Reshape")
def _reshape(layer, ctx):
    return ReshapeNHWC(layer)


class Permute(nn.Module):
    """Keras' ``transpose(x, (0, *dims))`` as one ``x.permute(axes)`` (a view); on an image, NCHW inside the
    network, the axes are composed with the NHWC views around it (``Permute.transpose_axes``)."""

    def __init__(self, layer):
        super().__init__()
        self.axes = layer.transpose_axes(channels_first=is_image(layer.input_shape))

    def forward(self, x):
        return x.permute(self.axes)

    def extra_repr(self):
        return f"axes={self.axes}"


@register("Permute")
def _permute(layer, ctx):
    return Permute(layer)


# ---- dropout -----------------------------------------------------------------------------------
class KerasDropout(nn.Module):
    """Training: y = x·m/(1 − rate) with m the keep mask; identity otherwise.

    ``spatial``: one mask value per (sample, channel) (SpatialDropout2D). Canonical masks come from
    ``keep_mask(seed, step, layer, NHWC shape, rate)``; native ones from ``ctx.generator``.
    """

    def __init__(self, layer, ctx: RunContext, spatial: bool):
        super().__init__()
        self.name, self.rate, self.spatial, self.ctx = layer.name, float(layer.rate), spatial, ctx

    def forward(self, x):
        ctx = self.ctx
        if not ctx.training or self.rate == 0:
            return x
        image = x.dim() == 4
        if ctx.native:
            shape = (x.shape[0], x.shape[1], 1, 1) if self.spatial else x.shape
            keep = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(1.0 - self.rate,
                                                                                 generator=ctx.generator)
            return x * keep.div_(1.0 - self.rate)
        if image:  # the mask is drawn in NHWC, as every backend draws it
            n, c, h, w = x.shape
            shape = (n, 1, 1, c) if self.spatial else (n, h, w, c)
        else:
            shape = tuple(x.shape)
        keep = keep_mask(ctx.seed, ctx.step, self.name, shape, self.rate)
        scale = torch.from_numpy((keep / (1.0 - self.rate)).astype(_numpy_dtype(x.dtype)))
        scale = scale.to(device=x.device, dtype=x.dtype)
        if image:
            scale = scale.permute(0, 3, 1, 2)
        return x * scale

    def extra_repr(self):
        return f"rate={self.rate}, spatial={self.spatial}"


def _numpy_dtype(dtype: torch.dtype):
    """The NumPy dtype a canonical mask is scaled in: the activations' (float32 under a mixed precision)."""
    return np.float64 if dtype == torch.float64 else np.float32


@register("Dropout")
def _dropout(layer, ctx):
    return KerasDropout(layer, ctx, spatial=False)


@register("SpatialDropout2D")
def _spatial_dropout2d(layer, ctx):
    return KerasDropout(layer, ctx, spatial=True)


# ---- batch normalization -----------------------------------------------------------------------
class KerasBatchNorm(nn.Module):
    """BatchNormalization over the channel axis (1 for NCHW, the last for (N, C) and for (N, ..., C) of any
    other rank, moved to axis 1 for ``F.batch_norm``), Keras' conventions.

    training: x̂ = (x − μ_B)/√(σ²_B + ε) with the biased batch variance (``F.batch_norm``);
    then, once the step is accepted, ``commit``: moving ← moving·momentum + batch·(1 − momentum),
    with the biased variance σ²_B = unbiased·(n − 1)/n. inference: the moving statistics.
    """

    KERAS_WEIGHTS = {"gamma": ("weight", SAME), "beta": ("bias", SAME),
                     "moving_mean": ("moving_mean", SAME), "moving_variance": ("moving_variance", SAME)}

    def __init__(self, layer, ctx: RunContext):
        super().__init__()
        channels = layer.input_shape[-1]
        self.ctx = ctx
        self.momentum, self.eps = float(layer.momentum), float(layer.epsilon)
        self.weight = nn.Parameter(torch.ones(channels)) if layer.scale else None
        self.bias = nn.Parameter(torch.zeros(channels)) if layer.center else None
        self.register_buffer("moving_mean", torch.zeros(channels))
        self.register_buffer("moving_variance", torch.ones(channels))
        # this step's batch mean and variance (unbiased, as F.batch_norm writes it), until commit
        self.register_buffer("batch_mean", torch.zeros(channels), persistent=False)
        self.register_buffer("batch_var", torch.zeros(channels), persistent=False)
        self.count = 0

    def forward(self, x):
        if x.dim() not in (2, 4):  # (N, ..., C): only 4-D tensors are NCHW inside; the channel axis goes to 1
            return self._normalize(x.movedim(-1, 1)).movedim(1, -1)
        return self._normalize(x)

    def _normalize(self, x):
        if not self.ctx.training:
            return F.batch_norm(x, self.moving_mean, self.moving_variance, self.weight, self.bias, False, 0.0, self.eps)
        self.count = x.numel() // x.shape[1]
        self.ctx.pending.append(self)
        if self.count > 1:
            # momentum 1: the scratch buffers receive exactly the batch mean and unbiased variance
            self.batch_mean.zero_()
            self.batch_var.zero_()
            return F.batch_norm(x, self.batch_mean, self.batch_var, self.weight, self.bias, True, 1.0, self.eps)
        # one value per channel (a batch of one sample without spatial axes): torch's batch_norm
        # refuses it; Keras normalises with σ² = 0
        dims = [d for d in range(x.dim()) if d != 1]
        shape = [1] * x.dim()
        shape[1] = -1
        var, mean = torch.var_mean(x, dim=dims, correction=0, keepdim=True)
        with torch.no_grad():
            self.batch_mean.copy_(mean.reshape(-1))
            self.batch_var.zero_()
        y = (x - mean) * torch.rsqrt(var + self.eps)
        if self.weight is not None:
            y = y * self.weight.reshape(shape)
        if self.bias is not None:
            y = y + self.bias.reshape(shape)
        return y

    @torch.no_grad()
    def commit(self) -> None:
        """Fold this step's batch statistics into the moving ones (Keras' momentum, biased variance)."""
        m, n = self.momentum, self.count
        self.moving_mean.mul_(m).add_(self.batch_mean, alpha=1.0 - m)
        biased = self.batch_var * ((n - 1) / n) if n > 1 else self.batch_var
        self.moving_variance.mul_(m).add_(biased, alpha=1.0 - m)

    def extra_repr(self):
        return f"momentum={self.momentum}, epsilon={self.eps}"


@register("BatchNormalization")
def _batch_normalization(layer, ctx):
    return KerasBatchNorm(layer, ctx)


# ---- per-sample normalizations -----------------------------------------------------------------
HALF = (torch.float16, torch.bfloat16)  # a mixed precision's compute dtypes
NCHW_AXIS = {1: 2, 2: 3, 3: 1}  # an image's NHWC axis (batch = 0) -> the same axis of the NCHW tensor inside


class KerasLayerNorm(nn.Module):
    """Keras' LayerNormalization: y = γ·(x − μ)/√(σ² + ε) + β, μ and σ² (biased) per sample over the spec's
    axes (mapped to NCHW for an image), γ and β in Keras' layout (the normalized axes' sizes in Keras'
    order), reshaped to broadcast as Keras reshapes them. ``F.layer_norm`` (the same formula) when the axes
    are the trailing ones and γ's layout is theirs; torch's own default ε is 1e-5, Keras' 1e-3."""

    KERAS_WEIGHTS = {"gamma": ("gamma", SAME), "beta": ("beta", SAME)}

    def __init__(self, layer):
        super().__init__()
        shape = layer.input_shape
        self.eps, self.image = float(layer.epsilon), is_image(shape)
        weights = {w.name: w.shape for w in layer.weights(shape)}
        self.gamma = nn.Parameter(torch.ones(weights["gamma"])) if "gamma" in weights else None
        self.beta = nn.Parameter(torch.zeros(weights["beta"])) if "beta" in weights else None
        axes = layer.normalized_axes(shape)
        self.dims = tuple(sorted(NCHW_AXIS[a] for a in axes)) if self.image else axes
        self.broadcast = layer.broadcast_shape(shape)  # NHWC; permuted for an image
        trailing = self.dims == tuple(range(len(shape) + 1 - len(axes), len(shape) + 1))
        self.normalized = tuple(shape[a - 1] for a in axes)
        self.fused = trailing and not self.image and all(s == self.normalized for s in weights.values())

    def _broadcast(self, v):
        v = v.reshape(self.broadcast)
        return v.permute(0, 3, 1, 2) if self.image else v

    def forward(self, x):
        dtype = x.dtype
        if dtype in HALF:  # Keras normalizes in float32 at least, and gives the compute dtype back
            x = x.float()
        if self.fused:
            return F.layer_norm(x, self.normalized, self.gamma, self.beta, self.eps).to(dtype)
        var, mean = torch.var_mean(x, dim=self.dims, correction=0, keepdim=True)
        y = (x - mean) * torch.rsqrt(var + self.eps)
        if self.gamma is not None:
            y = y * self._broadcast(self.gamma)
        if self.beta is not None:
            y = y + self._broadcast(self.beta)
        return y.to(dtype)

    def extra_repr(self):
        return f"dims={self.dims}, epsilon={self.eps}, fused={self.fused}"


@register("LayerNormalization")
def _layer_normalization(layer, ctx):
    return KerasLayerNorm(layer)


class KerasGroupNorm(nn.Module):
    """Keras' GroupNormalization: ``F.group_norm`` (the same formula: μ, σ² per sample and group over the
    group's channels and every other axis), with the grouped axis moved to dim 1 when it is not there
    (it is for an image's channels: NCHW inside) and Keras' ε 1e-3 (torch's default 1e-5)."""

    KERAS_WEIGHTS = {"gamma": ("gamma", SAME), "beta": ("beta", SAME)}

    def __init__(self, layer):
        super().__init__()
        shape = layer.input_shape
        a = layer.channel_axis(shape)
        self.dim = NCHW_AXIS[a] if is_image(shape) else a  # where the channels are inside
        self.groups, self.eps = layer.group_count(shape), float(layer.epsilon)
        channels = shape[a - 1]
        self.gamma = nn.Parameter(torch.ones(channels)) if layer.scale else None
        self.beta = nn.Parameter(torch.zeros(channels)) if layer.center else None

    def forward(self, x):
        dtype = x.dtype
        if dtype in HALF:  # Keras normalizes in float32 at least, and gives the compute dtype back
            x = x.float()
        if self.dim != 1:
            x = x.movedim(self.dim, 1)
        if self.gamma is None and self.beta is not None:
            # torch 2.13's group_norm backward fails ("tensor does not have a device") with a bias and no
            # weight: β is added after it
            y = F.group_norm(x, self.groups, None, None, self.eps)
            y = y + self.beta.reshape(-1, *[1] * (x.dim() - 2))
        else:
            y = F.group_norm(x, self.groups, self.gamma, self.beta, self.eps)
        return (y.movedim(1, self.dim) if self.dim != 1 else y).to(dtype)

    def extra_repr(self):
        return f"groups={self.groups}, dim={self.dim}, epsilon={self.eps}"


@register("GroupNormalization")
def _group_normalization(layer, ctx):
    return KerasGroupNorm(layer)


# ---- transposed convolution --------------------------------------------------------------------
def transposed_padding(layer) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int] | None]:
    """torch's ``padding`` and ``output_padding`` for TensorFlow's transposed convolution, and the output
    size to crop to (None when no crop is needed).

    TensorFlow cuts its output out of the full transposed convolution, ``front`` pixels dropped before and
    ``back`` after (``geometry.transposed_crop``; a negative ``back`` adds zero rows). torch drops ``padding``
    pixels at both ends, then adds ``output_padding`` rows: padding = front, output_padding = front − back
    give the same output when front ≥ back; when back = front + 1 (``same`` with an odd total padding)
    torch's output is one pixel longer and is cropped."""
    padding, output_padding, crop = [], [], False
    for axis in range(2):
        front, back = transposed_crop(layer.input_shape[axis], layer.kernel_size[axis], layer.strides[axis],
                                      layer.padding, layer.output_shape[axis], layer.dilation_rate[axis])
        padding.append(front)
        output_padding.append(max(front - back, 0))
        crop = crop or back > front
    return tuple(padding), tuple(output_padding), tuple(layer.output_shape[:2]) if crop else None


class KerasConvTranspose2d(nn.ConvTranspose2d):
    """torch's ConvTranspose2d (weight (in, filters, kh, kw) = Keras' kernel (kh, kw, filters, in) permuted as a
    Conv2D kernel is), with ``padding``/``output_padding`` from ``transposed_padding`` and the crop it asks for."""

    KERAS_WEIGHTS = {"kernel": ("weight", CONV_KERNEL), "bias": ("bias", SAME)}

    def __init__(self, layer):
        padding, output_padding, self.crop = transposed_padding(layer)
        super().__init__(layer.input_shape[-1], layer.filters, tuple(layer.kernel_size), stride=tuple(layer.strides),
                         padding=padding, output_padding=output_padding, dilation=tuple(layer.dilation_rate),
                         bias=layer.use_bias)

    def forward(self, x):
        y = F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding, 1,
                               self.dilation)
        return y if self.crop is None else y[:, :, :self.crop[0], :self.crop[1]]


@register("Conv2DTranspose")
def _conv2d_transpose(layer, ctx):
    return KerasConvTranspose2d(layer)



# ---- merge layers: ``forward(xs)`` takes the list of the inputs, in order (``model.TorchModel``) ------------
# Elementwise merges broadcast a size-1 axis as Keras does; inside the network an image is NCHW, and every
# input of a merge is permuted alike, so broadcasting lines the same axes up. autograd sums the gradient of a
# broadcast input over its broadcast axes.
class Merge(nn.Module):
    """Add, Subtract, Multiply, Average: folded left to right as Keras' ``_merge_function`` does."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def forward(self, xs):
        y = xs[0]
        if self.kind == "Subtract":
            return y - xs[1]
        if self.kind == "Multiply":
            for x in xs[1:]:
                y = y * x
            return y
        for x in xs[1:]:
            y = y + x
        return y / len(xs) if self.kind == "Average" else y

    def extra_repr(self):
        return self.kind


class Extremum(nn.Module):
    """Maximum / Minimum folded left to right (m = max(max(x₁, x₂), x₃)), each fold a ``torch.where`` that
    takes the left operand on a tie, so a tie's whole gradient goes to the left one as TensorFlow's
    MaximumGrad (x ≥ y) / MinimumGrad (x ≤ y) send it — ``torch.maximum``/``torch.minimum`` would split it half
    and half."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind
        self.left_wins = torch.ge if kind == "Maximum" else torch.le

    def forward(self, xs):
        m = xs[0]
        for x in xs[1:]:
            m = torch.where(self.left_wins(m, x), m, x)
        return m

    def extra_repr(self):
        return self.kind


class Concatenate(nn.Module):
    """torch.cat along Keras' ``axis`` mapped into the network's layout: for an image (NCHW inside) Keras'
    height, width, channels (feature axes 0, 1, 2) are dims 2, 3, 1; otherwise feature axis a is dim a + 1."""

    def __init__(self, layer):
        super().__init__()
        rank = len(layer.output_shape)
        axis = layer.feature_axis(rank)
        self.dim = (2, 3, 1)[axis] if is_image(layer.output_shape) else axis + 1

    def forward(self, xs):
        return torch.cat(xs, dim=self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


for _kind in ("Add", "Subtract", "Multiply", "Average"):
    register(_kind)(lambda layer, ctx: Merge(layer.kind))
for _kind in ("Maximum", "Minimum"):
    register(_kind)(lambda layer, ctx: Extremum(layer.kind))
register("Concatenate")(lambda layer, ctx: Concatenate(layer))

__all__ = ["ACTIVATIONS", "LOWERINGS", "Activation", "RunContext", "is_image", "lower"]
