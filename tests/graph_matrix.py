"""The generated matrix of graph equivalence (tests/test_graph_equivalence.py): a few graph specs, written
by ``generate`` from two tables, that together hold every layer kind of ``compiler.ir.layers.LAYER_CLASSES``
INSIDE a graph, and every merge kind joining real branches.

- ``IMAGE_UNITS`` / ``VECTOR_UNITS``: for each layer kind, a few lines that take a value of the family's shape
  (an S×S×C image, a V-vector) back to that shape, with the kind in the middle (``UpSampling2D(2)`` then
  ``MaxPooling2D(2)``; ``Reshape`` and ``Permute`` mixing axes and undoing the shape, never the order).
- ``JOINS``: how a unit enters the graph: as a ``residual`` body (Add), or as the first branch of a
  ``parallel`` merge whose other branches are the identity, a broadcast value (a GlobalMaxPooling2D(keepdims)
  of the input and a 1×1 sigmoid convolution, a gate of shape (1, 1, C) against the image; a sigmoid Dense(1)
  against a vector) or a second unit — Subtract,
  Multiply, Average, Maximum, Minimum, Concatenate along the channels, the height and the width (then a
  1×1 convolution or a Cropping2D back to the family's shape), with three inputs where the merge takes them.

``generate`` walks the units in order and gives unit i the join i (cycling), so adding a kind to a table
puts it into a graph; the stem's value is used again at the end (an Add of the last value and the stem), so
values feed several layers everywhere. ``SPECS[name]`` is the spec text; ``matrix_data(spec)`` its data.
"""

from __future__ import annotations

S, C, V = 4, 4, 6  # image side and channels, vector size

IMAGE_UNITS: dict[str, list[str]] = {
    "LayerNormalization": ["LayerNormalization(beta_initializer=random_normal(stddev=0.1))"],
    "GroupNormalization": ["GroupNormalization(2, gamma_initializer=random_uniform(minval=0.5, maxval=1.5))"],
    "DepthwiseConv2D": ["DepthwiseConv2D(3, padding=same, depth_multiplier=2)", f"Conv2D({C}, 1)"],
    "SeparableConv2D": [f"SeparableConv2D({C}, 3, padding=same, activation=tanh)"],
    "Conv2DTranspose": [f"Conv2DTranspose({C}, 3, strides=2, padding=same)", "AveragePooling2D(2)"],
    "UpSampling2D": ["UpSampling2D(2)", f"Conv2D({C}, 3, strides=2, padding=same)"],
    "UpSampling2D-bilinear": ["UpSampling2D([2, 3], interpolation=bilinear)", f"Conv2D({C}, [2, 3], strides=[2, 3])"],
    "ZeroPadding2D": ["ZeroPadding2D([[1, 0], [2, 1]])", f"Conv2D({C}, [2, 4], activation=elu)"],
    "Cropping2D": [f"Conv2DTranspose({C}, 3)", "Cropping2D([[2, 0], [1, 1]])"],
    "GlobalMaxPooling2D": ["GlobalMaxPooling2D(keepdims=true)", f"UpSampling2D({S})"],
    "Reshape": [f"Reshape([{S * S}, {C}])", "Permute([2, 1])", f"Reshape([{S}, {S}, {C}])"],
    "Permute": ["Permute([2, 1, 3])", f"Conv2D({C}, [1, 3], padding=same)"],
    "ReLU": ["ReLU(max_value=1.5, negative_slope=0.125, threshold=0.25)"],
    "LeakyReLU": ["LeakyReLU()"],
    "PReLU": ["PReLU(random_uniform(minval=0.05, maxval=0.3), shared_axes=[1, 2])"],
    "ELU": ["ELU(0.5)"],
    "Softmax": ["Softmax([1, 2])"],
    "Conv2D": [f"Conv2D({C}, 3, padding=same, activation=relu, kernel_regularizer=l2(0.01))"],
    "BatchNormalization": [f"Conv2D({C}, 1, use_bias=false)", "BatchNormalization(momentum=0.9)"],
    "SpatialDropout2D": ["SpatialDropout2D(0.25)"],
    "MaxPooling2D": ["MaxPooling2D(3, strides=1, padding=same)"],
    "Activation": ["Activation(tanh)"],
}

