"""``nnspec emit --backend keras``: a spec as a standalone Keras 3 program, with nnspec's pinned meaning.

The program imports keras and numpy (scikit-learn for a bundled data set), never nnspec. nnspec's
pinned meaning is mostly Keras' own, so the program is plain Keras: a ``keras.Sequential`` of the
spec's layers with their exact arguments (one writer per layer kind in ``LAYERS``) — for a graph, Keras'
functional API, each line calling a layer on its inputs' variables (``tools/emit/flow.py``: ``x`` for the
flow, a variable named after each value used again; a merge layer on their list) — Keras' own seeded
initializers, regularizers, loss, metrics and optimizer (``global_clipnorm`` for ``clip_norm``), and
``model.fit`` with ``EarlyStopping``. What is written out:

- activations with parameters other than Keras' defaults (``leaky_relu(alpha=0.1)``: a small function
  calling ``keras.activations.leaky_relu(x, negative_slope=0.1)``);
- a Conv2DTranspose with dilation_rate > 1 (``DilatedConv2DTranspose``: TensorFlow's CPU kernel refuses
  the dilation, so the kernel is dilated explicitly);
- adapting Normalization layers (``adapt``): on the training data as it reaches each layer, in float64,
  before training, with ``count`` set as nnspec sets it;
- the learning-rate schedule, as a ``LearningRateSchedule`` whose formula is nnspec's, computed in
  float64 (Keras' ``ExponentialDecay`` and ``CosineDecay`` compute in the rate's float32);
- the data: loaded, labelled for the loss and split as ``nnspec train`` does (shuffled once with the
  seed, then the last fraction held out; Keras' ``validation_split`` would not shuffle).

Batch order and dropout masks are Keras' own (``fit(shuffle=True)``), so a run agrees with nnspec's
other backends in distribution; ``train_step`` (``train_on_batch``) on given batches agrees step by step.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import Callable

from tools.emit.flow import plan
from tools.emit.code import Call, Code, Keyword, literal, pair, prose, section
from tools.emit.common import (DataFile, EmitError, emit_main, accuracy_kind, accuracy_threshold, data_imports, data_section, describe, early_stopping_args, needs_csv, schedule_keras, settings)
from compiler.semantics.optimizers import keras_arguments, rule
from compiler.semantics.resize import bilinear_taps
from compiler.ir.names import root_scope_name
from compiler.ir.graph import Graph
from compiler.ir.spec import Spec
from tools.emit import outputs as several

LAYERS: dict[str, Callable] = {}


def register(kind: str):
    def wrap(fn):
        LAYERS[kind] = fn
        return fn
    return wrap


@dataclass
class Context:
    spec: Spec
    seeds: int = 0  # seeded initializers and dropout layers so far: each gets SEED + its number
    functions: dict[str, list[str]] = field(default_factory=dict)  # activation functions written out

    def seed(self) -> str:
        n = self.seeds
        self.seeds += 1
        return "SEED" if n == 0 else f"SEED + {n}"


# ---- activations ----------------------------------------------------------------------------------------
def activation(fn, ctx: Context) -> str | None:
    """The ``activation=`` value: Keras' name, or a function written out in the file. None for linear.

    leaky_relu and gelu are written with ``keras.ops`` (same formulas as Keras'): with TensorFlow,
    ``keras.activations.leaky_relu`` passes the slope as a float32 attribute and ``gelu`` goes through
    ``erfc``, both off by ~1e-9 in float64, where the other backends agree to round-off.
    """
    kind = fn.kind
    if kind == "linear":
        return None
    if kind == "leaky_relu":
        text = literal(float(fn.alpha))
        name = "leaky_relu" if fn.alpha == 0.2 else f"leaky_relu_{_suffix(text)}"
        ctx.functions.setdefault(name, [
            f"def {name}(x):",
            f'    """leaky_relu(alpha={text}): x if x > 0 else {text}·x. The same as',
            f"    keras.activations.leaky_relu(x, {text}), written with keras.ops to be exact in",
            '    float64 (TensorFlow takes the slope as a float32)."""',
            f"    return ops.where(x > 0, x, {text} * x)"])
        return name
    if kind == "elu" and float(fn.alpha) != 1.0:
        text = literal(float(fn.alpha))
        name = f"elu_{_suffix(text)}"
        ctx.functions.setdefault(name, [
            f"def {name}(x):",
            f'    """elu with the spec\'s alpha {text}."""',
            f"    return keras.activations.elu(x, alpha={text})"])
        return name
    if kind == "gelu" and fn.approximate:
        ctx.functions.setdefault("gelu_tanh", [
            "def gelu_tanh(x):",
            '    """gelu(approximate=true): ½x(1 + tanh(√(2/π)(x + 0.044715x³))). The same as',
            "    keras.activations.gelu(x, approximate=True), written with keras.ops to be exact",
            '    in float64."""',
            "    u = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)",
            "    return 0.5 * x * (1.0 + ops.tanh(u))"])
        return "gelu_tanh"
    if kind == "gelu":
        ctx.functions.setdefault("gelu", [
            "def gelu(x):",
            '    """gelu: x·Φ(x) = x·½(1 + erf(x/√2)). The same as keras.activations.gelu(x),',
            "    written with keras.ops to be exact in float64 (TensorFlow's gelu goes through",
            '    erfc, off by ~1e-9)."""',
            "    return x * (0.5 * (1.0 + ops.erf(x / math.sqrt(2.0))))"])
        return "gelu"
    if kind not in ("relu", "elu", "silu", "tanh", "sigmoid", "softmax"):
        raise EmitError(f"no Keras activation for {kind!r}")  # pragma: no cover
    return literal(kind)


