"""Loss fusion: when the model's final softmax (sigmoid) meets a ``from_logits=false`` cross-entropy,
the loss is computed from the activation's input — the logits — exactly and unclipped, as Keras'
``_get_logits`` does (keras/src/backend/tensorflow/nn.py); the model still outputs probabilities.

``FUSED``: the cross-entropy kind → the final activation it fuses with.
"""

from __future__ import annotations

from compiler.ir.spec import Spec

FUSED = {"categorical_crossentropy": "softmax", "sparse_categorical_crossentropy": "softmax",
         "binary_crossentropy": "sigmoid"}


def final_activation(spec: Spec) -> str | None:
    """The activation the model's last step applies: a Dense/Conv2D activation or an Activation layer."""
    last = spec.layers[-1]
    if last.kind == "Activation":
        return last.activation.kind
    if last.kind in ("Dense", "Conv2D") and last.activation.kind != "linear":
        return last.activation.kind
    return None


def is_fused(spec: Spec) -> bool:
    """True when the loss is computed from the logits of the final activation (see the module)."""
    loss = spec.training.loss if spec.training else None
    if loss is None or loss.from_logits:
        return False
    return FUSED.get(loss.kind) is not None and FUSED[loss.kind] == final_activation(spec)
