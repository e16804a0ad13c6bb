"""What the precision tests of the torch and Keras backends share: the policies, a small MLP and a small
CNN (dropout, spatial dropout, BatchNormalization, kernel and activity penalties), and data they can learn."""

from __future__ import annotations

import numpy as np

MIXED = ("mixed_bfloat16", "mixed_float16")
MODES = ("canonical", "native")


def mlp_text(batch_size: int, epochs: int) -> str:
    return f"""model m {{
    Input([6])
    Dense(16, activation=relu)
    Dropout(0.2)
    Dense(3, activation=softmax)
}}
train {{
    loss = sparse_categorical_crossentropy
    optimizer = adam(learning_rate=0.01)
    batch_size = {batch_size}
    epochs = {epochs}
    seed = 3
}}
"""


def cnn_text(batch_size: int, epochs: int) -> str:
    return f"""model c {{
    Input([8, 8, 3])
    Conv2D(4, 3, padding=same)
    BatchNormalization()
    Activation(relu)
    MaxPooling2D(2)
    SpatialDropout2D(0.1)
    Flatten()
    Dropout(0.2)
    Dense(3, activation=softmax, kernel_regularizer=l2(1e-4), activity_regularizer=l1(1e-5))
}}
train {{
    loss = sparse_categorical_crossentropy
    optimizer = adam(learning_rate=0.01)
    batch_size = {batch_size}
    epochs = {epochs}
    seed = 3
}}
"""


def data(shape, n=96, seed=0):
    """``n`` samples of ``shape`` and labels 0..2 that the inputs' first two channels decide."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, *shape)).astype(np.float32)
    axes = tuple(range(1, x.ndim - 1))
    first = x[..., 0].mean(axis=axes) if axes else x[:, 0]
    second = x[..., 1].mean(axis=axes) if axes else x[:, 1]
    return x, (first > 0).astype(np.int64) + (second > 0)


def assert_one_overflow_skipped(trainer, before: dict, after: dict, scale: float, iterations_key: str) -> None:
    """``trainer`` took one step from state ``before`` (loss scale ``scale``, which overflows) to ``after``: the
    scale halved and its growth count restarted as ``compiler.semantics.precision.LossScale`` says, the step
    counted as skipped, the optimizer's iteration count unchanged."""
    from compiler.semantics import precision

    rule = precision.LossScale(scale, int(before["loss_scale/good_steps"]))
    rule.update(finite=False)
    assert (after["loss_scale/scale"], after["loss_scale/good_steps"]) == (rule.scale, rule.good_steps) \
        == (scale / 2, 0)
    assert trainer.skipped_steps == after["loss_scale/skipped_steps"] == 1
    assert after[iterations_key] == before[iterations_key]
