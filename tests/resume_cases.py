"""What the checkpoint/resume tests of every backend share: one small spec with everything that
makes resuming hard (BatchNormalization statistics, dropout masks, an optimizer with state, a
schedule, early stopping that restores the best weights), and history comparison without time."""

from __future__ import annotations

import contextlib
import signal


def iris_resume_spec(epochs: int) -> str:
    """An MLP on iris: 120 training samples in batches of 16, so 8 steps per epoch."""
    return f"""model m {{
    Input([4])
    BatchNormalization()
    Dense(16, activation=relu)
    Dropout(0.3)
    Dense(3, activation=softmax)
}}
train {{
    loss = sparse_categorical_crossentropy
    optimizer = adam(learning_rate=0.02)
    schedule = cosine(decay_steps=40)
    batch_size = 16
    epochs = {epochs}
    seed = 5
    metrics = [accuracy]
    validation_split = 0.2
    early_stopping = monitor(val_loss, patience=10, restore_best_weights=true)
    data = iris
}}
"""


def graph_resume_spec(epochs: int) -> str:
    """The iris spec's data, batches and training as a graph: a residual body with BatchNormalization and
    dropout, a projection shortcut, branches joined by Concatenate (one the identity), a value used again."""
    return f"""model g {{
    Input([4])
    BatchNormalization()
    stem = Dense(16, activation=relu)
    residual {{
        Dense(16, activation=relu)
        Dropout(0.3)
        Dense(16, use_bias=false)
        BatchNormalization()
    }}
    residual {{
        Dense(8, activation=tanh)
    }} shortcut {{
        Dense(8)
    }}
    parallel Concatenate() {{
        branch {{ Dense(4, activation=relu) }}
        branch {{ }}
    }}
    features = Dense(16)
    Add()(features, stem)
    Dense(3, activation=softmax)
}}
train {{
    loss = sparse_categorical_crossentropy
    optimizer = adam(learning_rate=0.02)
    schedule = cosine(decay_steps=40)
    batch_size = 16
    epochs = {epochs}
    seed = 5
    metrics = [accuracy]
    validation_split = 0.2
    early_stopping = monitor(val_loss, patience=10, restore_best_weights=true)
    data = iris
}}
"""


def without_time(epochs: list[dict]) -> list[dict]:
    """History entries without their wall-clock seconds, which no two runs share."""
    return [{k: v for k, v in e.items() if k != "seconds"} for e in epochs]


@contextlib.contextmanager
def sigint_during_step(n: int):
    """SIGINT raised from inside the ``n``-th training step the loop runs (through its ``Steps``, whichever
    the trainer uses); the handler only sets a flag, so the step finishes."""
    calls = {"n": 0}
    from runtime import loop

    original = loop.steps_for

    def steps_for(*args, **kwargs):
        steps = original(*args, **kwargs)
        train = steps.train

        def interrupting(*a, **k):
            calls["n"] += 1
            if calls["n"] == n:
                signal.raise_signal(signal.SIGINT)
            return train(*a, **k)

        steps.train = interrupting
        return steps

    loop.steps_for = steps_for
    try:
        yield
    finally:
        loop.steps_for = original
