"""Graph specs for the backend tests (``GRAPHS[name]() -> Spec``), and random data for them (``graph_data``):
a residual block, a projection shortcut and an inception-style branch with an identity branch; a value used
four times; two outputs; two fused softmax outputs of which one feeds the other; two inputs."""

from __future__ import annotations

import numpy as np

from compiler.pipeline import compile_text
from compiler.semantics.outputs import heads
from runtime.named_arrays import NamedArrays

RESIDUAL = """model res_net {
    Input([5, 4, 2])
    Conv2D(3, 3, padding=same, activation=relu)
    residual {
        Conv2D(3, 3, padding=same)
        BatchNormalization()
    }
    Activation(relu)
    residual {
        Conv2D(4, 3, strides=2, padding=same, activity_regularizer=l2(0.1))
    } shortcut {
        Conv2D(4, 1, strides=2)
    }
    parallel Concatenate() {
        branch { Conv2D(2, 1, activation=tanh) }
        branch { MaxPooling2D(3, strides=1, padding=same) }
        branch { }
    }
    Dropout(0.0)
    GlobalAveragePooling2D()
    Dense(3, activation=softmax)
}
train { loss = sparse_categorical_crossentropy optimizer = adam(learning_rate=0.01) batch_size = 8 seed = 3 }"""

THREE_USES = """model three_uses {
    Input([5])
    h = Dense(4, activation=tanh)
    a = Dense(4, activation=sigmoid)
    b = Dense(4)(h)
    m = Multiply()(a, h, b)
    Add()(m, h)
    Dense(2)
}
train { loss = mse optimizer = adam batch_size = 8 seed = 5 }"""

MERGES = """model merges {
    Input([6, 5, 2])
    stem = Conv2D(4, 3, padding=same, activation=relu)
    a = Conv2D(4, 1)
    b = Conv2D(4, 3, padding=same, activation=tanh)(stem)
    c = GlobalAveragePooling2D(keepdims=true)(stem)
    high = Maximum()(a, b, stem)
    low = Minimum()(a, c)
    gap = Subtract()(high, low)
    scaled = Multiply()(gap, c)
    mean = Average()(scaled, b)
    Concatenate(axis=2)(mean, a)
    Flatten()
    Dense(3)
}
train { loss = categorical_crossentropy(from_logits=true) optimizer = sgd(learning_rate=0.05, momentum=0.9)
        batch_size = 8 seed = 4 }"""

TWO_OUTPUTS = """model two_outputs {
    Input([6])
    trunk = Dense(5, activation=relu)
    output probs = Dense(3, activation=softmax)
    Dense(2, activation=elu)(trunk)
    output value = Dense(1)
}
train { loss = mse optimizer = adam batch_size = 8 seed = 6 }"""

FUSED_SHARED = """model fused_shared {
    Input([6])
    Dense(5, activation=relu)
    output first = Dense(3, activation=softmax)
    Dense(4, activation=elu)
    output second = Dense(3, activation=softmax)
}
train { loss = sparse_categorical_crossentropy optimizer = adam batch_size = 8 seed = 7 }"""

TWO_INPUTS = """model two_inputs {
    image = Input([4, 4, 1])
    meta = Input([3])
    Conv2D(2, 3, activation=relu)(image)
    flat = Flatten()
    Concatenate()(flat, meta)
    Dense(2)
}
train { loss = mse optimizer = adam batch_size = 8 seed = 8 }"""


SELF_MERGES = """model self_merges {
    x = Input([5])
    h = Dense(4, activation=tanh)
    square = Multiply()(h, h)
    twice = parallel Add() {
        branch { }
        branch { }
    }
    top = Maximum()(h, h)
    Concatenate()(twice, top, twice)
    Dense(2)
}
train { loss = mse optimizer = adam batch_size = 8 seed = 9 }"""


def _spec(text: str):
    return lambda: compile_text(text).spec


GRAPHS = {"residual": _spec(RESIDUAL), "three-uses": _spec(THREE_USES), "merges": _spec(MERGES),
          "two-outputs": _spec(TWO_OUTPUTS), "fused-shared": _spec(FUSED_SHARED), "two-inputs": _spec(TWO_INPUTS),
          "self-merges": _spec(SELF_MERGES)}


def three_uses():
    return GRAPHS["three-uses"]()


def two_outputs():
    return GRAPHS["two-outputs"]()


def graph_data(spec, n: int = 16, seed: int = 0):
    """Random (x, y) in the form the loop gives a trainer: plain arrays for one input / one output, else
    ``NamedArrays`` by Input name / output key. Targets: class indices under a sparse loss, one-hot rows under
    a categorical one, else values."""
    rng = np.random.default_rng(seed)
    xs = {layer.name: rng.normal(size=(n, *layer.output_shape)) for layer in spec.input_layers}
    ys = {}
    for head in heads(spec):
        layer = spec.layers[head.layer]
        units = layer.output_shape[-1]
        if head.loss.kind == "sparse_categorical_crossentropy":
            ys[head.key] = rng.integers(0, units, n)
        elif head.loss.kind == "categorical_crossentropy":
            ys[head.key] = np.eye(units)[rng.integers(0, units, n)]
        else:
            ys[head.key] = rng.normal(size=(n, *layer.output_shape))
    x = NamedArrays(xs) if len(xs) > 1 else next(iter(xs.values()))
    y = NamedArrays(ys) if len(ys) > 1 else next(iter(ys.values()))
    return x, y
