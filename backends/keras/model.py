"""A compiled spec as a Keras functional model, built through the lowering table.

``build_network`` lowers every IR layer with ``LOWERINGS`` (``backends.keras.layers``); when the
final softmax/sigmoid is fused with the loss (as backends/numpy/model.py decides: the last
operation is the activation a ``from_logits=false`` cross-entropy would undo) that layer is lowered
without its activation and a ``LogitsHead`` follows, so the network outputs logits.

``Network`` is a functional ``keras.Model`` whose ``train_step`` (used by ``model.fit``) refuses a
non-finite step before the update, as the shared loop does: when the loss or a gradient is NaN or
infinite the optimizer is not applied, the BatchNormalization moving statistics of the step are
put back, the step index and its batch are kept in a ``Guard``, and every later step of that fit
is refused too, so the weights stay those of the last good step until the trainer raises
``Diverged`` at the end of the epoch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import keras
import tensorflow as tf

from backends.keras.layers import LOWERINGS, LogitsHead, LowerContext, MaskedDropout
from backends.numpy.model import FUSED
from compiler.ir.names import root_scope_name
from compiler.ir.spec import Spec
from compiler.ir.values import ActivationFn


@dataclass
class Guard:
    """Where ``Network.train_step`` records a refused step (TensorFlow variables, read after fit)."""

    state: list  # the BatchNormalization moving statistics (Keras variables)
    bad_step: tf.Variable = field(default_factory=lambda: tf.Variable(-1, dtype=tf.int64, trainable=False))
    x: tf.Variable | None = None
    y: tf.Variable | None = None

    def reset(self):
        self.bad_step.assign(-1)


class Network(keras.Model):
    """A functional model (``Network(inputs, outputs)``) with the guarded ``train_step`` above."""

    guard: Guard | None = None

    def train_step(self, data):
        guard = self.guard
        if guard is None:
            return super().train_step(data)
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        before = [tf.identity(v.value) for v in guard.state]  # read before the forward pass updates them
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self._compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
        self._loss_tracker.update_state(loss, sample_weight=tf.shape(x)[0])
        weights = self.trainable_weights
        grads = tape.gradient(loss, weights)
        finite = tf.logical_and(tf.math.is_finite(loss), tf.less(guard.bad_step, 0))
        for g in grads:
            if g is not None:
                finite = tf.logical_and(finite, tf.reduce_all(tf.math.is_finite(g)))

        def update():
            self.optimizer.apply(grads, weights)
            return tf.constant(True)

        def record():
            guard.bad_step.assign(tf.cast(self.optimizer.iterations, tf.int64))
            guard.x.assign(tf.cast(x, guard.x.dtype))
            guard.y.assign(tf.cast(y, guard.y.dtype))
            return tf.constant(False)

        def refuse():
            for v, old in zip(guard.state, before):
                v.assign(old)
            return tf.cond(tf.less(guard.bad_step, 0), record, lambda: tf.constant(False))

        tf.cond(finite, update, refuse)
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)


@dataclass
class Built:
    """The lowered network and what the trainer needs to know about it."""

    model: Network
    keras_layers: dict[str, list]  # IR layer name -> its Keras layers, in order
    outputs: dict[str, object]  # IR layer name -> the symbolic output of its last Keras layer
    head: LogitsHead | None  # set when the final activation is fused with the loss
    dropouts: list[tuple[object, MaskedDropout]]  # (IR layer, layer) in canonical mode


def is_fused(spec: Spec) -> bool:
    """backends/numpy/model.py's rule: the last operation is the softmax (sigmoid) that the
    ``from_logits=false`` cross-entropy (binary cross-entropy) would undo."""
    loss = spec.training.loss if spec.training else None
    if loss is None or loss.from_logits:
        return False
    last = spec.layers[-1]
    if last.kind not in ("Activation", "Dense", "Conv2D"):
        return False
    return FUSED.get(loss.kind) == last.activation.kind


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
