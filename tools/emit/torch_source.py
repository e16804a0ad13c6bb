"""``nnspec emit --backend torch``: a spec as a standalone PyTorch program, with nnspec's pinned meaning.

The program imports torch and numpy (scikit-learn for a bundled data set), never nnspec. Each layer
kind is lowered by one function of ``LAYERS`` to the lines it adds to the module's ``__init__`` and
``forward``; activations, initializers, regularizers, the loss, the optimizer and the schedule each
have their own small table or writer below. What PyTorch does differently from the pinned meaning
is written out as a small adapter, emitted only when the spec needs it, with a comment naming the
convention it implements:

- a graph: ``forward`` reads as the spec (``tools/emit/flow.py``): a line's output stays in ``x`` when only
  the next line takes it, a value used again gets a variable named after its layer, a merge layer is an
  expression of its inputs' variables (Maximum/Minimum as ``tf_maximum``/``tf_minimum``: a tie's gradient
  to the left operand, as TensorFlow; Concatenate's Keras axis mapped to NCHW); several inputs are
  ``forward``'s arguments, several outputs its tuple;
- channels-last data: the module permutes NHWC → NCHW after the input, and back to NHWC before a
  Flatten (so the flattening order is NHWC) and at an image output;
- TensorFlow's ``same`` padding (the extra pixel at the end) with ``F.pad``; −∞ padding for max
  pooling; average pooling over the real pixels only (``avg_pool2d_same``);
- ``KerasBatchNorm``: momentum 0.99 on the moving statistics, ε 1e-3, the biased batch variance;
- ``KerasLayerNorm`` / ``KerasGroupNorm``: Keras' ε 1e-3 and axes (NCHW-mapped), γ and β each optional;
  a transposed convolution cropped as TensorFlow crops it (one more pixel at the end, for odd ``same``);
- ``KerasNormalization`` (torch has no such layer) and ``adapt``: Keras' Normalization, its mean and
  variance learnt from the training data in float64 before training, as nnspec does;
- initial weights drawn with torch's generator from Keras' distributions (``variance_scaling_``);
- the loss as Keras computes it (a final softmax/sigmoid fused with the cross-entropy, probabilities
  clipped to [1e-7, 1 − 1e-7] otherwise), penalties l1·Σ|w| + l2·Σw², activity penalties ÷ batch;
- the optimizer in Keras' form: ``KerasOptimizer`` applying nnspec's own rule functions, their source
  copied from compiler/semantics/optimizers.py; the schedule as a function of the step, its formula
  traced from compiler/semantics/schedules.py; global-norm clipping as Keras' ``global_clipnorm``
  (the shared ``clip_scale``);
- the training loop of ``runtime.loop``: batches from ``default_rng(SeedSequence([seed, 1, epoch]))``,
  metrics, validation, early stopping as Keras' ``EarlyStopping``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Callable

from tools.emit.code import Code, call, class_name, fit_comment, identifier, literal, pair, prose, quote, section
from tools.emit.flow import FLOW, Flow, plan, rewrite
from tools.emit.common import (DataFile, EmitError, emit_main, torch_epoch_end, torch_fit_end, accuracy_kind, accuracy_threshold, data_imports, data_section, describe, early_stopping_args, needs_csv, schedule_python, settings)
from compiler.semantics import losses
from compiler.semantics.losses import is_fused, loss_input
from compiler.semantics.outputs import heads as output_heads
from tools.emit import outputs as several
from compiler.semantics.penalties import l1_l2
from compiler.ir.spec import Spec
from compiler.ir.layers.geometry import same_padding, transposed_crop
from compiler.weights import weight_specs
from compiler.semantics.optimizers import RULES, clip_scale, decay, hyperparameters, rule, weight_decay

# Attributes an nn.Module (or the emitted model) already has: a layer named so gets a suffix.
RESERVED = frozenset({
    "T_destination", "add_module", "apply", "bfloat16", "buffers", "call_super_init", "children", "compile", "cpu",
    "cuda", "double", "dump_patches", "eval", "extra_repr", "float", "forward", "get_buffer", "get_extra_state",
    "get_parameter", "get_submodule", "half", "ipu", "load_state_dict", "modules", "mtia", "named_buffers",
    "named_children", "named_modules", "named_parameters", "parameters", "register_backward_hook",
    "register_buffer", "register_forward_hook", "register_forward_pre_hook", "register_full_backward_hook",
    "register_full_backward_pre_hook", "register_load_state_dict_post_hook", "register_load_state_dict_pre_hook",
    "register_module", "register_parameter", "register_state_dict_post_hook", "register_state_dict_pre_hook",
    "requires_grad_", "set_extra_state", "set_submodule", "share_memory", "state_dict", "to", "to_empty", "train",
    "training", "type", "xpu", "zero_grad", "logits", "activity_penalty", "penalties", "x", "self", "super",
})


LOSS_FUNCTIONS = frozenset(f.__name__ for f in (*losses.FORMULAS.values(), *losses.FROM_LOGITS.values(), *losses.HELPERS))
OPTIMIZER_FUNCTIONS = frozenset(f.__name__ for r in RULES.values() for f in (r.slots, r.rate, r.update)) | {"decay"}

# Names the emitted file defines or imports at module level: the model class must not shadow them.
MODULE_NAMES = frozenset({"F", "I", "O", "nn", "np", "torch", "math", "csv", "argparse", "KerasBatchNorm",
                          "KerasLayerNorm", "KerasGroupNorm", "KerasPReLU", "keras_relu",
                          "KerasNormalization", "DepthwiseConv2d", "adapt", "l1_l2", "KerasOptimizer",
                          "Hyperparameters",
                          *OPTIMIZER_FUNCTIONS, "clip_scale", *LOSS_FUNCTIONS, "data_loss", "WEIGHTS", "VARIANCE_SCALING",
                          "SEED", "EPOCHS", "BATCH_SIZE", "DTYPE", "EPSILON", "LEARNING_RATE", "VALIDATION_SPLIT",
                          "CLIP_NORM", "CLIP_VALUE", "DATA_FILE", "LABEL_COLUMN", "INPUTS", "tf_maximum",
                          "tf_minimum"})


# ---- what a layer lowers to ------------------------------------------------------------------------
@dataclass
class Lowered:
    modules: list[str] = field(default_factory=list)  # lines of __init__ ("self.dense = nn.Linear(64, 128)")
    forward: list[str] = field(default_factory=list)  # lines of forward
    tensors: dict[str, str] = field(default_factory=dict)  # nnspec weight ("kernel") -> module tensor ("weight")
    initialized: set[str] = field(default_factory=set)  # weights besides a kernel layer's given an init line
    # a merge layer: its forward lines from its inputs' variables, in order (tools/emit/flow.py)
    combine: Callable[[list[str]], list[str]] | None = None


@dataclass
class Context:
    spec: Spec
    attrs: dict[str, str]  # layer name -> module attribute
    fused: bool
    helpers: dict[str, list[str]] = field(default_factory=dict)  # helper name -> its source lines, in order
    variance_kinds: list[str] = field(default_factory=list)  # the fan-scaled initializers used
    fused_layer: str | None = None  # the layer whose final activation's input the loss reads
    # each fused layer -> the model attribute that keeps its logits (tools.emit.outputs.logits_attributes:
    # "logits", or one per fused output of a model with several)
    logits_of: dict[str, str] = field(default_factory=dict)

    def helper(self, name: str) -> str:
        if name not in self.helpers:
            self.helpers[name] = HELPERS[name]
        return name


LAYERS: dict[str, Callable] = {}
MODULES: set[str] = set()  # the kinds whose writer makes a module attribute (``ctx.attrs[layer.name]``)


def register(kind: str, *, module: bool = False):
    """Register ``kind``'s writer; ``module``: it defines ``self.<attribute>`` in the model's ``__init__``."""
    def wrap(fn):
        LAYERS[kind] = fn
        if module:
            MODULES.add(kind)
        return fn
    return wrap


# ---- activations -----------------------------------------------------------------------------------
# kind -> (fn, x, dim) -> the activation applied to the expression ``x`` (softmax over ``dim``, the channel
# axis); None for linear. Parameters are the spec's: leaky_relu's alpha is torch's negative_slope.
ACTIVATIONS: dict[str, Callable | None] = {
    "linear": None,
    "relu": lambda fn, x, dim: f"F.relu({x})",
    "leaky_relu": lambda fn, x, dim: f"F.leaky_relu({x}, negative_slope={literal(float(fn.alpha))})",
    "elu": lambda fn, x, dim: f"F.elu({x}, alpha={literal(float(fn.alpha))})",
    "gelu": lambda fn, x, dim: f'F.gelu({x}, approximate="tanh")' if fn.approximate else f"F.gelu({x})",
    "silu": lambda fn, x, dim: f"F.silu({x})",
    "tanh": lambda fn, x, dim: f"torch.tanh({x})",
    "sigmoid": lambda fn, x, dim: f"torch.sigmoid({x})",
    "softmax": lambda fn, x, dim: f"torch.softmax({x}, dim={dim})",
}


def activation(fn, x: str, rank: int) -> str | None:
    make = ACTIVATIONS[fn.kind]
    return None if make is None else make(fn, x, -1 if rank == 1 else 1)


def _penalty_call(reg, x: str, ctx: Context) -> str:
    """``l1_l2(torch, x, l1=..., l2=...)``: Keras' regularizer l1·Σ|x| + l2·Σx², the helper copied from
    ``compiler.semantics.penalties``."""
    ctx.helper(l1_l2.__name__)
    args = ["torch", x] + [f"{k}={literal(float(getattr(reg, k)))}" for k in ("l1", "l2") if getattr(reg, k)]
    return f"{l1_l2.__name__}({', '.join(args)})"


def _finish(layer, ctx: Context, lowered: Lowered, linear_expr: str) -> Lowered:
    """The forward lines of a layer with an optional activation (its own, or an Activation layer's), the
    fused logits (``compiler.semantics.losses``), and the activity penalty."""
    fn = layer.activation_fn
    rank = len(layer.output_shape)
    fused_here = layer.name in ctx.logits_of
    comment = "" if linear_expr.startswith("self.") else f"  # {prose(layer.name)}"
    act = activation(fn, "x", rank) if fn is not None else None
    if act is None:
        if linear_expr != "x":  # (a linear Activation layer does nothing)
            lowered.forward.append(f"x = {linear_expr}{comment}")
    elif fused_here:
        if linear_expr != "x":
            lowered.forward.append(f"x = {linear_expr}{comment}")
        logits = "x.permute(0, 2, 3, 1)" if rank == 3 else "x"
        lowered.forward.append(f"self.{ctx.logits_of[layer.name]} = {logits}  # the loss starts from these "
                               "(Keras' _get_logits)")
        lowered.forward.append(f"x = {act}")
    else:
        lowered.forward.append(f"x = {activation(fn, linear_expr, rank)}{comment}")
    reg = getattr(layer, "activity_regularizer", None)
    if reg is not None:
        lowered.forward.append(f"self.activity_penalty += {_penalty_call(reg, 'x', ctx)} / len(x)  # ÷ batch, "
                               f"as Keras 3")
    return lowered


# ---- layers ------------------------------------------------------------------------------------------
@register("Input")
def _input(layer, ctx):
    if len(layer.output_shape) == 3:
        return Lowered(forward=["x = x.permute(0, 3, 1, 2)  # NHWC (the spec's layout) -> NCHW (torch's)"])
    return Lowered()


@register("Rescaling")
def _rescaling(layer, ctx):
    expr = f"x * {literal(float(layer.scale))}"
    if layer.offset:
        expr += f" + {literal(float(layer.offset))}"
    return Lowered(forward=[f"x = {expr}  # {prose(layer.name)}"])


@register("Dense", module=True)
def _dense(layer, ctx):
    attr = ctx.attrs[layer.name]
    args = [str(layer.input_shape[0]), str(layer.units)] + ([] if layer.use_bias else ["bias=False"])
    lowered = Lowered(modules=call(f"self.{attr} = nn.Linear", args, 2),
                      tensors={"kernel": "weight", "bias": "bias"})
    return _finish(layer, ctx, lowered, f"self.{attr}(x)")


def _pads(shape, window, strides, padding, dilation=(1, 1)) -> tuple[int, int, int, int] | None:
    """F.pad's (left, right, top, bottom) for TensorFlow's padding; None when there is nothing to pad."""
    if padding != "same":
        return None
    top, bottom = same_padding(shape[0], window[0], strides[0], dilation[0])
    left, right = same_padding(shape[1], window[1], strides[1], dilation[1])
    return None if top == bottom == left == right == 0 else (left, right, top, bottom)


@register("Conv2D", module=True)
def _conv2d(layer, ctx):
    attr = ctx.attrs[layer.name]
    pads = _pads(layer.input_shape, layer.kernel_size, layer.strides, layer.padding, layer.dilation_rate)
    args = [str(layer.input_shape[-1]), str(layer.filters), f"kernel_size={pair(layer.kernel_size)}"]
    if tuple(layer.strides) != (1, 1):
        args.append(f"stride={pair(layer.strides)}")
    symmetric = pads is not None and pads[0] == pads[1] and pads[2] == pads[3]
    if symmetric:
        args.append(f"padding={pair((pads[2], pads[0]))}")
    if tuple(layer.dilation_rate) != (1, 1):
        args.append(f"dilation={pair(layer.dilation_rate)}")
    if not layer.use_bias:
        args.append("bias=False")
    lowered = Lowered(modules=call(f"self.{attr} = nn.Conv2d", args, 2), tensors={"kernel": "weight", "bias": "bias"})
    if pads is not None and not symmetric:
        lowered.forward.append(f"x = F.pad(x, {literal(pads)})  # same padding, the extra pixel at the end (TF)")
    return _finish(layer, ctx, lowered, f"self.{attr}(x)")


def _depthwise(layer, ctx, filters: int | None) -> tuple[list[str], list[str]]:
    """The ``DepthwiseConv2d`` helper's construction and its padding line (TF's asymmetric ``same``)."""
    attr = ctx.attrs[layer.name]
    ctx.helper("DepthwiseConv2d")
    pads = _pads(layer.input_shape, layer.kernel_size, layer.strides, layer.padding, layer.dilation_rate)
    args = [str(layer.input_shape[-1]), str(layer.depth_multiplier), f"kernel_size={pair(layer.kernel_size)}"]
    if tuple(layer.strides) != (1, 1):
        args.append(f"stride={pair(layer.strides)}")
    symmetric = pads is not None and pads[0] == pads[1] and pads[2] == pads[3]
    if symmetric:
        args.append(f"padding={pair((pads[2], pads[0]))}")
    if tuple(layer.dilation_rate) != (1, 1):
        args.append(f"dilation={pair(layer.dilation_rate)}")
    if filters is not None:
        args.append(f"filters={filters}")
    if not layer.use_bias:
        args.append("bias=False")
    forward = [] if pads is None or symmetric else [
        f"x = F.pad(x, {literal(pads)})  # same padding, the extra pixel at the end (TF)"]
    return call(f"self.{attr} = DepthwiseConv2d", args, 2), forward


@register("DepthwiseConv2D", module=True)
def _depthwise_conv2d(layer, ctx):
    modules, forward = _depthwise(layer, ctx, None)
    lowered = Lowered(modules=modules, forward=forward, tensors={"kernel": "weight", "bias": "bias"})
    return _finish(layer, ctx, lowered, f"self.{ctx.attrs[layer.name]}(x)")


@register("SeparableConv2D", module=True)
def _separable_conv2d(layer, ctx):
    modules, forward = _depthwise(layer, ctx, layer.filters)
    lowered = Lowered(modules=modules, forward=forward, tensors={"depthwise_kernel": "weight",
                                                                 "pointwise_kernel": "pointwise", "bias": "bias"})
    return _finish(layer, ctx, lowered, f"self.{ctx.attrs[layer.name]}(x)")


@register("UpSampling2D")
def _up_sampling2d(layer, ctx):
    sh, sw = layer.size
    if layer.interpolation == "bilinear":
        return Lowered(forward=[f'x = F.interpolate(x, scale_factor={pair(layer.size)}, mode="bilinear", '
                                f"align_corners=False)  # {prose(layer.name)}: TF's half-pixel centres"])
    return Lowered(forward=[f"x = x.repeat_interleave({sh}, dim=2).repeat_interleave({sw}, dim=3)  # "
                            f"{prose(layer.name)}: nearest"])


def _pool_args(layer) -> str:
    strides = layer.strides or layer.pool_size
    return f"kernel_size={pair(layer.pool_size)}, stride={pair(strides)}"


@register("MaxPooling2D")
def _max_pooling2d(layer, ctx):
    pads = _pads(layer.input_shape, layer.pool_size, layer.strides or layer.pool_size, layer.padding)
    if pads is None:
        return Lowered(forward=[f"x = F.max_pool2d(x, {_pool_args(layer)})  # {prose(layer.name)}"])
    return Lowered(forward=[f"x = F.pad(x, {literal(pads)}, value=-math.inf)  # {prose(layer.name)}: pads with −∞",
                            f"x = F.max_pool2d(x, {_pool_args(layer)})"])


@register("AveragePooling2D")
def _average_pooling2d(layer, ctx):
    strides = layer.strides or layer.pool_size
    pads = _pads(layer.input_shape, layer.pool_size, strides, layer.padding)
    if pads is None:
        return Lowered(forward=[f"x = F.avg_pool2d(x, {_pool_args(layer)})  # {prose(layer.name)}"])
    ctx.helper("avg_pool2d_same")
    return Lowered(forward=[f"x = avg_pool2d_same(x, {pair(layer.pool_size)}, {pair(strides)}, {literal(pads)})"
                            f"  # {prose(layer.name)}"])


@register("GlobalAveragePooling2D")
def _global_average_pooling2d(layer, ctx):
    keep = ", keepdim=True" if layer.keepdims else ""
    return Lowered(forward=[f"x = x.mean(dim=(2, 3){keep})  # {prose(layer.name)}"])


@register("Flatten")
def _flatten(layer, ctx):
    if len(layer.input_shape) == 3:
        return Lowered(forward=[f"x = x.permute(0, 2, 3, 1).flatten(1)  # {prose(layer.name)}, in NHWC order as the "
                                f"spec"])
    return Lowered(forward=[f"x = x.flatten(1)  # {prose(layer.name)}"])


@register("GlobalMaxPooling2D")
def _global_max_pooling2d(layer, ctx):
    keep = ", keepdim=True" if layer.keepdims else ""
    return Lowered(forward=[f"x = x.amax(dim=(2, 3){keep})  # {prose(layer.name)}: ties share the gradient, as TF"])


@register("ZeroPadding2D")
def _zero_padding2d(layer, ctx):
    (top, bottom), (left, right) = layer.padding
    return Lowered(forward=[f"x = F.pad(x, {literal((left, right, top, bottom))})  # {prose(layer.name)}: zeros "
                            f"(left, right, top, bottom)"])


@register("Cropping2D")
def _cropping2d(layer, ctx):
    (top, bottom), (left, right) = layer.cropping
    h, w = layer.input_shape[:2]
    return Lowered(forward=[f"x = x[:, :, {top}:{h - bottom}, {left}:{w - right}]  # {prose(layer.name)}"])


@register("Reshape")
def _reshape(layer, ctx):
    lines = []
    if len(layer.input_shape) == 3:
        lines.append("x = x.permute(0, 2, 3, 1)  # NCHW -> NHWC: Keras reshapes in NHWC order")
    shape = ", ".join(map(str, layer.output_shape))
    lines.append(f"x = x.reshape(len(x), {shape})  # {prose(layer.name)}")
    if len(layer.output_shape) == 3:
        lines.append("x = x.permute(0, 3, 1, 2)  # NHWC -> NCHW")
    return Lowered(forward=lines)


@register("Permute")
def _permute(layer, ctx):
    image = len(layer.input_shape) == 3
    axes = ", ".join(map(str, layer.transpose_axes(channels_first=image)))
    note = f": Keras' {literal((0, *layer.dims))} on NHWC, here on NCHW" if image else ""
    return Lowered(forward=[f"x = x.permute({axes})  # {prose(layer.name)}{note}"])


@register("Dropout", module=True)
def _dropout(layer, ctx):
    attr = ctx.attrs[layer.name]
    return Lowered(modules=[f"self.{attr} = nn.Dropout({literal(float(layer.rate))})"],
                   forward=[f"x = self.{attr}(x)"])


@register("SpatialDropout2D", module=True)
def _spatial_dropout2d(layer, ctx):
    attr = ctx.attrs[layer.name]
    return Lowered(modules=[f"self.{attr} = nn.Dropout2d({literal(float(layer.rate))})  # whole feature maps"],
                   forward=[f"x = self.{attr}(x)"])


@register("BatchNormalization", module=True)
def _batch_normalization(layer, ctx):
    attr = ctx.attrs[layer.name]
    ctx.helper("KerasBatchNorm")
    args = [str(layer.input_shape[-1]), f"momentum={literal(float(layer.momentum))}",
            f"epsilon={literal(float(layer.epsilon))}"]
    if not layer.center:
        args.append("center=False")
    if not layer.scale:
        args.append("scale=False")
    tensors = {k: k for k in ("gamma", "beta", "moving_mean", "moving_variance")}
    return Lowered(modules=call(f"self.{attr} = KerasBatchNorm", args, 2), forward=[f"x = self.{attr}(x)"],
                   tensors=tensors)


@register("Normalization", module=True)
def _normalization(layer, ctx):
    attr = ctx.attrs[layer.name]
    ctx.helper("KerasNormalization")
    shape = layer.input_shape
    if layer.adapts:
        ctx.helper("adapt")
        args = [literal(layer.statistics_shape(shape)), f"reduce={literal(layer.reduced_axes(shape))}",
                f"broadcast={literal(layer.broadcast_shape(shape))}"]
        tensors = {k: k for k in ("mean", "variance", "count")}
    else:
        args = [f"mean={literal(layer.mean)}", f"variance={literal(layer.variance)}",
                f"broadcast={literal(layer.given_shape(shape))}"]
        tensors = {}
    if len(shape) == 3:
        args.append("channels_first=True")
    if layer.invert:
        args.append("invert=True")
    return Lowered(modules=call(f"self.{attr} = KerasNormalization", args, 2), forward=[f"x = self.{attr}(x)"],
                   tensors=tensors)


@register("Activation")
def _activation(layer, ctx):
    return _finish(layer, ctx, Lowered(), "x")


# ---- activation layers ---------------------------------------------------------------------------------------
@register("ReLU")
def _relu(layer, ctx):
    s, m, t = layer.negative_slope, layer.max_value, layer.threshold
    if layer.leaky:
        expr = f"F.leaky_relu(x, negative_slope={literal(float(s))})"
    elif m is None and t == 0:
        expr = "F.relu(x)"
    else:
        ctx.helper("keras_relu")
        args = [f"max_value={literal(None if m is None else float(m))}", f"negative_slope={literal(float(s))}",
                f"threshold={literal(float(t))}"]
        expr = f"keras_relu(x, {', '.join(args)})"
    return Lowered(forward=[f"x = {expr}  # {prose(layer.name)}"])


@register("LeakyReLU")
def _leaky_relu(layer, ctx):
    return Lowered(forward=[f"x = F.leaky_relu(x, negative_slope={literal(float(layer.negative_slope))})  "
                            f"# {prose(layer.name)} (Keras' layer: 0.3 by default)"])


@register("ELU")
def _elu(layer, ctx):
    return Lowered(forward=[f"x = F.elu(x, alpha={literal(float(layer.alpha))})  # {prose(layer.name)}"])


@register("PReLU", module=True)
def _prelu(layer, ctx):
    attr = ctx.attrs[layer.name]
    ctx.helper("KerasPReLU")
    shape = layer.input_shape
    args = [literal(layer.alpha_shape(shape))] + (["channels_first=True"] if len(shape) == 3 else [])
    return Lowered(modules=call(f"self.{attr} = KerasPReLU", args, 2), forward=[f"x = self.{attr}(x)"],
                   tensors={"alpha": "alpha"}, initialized={"alpha"})


@register("Softmax")
def _softmax(layer, ctx):
    shape = layer.input_shape
    image = len(shape) == 3
    axes = layer.axes(shape)
    dims = tuple(sorted({1: 2, 2: 3, 3: 1}[a] for a in axes)) if image else axes
    note = f"  # {prose(layer.name)}" + (f": Keras' axes {literal(axes)} on NHWC, here on NCHW" if image else "")
    forward = []
    if layer.name in ctx.logits_of:
        logits = "x.permute(0, 2, 3, 1)" if image else "x"
        forward.append(f"self.{ctx.logits_of[layer.name]} = {logits}  # the loss starts from these (Keras' "
                       "_get_logits)")
    if len(dims) == 1:
        forward.append(f"x = torch.softmax(x, dim={dims[0]}){note}")
    else:
        forward.append(f"x = torch.exp(x - torch.logsumexp(x, dim={literal(dims)}, keepdim=True)){note}")
    return Lowered(forward=forward)


@register("LayerNormalization", module=True)
def _layer_normalization(layer, ctx):
    attr = ctx.attrs[layer.name]
    ctx.helper("KerasLayerNorm")
    shape = layer.input_shape
    image = len(shape) == 3
    dims = tuple(sorted({1: 2, 2: 3, 3: 1}[a] for a in layer.normalized_axes(shape))) if image \
        else layer.normalized_axes(shape)
    weights = {w.name: w.shape for w in layer.weights(shape)}
    args = [literal(next(iter(weights.values()), ())), f"dims={literal(dims)}",
            f"broadcast={literal(layer.broadcast_shape(shape))}", f"epsilon={literal(float(layer.epsilon))}"]
    args += _scale_shift_args(layer) + (["channels_first=True"] if image else [])
    return Lowered(modules=call(f"self.{attr} = KerasLayerNorm", args, 2), forward=[f"x = self.{attr}(x)"],
                   tensors={k: k for k in weights}, initialized=_scale_shift_initialized(layer))


@register("GroupNormalization", module=True)
def _group_normalization(layer, ctx):
    attr = ctx.attrs[layer.name]
    ctx.helper("KerasGroupNorm")
    shape = layer.input_shape
    a = layer.channel_axis(shape)
    dim = {1: 2, 2: 3, 3: 1}[a] if len(shape) == 3 else a  # the channels' dim of the tensor here (NCHW images)
    args = [str(layer.group_count(shape)), str(shape[a - 1]), f"epsilon={literal(float(layer.epsilon))}"]
    args += _scale_shift_args(layer) + ([f"dim={dim}"] if dim != 1 else [])
    weights = [w.name for w in layer.weights(shape)]
    return Lowered(modules=call(f"self.{attr} = KerasGroupNorm", args, 2), forward=[f"x = self.{attr}(x)"],
                   tensors={k: k for k in weights}, initialized=_scale_shift_initialized(layer))


def _scale_shift_args(layer) -> list[str]:
    return (["center=False"] if not layer.center else []) + (["scale=False"] if not layer.scale else [])


def _scale_shift_initialized(layer) -> set[str]:
    """gamma and beta whose initializer is not the one the helper module starts them with (ones, zeros)."""
    out = set()
    if layer.scale and (layer.gamma_initializer.kind != "ones"):
        out.add("gamma")
    if layer.center and (layer.beta_initializer.kind != "zeros"):
        out.add("beta")
    return out


@register("Conv2DTranspose", module=True)
def _conv2d_transpose(layer, ctx):
    attr = ctx.attrs[layer.name]
    # torch drops `padding` pixels at both ends and adds `output_padding`; TensorFlow drops `front` and `back`
    crops = [transposed_crop(layer.input_shape[a], layer.kernel_size[a], layer.strides[a], layer.padding,
                             layer.output_shape[a], layer.dilation_rate[a]) for a in range(2)]
    padding = tuple(front for front, _ in crops)
    output_padding = tuple(max(front - back, 0) for front, back in crops)
    crop = tuple(layer.output_shape[:2]) if any(back > front for front, back in crops) else None
    args = [str(layer.input_shape[-1]), str(layer.filters), f"kernel_size={pair(layer.kernel_size)}"]
    if tuple(layer.strides) != (1, 1):
        args.append(f"stride={pair(layer.strides)}")
    if padding != (0, 0):
        args.append(f"padding={pair(padding)}")
    if output_padding != (0, 0):
        args.append(f"output_padding={pair(output_padding)}")
    if tuple(layer.dilation_rate) != (1, 1):
        args.append(f"dilation={pair(layer.dilation_rate)}")
    if not layer.use_bias:
        args.append("bias=False")
    lowered = Lowered(modules=call(f"self.{attr} = nn.ConvTranspose2d", args, 2),
                      tensors={"kernel": "weight", "bias": "bias"})
    if crop is None:
        return _finish(layer, ctx, lowered, f"self.{attr}(x)")
    lowered.forward.append(f"x = self.{attr}(x)[:, :, :{crop[0]}, :{crop[1]}]  # TF crops one more pixel at the end "
                           f"than in front")
    return _finish(layer, ctx, lowered, "x")


# ---- merge layers: one expression of their inputs' variables (tools/emit/flow.py) ---------------------------
# Same rank (the IR refuses others) and the same channels-first layout for every input, so size-1 axes
# broadcast as Keras' do and autograd sums a broadcast input's gradient over them.
def _merge(layer, expression: Callable[[list[str]], str]) -> Lowered:
    return Lowered(combine=lambda xs: [f"x = {expression(xs)}  # {prose(layer.name)}"])


@register("Add")
def _add(layer, ctx):
    return _merge(layer, " + ".join)


@register("Subtract")
def _subtract(layer, ctx):
    return _merge(layer, " - ".join)


@register("Multiply")
def _multiply(layer, ctx):
    return _merge(layer, " * ".join)


@register("Average")
def _average(layer, ctx):
    return _merge(layer, lambda xs: f"({' + '.join(xs)}) / {len(xs)}")


@register("Maximum")
def _maximum(layer, ctx):
    helper = ctx.helper("tf_maximum")
    return _merge(layer, lambda xs: f"{helper}({', '.join(xs)})")


@register("Minimum")
def _minimum(layer, ctx):
    helper = ctx.helper("tf_minimum")
    return _merge(layer, lambda xs: f"{helper}({', '.join(xs)})")


@register("Concatenate")
def _concatenate(layer, ctx):
    rank = len(layer.output_shape)
    axis = layer.feature_axis(rank)
    dim = (2, 3, 1)[axis] if rank == 3 else axis + 1  # an image is NCHW here: H, W, C are dims 2, 3, 1
    return _merge(layer, lambda xs: f"torch.cat([{', '.join(xs)}], dim={dim})")


# ---- initializers ------------------------------------------------------------------------------------------
VARIANCE_SCALING = {  # kind -> (scale, mode, distribution), as Keras' subclasses of VarianceScaling
    "glorot_uniform": (1.0, "fan_avg", "uniform"), "glorot_normal": (1.0, "fan_avg", "truncated_normal"),
    "he_uniform": (2.0, "fan_in", "uniform"), "he_normal": (2.0, "fan_in", "truncated_normal"),
    "lecun_uniform": (1.0, "fan_in", "uniform"), "lecun_normal": (1.0, "fan_in", "truncated_normal"),
}


def _init_constant(init, t, w, ctx):
    if init.kind == "zeros":
        return f"nn.init.zeros_({t})"
    if init.kind == "ones":
        return f"nn.init.ones_({t})"
    return f"nn.init.constant_({t}, {literal(float(init.value))})"


def _init_normal(init, t, w, ctx):
    mean, std = float(init.mean), float(init.stddev)
    if init.kind == "random_normal":
        return f"nn.init.normal_({t}, mean={literal(mean)}, std={literal(std)})"
    return (f"nn.init.trunc_normal_({t}, mean={literal(mean)}, std={literal(std)}, a={literal(mean - 2 * std)}, "
            f"b={literal(mean + 2 * std)})")


def _init_uniform(init, t, w, ctx):
    return f"nn.init.uniform_({t}, a={literal(float(init.minval))}, b={literal(float(init.maxval))})"


def _init_variance_scaling(init, t, w, ctx):
    if init.kind not in ctx.variance_kinds:
        ctx.variance_kinds.append(init.kind)
    fan_in, fan_out = w.fans
    return f'variance_scaling_({t}, {quote(init.kind)}, fan_in={fan_in}, fan_out={fan_out})'


def _variance_scaling_helper(kinds: list[str]) -> list[str]:
    lines = ["# Keras' fan-scaled initializers: (scale, fan, distribution). Fans are counted in",
             "# Keras' layouts: Dense (in, out); Conv2D (kh, kw, in, out), both fans times kh·kw.",
             "VARIANCE_SCALING = {"]
    for kind in kinds:
        scale, mode, distribution = VARIANCE_SCALING[kind]
        lines.append(f'    {quote(kind)}: ({literal(scale)}, {quote(mode)}, {quote(distribution)}),')
    return lines + ["}", "", ""] + _lines('''
def variance_scaling_(tensor, kind, fan_in, fan_out):
    """Keras' VarianceScaling, as nnspec pins it: s = scale / max(1, fan), with fan =
    fan_in or the mean of fan_in and fan_out. uniform: U(−√(3s), √(3s));
    truncated_normal: N(0, σ²) redrawn outside ±2σ, σ = √s / 0.8796…, so that the
    variance is s (torch's kaiming_normal_ and xavier_normal_ draw a plain normal)."""
    scale, mode, distribution = VARIANCE_SCALING[kind]
    fan = fan_in if mode == "fan_in" else (fan_in + fan_out) / 2
    s = scale / max(1.0, fan)
    if distribution == "uniform":
        limit = math.sqrt(3.0 * s)
        return nn.init.uniform_(tensor, -limit, limit)
    std = math.sqrt(s) / 0.87962566103423978
    return nn.init.trunc_normal_(tensor, 0.0, std, -2 * std, 2 * std)''')


def _init_orthogonal(init, t, w, ctx):
    return f"nn.init.orthogonal_({t}, gain={literal(float(init.gain))})"


INITIALIZERS: dict[str, Callable] = {
    "zeros": _init_constant, "ones": _init_constant, "constant": _init_constant,
    "random_normal": _init_normal, "truncated_normal": _init_normal, "random_uniform": _init_uniform,
    **{kind: _init_variance_scaling for kind in VARIANCE_SCALING}, "orthogonal": _init_orthogonal,
}


# ---- losses --------------------------------------------------------------------------------------------------
def loss_source(spec: Spec) -> list[str]:
    """The spec's loss formula as compiler/semantics/losses.py states it (``inspect.getsource``: the emitted
    loss is nnspec's own) with the helpers it calls, and ``data_loss(z, y)`` calling it on torch; ``z`` are
    logits when the spec says from_logits=true or the loss reads the input of the output softmax/sigmoid."""
    loss = spec.training.loss
    logits = loss.from_logits or is_fused(spec)
    formula = losses.formula(loss.kind, logits)
    needed, pending = [formula], [formula]
    while pending:  # the helpers a function calls, and theirs
        source = inspect.getsource(pending.pop())
        for helper in losses.HELPERS:
            if helper not in needed and f"{helper.__name__}(" in source:
                needed.append(helper)
                pending.append(helper)
    lines: list[str] = []
    if losses.clip in needed:
        lines += [f"EPSILON = {losses.EPSILON!r}  # Keras' clipping of probabilities in cross-entropies", "", ""]
    for fn in sorted(needed, key=lambda f: (f is formula, f.__name__)):
        lines += inspect.getsource(fn).rstrip().splitlines() + ["", ""]
    what = "logits" if logits else "the outputs as they are"
    return lines + ["def data_loss(z, y):", f'    """{loss.kind} of {what}, as Keras computes it."""',
                    f"    return {formula.__name__}(torch, z, y)"]


# ---- optimizers ------------------------------------------------------------------------------------------------
OPTIMIZER_CLASS = '''
class Hyperparameters:
    """The optimizer's hyperparameters, read by the rule functions as attributes."""

    def __init__(self, **values):
        self.__dict__.update(values)


class KerasOptimizer(torch.optim.Optimizer):
    """An optimizer updating as Keras does, by the functions above (nnspec's rule, copied from
    compiler/semantics/optimizers.py): per weight the slots of {slots} under Keras' names
    and two scratch tensors; {update} in place{decay_note}.
    The group's lr is set before every step."""

    def __init__(self, params, **hyperparameters):
        super().__init__(params, dict(lr=LEARNING_RATE))
        self.hp = Hyperparameters(**hyperparameters)
        self.iterations = 0

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            lr = group["lr"]
            rate = {rate}(self.hp, lr, self.iterations)
            for w in group["params"]:
                if w.grad is None:
                    continue
                state = self.state[w]
                if not state:
                    for name, initial in {slots}(self.hp):
                        state[name] = torch.full_like(w, initial)
                    state["scratch"] = (torch.empty_like(w), torch.empty_like(w))
                t1, t2 = state["scratch"]
                slots = tuple(state[name] for name, _ in {slots}(self.hp)){decay_call}
                {update}(torch, w, w.grad, slots, self.hp, rate, t1, t2)
        self.iterations += 1'''
DECAY_CALL = "\n                decay(torch, w, self.hp.weight_decay, lr, t1)"


def optimizer_source(spec: Spec) -> list[str]:
    """The optimizer's rule functions, their source copied from compiler/semantics/optimizers.py
    (``inspect.getsource``: the emitted update is nnspec's own), and ``KerasOptimizer``, a
    ``torch.optim.Optimizer`` that applies them to each weight in place (decoupled weight decay first,
    when the optimizer has one)."""
    o = spec.training.optimizer
    r = rule(o)
    decays = bool(weight_decay(o))
    lines: list[str] = []
    for fn in dict.fromkeys([r.slots, r.rate, r.update] + ([decay] if decays else [])):
        lines += inspect.getsource(fn).rstrip().splitlines() + ["", ""]
    return lines + _lines(OPTIMIZER_CLASS.format(
        slots=r.slots.__name__, rate=r.rate.__name__, update=r.update.__name__,
        decay_note=", after the decoupled weight decay (decay)" if decays else "",
        decay_call=DECAY_CALL if decays else ""))


def optimizer_arguments(spec: Spec) -> list[str]:
    """``name=value`` of every hyperparameter of the spec's optimizer (compiler.semantics.optimizers)."""
    o = spec.training.optimizer
    return [f"{name}={literal(float(v) if isinstance(v, float) else v)}"
            for name in hyperparameters(o.kind) for v in [getattr(o, name)]]


# ---- the file ----------------------------------------------------------------------------------------------------
def emit_torch(spec: Spec, *, spec_path: str | None = None, data_file: DataFile | None = None) -> str:
    """The standalone PyTorch program for ``spec`` (which must have a train section)."""
    if spec.training is None:
        raise EmitError("the spec has no train section: add train { loss = ... optimizer = ... }")
    t = spec.training
    taken: set[str] = set()
    attrs = {layer.name: identifier(layer.name, taken, RESERVED) for layer in spec.layers
             if layer.kind in MODULES}
    fused_at = loss_input(spec).fused_at
    ctx = Context(spec, attrs, fused_at is not None,
                  fused_layer=None if fused_at is None else spec.layers[fused_at].name,
                  logits_of=several.logits_attributes(spec))
    lowered = {layer.name: LAYERS[layer.kind](layer, ctx) for layer in spec.layers}
    weights = weight_specs(spec)
    tensor_of = {}  # nnspec weight name -> "attr.tensor"
    for w in weights:
        suffix = w.name.split("/", 1)[1]
        tensor_of[w.name] = f"{attrs[w.layer]}.{lowered[w.layer].tensors[suffix]}"
    activity = any(getattr(layer, "activity_regularizer", None) is not None for layer in spec.layers)
    regularized = [w for w in weights if w.regularizer is not None]
    model_class = class_name(spec.name, MODULE_NAMES)
    sparse = output_heads(spec)[0].loss.kind == "sparse_categorical_crossentropy"

    body = Code()
    settings(body, spec, 'DTYPE = "float32"  # "float64" agrees with nnspec\'s other backends to round-off')
    if t.clip_norm is not None:
        body(f"CLIP_NORM = {literal(float(t.clip_norm))}")
    if t.clip_value is not None:
        body(f"CLIP_VALUE = {literal(float(t.clip_value))}")

    # -- the model
    section(body, "the model")
    model = Code()
    with model.block(f"class {model_class}(nn.Module):"):
        model.docstring(f"{prose(spec.name)}: the spec's layers in order; inputs and outputs are channels-last as in "
                        f"the spec.")
        model.blank()
        with model.block("def __init__(self):"):
            model("super().__init__()")
            for layer in spec.layers:
                model.extend([fit_comment(line, model.level) for line in lowered[layer.name].modules])
            inits = []
            by_name = {layer.name: layer for layer in spec.layers}
            for w in weights:
                if w.layer in attrs and (by_name[w.layer].has_kernel
                                         or w.name.split("/", 1)[1] in lowered[w.layer].initialized):
                    inits.append(INITIALIZERS[w.initializer.kind](w.initializer, f"self.{tensor_of[w.name]}", w, ctx))
            if inits:
                model("# Initial weights: Keras' distributions (as nnspec pins them), drawn by torch.")
                for line in inits:
                    model(line)
        model.blank()
        flow = plan(spec, RESERVED | MODULE_NAMES | frozenset(HELPERS), keep_inputs=False)
        with model.block(f"def forward(self, {', '.join(flow.names[i] for i in flow.graph.inputs)}):"):
            if activity:
                model("self.activity_penalty = 0.0  # activity regularizers add to it")
            model.extend([fit_comment(line, model.level) for line in _forward(spec, flow, lowered)])
        if regularized:
            model.blank()
            with model.block("def penalties(self):"):
                model.docstring("The kernel and bias regularizers' penalties, summed.")
                with model.block("return sum("):
                    with model.block("["):
                        for w in regularized:
                            model(fit_comment(f"{_penalty_call(w.regularizer, 'self.' + tensor_of[w.name], ctx)},"
                                              f"  # {prose(w.name)}", model.level))
                    model("]")
                model(")")
    if ctx.variance_kinds:
        ctx.helpers["variance_scaling_"] = _variance_scaling_helper(ctx.variance_kinds)
    for name in ctx.helpers:
        body.blank(2)
        body.extend(ctx.helpers[name])
    body.blank(2)
    body.extend(model.lines)

    body.blank(2)
    with body.block("def build_model(dtype=DTYPE):"):
        body.docstring("The model, with initial weights drawn from SEED.")
        body("torch.manual_seed(SEED)")
        body(f"return {model_class}().to(getattr(torch, dtype))")
    _weights_section(body, spec, tensor_of)

    # -- training
    section(body, "training: Keras' formulas, which nnspec pins")
    _training_section(body, spec, ctx, activity, bool(regularized), sparse)

    # -- data
    section(body, "data")
    if spec.multi_io:  # dicts of arrays by input and output key
        several.data_section(body, spec, data_file)
    else:
        data_section(body, spec, data_file)

    # -- main
    body.blank(2)
    if spec.multi_io:
        several.main_lines(body, spec, "build_model(dtype=args.dtype)")
    else:
        _main(body, spec, spec_path)
    body.blank(2)
    with body.block('if __name__ == "__main__":'):
        body("main()")

    text = body.text()
    head = Code()
    head.docstring(_file_docstring(spec, spec_path))
    head.blank()
    csv_used = several.needs_csv(spec) if spec.multi_io else needs_csv(spec)
    stdlib = ["import argparse"] + (["import csv"] if csv_used else []) + (
        ["import math"] if "math." in text else []) + (["import os"] if "os.path." in text else [])
    third = ["import numpy as np", "import torch", "import torch.nn.functional as F",
             *(several.data_imports(spec) if spec.multi_io else data_imports(spec)), "from torch import nn"]
    head(*stdlib)
    head.blank()
    head(*sorted(third, key=lambda s: (s.startswith("from "), s.split()[1])))
    head.blank(2)
    return head.text() + "\n" + text


def _forward(spec: Spec, flow: Flow, lowered: dict[str, Lowered]) -> list[str]:
    """The body of ``forward`` after its first lines: every layer's lines in order, each reading its inputs'
    variables and leaving its output in its own (``tools.emit.flow``), then the return of the model's
    outputs (an image back in NHWC)."""
    lines: list[str] = []
    held: list[str] = []  # layer i -> the variable that holds its output
    for i, layer in enumerate(spec.layers):
        target, own = flow.names[i], lowered[layer.name]
        if layer.is_merge:
            source, body = FLOW, own.combine([held[s] for s in flow.graph.sources[i]])
        else:
            source, body = (target if layer.is_input else held[flow.graph.sources[i][0]]), own.forward
        written, assigned = rewrite(body, source, target)
        lines += written
        if assigned or source == target:
            held.append(target)
        elif flow.kept(i) and source == FLOW:  # a layer that changes nothing, its input needed after x moves on
            lines.append(f"{target} = x  # {prose(layer.name)}")
            held.append(target)
        else:
            held.append(source)
    results = [(held[o], len(spec.layers[o].output_shape) == 3) for o in flow.graph.outputs]
    if len(results) == 1:
        value, image = results[0]
        if image:
            lines.append(f"x = {value}.permute(0, 2, 3, 1)  # back to NHWC, the spec's layout")
            value = FLOW
        return lines + [f"return {value}"]
    if any(image for _, image in results):
        lines.append("# the outputs in the order of the spec, images back in NHWC (the spec's layout)")
    return lines + ["return " + ", ".join(f"{value}.permute(0, 2, 3, 1)" if image else value
                                          for value, image in results)]


def _file_docstring(spec: Spec, spec_path: str | None) -> str:
    source = f" from {prose(spec_path)}" if spec_path else ""
    deps = "torch and numpy" + (", and scikit-learn for the data" if data_imports(spec) else "")
    return (f"{prose(spec.name)} as a standalone PyTorch program, emitted by `nnspec emit --backend torch`{source}.\n\n"
            f"It needs {deps}; not nnspec. It means what the spec means in nnspec: Keras' initializers, "
            "losses, regularizers and update rules, TensorFlow's padding, channels-last data.\n"
            "Run it, or import it:\n\n"
            "    python this_file.py --epochs 5 --save weights.npz\n\n"
            "    model = build_model()\n"
            "    history = train(model, load_data())\n\n"
            "get_weights/set_weights take {\"dense/kernel\": array}: nnspec's names, Keras' layouts.")


def _weights_section(body: Code, spec: Spec, tensor_of: dict[str, str]) -> None:
    # 4-D kernels (Conv2D's; DepthwiseConv2D's "kernel", SeparableConv2D's "depthwise_kernel" and
    # "pointwise_kernel", held in the same permutation): (out, in, kh, kw) here
    conv = any(len(w.shape) == 4 and w.name.endswith("kernel") for w in weight_specs(spec))
    body.blank(2)
    body("# nnspec's weight names (Keras' layouts) and the tensors that hold them here:")
    body("# nn.Linear keeps a kernel as (out, in)" + (", nn.Conv2d as (out, in, kh, kw)." if conv else "."))
    if tensor_of:
        with body.block("WEIGHTS = {"):
            for name, tensor in tensor_of.items():
                body(f"{literal(name)}: {literal(tensor)},")
        body("}")
    else:
        body("WEIGHTS = {}")
    body.blank(2)
    with body.block("def get_weights(model):"):
        body.docstring('Every weight by nnspec\'s name ("dense/kernel"), as NumPy arrays in Keras\' layouts.')
        body("state = model.state_dict()")
        body("return {name: to_keras_layout(state[key], name) for name, key in WEIGHTS.items()}")
    body.blank(2)
    with body.block("def set_weights(model, weights):"):
        body.docstring("Load {nnspec name: array in Keras' layout}, such as the weights.npz that nnspec train writes.")
        body("state = model.state_dict()")
        with body.block("with torch.no_grad():"):
            with body.block("for name, value in weights.items():"):
                body("tensor = state[WEIGHTS[name]]",
                     "value = torch.as_tensor(np.asarray(value))",
                     "tensor.copy_(from_keras_layout(value, name))")
    body.blank(2)
    with body.block("def to_keras_layout(tensor, name):"):
        body.docstring("A tensor of this module as a NumPy array in Keras' layout (only kernels differ).")
        body("array = tensor.detach().cpu().numpy()")
        with body.block('if name.endswith("/kernel") and array.ndim == 2:  # (out, in) -> (in, out)'):
            body("return array.T.copy()")
        if conv:
            with body.block('if name.endswith("kernel") and array.ndim == 4:  # (out, in, kh, kw) -> (kh, kw, '
                            'in, out)'):
                body("return array.transpose(2, 3, 1, 0).copy()")
        body("return array.copy()")
    body.blank(2)
    with body.block("def from_keras_layout(tensor, name):"):
        body.docstring("A tensor in Keras' layout as this module holds it (only kernels differ).")
        with body.block('if name.endswith("/kernel") and tensor.dim() == 2:'):
            body("return tensor.T")
        if conv:
            with body.block('if name.endswith("kernel") and tensor.dim() == 4:'):
                body("return tensor.permute(3, 2, 0, 1)")
        body("return tensor")


def _training_section(body: Code, spec: Spec, ctx: Context, activity: bool, regularized: bool, sparse: bool):
    t = spec.training
    with body.block("def learning_rate(step):"):
        body.docstring(f"The learning rate of optimizer step `step` (from 0): {describe(t.schedule)}.")
        schedule_python(body, t.schedule)
    body.blank(2)
    body.extend(optimizer_source(spec))
    body.blank(2)
    with body.block("def make_optimizer(model):"):
        body.docstring(f"{describe(t.optimizer)}, updating as Keras does.")
        body.call("KerasOptimizer", ["model.parameters()", *optimizer_arguments(spec)], prefix="return ")
    if t.clip_norm is not None:
        body.blank(2)
        body.extend(inspect.getsource(clip_scale).rstrip().splitlines())
    if t.clip_norm is not None or t.clip_value is not None:
        body.blank(2)
        with body.block("def clip_gradients(parameters):"):
            if t.clip_norm is not None:
                body.docstring("clip_norm, as Keras' global_clipnorm: every gradient times clip_scale(‖g‖, c), ‖g‖ "
                               "the norm\nof all gradients together (torch's clip_grad_norm_ uses c / (‖g‖ + "
                               "1e-6)).")
                body("grads = [p.grad for p in parameters if p.grad is not None]",
                     "norm = float(torch.sqrt(sum(g.square().sum() for g in grads)))",
                     "scale = clip_scale(norm, CLIP_NORM)")
                with body.block("for g in grads:"):
                    body("g.mul_(scale)")
            else:
                body.docstring("clip_value: every gradient element clamped to [−c, c].")
                body("torch.nn.utils.clip_grad_value_(parameters, CLIP_VALUE)")
    body.blank(2)
    if spec.multi_io:  # several inputs or outputs: dicts of arrays, a loss per output (tools/emit/outputs.py)
        several.torch_losses(body, spec, regularized, activity)
        body.blank(2)
        several.torch_metrics(body, spec)
        body.blank(2)
        several.torch_steps(body, spec, t.clip_norm is not None or t.clip_value is not None, _predict_several)
        return
    body.extend(loss_source(spec))
    body.blank(2)
    with body.block("def total_loss(model, outputs, y):"):
        body.docstring("The loss Keras minimises and reports" + (
            ": the data loss plus the regularization penalties." if regularized or activity else "."))
        parts = ["data_loss(model.logits, y)" if ctx.fused else "data_loss(outputs, y)"]
        if regularized:
            parts.append("model.penalties()")
        if activity:
            parts.append("model.activity_penalty")
        body(f"return {' + '.join(parts)}")
    body.blank(2)
    _metrics(body, spec)
    body.blank(2)
    with body.block("def to_tensors(model, x, y):"):
        label = "torch.int64" if sparse else "dtype"
        body.docstring("x in the model's dtype; y " + ("as class indices." if sparse else "in the model's dtype."))
        body("dtype = next(model.parameters()).dtype")
        body(f"return torch.as_tensor(x, dtype=dtype), torch.as_tensor(y, dtype={label})")
    body.blank(2)
    with body.block("def train_step(model, optimizer, x, y, step):"):
        body.docstring("One optimizer step on the batch (x, y); `step` (from 0) picks the scheduled learning rate.\n"
                       "Returns the batch's loss (before the update, penalties included) and outputs.")
        body("x, y = to_tensors(model, x, y)")
        with body.block("for group in optimizer.param_groups:"):
            body('group["lr"] = learning_rate(step)')
        body("model.train()", "optimizer.zero_grad()", "outputs = model(x)", "loss = total_loss(model, outputs, y)",
             "loss.backward()")
        if t.clip_norm is not None or t.clip_value is not None:
            body("clip_gradients(model.parameters())")
        body("optimizer.step()", "return loss.item(), outputs.detach().cpu().numpy()")
    body.blank(2)
    body("@torch.no_grad()")
    with body.block("def predict(model, x):"):
        if len(spec.input_layers) == 1 and len(spec.output_names) == 1:
            body.docstring("The model's outputs for x in inference mode (NumPy in, NumPy out).")
            body("model.eval()",
                 "return model(torch.as_tensor(x, dtype=next(model.parameters()).dtype)).cpu().numpy()")
        else:
            _predict_several(body, spec)
    body.blank(2)
    body("@torch.no_grad()")
    with body.block("def evaluate(model, x, y):"):
        body.docstring("Loss and metrics over (x, y) in inference mode, batch by batch.")
        body("model.eval()", "total, outputs = 0.0, []")
        with body.block("for start in range(0, len(x), BATCH_SIZE):"):
            body("batch = slice(start, start + BATCH_SIZE)",
                 "xb, yb = to_tensors(model, x[batch], y[batch])",
                 "out = model(xb)",
                 "total += total_loss(model, out, yb).item() * len(xb)",
                 "outputs.append(out.cpu().numpy())")
        body('return {"loss": total / len(x), **metrics(np.concatenate(outputs), y)}')
    body.blank(2)
    _train(body, spec)


def _predict_several(body: Code, spec: Spec) -> None:
    """``predict``'s body for a model of several inputs or outputs: x as a dict by Input name or a sequence in
    INPUTS' order; one array per output, in the spec's order."""
    names = [layer.name for layer in spec.input_layers]
    several_out = len(spec.output_names) > 1
    body.docstring("The model's outputs for x in inference mode (NumPy in, NumPy out). x: "
                   + ("one array per input, a dict by input name or a sequence in the order of INPUTS"
                      if len(names) > 1 else "an array, or a dict by input name")
                   + (f"; the {len(spec.output_names)} outputs in the spec's order." if several_out else "."))
    body("model.eval()", "dtype = next(model.parameters()).dtype")
    body(f"names = {literal(tuple(names))}  # the Input layers, in forward's order")
    body("arrays = [x[name] for name in names] if isinstance(x, dict) else "
         + ("list(x)" if len(names) > 1 else "[x]"))
    body("outputs = model(*[torch.as_tensor(a, dtype=dtype) for a in arrays])")
    body("return tuple(o.cpu().numpy() for o in outputs)" if several_out else "return outputs.cpu().numpy()")


def _metrics(body: Code, spec: Spec) -> None:
    t = spec.training
    with body.block("def metrics(outputs, y):"):
        if not t.metrics:
            body.docstring("The spec asks for no metrics.")
            body("return {}")
            return
        body.docstring("The spec's metrics, as Keras computes them for this loss.")
        items = []
        for m in t.metrics:
            if m == "accuracy":
                kind = accuracy_kind(spec)
                if kind == "binary":
                    threshold = accuracy_threshold(spec)
                    items.append(f'"accuracy": float(np.mean((outputs > {threshold}) == (y > 0.5)))')
                elif kind == "sparse":
                    items.append(  # class indices: one a sample, or one a position (pixel)
                        '"accuracy": float(np.mean(outputs.argmax(axis=-1) == y.reshape(outputs.shape[:-1])))')
                else:
                    items.append('"accuracy": float(np.mean(outputs.argmax(axis=-1) == y.argmax(axis=-1)))')
            elif m == "mse":
                items.append('"mse": float(np.mean((outputs - y) ** 2))')
            elif m == "mae":
                items.append('"mae": float(np.mean(np.abs(outputs - y)))')
            elif m == "rmse":
                items.append('"rmse": float(np.sqrt(np.mean((outputs - y) ** 2)))')
        with body.block("return {"):
            for item in items:
                body(item + ",")
        body("}")


def _train(body: Code, spec: Spec) -> None:
    t = spec.training
    es = t.early_stopping
    if es is not None and es.monitor.startswith("val_") and not t.validation_split:
        es = None  # nothing to monitor (Keras would warn and train on)
    with body.block("def train(model, data, epochs=None):"):
        doc = ("Train as nnspec does: each epoch's batches from\n"
               "default_rng(SeedSequence([SEED, 1, epoch])), the last one partial; metrics on the training\n"
               "batches, validation in inference mode")
        if es is not None:
            doc += f"; early stopping as Keras' EarlyStopping({', '.join(early_stopping_args(es))})"
        body.docstring(doc + ".\nReturns the history: one dict per epoch.")
        body("x_train, y_train, x_val, y_val = data")
        if adapts(spec):
            body("adapt(model, x_train)  # Normalization: mean and variance of the training data")
        body("epochs = epochs or EPOCHS",
             "optimizer = make_optimizer(model)",
             "history, step = [], 0")
        if es is not None:
            if es.restore_best_weights:
                body("best, best_epoch, best_state, wait = math.inf, None, None, 0")
            else:
                body("best, best_epoch, wait = math.inf, None, 0")
        with body.block("for epoch in range(epochs):"):
            body("rng = np.random.default_rng(np.random.SeedSequence([SEED, 1, epoch]))",
                 "order = rng.permutation(len(x_train))",
                 "total, outputs = 0.0, []")
            with body.block("for start in range(0, len(order), BATCH_SIZE):"):
                body("batch = order[start : start + BATCH_SIZE]",
                     "x, y = x_train[batch], y_train[batch]",
                     "loss, out = train_step(model, optimizer, x, y, step)",
                     "total += loss * len(batch)",
                     "outputs.append(out)",
                     "step += 1")
            body('logs = {"loss": total / len(x_train)}',
                 "logs.update(metrics(np.concatenate(outputs), y_train[order]))")
            if t.validation_split:
                with body.block("if len(x_val):"):
                    body("val = evaluate(model, x_val, y_val)",
                         'logs.update({"val_" + k: v for k, v in val.items()})')
            torch_epoch_end(body, es)
        torch_fit_end(body, es)


def _main(body: Code, spec: Spec, spec_path: str | None) -> None:
    emit_main(body, spec, "build_model(dtype=args.dtype)")


# ---- helpers, emitted when used ---------------------------------------------------------------------------------
def _lines(text: str) -> list[str]:
    return text.strip("\n").split("\n")


def adapts(spec: Spec) -> bool:
    """True when a Normalization of ``spec`` learns its statistics (the program then adapts before training)."""
    return any(layer.adapts for layer in spec.layers)


HELPERS: dict[str, list[str]] = {
    "DepthwiseConv2d": _lines("""
class DepthwiseConv2d(nn.Module):
    \"\"\"Keras' DepthwiseConv2D: input channel c, convolved with its own `multiplier` kernels, gives
    output channels c·multiplier + m: torch's grouped convolution (groups = channels). The kernel is
    held as (multiplier, channels, kh, kw), Keras' (kh, kw, channels, multiplier) permuted as every
    conv kernel of this file. With `filters`: Keras' SeparableConv2D, a 1×1 convolution
    (`pointwise`, (filters, channels·multiplier, 1, 1)) after it, which takes the bias.\"\"\"

    def __init__(self, channels, multiplier, kernel_size, stride=1, padding=0, dilation=1, filters=None,
                 bias=True):
        super().__init__()
        self.channels, self.stride, self.padding, self.dilation = channels, stride, padding, dilation
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        self.weight = nn.Parameter(torch.empty(multiplier, channels, kh, kw))
        self.pointwise = None if filters is None else nn.Parameter(
            torch.empty(filters, channels * multiplier, 1, 1))
        self.bias = nn.Parameter(torch.zeros(filters or channels * multiplier)) if bias else None

    def forward(self, x):
        w = self.weight
        kernel = w.transpose(0, 1).reshape(-1, 1, w.shape[2], w.shape[3])  # torch's (out, 1, kh, kw)
        if self.pointwise is None:
            return F.conv2d(x, kernel, self.bias, self.stride, self.padding, self.dilation, self.channels)
        x = F.conv2d(x, kernel, None, self.stride, self.padding, self.dilation, self.channels)
        return F.conv2d(x, self.pointwise, self.bias)"""),
    "KerasNormalization": _lines("""
class KerasNormalization(nn.Module):
    \"\"\"Keras' Normalization, which torch does not have: y = (x − mean) / max(√variance, 1e-7)
    (invert: y = mean + x·max(√variance, 1e-7)), on channels-last data as the spec sees it.
    Without given values, the buffers mean and variance (Keras' layout) and count (the values each
    statistic summarises; 0 until adapted) are learnt from the training data by adapt().\"\"\"

    def __init__(self, shape=(), reduce=(), broadcast=(), channels_first=False, invert=False,
                 mean=None, variance=None):
        super().__init__()
        self.reduce, self.broadcast = reduce, broadcast
        self.channels_first, self.invert = channels_first, invert
        self.learns = mean is None
        self.adapting = None  # adapt()'s pass: "mean", then "variance"
        if self.learns:
            self.register_buffer("mean", torch.zeros(shape))
            self.register_buffer("variance", torch.ones(shape))
            self.register_buffer("count", torch.zeros(()))
        else:  # the spec's values (float64, cast with the model), not weights
            self.register_buffer("mean", torch.tensor(mean, dtype=torch.float64), persistent=False)
            self.register_buffer("variance", torch.tensor(variance, dtype=torch.float64), persistent=False)

    def forward(self, x):
        if self.channels_first:  # NCHW -> NHWC: the statistics are along the spec's axes
            x = x.permute(0, 2, 3, 1)
        if self.adapting:
            self.accumulate(x)
        mean = self.mean.reshape(self.broadcast)
        scale = torch.clamp(torch.sqrt(self.variance.reshape(self.broadcast)), min=1e-7)
        x = mean + x * scale if self.invert else (x - mean) / scale
        return x.permute(0, 3, 1, 2) if self.channels_first else x

    def accumulate(self, x):
        \"\"\"adapt()'s two passes over the data, in float64: Σx, then Σ(x − mean)².\"\"\"
        x = x.double()
        if self.adapting == "mean":
            part = x.sum(dim=self.reduce, keepdim=True)
            self.n += x.numel() // part.numel()
        else:
            part = (x - self.mean64).square().sum(dim=self.reduce, keepdim=True)
        self.total = self.total + part"""),
    "adapt": _lines("""
@torch.no_grad()
def adapt(model, x, batch_size=1024):
    \"\"\"Before training, as nnspec does (Keras' Normalization.adapt): every KerasNormalization not
    adapted yet (count 0) learns the mean and the population variance of the training data as it
    reaches it, in float64, one layer after the other (each sees what those before it normalize).\"\"\"
    model.eval()
    dtype = next(model.parameters()).dtype
    for layer in model.modules():
        if not isinstance(layer, KerasNormalization) or not layer.learns or layer.count > 0:
            continue
        layer.total, layer.n = 0.0, 0
        for stage in ("mean", "variance"):
            if stage == "variance":
                layer.mean64, layer.total = layer.total / layer.n, 0.0
            layer.adapting = stage
            for start in range(0, len(x), batch_size):
                model(torch.as_tensor(x[start : start + batch_size], dtype=dtype))
        layer.adapting = None
        layer.mean.copy_(layer.mean64.reshape(layer.mean.shape))
        layer.variance.copy_((layer.total / layer.n).reshape(layer.variance.shape))
        layer.count.fill_(layer.n)"""),
    l1_l2.__name__: inspect.getsource(l1_l2).rstrip().splitlines(),
    "KerasBatchNorm": _lines("""
class KerasBatchNorm(nn.Module):
    \"\"\"BatchNormalization over the channels: axis 1 of NCHW and of (N, C), the last axis of a
    tensor of another rank (only images are NCHW here), with the conventions nnspec pins, which
    are Keras' and not torch's BatchNorm:
    - moving = moving·momentum + batch·(1 − momentum), momentum 0.99 (torch: 1 − 0.1);
    - ε = 1e-3 (torch: 1e-5);
    - the moving variance takes the biased batch variance (torch: the unbiased one).\"\"\"

    def __init__(self, channels, momentum=0.99, epsilon=1e-3, center=True, scale=True):
        super().__init__()
        self.momentum, self.epsilon = momentum, epsilon
        self.gamma = nn.Parameter(torch.ones(channels)) if scale else None
        self.beta = nn.Parameter(torch.zeros(channels)) if center else None
        self.register_buffer("moving_mean", torch.zeros(channels))
        self.register_buffer("moving_variance", torch.ones(channels))

    def forward(self, x):
        channels_last = x.dim() not in (2, 4)  # (N, ..., C): moved to axis 1 here, and back at the end
        if channels_last:
            x = x.movedim(-1, 1)
        axes = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        if self.training:
            mean, var = x.mean(dim=axes), x.var(dim=axes, unbiased=False)
            with torch.no_grad():
                m = self.momentum
                self.moving_mean.mul_(m).add_(mean * (1 - m))
                self.moving_variance.mul_(m).add_(var * (1 - m))
        else:
            mean, var = self.moving_mean, self.moving_variance
        x = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.epsilon)
        if self.gamma is not None:
            x = x * self.gamma.view(shape)
        if self.beta is not None:
            x = x + self.beta.view(shape)
        return x.movedim(1, -1) if channels_last else x"""),
    "KerasLayerNorm": _lines("""
class KerasLayerNorm(nn.Module):
    \"\"\"Keras' LayerNormalization: y = γ·(x − μ)/√(σ² + ε) + β, μ and σ² (biased) per sample over
    `dims` (of the tensor here: NCHW for an image), ε 1e-3 by default (torch's LayerNorm: 1e-5); γ and
    β in Keras' layout, reshaped to `broadcast` (channels-last) as Keras reshapes them.\"\"\"

    def __init__(self, shape, dims, broadcast, epsilon=1e-3, center=True, scale=True, channels_first=False):
        super().__init__()
        self.dims, self.broadcast, self.epsilon = dims, broadcast, epsilon
        self.channels_first = channels_first
        self.gamma = nn.Parameter(torch.ones(shape)) if scale else None
        self.beta = nn.Parameter(torch.zeros(shape)) if center else None

    def along(self, v):
        v = v.reshape(self.broadcast)
        return v.permute(0, 3, 1, 2) if self.channels_first else v

    def forward(self, x):
        var, mean = torch.var_mean(x, dim=self.dims, correction=0, keepdim=True)
        x = (x - mean) * torch.rsqrt(var + self.epsilon)
        if self.gamma is not None:
            x = x * self.along(self.gamma)
        if self.beta is not None:
            x = x + self.along(self.beta)
        return x"""),
    "KerasGroupNorm": _lines("""
class KerasGroupNorm(nn.Module):
    \"\"\"Keras' GroupNormalization: the channels (dim `dim` here) in `groups` groups; μ and σ² per
    sample and group over the group's channels and every other axis; y = γ·(x − μ)/√(σ² + ε) + β with
    γ, β per channel and ε 1e-3 by default (torch's GroupNorm: 1e-5, and γ and β only together).\"\"\"

    def __init__(self, groups, channels, epsilon=1e-3, center=True, scale=True, dim=1):
        super().__init__()
        self.groups, self.epsilon, self.dim = groups, epsilon, dim
        self.gamma = nn.Parameter(torch.ones(channels)) if scale else None
        self.beta = nn.Parameter(torch.zeros(channels)) if center else None

    def forward(self, x):
        x = x.movedim(self.dim, 1)
        if self.gamma is None and self.beta is not None:  # torch's backward fails with a bias and no weight
            x = F.group_norm(x, self.groups, None, None, self.epsilon)
            x = x + self.beta.reshape(-1, *[1] * (x.dim() - 2))
        else:
            x = F.group_norm(x, self.groups, self.gamma, self.beta, self.epsilon)
        return x.movedim(1, self.dim)"""),
    "keras_relu": _lines("""
def keras_relu(x, max_value=None, negative_slope=0.0, threshold=0.0):
    \"\"\"Keras' ReLU layer: clip(x·[x > threshold], 0, max_value) − negative_slope·max(threshold − x, 0),
    with Keras' branches (relu6 for max_value 6), so the gradients at the kinks are Keras'.\"\"\"
    clip = max_value is not None
    if threshold != 0:
        y = torch.where(x > threshold, x, torch.zeros((), dtype=x.dtype, device=x.device))
    elif max_value == 6:
        y, clip = F.relu6(x), False
    else:
        y = F.relu(x)
    if clip:
        y = torch.clamp(y, 0.0, max_value)
    if negative_slope != 0:
        y = y - negative_slope * F.relu(threshold - x)
    return y"""),
    "KerasPReLU": _lines("""
class KerasPReLU(nn.Module):
    \"\"\"Keras' PReLU: y = relu(x) − α·relu(−x), α of the input's shape (1 along the shared axes),
    kept in Keras' layout (h, w, c) and viewed as (c, h, w) for an NCHW image.\"\"\"

    def __init__(self, shape, channels_first=False):
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(shape))
        self.channels_first = channels_first

    def forward(self, x):
        alpha = self.alpha.permute(2, 0, 1) if self.channels_first else self.alpha
        return F.relu(x) - alpha * F.relu(-x)"""),
    "tf_maximum": _lines("""
def tf_maximum(*xs):
    \"\"\"Keras' Maximum: max(max(x1, x2), x3) ..., and on a tie the gradient goes to the left
    operand of each step, as TensorFlow's (x >= y); torch.maximum would split it half and half.\"\"\"
    out = xs[0]
    for x in xs[1:]:
        out = torch.where(out >= x, out, x)
    return out"""),
    "tf_minimum": _lines("""
def tf_minimum(*xs):
    \"\"\"Keras' Minimum: min(min(x1, x2), x3) ..., and on a tie the gradient goes to the left
    operand of each step, as TensorFlow's (x <= y); torch.minimum would split it half and half.\"\"\"
    out = xs[0]
    for x in xs[1:]:
        out = torch.where(out <= x, out, x)
    return out"""),
    "avg_pool2d_same": _lines("""
def avg_pool2d_same(x, kernel_size, stride, pads):
    \"\"\"AveragePooling2D with TensorFlow's `same` padding: pad (the extra pixel at the
    end), then average over the real pixels of each window only.\"\"\"
    sums = F.avg_pool2d(F.pad(x, pads), kernel_size, stride, divisor_override=1)
    ones = F.pad(torch.ones_like(x[:1, :1]), pads)
    return sums / F.avg_pool2d(ones, kernel_size, stride, divisor_override=1)"""),
}