def _suffix(text: str) -> str:
    return text.replace(".", "_").replace("-", "minus_").replace("+", "")


# ---- initializers and regularizers ------------------------------------------------------------------------
INITIALIZER_CLASSES = {
    "glorot_uniform": "GlorotUniform", "glorot_normal": "GlorotNormal", "he_uniform": "HeUniform",
    "he_normal": "HeNormal", "lecun_uniform": "LecunUniform", "lecun_normal": "LecunNormal",
}


def initializer(init, ctx: Context):
    """Keras' own initializer for an IR initializer, seeded from SEED (a string for the constant ones)."""
    kind = init.kind
    if kind == "zeros":
        return '"zeros"'
    if kind == "ones":
        return '"ones"'
    if kind == "constant":
        return Call("keras.initializers.Constant", [literal(float(init.value))])
    if kind in ("random_normal", "truncated_normal"):
        cls = "RandomNormal" if kind == "random_normal" else "TruncatedNormal"
        return Call(f"keras.initializers.{cls}", [f"mean={literal(float(init.mean))}",
                                                   f"stddev={literal(float(init.stddev))}", f"seed={ctx.seed()}"])
    if kind == "random_uniform":
        bounds = [f"minval={literal(float(init.minval))}", f"maxval={literal(float(init.maxval))}"]
        return Call("keras.initializers.RandomUniform", [*bounds, f"seed={ctx.seed()}"])
    if kind in INITIALIZER_CLASSES:
        return Call(f"keras.initializers.{INITIALIZER_CLASSES[kind]}", [f"seed={ctx.seed()}"])
    if kind == "orthogonal":
        return Call("keras.initializers.Orthogonal", [f"gain={literal(float(init.gain))}", f"seed={ctx.seed()}"])
    raise EmitError(f"no Keras initializer for {kind!r}")  # pragma: no cover


def regularizer(reg) -> Call:
    """Keras' own: l1·Σ|w| + l2·Σw² (on activities ÷ batch size, as Keras 3 does itself)."""
    if reg.kind == "l1":
        return Call("keras.regularizers.L1", [literal(float(reg.l1))])
    if reg.kind == "l2":
        return Call("keras.regularizers.L2", [literal(float(reg.l2))])
    return Call("keras.regularizers.L1L2", [f"l1={literal(float(reg.l1))}", f"l2={literal(float(reg.l2))}"])


# ---- layers: kind -> (constructor, arguments) ------------------------------------------------------------
@register("Input")
def _input(layer, ctx):
    return "keras.Input", [f"shape={literal(tuple(layer.shape))}", f"name={literal(layer.name)}"]


@register("Rescaling")
def _rescaling(layer, ctx):
    args = [literal(float(layer.scale))]
    if layer.offset:
        args.append(f"offset={literal(float(layer.offset))}")
    return "layers.Rescaling", [*args, f"name={literal(layer.name)}"]


def _weighted(layer, ctx) -> list:
    args = []
    act = activation(layer.activation, ctx)
    if act is not None:
        args.append(f"activation={act}")
    if not layer.use_bias:
        args.append("use_bias=False")
    args.append(Keyword("kernel_initializer", initializer(layer.kernel_initializer, ctx)))
    if layer.use_bias and layer.bias_initializer.kind != "zeros":
        args.append(Keyword("bias_initializer", initializer(layer.bias_initializer, ctx)))
    for key in ("kernel_regularizer", "bias_regularizer", "activity_regularizer"):
        reg = getattr(layer, key)
        if reg is not None:
            args.append(Keyword(key, regularizer(reg)))
    return args + [f"name={literal(layer.name)}"]


@register("Dense")
def _dense(layer, ctx):
    return "layers.Dense", [str(layer.units), *_weighted(layer, ctx)]


@register("Conv2D")
def _conv2d(layer, ctx):
    args = [str(layer.filters), pair(layer.kernel_size)]
    if tuple(layer.strides) != (1, 1):
        args.append(f"strides={pair(layer.strides)}")
    if layer.padding != "valid":
        args.append(f"padding={literal(layer.padding)}")
    if tuple(layer.dilation_rate) != (1, 1):
        args.append(f"dilation_rate={pair(layer.dilation_rate)}")
    return "layers.Conv2D", [*args, *_weighted(layer, ctx)]