VECTOR_UNITS: dict[str, list[str]] = {
    "LayerNormalization": ["LayerNormalization(center=false)"],
    "GroupNormalization": ["GroupNormalization(3)"],
    "Softmax": ["Softmax()"],
    "ReLU": ["ReLU(6)"],
    "LeakyReLU": ["LeakyReLU(0.2)"],
    "PReLU": ["PReLU(random_uniform(minval=-0.2, maxval=0.4))"],
    "ELU": ["ELU()"],
    "Reshape": ["Reshape([3, 2])", "Permute([2, 1])", f"Reshape([{V}])"],
    "Dense": [f"Dense({V}, activation=tanh, activity_regularizer=l1(0.01))"],
    "Dropout": ["Dropout(0.3)"],
    "BatchNormalization": ["BatchNormalization(scale=false)"],
}

# (merge line, the other branches) per join; "residual" is `residual { unit }`. An other branch is
# "identity", "broadcast" (a size-1 axis), "unit" (the next unit of the table) or lines of its own.
JOINS: list[tuple[str, tuple]] = [
    ("residual", ()),
    ("Subtract()", ("broadcast",)),
    ("Multiply()", ("identity", "broadcast")),
    ("Concatenate()", ("unit",)),
    ("Maximum()", ("broadcast", "identity")),
    ("Average()", ("broadcast", "identity")),
    ("Minimum()", ("broadcast", "unit")),
    ("Concatenate(axis=1)", ("identity",)),
    ("Add()", ("unit", "broadcast")),
    ("Concatenate(axis=2)", ("identity", "unit")),
]


def _indent(lines: list[str], depth: int) -> list[str]:
    return ["    " * depth + line for line in lines]


def _branch(lines: list[str]) -> str:
    return "branch { " + " ".join(lines) + " }" if lines else "branch { }"


def _restore(merge: str, family: str, branches: int) -> list[str]:
    """The lines after a Concatenate that bring the value back to the family's shape."""
    if not merge.startswith("Concatenate"):
        return []
    if family == "vector":
        return [f"Dense({V})"]
    if "axis=1" in merge:
        return [f"Cropping2D([[0, {S * (branches - 1)}], [0, 0]])"]
    if "axis=2" in merge:
        return [f"Cropping2D([[0, 0], [{S * (branches - 1)}, 0]])"]
    return [f"Conv2D({C}, 1, activation=relu)"]


def generate(name: str, family: str, units: dict[str, list[str]], head: list[str], train: str,
             joins: list[tuple[str, tuple]] = JOINS) -> str:
    """A graph spec: an Input, a stem, unit i joined by ``joins[i % len(joins)]``, the stem added back, ``head``."""
    if family == "image":
        start = [f"Input([{S}, {S}, 3])", "Rescaling(0.5, offset=0.1)", "Normalization()",
                 f"stem = Conv2D({C}, 3, padding=same, activation=relu)"]
        broadcast = ["GlobalMaxPooling2D(keepdims=true)", f"Conv2D({C}, 1, activation=sigmoid)"]
    else:
        start = ["Input([5])", "Normalization()", f"stem = Dense({V}, activation=tanh)"]
        broadcast = ["Dense(1, activation=sigmoid)"]
    statements: list[list[str]] = []  # each construct's lines
    bodies = list(units.values())
    for i, lines in enumerate(bodies):
        merge, others = joins[i % len(joins)]
        if merge == "residual":
            statements.append(["residual {", *_indent(lines, 1), "}"])
            continue
        branches = [lines]
        for other in others:
            branches.append({"identity": [], "broadcast": broadcast, "unit": bodies[(i + 1) % len(bodies)]}[other])
        if family == "vector":  # a vector has one axis: every Concatenate joins along it
            merge = merge.replace("axis=2", "axis=1")
        statements.append([f"parallel {merge} {{", *_indent([_branch(b) for b in branches], 1), "}"])
        statements += [[line] for line in _restore(merge, family, len(branches))]
    statements[-1][0] = "features = " + statements[-1][0]
    lines = [*start, *(line for statement in statements for line in statement), "Add()(features, stem)", *head]
    return "\n".join([f"model {name} {{", *_indent(lines, 1), "}", train])


SPECS: dict[str, str] = {
    "graph-image-every-kind-adam": generate(
        "image_matrix", "image", IMAGE_UNITS, ["GlobalAveragePooling2D()", "Dense(3, activation=softmax)"],
        "train { loss = sparse_categorical_crossentropy optimizer = adam(learning_rate=0.01) batch_size = 8 "
        "seed = 21 }"),
    "graph-vector-every-kind-sgd": generate(
        "vector_matrix", "vector", VECTOR_UNITS, ["Flatten()", "Dense(2)"],
        "train { loss = mse optimizer = sgd(learning_rate=0.01, momentum=0.5) schedule = cosine(decay_steps=50) "
        "batch_size = 8 seed = 22 }"),
}
