"""Native mode's initial weights: Keras' own initializers, seeded per weight from the spec's seed.

These are the pinned distributions (compiler/semantics/initializers.py copies Keras' definitions:
``he_normal`` and the other "normal" variance-scaling kinds are truncated normals with
stddev √s / 0.87962566103423978); only the random stream is Keras'. Constants are given as
float64 scalars in float64, so that ``Constant(0.01)`` is not rounded through float32 by
``ops.cast`` (see ``backends.keras.layers``).
"""

from __future__ import annotations

import keras
import numpy as np

VARIANCE_SCALING = {
    "glorot_uniform": keras.initializers.GlorotUniform,
    "glorot_normal": keras.initializers.GlorotNormal,
    "he_uniform": keras.initializers.HeUniform,
    "he_normal": keras.initializers.HeNormal,
    "lecun_uniform": keras.initializers.LecunUniform,
    "lecun_normal": keras.initializers.LecunNormal,
}


def keras_initializer(init, seed: int, dtype: str = "float32") -> keras.initializers.Initializer:
    """The Keras initializer of the IR initializer ``init`` (``auto`` must be resolved already)."""
    exact = np.float64 if dtype == "float64" else float
    kind = init.kind
    if kind == "zeros":
        return keras.initializers.Zeros()
    if kind == "ones":
        return keras.initializers.Ones()
    if kind == "constant":
        return keras.initializers.Constant(exact(init.value))
    if kind == "random_normal":
        return keras.initializers.RandomNormal(mean=init.mean, stddev=init.stddev, seed=seed)
    if kind == "truncated_normal":
        return keras.initializers.TruncatedNormal(mean=init.mean, stddev=init.stddev, seed=seed)
    if kind == "random_uniform":
        return keras.initializers.RandomUniform(minval=init.minval, maxval=init.maxval, seed=seed)
    if kind in VARIANCE_SCALING:
        return VARIANCE_SCALING[kind](seed=seed)
    if kind == "orthogonal":
        return keras.initializers.Orthogonal(gain=init.gain, seed=seed)
    raise ValueError(f"no Keras initializer for {kind!r}" + (" (resolve 'auto' with the compiler first)"
                                                            if kind == "auto" else ""))