def _depthwise(layer, ctx) -> list:
    """DepthwiseConv2D's and SeparableConv2D's shared arguments after the first, where not Keras' defaults."""
    args = [pair(layer.kernel_size)]
    if tuple(layer.strides) != (1, 1):
        args.append(f"strides={pair(layer.strides)}")
    if layer.padding != "valid":
        args.append(f"padding={literal(layer.padding)}")
    if layer.depth_multiplier != 1:
        args.append(f"depth_multiplier={layer.depth_multiplier}")
    if tuple(layer.dilation_rate) != (1, 1):
        args.append(f"dilation_rate={pair(layer.dilation_rate)}")
    act = activation(layer.activation, ctx)
    if act is not None:
        args.append(f"activation={act}")
    if not layer.use_bias:
        args.append("use_bias=False")
    args.append(Keyword("depthwise_initializer", initializer(layer.depthwise_initializer, ctx)))
    if layer.kind == "SeparableConv2D":
        args.append(Keyword("pointwise_initializer", initializer(layer.pointwise_initializer, ctx)))
    if layer.use_bias and layer.bias_initializer.kind != "zeros":
        args.append(Keyword("bias_initializer", initializer(layer.bias_initializer, ctx)))
    for key in ("depthwise_regularizer", "pointwise_regularizer", "bias_regularizer", "activity_regularizer"):
        reg = getattr(layer, key, None)
        if reg is not None:
            args.append(Keyword(key, regularizer(reg)))
    return args + [f"name={literal(layer.name)}"]


@register("DepthwiseConv2D")
def _depthwise_conv2d(layer, ctx):
    return "layers.DepthwiseConv2D", _depthwise(layer, ctx)


@register("SeparableConv2D")
def _separable_conv2d(layer, ctx):
    return "layers.SeparableConv2D", [str(layer.filters), *_depthwise(layer, ctx)]


BILINEAR_UP_SAMPLING2D = [
    *inspect.getsource(bilinear_taps).rstrip().splitlines(), "", "",
    "def bilinear_matrix(size, factor):",
    '    """A (size·factor, size) with y = A·x along one axis: the taps above as a matrix."""',
    "    a = np.zeros((size * factor, size))",
    "    for i, (lo, hi, w) in enumerate(bilinear_taps(size, factor)):",
    "        a[i, lo] += 1.0 - w",
    "        a[i, hi] += w",
    "    return a", "", "",
    "class BilinearUpSampling2D(layers.UpSampling2D):",
    '    """UpSampling2D(interpolation="bilinear") as Keras\' on TensorFlow (half-pixel centres), written as',
    "    y = A_h·x·A_wᵀ with the matrices above: TensorFlow's resize computes in float32 whatever the",
    '    dtype (1e-7 off in float64)."""',
    "",
    "    def build(self, input_shape):",
    "        self.matrices = [bilinear_matrix(n, k) for n, k in zip(input_shape[1:3], self.size)]",
    "",
    "    def call(self, x):",
    "        a_h, a_w = (ops.convert_to_tensor(a, dtype=x.dtype) for a in self.matrices)",
    '        return ops.einsum("ih,nhwc,jw->nijc", a_h, x, a_w)',
]


@register("UpSampling2D")
def _up_sampling2d(layer, ctx):
    args = [] if tuple(layer.size) == (2, 2) else [pair(layer.size)]
    if layer.interpolation == "nearest":
        return "layers.UpSampling2D", [*args, f"name={literal(layer.name)}"]
    ctx.functions.setdefault("BilinearUpSampling2D", BILINEAR_UP_SAMPLING2D)
    return "BilinearUpSampling2D", [*args, 'interpolation="bilinear"', f"name={literal(layer.name)}"]


def _pooling(layer) -> list[str]:
    args = [pair(layer.pool_size)]
    strides = layer.strides or layer.pool_size
    if tuple(strides) != tuple(layer.pool_size):
        args.append(f"strides={pair(strides)}")
    if layer.padding != "valid":
        args.append(f"padding={literal(layer.padding)}")
    return [*args, f"name={literal(layer.name)}"]


@register("MaxPooling2D")
def _max_pooling2d(layer, ctx):
    return "layers.MaxPooling2D", _pooling(layer)


@register("AveragePooling2D")
def _average_pooling2d(layer, ctx):
    return "layers.AveragePooling2D", _pooling(layer)


@register("GlobalAveragePooling2D")
def _global_average_pooling2d(layer, ctx):
    return "layers.GlobalAveragePooling2D", (["keepdims=True"] if layer.keepdims else []) + [
        f"name={literal(layer.name)}"]


