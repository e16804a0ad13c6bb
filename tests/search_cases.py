"""Search spaces the search tests share: small digits MLPs whose trials train in a fraction of a second."""

from __future__ import annotations

from pathlib import Path

# depth, units, an optional dropout with its rate, and an optimizer choice with a conditional momentum
DIGITS_SPACE = """\
# a small digits MLP space for the search tests
units = choice(16, 32)

model digits_search {
    Input([64])
    Rescaling(1 / 16)
    repeat int_range(1, 2) {
        Dense(units, activation=relu)
    }
    optional(Dropout(float_range(0.0, 0.3)))
    Dense(10)
}

train {
    loss = sparse_categorical_crossentropy(from_logits=true)
    optimizer = choice(adam(learning_rate=log_range(1e-3, 1e-2)), sgd(learning_rate=log_range(1e-2, 1e-1), momentum=float_range(0.0, 0.9)))
    batch_size = 64
    epochs = 2
    seed = 42
    metrics = [accuracy]
    validation_split = 0.2
    data = digits
}
"""

# finite: 2 x 2 = 4 points, for the grid sampler
GRID_SPACE = """\
model digits_grid {
    Input([64])
    Rescaling(1 / 16)
    Dense(choice(8, 16), activation=choice(relu, tanh))
    Dense(10)
}

train {
    loss = sparse_categorical_crossentropy(from_logits=true)
    optimizer = adam(learning_rate=1e-2)
    batch_size = 64
    epochs = 1
    seed = 3
    validation_split = 0.2
    data = digits
}
"""

# one point trains, the other diverges (a learning rate of 1e12 overflows the loss)
DIVERGING_SPACE = """\
model digits_diverging {
    Input([64])
    Dense(16, activation=relu)
    Dense(10)
}

train {
    loss = sparse_categorical_crossentropy(from_logits=true)
    optimizer = sgd(learning_rate=choice(0.01, 1e12))
    batch_size = 64
    epochs = 2
    seed = 1
    validation_split = 0.2
    data = digits
}
"""


def write_spec(directory: Path, text: str, name: str = "space.nns") -> Path:
    path = Path(directory) / name
    path.write_text(text, encoding="utf-8")
    return path


# a train section for spaces that search only the model: one epoch on the digits
DIGITS_TRAIN = """
train {
    loss = sparse_categorical_crossentropy(from_logits=true)
    optimizer = adam
    epochs = 1
    data = digits
}
"""


class HighTrial:
    """A stand-in for an Optuna trial that takes every dimension's last option or high end."""

    def suggest_categorical(self, name, options):
        return options[-1]

    def suggest_int(self, name, low, high, step=1, log=False):
        return high

    def suggest_float(self, name, low, high, step=None, log=False):
        return high
