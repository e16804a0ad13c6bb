"""A compiled spec as a Keras functional model, built through the lowering table.

``build_network`` lowers every IR layer with ``LOWERINGS`` (``backends.keras.layers``); when the
output softmax/sigmoid is fused with the loss (``compiler.semantics.losses.loss_input``: the activation
a ``from_logits=false`` cross-entropy undoes, possibly followed by layers that pass the values through)
that layer is lowered without its activation and a ``LogitsHead`` follows, so the network outputs logits.
Under a mixed policy the ``LogitsHead`` and a final ``Activation`` layer compute in float32 (Keras'
advice for the output's activation; ``backends.keras.layers``).

The model is a plain functional ``keras.Model``; its training step is the trainer's
(``backends.keras.trainer``), driven by the shared loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from backends.keras.layers import LOWERINGS, LogitsHead, LowerContext, MaskedDropout
from compiler.ir.names import root_scope_name
from compiler.ir.spec import Spec
from compiler.semantics.losses import loss_input
from compiler.ir.values import ActivationFn


@dataclass
class Built:
    """The lowered network and what the trainer needs to know about it."""

    model: keras.Model
    keras_layers: dict[str, list]  # IR layer name -> its Keras layers, in order
    outputs: dict[str, object]  # IR layer name -> the symbolic output of its last Keras layer
    head: LogitsHead | None  # set when the final activation is fused with the loss
    dropouts: list[tuple[object, MaskedDropout]]  # (IR layer, layer) in canonical mode


def _unique(name: str, taken: set[str]) -> str:
    out, i = name, 1
    while out in taken:
        out, i = f"{name}_{i}", i + 1
    return out


def build_network(spec: Spec, ctx: LowerContext) -> Built:
    fused_at = loss_input(spec).fused_at
    fused = None if fused_at is None else spec.layers[fused_at]
    taken = {layer.name for layer in spec.layers}
    keras_layers: dict[str, list] = {}
    outputs: dict[str, object] = {}
    head = None
    dropouts = []
    x = inputs = None
    for layer in spec.layers:
        if layer is fused:
            if layer.is_activation:
                head = LogitsHead(layer.activation.kind, name=layer.name, dtype=ctx.dtype)
                lowered = [head]
            else:
                linear = layer.model_copy(update={"activation": ActivationFn(kind="linear"),
                                                  "activity_regularizer": None})
                head = LogitsHead(layer.activation.kind, ctx.regularizer(layer.activity_regularizer),
                                  name=_unique(f"{layer.name}_{layer.activation.kind}", taken), dtype=ctx.dtype)
                lowered = [LOWERINGS[layer.kind](linear, ctx), head]
        elif layer is spec.layers[-1] and layer.is_activation:  # the final activation in float32
            lowered = [LOWERINGS[layer.kind](layer, ctx.full_precision())]
        else:
            lowered = [LOWERINGS[layer.kind](layer, ctx)]
        for k in lowered:
            if isinstance(k, keras.layers.InputLayer):
                x = inputs = k.output
            else:
                x = k(x)
            if isinstance(k, MaskedDropout):
                dropouts.append((layer, k))
        keras_layers[layer.name] = lowered
        outputs[layer.name] = x
    model = keras.Model(inputs=inputs, outputs=x, name=root_scope_name(spec.name))  # TF refuses a leading _ there
    return Built(model, keras_layers, outputs, head, dropouts)