@register("Flatten")
def _flatten(layer, ctx):
    return "layers.Flatten", [f"name={literal(layer.name)}"]


@register("GlobalMaxPooling2D")
def _global_max_pooling2d(layer, ctx):
    return "layers.GlobalMaxPooling2D", (["keepdims=True"] if layer.keepdims else []) + [
        f"name={literal(layer.name)}"]


@register("ZeroPadding2D")
def _zero_padding2d(layer, ctx):
    return "layers.ZeroPadding2D", [literal(tuple(map(tuple, layer.padding))), f"name={literal(layer.name)}"]


@register("Cropping2D")
def _cropping2d(layer, ctx):
    return "layers.Cropping2D", [literal(tuple(map(tuple, layer.cropping))), f"name={literal(layer.name)}"]


@register("Reshape")
def _reshape(layer, ctx):
    return "layers.Reshape", [literal(tuple(layer.target_shape)), f"name={literal(layer.name)}"]


@register("Permute")
def _permute(layer, ctx):
    return "layers.Permute", [literal(tuple(layer.dims)), f"name={literal(layer.name)}"]


@register("Dropout")
def _dropout(layer, ctx):
    return "layers.Dropout", [literal(float(layer.rate)), f"seed={ctx.seed()}", f"name={literal(layer.name)}"]


@register("SpatialDropout2D")
def _spatial_dropout2d(layer, ctx):
    return "layers.SpatialDropout2D", [literal(float(layer.rate)), f"seed={ctx.seed()}",
                                       f"name={literal(layer.name)}"]


@register("BatchNormalization")
def _batch_normalization(layer, ctx):
    args = [f"momentum={literal(float(layer.momentum))}", f"epsilon={literal(float(layer.epsilon))}"]
    if not layer.center:
        args.append("center=False")
    if not layer.scale:
        args.append("scale=False")
    return "layers.BatchNormalization", [*args, f"name={literal(layer.name)}"]


@register("Normalization")
def _normalization(layer, ctx):
    args = [] if layer.axis == -1 else [f"axis={literal(layer.axis)}"]
    if not layer.adapts:
        args += [f"mean={literal(layer.mean)}", f"variance={literal(layer.variance)}"]
    if layer.invert:
        args.append("invert=True")
    return "layers.Normalization", [*args, f"name={literal(layer.name)}"]


def adapts(spec: Spec) -> bool:
    """True when a Normalization of ``spec`` learns its statistics (the program then adapts before training)."""
    return any(layer.adapts for layer in spec.layers)


ADAPT = """
def adapt(model, x, batch_size=1024):
    \"\"\"Before training, as nnspec does: every Normalization layer not adapted yet (count 0) learns the
    mean and the population variance of the training data as it reaches it (Keras' adapt, on the data in
    float64); count records how many values each statistic summarises, as nnspec's weights do.\"\"\"
    for index, layer in enumerate(model.layers):
        if not isinstance(layer, layers.Normalization) or layer.input_mean is not None:
            continue
        if int(ops.convert_to_numpy(layer.count)) > 0:
            continue
        parts = []
        for start in range(0, len(x), batch_size):
            h = x[start : start + batch_size]
            for before in model.layers[:index]:
                h = before(h, training=False)
            parts.append(ops.convert_to_numpy(h))
        data = np.concatenate(parts).astype("float64")
        layer.adapt(data)
        layer.count.assign(data.size // max(int(np.prod(layer.adapt_mean.shape)), 1))""".strip("\n").split("\n")


def _scale_shift(layer, ctx) -> list:
    """LayerNormalization's and GroupNormalization's shared arguments, where they differ from Keras' defaults."""
    args = [] if layer.epsilon == 1e-3 else [f"epsilon={literal(float(layer.epsilon))}"]
    if not layer.center:
        args.append("center=False")
    if not layer.scale:
        args.append("scale=False")
    if layer.center and layer.beta_initializer.kind != "zeros":
        args.append(Keyword("beta_initializer", initializer(layer.beta_initializer, ctx)))
    if layer.scale and layer.gamma_initializer.kind != "ones":
        args.append(Keyword("gamma_initializer", initializer(layer.gamma_initializer, ctx)))
    for key in ("beta_regularizer", "gamma_regularizer"):
        reg = getattr(layer, key)
        if reg is not None:
            args.append(Keyword(key, regularizer(reg)))
    return args + [f"name={literal(layer.name)}"]


@register("LayerNormalization")
def _layer_normalization(layer, ctx):
    axis = layer.axis if isinstance(layer.axis, int) else list(layer.axis)
    return "layers.LayerNormalization", ([] if axis == -1 else [f"axis={literal(axis)}"]) + _scale_shift(layer, ctx)


@register("GroupNormalization")
def _group_normalization(layer, ctx):
    args = [str(layer.groups)] + ([] if layer.axis == -1 else [f"axis={layer.axis}"])
    return "layers.GroupNormalization", args + _scale_shift(layer, ctx)


