"""Infer every layer's output shape and count its parameters (Keras' semantics), over the graph in order."""

from __future__ import annotations

import math

from compiler.ir.graph import Graph
from compiler.ir.layers import LayerBase, ShapeError
from compiler.ir.layers.pooling import Pooling2D
from spec_lang.diagnostics import DiagnosticSink

MAX_SIZE = 2**63 - 1  # values per sample and parameters per layer: what a backend can index (int64)
# Axes of a layer's output after the batch axis. TensorFlow's broadcasting kernels (Keras' PReLU, a merge of
# shapes with size-1 axes, their gradients) take at most 8 dimensions, batch included ("only handle up to
# Tensor::dims() up to 8"); NumPy's arrays at most 64. A bigger rank is an error at the layer, not a crash
# of one backend in training.
MAX_AXES = 7


def infer_shapes(layers: list[LayerBase], sink: DiagnosticSink) -> list[LayerBase]:
    """Fill input/output shapes and parameter counts, each layer from its inputs' output shapes (a merge
    layer from all of them: ``input_shapes``); the first shape error stops inference, and the layers from
    there on are returned unshaped."""
    graph = Graph.of(layers)
    out: list[LayerBase] = []
    for i, layer in enumerate(layers):
        if isinstance(layer, Pooling2D) and layer.strides is None:
            layer = layer.model_copy(update={"strides": layer.pool_size})
        shapes = tuple(out[s].output_shape for s in graph.sources[i])
        if not layer.is_input and (not shapes or None in shapes):
            out.append(layer)  # nothing to infer from (a model without an Input: reported elsewhere)
            continue
        shape = shapes[0] if shapes else None
        update = {}
        try:
            if layer.is_merge:
                new_shape = layer.infer_merge_shape(shapes)
                update["input_shapes"] = shapes
            else:
                new_shape = layer.infer_shape(shape)
            if len(new_shape) > MAX_AXES:
                raise ShapeError(f"{layer.kind}'s output would have {len(new_shape)} axes after the batch axis; a "
                                 f"tensor has at most {MAX_AXES} (TensorFlow's kernels take at most "
                                 f"{MAX_AXES + 1} dimensions, batch included)")
            trainable, frozen = layer.count_params(shape) if shape is not None else (0, 0)
            if math.prod(new_shape) > MAX_SIZE or trainable + frozen > MAX_SIZE:
                raise ShapeError(f"{layer.kind} is too large: its output or its parameters would hold more than "
                                 "2**63 - 1 values")
        except ShapeError as exc:
            sink.error(str(exc), layer.span.to_span())
            out.extend([layer] + layers[len(out) + 1:])
            return out
        out.append(layer.model_copy(update={**update, "input_shape": shape, "output_shape": new_shape,
                                            "trainable_params": trainable, "non_trainable_params": frozen}))
    return out
