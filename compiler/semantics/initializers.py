"""Initial weights: the canonical draw that every backend (NumPy, PyTorch, Keras) loads.

Each distribution follows Keras 3's definition exactly, as written in
``keras/src/initializers/random_initializers.py`` and ``keras/src/initializers/constant_initializers.py``
(keras-team/keras), with truncation as in ``keras/src/backend/numpy/random.py::truncated_normal``
(values outside mean ± 2·stddev are discarded and redrawn). Only the random stream differs from Keras':
draws come from NumPy's ``Generator`` (PCG64), one stream per weight (see ``initial_weights``).

Everything is drawn in float64; ``initial_weights`` casts at the end, so a float32 run starts from the
float64 values rounded to float32.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable

import numpy as np

from compiler.ir.spec import Spec
from compiler.ir.values import ConstantInit, Orthogonal, RandomNormal, RandomUniform, VarianceScaling
from compiler.weights import weight_specs

Shape = tuple[int, ...]
Fans = tuple[int, int]
Sampler = Callable[[object, Shape, Fans, np.random.Generator], np.ndarray]

# Keras' constant: the stddev of a standard normal truncated to [-2, 2]
# (random_initializers.py, VarianceScaling.__call__: ``stddev = math.sqrt(scale) / 0.87962566103423978``).
TRUNCATED_STDDEV_FACTOR = 0.87962566103423978
TRUNCATION = 2.0  # in stddevs around the mean

# kind -> (scale, mode, distribution), as Keras' subclasses of VarianceScaling pass them
# (random_initializers.py: GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal;
# Keras' "normal" in these classes means "truncated_normal").
VARIANCE_SCALING: dict[str, tuple[float, str, str]] = {
    "glorot_uniform": (1.0, "fan_avg", "uniform"),
    "glorot_normal": (1.0, "fan_avg", "truncated_normal"),
    "he_uniform": (2.0, "fan_in", "uniform"),
    "he_normal": (2.0, "fan_in", "truncated_normal"),
    "lecun_uniform": (1.0, "fan_in", "uniform"),
    "lecun_normal": (1.0, "fan_in", "truncated_normal"),
}


def scaled_variance(kind: str, fans: Fans) -> float:
    """Keras' ``scale / max(1, n)``: n = fan_in (mode fan_in) or (fan_in + fan_out) / 2 (mode fan_avg).

    This is the target variance of the variance-scaling kinds (random_initializers.py, VarianceScaling.__call__).
    """
    scale, mode, _ = VARIANCE_SCALING[kind]
    fan_in, fan_out = fans
    n = fan_in if mode == "fan_in" else (fan_in + fan_out) / 2.0
    return scale / max(1.0, n)


def truncated_standard_normal(shape: Shape, rng: np.random.Generator) -> np.ndarray:
    """N(0, 1) conditioned on |z| <= 2: draw everything, then redraw the values outside [-2, 2] until none is.

    Vectorised (one draw per round for all rejected positions) and deterministic for a given ``rng``.
    About 4.55% of values are rejected per round, so a handful of rounds suffice.
    """
    z = rng.standard_normal(shape)
    bad = np.abs(z) > TRUNCATION
    while bad.any():
        z[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(z) > TRUNCATION
    return z


# ---- constants (constant_initializers.py: Zeros, Ones, Constant) -----------------------------------------
def _zeros(init: ConstantInit, shape: Shape, fans: Fans, rng: np.random.Generator) -> np.ndarray:
    """zeros: 0 everywhere."""
    return np.zeros(shape, dtype=np.float64)


def _ones(init: ConstantInit, shape: Shape, fans: Fans, rng: np.random.Generator) -> np.ndarray:
    """ones: 1 everywhere."""
    return np.ones(shape, dtype=np.float64)


def _constant(init: ConstantInit, shape: Shape, fans: Fans, rng: np.random.Generator) -> np.ndarray:
    """constant(value): ``value`` everywhere."""
    return np.full(shape, float(init.value), dtype=np.float64)


# ---- plain random (random_initializers.py: RandomNormal, TruncatedNormal, RandomUniform) -------------------
def _random_normal(init: RandomNormal, shape: Shape, fans: Fans, rng: np.random.Generator) -> np.ndarray:
    """random_normal: N(mean, stddev²) (Keras' defaults mean 0, stddev 0.05)."""
    return init.mean + init.stddev * rng.standard_normal(shape)


def _truncated_normal(init: RandomNormal, shape: Shape, fans: Fans, rng: np.random.Generator) -> np.ndarray:
    """truncated_normal: N(mean, stddev²) with values outside mean ± 2·stddev redrawn (defaults 0, 0.05).

    ``stddev`` is that of the normal before truncation: the result's stddev is 0.8796·stddev.
    """
    return init.mean + init.stddev * truncated_standard_normal(shape, rng)


def _random_uniform(init: RandomUniform, shape: Shape, fans: Fans, rng: np.random.Generator) -> np.ndarray:
    """random_uniform: U(minval, maxval) (Keras' defaults −0.05, 0.05)."""
    return rng.uniform(init.minval, init.maxval, shape)


# ---- variance scaling (random_initializers.py: VarianceScaling and its subclasses) --------------------------
def _variance_scaling(kind: str) -> Sampler:
    """The sampler of one variance-scaling kind, with s = scale / max(1, n) (see ``scaled_variance``):

    uniform: U(−limit, limit), limit = √(3·s) · truncated_normal: stddev σ = √s / 0.87962566103423978,
    N(0, σ²) redrawn outside ±2σ, so the final variance is exactly s.
    """
    _, _, distribution = VARIANCE_SCALING[kind]

    def sampler(init: VarianceScaling, shape: Shape, fans: Fans, rng: np.random.Generator) -> np.ndarray:
        s = scaled_variance(kind, fans)
        if distribution == "uniform":
            limit = math.sqrt(3.0 * s)
            return rng.uniform(-limit, limit, shape)
        stddev = math.sqrt(s) / TRUNCATED_STDDEV_FACTOR
        return stddev * truncated_standard_normal(shape, rng)

    sampler.__name__ = f"_{kind}"
    scale, mode, _ = VARIANCE_SCALING[kind]
    sampler.__doc__ = f"{kind}: VarianceScaling(scale={scale}, mode={mode}, distribution={distribution})."
    return sampler


# ---- orthogonal (random_initializers.py: Orthogonal) ---------------------------------------------------------
def _orthogonal(init: Orthogonal, shape: Shape, fans: Fans, rng: np.random.Generator) -> np.ndarray:
    """orthogonal(gain): as Keras, for a shape of rank >= 2:

    rows = prod(shape[:-1]), cols = shape[-1]; A ~ N(0, 1) of shape (max(rows, cols), min(rows, cols));
    A = QR (reduced); Q *= sign(diag(R)); transpose Q if rows < cols; gain · reshape(Q, shape).
    So the flattened W satisfies WᵀW = gain²·I (rows >= cols) or WWᵀ = gain²·I (rows < cols).
    """
    if len(shape) < 2:
        raise ValueError(f"the orthogonal initializer needs a weight of rank 2 or more (as Keras); got shape {shape}")
    rows = math.prod(shape[:-1])
    cols = shape[-1]
    a = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return init.gain * q.reshape(shape)


SAMPLERS: dict[str, Sampler] = {
    "zeros": _zeros,
    "ones": _ones,
    "constant": _constant,
    "random_normal": _random_normal,
    "truncated_normal": _truncated_normal,
    "random_uniform": _random_uniform,
    **{kind: _variance_scaling(kind) for kind in VARIANCE_SCALING},
    "orthogonal": _orthogonal,
}


def sample(initializer, shape: tuple[int, ...], fans: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Draw one weight of ``shape`` (float64) from ``initializer`` (an IR initializer), with Keras' ``fans``."""
    kind = initializer.kind
    if kind == "auto":
        raise ValueError("an 'auto' initializer must be resolved by the compiler before sampling")
    try:
        sampler = SAMPLERS[kind]
    except KeyError:
        raise ValueError(f"unknown initializer kind {kind!r}") from None
    out = np.asarray(sampler(initializer, tuple(shape), tuple(fans), rng), dtype=np.float64)
    assert out.shape == tuple(shape), (kind, out.shape, shape)
    return out


def weight_rng(seed: int, name: str) -> np.random.Generator:
    """The stream of one weight: ``default_rng(SeedSequence([seed, crc32(name)]))``.

    Each weight has its own stream, so adding, removing or reordering layers leaves the other weights unchanged.
    """
    if seed < 0:
        raise ValueError(f"the seed must be a non-negative integer; got {seed}")
    return np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(name.encode())]))


def initial_weights(spec: Spec, seed: int, dtype=np.float32) -> dict[str, np.ndarray]:
    """Every weight of ``weight_specs(spec)``, by name ("dense/kernel", ...), in Keras layouts.

    Each is drawn in float64 from its own stream (``weight_rng(seed, name)``), then cast to ``dtype``.
    The same seed gives bit-identical arrays.
    """
    out: dict[str, np.ndarray] = {}
    for w in weight_specs(spec):
        values = sample(w.initializer, w.shape, w.fans, weight_rng(seed, w.name))
        out[w.name] = values.astype(dtype, copy=False)
    return out