DILATED_CONV2D_TRANSPOSE = [
    "class DilatedConv2DTranspose(layers.Conv2DTranspose):",
    '    """Conv2DTranspose with dilation_rate > 1, which TensorFlow\'s CPU kernel refuses: the same',
    "    transposed convolution with the kernel dilated explicitly (zeros between the taps) and",
    '    dilation 1 (the same sums and output size, on every device)."""',
    "",
    "    def call(self, inputs):",
    "        kernel = self.kernel",
    "        kh, kw, filters, channels = kernel.shape",
    "        dh, dw = self.dilation_rate",
    "        if dh > 1:",
    "            kernel = ops.pad(ops.expand_dims(kernel, 1), [[0, 0], [0, dh - 1], [0, 0], [0, 0], [0, 0]])",
    "            kernel = ops.reshape(kernel, (kh * dh, kw, filters, channels))[: (kh - 1) * dh + 1]",
    "        if dw > 1:",
    "            kernel = ops.pad(ops.expand_dims(kernel, 2), [[0, 0], [0, 0], [0, dw - 1], [0, 0], [0, 0]])",
    "            kernel = ops.reshape(kernel, (kernel.shape[0], kw * dw, filters, channels))[:, : (kw - 1) * dw + 1]",
    "        outputs = ops.conv_transpose(inputs, kernel, strides=list(self.strides), padding=self.padding,",
    "                                     output_padding=self.output_padding, dilation_rate=1)",
    "        if self.use_bias:",
    "            outputs = outputs + self.bias",
    "        return self.activation(outputs) if self.activation is not None else outputs",
]


@register("Conv2DTranspose")
def _conv2d_transpose(layer, ctx):
    args = [str(layer.filters), pair(layer.kernel_size)]
    if tuple(layer.strides) != (1, 1):
        args.append(f"strides={pair(layer.strides)}")
    if layer.padding != "valid":
        args.append(f"padding={literal(layer.padding)}")
    if layer.output_padding is not None:
        args.append(f"output_padding={pair(layer.output_padding)}")
    func = "layers.Conv2DTranspose"
    if tuple(layer.dilation_rate) != (1, 1):
        args.append(f"dilation_rate={pair(layer.dilation_rate)}")
        ctx.functions.setdefault("DilatedConv2DTranspose", DILATED_CONV2D_TRANSPOSE)
        func = "DilatedConv2DTranspose"
    return func, [*args, *_weighted(layer, ctx)]


@register("Activation")
def _activation(layer, ctx):
    return "layers.Activation", [activation(layer.activation, ctx) or '"linear"', f"name={literal(layer.name)}"]


# ---- activation layers: Keras' own, with the spec's arguments ---------------------------------------------
@register("ReLU")
def _relu(layer, ctx):
    args = [] if layer.max_value is None else [f"max_value={literal(float(layer.max_value))}"]
    if layer.negative_slope:
        args.append(f"negative_slope={literal(float(layer.negative_slope))}")
    if layer.threshold:
        args.append(f"threshold={literal(float(layer.threshold))}")
    return "layers.ReLU", [*args, f"name={literal(layer.name)}"]


@register("LeakyReLU")
def _leaky_relu(layer, ctx):
    return "layers.LeakyReLU", [f"negative_slope={literal(float(layer.negative_slope))}", f"name={literal(layer.name)}"]


@register("ELU")
def _elu(layer, ctx):
    args = [] if layer.alpha == 1.0 else [f"alpha={literal(float(layer.alpha))}"]
    return "layers.ELU", [*args, f"name={literal(layer.name)}"]


@register("PReLU")
def _prelu(layer, ctx):
    args = []
    if layer.alpha_initializer.kind != "zeros":
        args.append(Keyword("alpha_initializer", initializer(layer.alpha_initializer, ctx)))
    if layer.alpha_regularizer is not None:
        args.append(Keyword("alpha_regularizer", regularizer(layer.alpha_regularizer)))
    if layer.shared:
        args.append(f"shared_axes={literal(list(layer.shared))}")
    return "layers.PReLU", [*args, f"name={literal(layer.name)}"]


@register("Softmax")
def _softmax(layer, ctx):
    args = [] if layer.axis == -1 else [f"axis={literal(layer.axis if isinstance(layer.axis, int) else list(layer.axis))}"]
    return "layers.Softmax", [*args, f"name={literal(layer.name)}"]


# ---- training pieces ---------------------------------------------------------------------------------------
# ---- merge layers: called on the list of their inputs' variables (a graph's build_model) -------------------
MERGE_CLASSES = {"Add": "Add", "Subtract": "Subtract", "Multiply": "Multiply", "Average": "Average",
                 "Maximum": "Maximum", "Minimum": "Minimum"}


def _merge(layer, ctx):
    return f"layers.{MERGE_CLASSES[layer.kind]}", [f"name={literal(layer.name)}"]


