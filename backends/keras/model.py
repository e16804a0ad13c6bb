"""A compiled spec as a Keras functional model, built through the lowering table.

``build_network`` lowers every IR layer with ``LOWERINGS`` (``backends.keras.layers``); when the
final softmax/sigmoid is fused with the loss (as backends/numpy/model.py decides: the last
operation is the activation a ``from_logits=false`` cross-entropy would undo) that layer is lowered
without its activation and a ``LogitsHead`` follows, so the network outputs logits.

``Network`` is a functional ``keras.Model`` whose ``train_step`` (used by ``model.fit``) undoes a
step that diverges (``compiler.semantics.divergence``; ``backends.keras.guard.guarded_update``), as the shared
loop does: the weights, optimizer state, BatchNormalization moving statistics and dropout seed
states stay as after the last good step, the loss and metrics are not updated, the step index, its
batch and which variables the update left non-finite are kept in the ``Guard``, and every later step
of that fit is refused too, until the trainer's callback raises ``Diverged``.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import tensorflow as tf

from backends.keras.guard import Guard, guarded_update
from backends.keras.layers import LOWERINGS, LogitsHead, LowerContext, MaskedDropout
from compiler.ir.names import root_scope_name
from compiler.ir.spec import Spec
from compiler.semantics.fusion import is_fused
from compiler.ir.values import ActivationFn


class Network(keras.Model):
    """A functional model (``Network(inputs, outputs)``) with the guarded ``train_step`` above."""

    guard: Guard | None = None

    def train_step(self, data):
        guard = self.guard
        if guard is None:
            return super().train_step(data)
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        before = [(v, tf.identity(v.value)) for v in guard.state]  # read before the forward pass moves them
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self._compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
        weights = self.trainable_weights
        grads = tape.gradient(loss, weights)

        def accept():  # the loss and metrics count good steps only
            self._loss_tracker.update_state(loss, sample_weight=tf.shape(x)[0])
            self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

        kept, finite = guarded_update(self.optimizer, grads, weights, loss, watched=guard.watched, before=before,
                                      allowed=tf.less(guard.bad_step, 0), on_accept=accept)

        def record():
            guard.bad_step.assign(tf.cast(self.optimizer.iterations, tf.int64))
            guard.x.assign(tf.cast(x, guard.x.dtype))
            guard.y.assign(tf.cast(y, guard.y.dtype))
            guard.finite_after.assign(finite)
            return tf.constant(False)

        first = tf.logical_and(tf.logical_not(kept), tf.less(guard.bad_step, 0))
        tf.cond(first, record, lambda: tf.constant(False))
        return self.get_metrics_result()


@dataclass
class Built:
    """The lowered network and what the trainer needs to know about it."""

    model: Network
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
    fused = is_fused(spec)
    taken = {layer.name for layer in spec.layers}
    keras_layers: dict[str, list] = {}
    outputs: dict[str, object] = {}
    head = None
    dropouts = []
    x = inputs = None
    last = spec.layers[-1]
    for layer in spec.layers:
        if fused and layer is last:
            if layer.kind == "Activation":
                head = LogitsHead(layer.activation.kind, name=layer.name, dtype=ctx.dtype)
                lowered = [head]
            else:
                linear = layer.model_copy(update={"activation": ActivationFn(kind="linear"),
                                                  "activity_regularizer": None})
                head = LogitsHead(layer.activation.kind, ctx.regularizer(layer.activity_regularizer),
                                  name=_unique(f"{layer.name}_{layer.activation.kind}", taken), dtype=ctx.dtype)
                lowered = [LOWERINGS[layer.kind](linear, ctx), head]
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
    model = Network(inputs=inputs, outputs=x, name=root_scope_name(spec.name))  # TF refuses a leading _ there
    return Built(model, keras_layers, outputs, head, dropouts)
