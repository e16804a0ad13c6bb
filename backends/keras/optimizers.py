"""Training pieces as Keras objects: the optimizer, the schedule and the loss (the metrics are the
shared loop's, ``compiler.semantics.metrics``).

Optimizers are Keras' own classes with the spec's arguments (``compiler.semantics.optimizers``:
``Rule.keras_class``, ``keras_arguments``); clipping is Keras' own
(``global_clipnorm`` = ``clip_norm``: ``clip_by_global_norm`` scales by
clip_norm·min(1/‖g‖, 1/clip_norm), the shared ``clip_scale``; ``clipvalue`` = ``clip_value``).
Keras' update rules are the pinned ones (compiler/semantics/optimizers.py was written from them),
and Keras' weight decay is the decoupled ``w ← w − w·wd·lr`` before the update for SGD as for AdamW.

One adapter, float64 only: the hyperparameters are passed as ``numpy.float64`` scalars. Keras
casts them to the variable's dtype with ``ops.cast`` (Adam/AdamW ``beta_1``/``beta_2`` for the bias
corrections, SGD ``momentum``, every ``weight_decay``, Adagrad's ``initial_accumulator_value`` via
``Constant``), and TensorFlow's cast of a Python float goes through float32 (0.9 → 0.8999999762),
which moves a float64 run off the pinned update (measured over the 50-step matrix: up to 3e-6 in
the loss and 5e-5 in the weights with Adam, 6e-8 with SGD momentum or Adagrad). A float64 scalar is
cast exactly; ``numpy.float64`` is a ``float``, so Keras' argument checks accept it.

The optimizer's learning rate is ``SpecSchedule``: the rate the shared loop passes to ``train_batch``
(its ``override`` variable, in the model's dtype, so that a float64 rate is used exactly), in both
modes; with ``override`` below 0 it is the spec's schedule as a ``LearningRateSchedule`` evaluated at
``iterations`` (the 0-based step) — compiler/semantics/schedules.py's formula on ``keras.ops``
(``KerasOps``), as Keras' own ``fit`` would evaluate it (the schedule tests compare the two).

Under ``mixed_float16`` the optimizer is wrapped in Keras' ``LossScaleOptimizer`` with
``compiler.semantics.precision``'s constants (initial scale 2**15, doubled after 2000 finite steps in a
row, halved on a step with a non-finite scaled gradient, which it skips): the loss is multiplied by
its ``dynamic_scale`` before the backward pass (``scale_loss``), the gradients divided by it in
``apply``. Its ``iterations`` and ``learning_rate`` are the inner optimizer's.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from compiler.ir.training import Loss, Training
from compiler.semantics import precision
from compiler.semantics.optimizers import RULES, keras_arguments, rule
from compiler.semantics.schedules import factor


@contextmanager
def floatx(dtype: str):
    """Keras' default float type set to ``dtype`` inside the block, restored afterwards."""
    old = keras.config.floatx()
    keras.config.set_floatx(dtype)
    try:
        yield
    finally:
        keras.config.set_floatx(old)


# ---- schedules ----------------------------------------------------------------------------------

class KerasOps:
    """The operations of compiler.semantics.schedules' formulas in ``keras.ops``, on tensors of ``dtype``:
    a Python number among the arguments is converted (exactly: a conversion, not a cast) first."""

    pi = math.pi

    def __init__(self, dtype: str):
        self.dtype = dtype

    def _tensor(self, x):
        return ops.convert_to_tensor(x, dtype=self.dtype) if isinstance(x, (int, float)) else x

    def floor(self, x):
        return ops.floor(x)

    def cos(self, x):
        return ops.cos(x)

    def power(self, a, b):
        return ops.power(self._tensor(a), self._tensor(b))

    def minimum(self, a, b):
        return ops.minimum(self._tensor(a), self._tensor(b))

    def maximum(self, a, b):
        return ops.maximum(self._tensor(a), self._tensor(b))

    def where(self, condition, if_true, if_false):
        return ops.where(condition, self._tensor(if_true), self._tensor(if_false))


class SpecSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """learning_rate · schedule_factor(schedule, iterations), in ``dtype`` — or ``override`` when that
    variable is ≥ 0: ``train_batch`` sets it to the rate it is given (the Trainer protocol); at −1
    (its initial value) the schedule runs in the graph."""

    def __init__(self, learning_rate: float, schedule, dtype: str = "float32"):
        self.learning_rate = float(learning_rate)
        self.schedule = schedule
        self.dtype = dtype
        self.ops = KerasOps(dtype)
        self.override = tf.Variable(-1.0, dtype=dtype, trainable=False, name="learning_rate_override")

    def _const(self, value):
        return ops.convert_to_tensor(value, dtype=self.dtype)  # exact: a conversion, not a cast

    def __call__(self, step):
        t = ops.cast(step, self.dtype)
        scheduled = self._const(self.learning_rate) * factor(self.schedule, t, self.ops)
        return ops.where(self.override >= 0, self.override, scheduled)

    def get_config(self):
        return {"learning_rate": self.learning_rate, "schedule": self.schedule.model_dump(), "dtype": self.dtype}


# ---- optimizers ---------------------------------------------------------------------------------

OPTIMIZERS = {kind: getattr(keras.optimizers, r.keras_class) for kind, r in RULES.items()}


def make_optimizer(training: Training, dtype: str, *, loss_scaling: bool = False
                   ) -> tuple[keras.optimizers.Optimizer, SpecSchedule]:
    """Keras' optimizer for the spec (its class and arguments from compiler.semantics.optimizers), and
    its learning rate: a ``SpecSchedule``. ``loss_scaling``: wrapped in a ``LossScaleOptimizer``
    (``mixed_float16``, see above)."""
    ir = training.optimizer
    exact = np.float64 if dtype == "float64" else float
    cls = getattr(keras.optimizers, rule(ir).keras_class)
    args = {name: exact(v) if isinstance(v, float) else v for name, v in keras_arguments(ir).items()}
    rate = SpecSchedule(ir.learning_rate, training.schedule, dtype)
    optimizer = cls(learning_rate=rate, global_clipnorm=training.clip_norm, clipvalue=training.clip_value, **args)
    if loss_scaling:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer, initial_scale=precision.INITIAL_SCALE,
                                                        dynamic_growth_steps=precision.GROWTH_INTERVAL)
    return optimizer, rate


# ---- loss -----------------------------------------------------------------------------------------

LOSS_FUNCTIONS = {
    "mse": keras.losses.mean_squared_error,
    "mae": keras.losses.mean_absolute_error,
    "binary_crossentropy": keras.losses.binary_crossentropy,
    "categorical_crossentropy": keras.losses.categorical_crossentropy,
    "sparse_categorical_crossentropy": keras.losses.sparse_categorical_crossentropy,
}


class PinnedLoss(keras.losses.Loss):
    """Keras' loss function with an explicit ``from_logits``, reduced with ``sum_over_batch_size``.

    The prediction passes through ``tf.identity`` first, so that Keras' ``_get_logits`` never
    reinterprets it (it would take the logits of any tensor made by a softmax or sigmoid — also a
    sigmoid under a categorical cross-entropy, or a softmax passed through an inference-mode
    Dropout — and of a ``Softmax``/``Sigmoid`` op in graph mode only). The fused case is decided
    once, by ``compiler.semantics.losses`` (the trainer's ``LogitsHead``), for every backend.
    """

    def __init__(self, loss: Loss, from_logits: bool, dtype: str):
        super().__init__(name=loss.kind, reduction="sum_over_batch_size", dtype=dtype)
        self.kind = loss.kind
        self.from_logits = bool(from_logits)
        self.fn = LOSS_FUNCTIONS[loss.kind]

    def call(self, y_true, y_pred):
        y_pred = tf.identity(y_pred)
        if self.kind in ("mse", "mae"):
            return self.fn(y_true, y_pred)
        return self.fn(y_true, y_pred, from_logits=self.from_logits)

    def get_config(self):
        return {"name": self.name, "kind": self.kind, "from_logits": self.from_logits}