for _kind in MERGE_CLASSES:
    register(_kind)(_merge)


@register("Concatenate")
def _concatenate(layer, ctx):
    return "layers.Concatenate", ([] if layer.axis == -1 else [f"axis={layer.axis}"]) + [f"name={literal(layer.name)}"]


ADAPT_GRAPH = """
def adapt(model, x, batch_size=1024):
    \"\"\"Before training, as nnspec does: every Normalization layer not adapted yet (count 0) learns the
    mean and the population variance of the training data as it reaches it (Keras' adapt, on the data in
    float64, through the layers before it); count records how many values each statistic summarises, as
    nnspec's weights do. x: as the model takes it (an array, a list or a dict of arrays, one per input).\"\"\"
    arrays = list(x.values()) if isinstance(x, dict) else list(x) if isinstance(x, (list, tuple)) else [x]
    for layer in model.layers:  # in the order of the graph: each sees what those before it normalize
        if not isinstance(layer, layers.Normalization) or layer.input_mean is not None:
            continue
        if int(ops.convert_to_numpy(layer.count)) > 0:
            continue
        reaching = keras.Model(model.inputs, layer.input)  # the data as it reaches the layer
        parts = []
        for start in range(0, len(arrays[0]), batch_size):
            batch = [a[start : start + batch_size] for a in arrays]
            h = reaching(batch, training=False)  # a list, as model.inputs
            parts.append(ops.convert_to_numpy(h))
        data = np.concatenate(parts).astype("float64")
        layer.adapt(data)
        layer.count.assign(data.size // max(int(np.prod(layer.adapt_mean.shape)), 1))""".strip("\n").split("\n")


def _functional(body: Code, spec: Spec, constructors: list) -> None:
    """``build_model``'s layers as Keras' functional API: each line calls a layer on its inputs' variables
    (``tools.emit.flow``: ``x`` for the flow, a variable per value used again), then the ``keras.Model``."""
    code = " ".join(re.sub(r'"[^"]*"', "", " ".join([func, *map(str, args)])) for func, args in constructors)
    used = set(re.findall(r"[A-Za-z_]\w*", code))  # what the calls name (strings left out): not for variables
    flow = plan(spec, frozenset(used | {"keras", "layers", "ops", "np", "math", "dtype", "SEED"}), keep_inputs=True)
    for i, (func, args) in enumerate(constructors):
        target = flow.names[i]
        if spec.layers[i].is_input:
            body.call(func, args, prefix=f"{target} = ")
            continue
        sources = [flow.names[s] for s in flow.graph.sources[i]]
        operand = f"[{', '.join(sources)}]" if spec.layers[i].is_merge else sources[0]
        body.call(func, args, prefix=f"{target} = ", suffix=f"({operand})")

    def listed(indices) -> str:
        names = [flow.names[i] for i in indices]
        return names[0] if len(names) == 1 else f"[{', '.join(names)}]"

    body.call("keras.Model", [f"inputs={listed(flow.graph.inputs)}", f"outputs={listed(flow.graph.outputs)}",
                              f"name={literal(root_scope_name(spec.name))}"], prefix="return ")


LOSS_CLASSES = {
    "mse": "MeanSquaredError", "mae": "MeanAbsoluteError", "binary_crossentropy": "BinaryCrossentropy",
    "categorical_crossentropy": "CategoricalCrossentropy",
    "sparse_categorical_crossentropy": "SparseCategoricalCrossentropy",
}


def loss_expr(spec: Spec) -> str:
    loss = spec.training.loss
    cls = LOSS_CLASSES[loss.kind]
    args = f"from_logits={loss.from_logits}" if loss.is_classification else ""
    return f"keras.losses.{cls}({args})"


def metric_exprs(spec: Spec) -> list[str]:
    """Explicit metric objects, so that ``accuracy`` compares as nnspec does for this loss (a binary accuracy
    on logits thresholds at 0, which Keras' "accuracy" string would not)."""
    t = spec.training
    out = []
    for m in t.metrics:
        if m == "accuracy":
            kind = accuracy_kind(spec)
            if kind == "binary":
                threshold = accuracy_threshold(spec)
                out.append(f'keras.metrics.BinaryAccuracy(threshold={threshold}, name="accuracy")')
            elif kind == "sparse":
                out.append('keras.metrics.SparseCategoricalAccuracy(name="accuracy")')
            else:
                out.append('keras.metrics.CategoricalAccuracy(name="accuracy")')
        elif m == "mse":
            out.append('keras.metrics.MeanSquaredError(name="mse")')
        elif m == "mae":
            out.append('keras.metrics.MeanAbsoluteError(name="mae")')
        elif m == "rmse":
            out.append('keras.metrics.RootMeanSquaredError(name="rmse")')
    return out


