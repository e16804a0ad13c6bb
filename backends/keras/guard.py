"""The Keras backend's guarded optimizer step, in TensorFlow graph code: ``compiler.semantics.divergence``'s
definition applied inside the traced step (``KerasTrainer._graph_step``, in both modes).

``guarded_update`` applies the optimizer only when the loss is within ``LOSS_LIMIT`` and every
gradient is finite; it copies the weights and the optimizer's variables first, and puts them back
when the update leaves a watched variable (weight, moving statistic, optimizer slot) non-finite.
A step that is not kept also puts back what its forward pass moved (``before``: BatchNormalization's
moving statistics, native dropout's seed states), so everything stays as after the last good step.
No value leaves the graph: the caller reads one boolean (with the loss it reads anyway).

Under dynamic loss scaling (``mixed_float16``, the optimizer a ``LossScaleOptimizer``) a non-finite
scaled gradient is not divergence: the update is tried, the ``LossScaleOptimizer`` skips it (weights
and the inner optimizer untouched, the scale halved, its growth count reset), and the step is kept
and reported as *skipped*; what the forward pass moved stays moved, as in Keras' own ``fit``.
Divergence there is the loss (rule 1) or a non-finite variable after an update (rule 3), as
``compiler.semantics.precision`` defines it.
"""

from __future__ import annotations

import tensorflow as tf

from compiler.semantics.divergence import LOSS_LIMIT


def floating(variables) -> list:
    """The variables of a floating dtype (an optimizer's ``iterations`` and seed states are integers)."""
    return [v for v in variables if tf.as_dtype(v.dtype).is_floating]


def all_finite(tensors) -> tf.Tensor:
    """A scalar boolean: every element of every tensor (None skipped) is finite."""
    flags = [tf.reduce_all(tf.math.is_finite(t)) for t in tensors if t is not None]
    return tf.reduce_all(tf.stack(flags)) if flags else tf.constant(True)


def guarded_update(optimizer, grads, weights, loss, *, watched, before=(), loss_scaled=False):
    """Apply ``grads`` to ``weights`` unless the step diverges; returns (kept, finite_after, skipped):
    scalar boolean, one boolean per ``watched`` variable (finite after the update; all true when no
    update was tried), and a scalar boolean: the ``LossScaleOptimizer`` skipped the step (``loss_scaled``
    only: ``grads`` are the scaled gradients; always false otherwise). ``before``: (variable, value
    before the forward pass) pairs put back when not kept."""
    loss_ok = tf.abs(loss) <= tf.cast(LOSS_LIMIT, loss.dtype)
    grads_ok = all_finite(grads)
    ok = loss_ok if loss_scaled else tf.logical_and(loss_ok, grads_ok)
    undoable = list(weights) + list(optimizer.variables)
    no_update = tf.ones([len(watched)], tf.bool)

    def update():
        saved = [tf.identity(v.value) for v in undoable]
        optimizer.apply(grads, weights)
        finite = tf.stack([tf.reduce_all(tf.math.is_finite(v.value)) for v in watched]) if watched else no_update

        def undo():
            for v, old in zip(undoable, saved):
                v.assign(old)
            return tf.constant(False)

        return tf.cond(tf.reduce_all(finite), lambda: tf.constant(True), undo), finite

    kept, finite = tf.cond(ok, update, lambda: (tf.constant(False), no_update))

    def put_back():
        for v, old in before:
            v.assign(old)
        return tf.constant(False)

    tf.cond(kept, lambda: tf.constant(True), put_back)
    skipped = tf.logical_and(kept, tf.logical_not(grads_ok)) if loss_scaled else tf.constant(False)
    return kept, finite, skipped
