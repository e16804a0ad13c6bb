"""Graph specs for the backend tests, wired by hand from a compiled stack (``hand_graph``), and random data
for them.

``hand_graph(text, wiring, merges, outputs)`` compiles ``text`` (a stack whose merge layers stand as
``Activation(linear)`` placeholders), replaces each placeholder named in ``merges`` by the merge layer given
(keeping its line), wires every layer named in ``wiring`` to the layers named there (the others take the layer
before them), and infers the shapes again: the IR the compiler makes of a graph spec, without depending on
the graph syntax.
"""

from __future__ import annotations

import numpy as np

from compiler.ir import layers as ir_layers
from compiler.ir.graph import wire_in_sequence
from compiler.passes.shapes import infer_shapes
from compiler.passes.structure import layout_problems
from compiler.pipeline import compile_text
from spec_lang.diagnostics import DiagnosticSink


def hand_graph(text: str, wiring: dict[str, tuple[str, ...]], merges: dict[str, tuple[str, dict]] | None = None,
               outputs: tuple[str, ...] = ()):
    """The Spec of ``text`` rewired (see the module docstring). ``merges`` maps a placeholder's layer name to
    (merge kind, its arguments, and its new name under "name"); ``outputs`` names the model's outputs (default:
    the last layer)."""
    spec = compile_text(text).spec
    assert spec is not None, text
    layers = []
    for layer in spec.layers:
        if merges and layer.name in merges:
            kind, args = merges[layer.name]
            layer = ir_layers.LAYER_CLASSES[kind](span=layer.span, **args)
        layers.append(layer.model_copy(update={"inputs": tuple(wiring.get(layer.name, ()))}))
    layers = wire_in_sequence(layers)
    outputs = outputs or (layers[-1].name,)
    problems = layout_problems(layers, spec.name, outputs)
    assert not problems, problems
    sink = DiagnosticSink()
    layers = infer_shapes(layers, sink)
    assert not sink.errors, sink.errors
    return spec.model_copy(update={"layers": tuple(layers), "outputs": outputs})


# ---- the graphs ------------------------------------------------------------------------------------------

RESIDUAL = """model res_net {
    Input([5, 4, 2])
    Conv2D(3, 3, padding=same, activation=relu)
    Conv2D(3, 3, padding=same)
    BatchNormalization()
    Activation(linear)
    Activation(relu)
    Conv2D(4, 1, strides=2)
    Conv2D(4, 3, strides=2, padding=same, activity_regularizer=l2(0.1))
    Activation(linear)
    GlobalAveragePooling2D()
    Dense(3, activation=softmax)
}
train { loss = sparse_categorical_crossentropy optimizer = adam(learning_rate=0.01) batch_size = 8 seed = 3 }"""


def residual():
    """y = relu(bn(conv(relu(conv(x)))) + x'), then a projection shortcut: add(conv_3(y), conv_2(y))."""
    return hand_graph(RESIDUAL, {"add": ("batch_normalization", "conv2d"), "conv2d_2": ("activation_1",),
                                 "conv2d_3": ("activation_1",), "add_1": ("conv2d_3", "conv2d_2")},
                      {"activation": ("Add", {"name": "add"}), "activation_2": ("Add", {"name": "add_1"})})


BRANCHES = """model branchy {
    Input([6, 6, 2])
    Conv2D(3, 1, activation=tanh)
    Conv2D(2, 3, padding=same)
    MaxPooling2D(3, strides=1, padding=same)
    Activation(linear)
    Dropout(0.0)
    Conv2D(4, 3, padding=same, activation=relu)
    Flatten()
    Dense(4)
}
train { loss = mse optimizer = sgd(learning_rate=0.05) batch_size = 8 seed = 4 }"""


def branches():
    """Inception-style: three branches of conv2d's output (a 3x3 conv, a max pooling, the value itself)
    concatenated along the channels."""
    return hand_graph(BRANCHES, {"max_pooling2d": ("conv2d",), "conc": ("conv2d_1", "max_pooling2d", "conv2d")},
                      {"activation": ("Concatenate", {"name": "conc"})})


THREE_USES = """model three_uses {
    Input([5])
    Dense(4, activation=tanh)
    Dense(4, activation=sigmoid)
    Dense(4)
    Activation(linear)
    Activation(linear)
    Dense(2)
}
train { loss = mse optimizer = adam batch_size = 8 seed = 5 }"""


def three_uses():
    """dense's output used three times: by dense_1, by dense_2, and twice more by a Multiply and an Add."""
    return hand_graph(THREE_USES, {"dense_2": ("dense",), "mul": ("dense_1", "dense", "dense_2"),
                                   "add": ("mul", "dense")},
                      {"activation": ("Multiply", {"name": "mul"}), "activation_1": ("Add", {"name": "add"})})


TWO_OUTPUTS = """model two_outputs {
    Input([6])
    Dense(5, activation=relu)
    Dense(3, activation=softmax)
    Dense(2, activation=elu)
    Dense(1)
}
train { loss = mse optimizer = adam batch_size = 8 seed = 6 }"""


def two_outputs():
    """Two heads on one trunk: probabilities (dense_1) and a value (dense_3, through dense_2)."""
    return hand_graph(TWO_OUTPUTS, {"dense_2": ("dense",)}, outputs=("dense_1", "dense_3"))


FUSED_SHARED = """model fused_shared {
    Input([6])
    Dense(5, activation=relu)
    Dense(3, activation=softmax)
    Dense(4, activation=elu)
    Dense(3, activation=softmax)
}
train { loss = sparse_categorical_crossentropy optimizer = adam batch_size = 8 seed = 7 }"""


def fused_shared():
    """Two softmax outputs, each fused with its cross-entropy (the loss reads the logits); the first one's
    probabilities also feed the layers of the second."""
    return hand_graph(FUSED_SHARED, {}, outputs=("dense_1", "dense_3"))


GRAPHS = {"residual": residual, "branches": branches, "three-uses": three_uses, "two-outputs": two_outputs,
          "fused-shared": fused_shared}


def graph_data(spec, n: int = 16, seed: int = 0) -> tuple[np.ndarray, list[np.ndarray]]:
    """Random inputs, and random targets for each output (class indices under a sparse loss, else values)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, *spec.input_shape))
    ys = []
    for layer in spec.output_layers:
        if spec.training.loss.kind == "sparse_categorical_crossentropy":
            ys.append(rng.integers(0, layer.output_shape[-1], n))
        else:
            ys.append(rng.normal(size=(n, *layer.output_shape)))
    return x, ys