def optimizer_call(spec: Spec) -> tuple[str, list[str]]:
    """Keras' optimizer class for the spec and its arguments (the learning rate, the hyperparameters of
    ``compiler.semantics.optimizers.keras_arguments`` other than Keras' defaults None and False, clipping)."""
    t = spec.training
    o = t.optimizer
    lr = "LEARNING_RATE" if t.schedule.kind == "constant" else "LearningRate()"
    args = [f"learning_rate={lr}"]
    for key, value in keras_arguments(o).items():  # compiler.semantics.optimizers: Keras' own arguments
        if value is None or value is False:  # Keras' default
            continue
        args.append(f"{key}={literal(float(value) if isinstance(value, float) else value)}")
    if t.clip_norm is not None:
        args.append(f"global_clipnorm={literal(float(t.clip_norm))}")
    if t.clip_value is not None:
        args.append(f"clipvalue={literal(float(t.clip_value))}")
    return f"keras.optimizers.{rule(o).keras_class}", args


# ---- the file ------------------------------------------------------------------------------------------------
def emit_keras(spec: Spec, *, spec_path: str | None = None, data_file: DataFile | None = None) -> str:
    """The standalone Keras program for ``spec`` (which must have a train section)."""
    if spec.training is None:
        raise EmitError("the spec has no train section: add train { loss = ... optimizer = ... }")
    t = spec.training
    ctx = Context(spec)
    constructors = [LAYERS[layer.kind](layer, ctx) for layer in spec.layers]
    graph = not Graph.of(spec.layers, spec.output_names).is_stack  # a stack stays a keras.Sequential

    body = Code()
    settings(body, spec, 'DTYPE = "float32"  # or "float64" (TensorFlow keeps some constants float32)')

    section(body, "the model")
    for lines in ctx.functions.values():
        body.blank(2)
        body(*lines)
    body.blank(2)
    with body.block("def build_model(dtype=DTYPE):"):
        body.docstring(f"{prose(spec.name)}: the spec's layers with their exact arguments; Keras' initializers, "
                       "seeded.")
        body("keras.config.set_floatx(dtype)  # losses and metrics follow floatx",
             "keras.config.set_dtype_policy(dtype)  # layers follow the policy, which Keras caches on first use",
             "keras.utils.set_random_seed(SEED)")
        if graph:
            _functional(body, spec, constructors)
        else:
            with body.block("return keras.Sequential("):
                with body.block("["):
                    for func, args in constructors:
                        body.call(func, args, suffix=",")
                body("],")
                body(f"name={literal(root_scope_name(spec.name))},")  # TF refuses a model name starting with _
            body(")")
    body.blank(2)
    with body.block("def get_weights(model):"):
        body.docstring('Every weight by nnspec\'s name ("dense/kernel"), as NumPy arrays (Keras\' layouts).')
        body("return {",
             '    f"{layer.name}/{w.name}": ops.convert_to_numpy(w)',
             "    for layer in model.layers",
             "    for w in layer.weights",
             "}")
    body.blank(2)
    with body.block("def set_weights(model, weights):"):
        body.docstring("Load {nnspec name: array}, such as the weights.npz that nnspec train writes.")
        body("variables = {",
             '    f"{layer.name}/{w.name}": w for layer in model.layers for w in layer.weights',
             "}")
        with body.block("for name, value in weights.items():"):
            body("variables[name].assign(value)")
        if any(layer.kind == "Normalization" for layer in spec.layers):
            with body.block("for layer in model.layers:"):
                with body.block("if isinstance(layer, layers.Normalization):"):
                    body("layer.finalize_state()  # Keras keeps mean and variance as tensors made from the variables")
    body.blank(2)
    with body.block("def predict(model, x):"):
        if len(spec.output_names) == 1 and len(spec.input_layers) == 1:
            body.docstring("The model's outputs for x in inference mode.")
            body("return ops.convert_to_numpy(model(x, training=False))")
        else:
            inputs = ("x: one array per input, a dict by input name or a list in the model's order"
                      if len(spec.input_layers) > 1 else "x: an array")
            if len(spec.output_names) > 1:
                body.docstring(f"The model's outputs for x in inference mode ({inputs}); one array per output, "
                               "in the spec's order.")
                body("return [ops.convert_to_numpy(o) for o in model(x, training=False)]")
            else:
                body.docstring(f"The model's output for x in inference mode ({inputs}).")
                body("return ops.convert_to_numpy(model(x, training=False))")

    section(body, "training: Keras' own rules, which nnspec pins")
    if t.schedule.kind != "constant":
        body.blank(2)
        with body.block("class LearningRate(keras.optimizers.schedules.LearningRateSchedule):"):
            body.docstring(f"The learning rate at optimizer step `step` (from 0): {describe(t.schedule)},\n"
                           "computed in float64 as nnspec does.")
            body.blank()
            with body.block("def __call__(self, step):"):
                schedule_keras(body, t.schedule)
            body.blank()
            with body.block("def get_config(self):"):
                body("return {}")
    body.blank(2)
    with body.block("def make_optimizer():"):
        body.docstring(f"{describe(t.optimizer)} with Keras' own update rule (the one nnspec pins).")
        func, args = optimizer_call(spec)
        body.call(func, args, prefix="return ")
    body.blank(2)
    with body.block("def compile_model(model):"):
        body.docstring("Compile with the spec's optimizer, loss and metrics (penalties join the loss, as Keras "
                       "does).")
        if spec.multi_io:  # a loss, weight and metrics per output, in output order (tools/emit/outputs.py)
            several.keras_compile(body, spec, LOSS_CLASSES)
        else:
            with body.block("model.compile("):
                body("optimizer=make_optimizer(),", f"loss={loss_expr(spec)},")
                metrics = metric_exprs(spec)
                if metrics:
                    with body.block("metrics=["):
                        for m in metrics:
                            body(m + ",")
                    body("],")
            body(")")
        body("return model")
    body.blank(2)
    with body.block("def train_step(model, x, y):"):
        body.docstring("One optimizer step on the batch (x, y) with Keras' own train step (the optimizer counts\n"
                       "the steps, which the schedule reads); returns the batch's loss before the update.")
        if spec.multi_io:
            body(f'return model.train_on_batch(x, {several.keras_fit_targets(spec, "y")}, return_dict=True)["loss"]')
        else:
            body('return model.train_on_batch(x, y, return_dict=True)["loss"]')
    if adapts(spec):
        body.blank(2)
        body(*(ADAPT_GRAPH if graph else ADAPT))
    body.blank(2)
    _train(body, spec)

    section(body, "data")
    if spec.multi_io:  # dicts of arrays by input and output key
        several.data_section(body, spec, data_file)
    else:
        data_section(body, spec, data_file)

    body.blank(2)
    if spec.multi_io:
        several.main_lines(body, spec, "compile_model(build_model(dtype=args.dtype))")
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
    third = ["import keras", "import numpy as np", "from keras import layers, ops",
             *(several.data_imports(spec) if spec.multi_io else data_imports(spec))]
    head(*stdlib)
    head.blank()
    head(*sorted(third, key=lambda s: (s.startswith("from "), s.split()[1])))
    return head.text() + "\n" + text


def _file_docstring(spec: Spec, spec_path: str | None) -> str:
    source = f" from {prose(spec_path)}" if spec_path else ""
    deps = "keras 3 and numpy" + (", and scikit-learn for the data" if data_imports(spec) else "")
    return (f"{prose(spec.name)} as a standalone Keras program, emitted by `nnspec emit --backend keras`{source}.\n\n"
            f"It needs {deps}; not nnspec. It means what the spec means in nnspec.\n"
            "Run it, or import it:\n\n"
            "    python this_file.py --epochs 5 --save weights.npz\n\n"
            "    model = compile_model(build_model())\n"
            "    history = train(model, load_data())\n\n"
            "get_weights/set_weights take {\"dense/kernel\": array}: nnspec's names, Keras' layouts.")


def _train(body: Code, spec: Spec) -> None:
    t = spec.training
    es = t.early_stopping
    with body.block("def train(model, data, epochs=None):"):
        body.docstring("model.fit with the spec's settings (Keras draws the batch order; nnspec's other backends\n"
                       "use default_rng(SeedSequence([SEED, 1, epoch]))). Returns the history.")
        body("x_train, y_train, x_val, y_val = data")
        if adapts(spec):
            body("adapt(model, x_train)  # Normalization: mean and variance of the training data")
        with body.block("if not model.compiled:"):
            body("compile_model(model)")
        if es is not None:
            if spec.multi_io:  # Keras names each output's loss and metrics by its layer (dense_1_loss)
                es = es.model_copy(update={"monitor": several.keras_monitor(spec, es.monitor)})
            body.call("keras.callbacks.EarlyStopping", early_stopping_args(es), prefix="stop = ")
        if spec.multi_io:
            fit = ["x_train", several.keras_fit_targets(spec, "y_train"), "batch_size=BATCH_SIZE",
                   "epochs=epochs or EPOCHS"]
            if t.validation_split:
                fit.append(f"validation_data=(x_val, {several.keras_fit_targets(spec, 'y_val')})")
        else:
            fit = ["x_train", "y_train", "batch_size=BATCH_SIZE", "epochs=epochs or EPOCHS"]
        if t.validation_split and not spec.multi_io:
            fit.append("validation_data=(x_val, y_val) if len(x_val) else None")
        if es is not None:
            fit.append("callbacks=[stop]")
        fit += ["shuffle=True", "verbose=2"]
        body.call("model.fit", fit, prefix="history = ")
        body("return history.history")


def _main(body: Code, spec: Spec, spec_path: str | None) -> None:
    emit_main(body, spec, "compile_model(build_model(dtype=args.dtype))")
