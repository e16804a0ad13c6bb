"""Initial weights (compiler/semantics/initializers.py) against Keras 3's definitions.

Expected distributions are written out here by hand from keras/src/initializers/random_initializers.py
(keras-team/keras), independently of the module's own tables: moments, bounds and a KS test against
the exact CDF, at fixed seeds (deterministic).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from pydantic import TypeAdapter
from scipy import stats

from compiler.semantics.initializers import SAMPLERS, initial_weights, sample, truncated_standard_normal, weight_rng
from compiler.ir.values import (
    INITIALIZER_KINDS,
    Auto,
    ConstantInit,
    Initializer,
    Orthogonal,
    RandomNormal,
    RandomUniform,
    VarianceScaling,
)
from compiler.pipeline import compile_file, compile_text
from compiler.weights import weight_specs

SPECS = Path(__file__).resolve().parent.parent / "specs"
KERAS_TRUNC = 0.87962566103423978  # Keras' stddev of N(0, 1) truncated to [-2, 2]

DENSE = ((300, 200), (300, 200))
CONV = ((3, 3, 16, 32), (144, 288))
SHAPES = pytest.mark.parametrize("shape,fans", [DENSE, CONV], ids=["dense", "conv"])


def _uniform(limit_lo: float, limit_hi: float):
    return stats.uniform(loc=limit_lo, scale=limit_hi - limit_lo), (limit_lo, limit_hi)


def _truncnorm(mean: float, stddev: float):
    """Keras' truncated normal: N(mean, stddev²) conditioned on |x − mean| <= 2·stddev."""
    return stats.truncnorm(-2.0, 2.0, loc=mean, scale=stddev), (mean - 2 * stddev, mean + 2 * stddev)


def expected(init, fans):
    """(exact scipy distribution, (low, high) bounds or None), from Keras' formulas written out by hand."""
    fan_in, fan_out = fans
    kind = init.kind
    if kind == "random_normal":
        return stats.norm(loc=init.mean, scale=init.stddev), None
    if kind == "truncated_normal":
        return _truncnorm(init.mean, init.stddev)
    if kind == "random_uniform":
        return _uniform(init.minval, init.maxval)
    if kind == "glorot_uniform":
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        return _uniform(-limit, limit)
    if kind == "he_uniform":
        limit = math.sqrt(6.0 / fan_in)
        return _uniform(-limit, limit)
    if kind == "lecun_uniform":
        limit = math.sqrt(3.0 / fan_in)
        return _uniform(-limit, limit)
    variance = {"glorot_normal": 2.0 / (fan_in + fan_out), "he_normal": 2.0 / fan_in,
                "lecun_normal": 1.0 / fan_in}[kind]
    return _truncnorm(0.0, math.sqrt(variance) / KERAS_TRUNC)


RANDOM_CASES = [
    RandomNormal(kind="random_normal"),
    RandomNormal(kind="random_normal", mean=0.3, stddev=0.7),
    RandomNormal(kind="truncated_normal"),
    RandomNormal(kind="truncated_normal", mean=-0.2, stddev=1.5),
    RandomUniform(),
    RandomUniform(minval=-0.2, maxval=0.7),
    *[VarianceScaling(kind=k) for k in
      ("glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal")],
]
RANDOM_IDS = [f"{c.kind}-{i}" for i, c in enumerate(RANDOM_CASES)]


# ---- distributions ---------------------------------------------------------------------------------------
@SHAPES
@pytest.mark.parametrize("init", RANDOM_CASES, ids=RANDOM_IDS)
def test_random_kind_matches_keras_distribution(init, shape, fans):
    x = sample(init, shape, fans, np.random.default_rng(20240601))
    assert x.shape == shape and x.dtype == np.float64
    dist, bounds = expected(init, fans)
    n = x.size
    mean, var = float(dist.mean()), float(dist.var())
    excess_kurtosis = float(dist.stats(moments="k"))
    # 5 standard errors: of the mean, and of the sample variance (sd ≈ σ²·√((κ − 1)/n), κ = kurtosis)
    assert abs(x.mean() - mean) <= 5 * math.sqrt(var / n)
    assert abs(x.var() - var) <= 5 * var * math.sqrt((excess_kurtosis + 2) / n)
    if bounds is not None:
        assert x.min() >= bounds[0] and x.max() <= bounds[1]
    assert stats.kstest(x.ravel(), dist.cdf).pvalue > 1e-3


@SHAPES
@pytest.mark.parametrize("kind", ["glorot_normal", "he_normal", "lecun_normal"])
def test_variance_scaling_normals_have_exactly_the_target_variance(kind, shape, fans):
    """Keras' corrected stddev (÷ 0.8796…) makes the truncated variance exactly scale / n."""
    fan_in, fan_out = fans
    target = {"glorot_normal": 2.0 / (fan_in + fan_out), "he_normal": 2.0 / fan_in, "lecun_normal": 1.0 / fan_in}[kind]
    dist, _ = expected(VarianceScaling(kind=kind), fans)
    assert dist.var() == pytest.approx(target, rel=1e-12)


def test_truncation_constants():
    # variance of N(0, 1) truncated to ±2: 1 − 2·2·φ(2) / (Φ(2) − Φ(−2))
    factor = 1 - 4 * stats.norm.pdf(2) / (stats.norm.cdf(2) - stats.norm.cdf(-2))
    assert factor == pytest.approx(0.7737413, abs=1e-7)
    assert stats.truncnorm(-2, 2).var() == pytest.approx(factor, rel=1e-12)
    assert math.sqrt(factor) == pytest.approx(KERAS_TRUNC, rel=1e-12)


def test_ks_rejects_an_untruncated_normal_of_the_same_variance():
    """The KS check is sharp enough to tell Keras' he_normal from a plain N(0, 2/fan_in)."""
    shape, fans = DENSE
    x = sample(VarianceScaling(kind="he_normal"), shape, fans, np.random.default_rng(20240601))
    plain = stats.norm(scale=math.sqrt(2.0 / fans[0]))
    assert stats.kstest(x.ravel(), plain.cdf).pvalue < 1e-6


def test_uniform_limits_by_hand():
    rng = np.random.default_rng(7)
    fans = (64, 64)
    he = sample(VarianceScaling(kind="he_uniform"), (64, 64), fans, rng)
    glorot = sample(VarianceScaling(kind="glorot_uniform"), (64, 64), fans, rng)
    lecun = sample(VarianceScaling(kind="lecun_uniform"), (64, 64), fans, rng)
    for x, limit in ((he, math.sqrt(6 / 64)), (glorot, math.sqrt(6 / 128)), (lecun, math.sqrt(3 / 64))):
        assert np.abs(x).max() <= limit
        assert np.abs(x).max() > 0.99 * limit  # 4096 draws reach the edge
    # glorot uses fan_avg: with fan_out != fan_in the limit is √(6/(in+out)), not √(6/in)
    x = sample(VarianceScaling(kind="glorot_uniform"), (64, 256), (64, 256), rng)
    assert np.abs(x).max() <= math.sqrt(6 / 320) < math.sqrt(6 / 64)


def test_truncated_standard_normal_redraws_deterministically():
    a = truncated_standard_normal((1000, 50), np.random.default_rng(3))
    b = truncated_standard_normal((1000, 50), np.random.default_rng(3))
    assert np.array_equal(a, b)
    assert np.abs(a).max() <= 2.0
    assert np.abs(a).max() > 1.99


# ---- orthogonal --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("gain", [1.0, 1.5])
@pytest.mark.parametrize("shape", [(300, 200), (200, 300), (3, 3, 16, 32), (1, 1, 16, 32)],
                         ids=["dense", "dense-wide", "conv", "conv-wide"])
def test_orthogonal(shape, gain):
    fans = weight_fans(shape)
    w = sample(Orthogonal(gain=gain), shape, fans, np.random.default_rng(11))
    assert w.shape == shape
    flat = w.reshape(-1, shape[-1])
    rows, cols = flat.shape
    gram = flat.T @ flat if rows >= cols else flat @ flat.T
    np.testing.assert_allclose(gram, gain**2 * np.eye(min(rows, cols)), atol=1e-12)


def test_orthogonal_follows_keras_algorithm():
    """Keras: normal (max, min) → QR → q·sign(diag r) → transpose when rows < cols → ·gain → reshape."""
    for shape in [(3, 3, 16, 32), (1, 1, 16, 32)]:
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = np.random.default_rng(5).normal(size=(max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        want = 0.5 * q.reshape(shape)
        got = sample(Orthogonal(gain=0.5), shape, weight_fans(shape), np.random.default_rng(5))
        np.testing.assert_array_equal(got, want)


def test_orthogonal_needs_rank_two():
    with pytest.raises(ValueError, match="rank 2"):
        sample(Orthogonal(), (10,), (10, 10), np.random.default_rng(0))


# ---- constants ---------------------------------------------------------------------------------------------
@SHAPES
def test_constants_exact(shape, fans):
    rng = np.random.default_rng(0)
    assert np.array_equal(sample(ConstantInit(kind="zeros"), shape, fans, rng), np.zeros(shape))
    assert np.array_equal(sample(ConstantInit(kind="ones"), shape, fans, rng), np.ones(shape))  # value unused
    assert np.array_equal(sample(ConstantInit(kind="constant", value=-2.5), shape, fans, rng), np.full(shape, -2.5))


# ---- completeness ------------------------------------------------------------------------------------------
def test_every_initializer_kind_is_implemented():
    kinds = set(INITIALIZER_KINDS) - {"auto"}
    assert set(SAMPLERS) == kinds
    adapter = TypeAdapter(Initializer)
    for kind in kinds:
        init = adapter.validate_python({"kind": kind})
        x = sample(init, (6, 4), (6, 4), np.random.default_rng(1))
        assert x.shape == (6, 4) and x.dtype == np.float64 and np.isfinite(x).all(), kind


def test_auto_is_refused():
    with pytest.raises(ValueError, match="auto"):
        sample(Auto(), (3, 3), (3, 3), np.random.default_rng(0))


# ---- initial_weights ---------------------------------------------------------------------------------------
def weight_fans(shape):
    if len(shape) == 2:
        return shape
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


MLP = """
model m {{
    Input([8])
    Dense(16, activation=relu, kernel_initializer=he_normal, bias_initializer=random_uniform(minval=-0.1, maxval=0.1))
    Dense(12, activation=tanh, kernel_initializer=orthogonal(gain=2), bias_initializer=constant(0.5))
    Dense(4, kernel_initializer=lecun_uniform){extra}
}}
"""


def test_same_seed_is_bit_identical_and_seeds_differ():
    spec = compile_text(MLP.format(extra="")).spec
    a, b, c = initial_weights(spec, 7), initial_weights(spec, 7), initial_weights(spec, 8)
    assert list(a) == [w.name for w in weight_specs(spec)]
    for name in a:
        assert a[name].tobytes() == b[name].tobytes()
    for name in ("dense/kernel", "dense/bias", "dense_1/kernel", "dense_2/kernel"):
        assert not np.array_equal(a[name], c[name])
    assert np.array_equal(a["dense_1/bias"], c["dense_1/bias"])  # constants do not depend on the seed
    assert np.all(a["dense_1/bias"] == 0.5) and np.all(a["dense_2/bias"] == 0)
    # weights of the same kind and shape in one model are drawn from different streams
    assert not np.array_equal(weight_rng(7, "dense/kernel").random(4), weight_rng(7, "dense_1/kernel").random(4))


def test_each_weight_has_its_own_stream():
    spec = compile_text(MLP.format(extra="")).spec
    weights = initial_weights(spec, 3, dtype=np.float64)
    for w in weight_specs(spec):
        assert np.array_equal(weights[w.name], sample(w.initializer, w.shape, w.fans, weight_rng(3, w.name)))


def test_adding_a_layer_leaves_earlier_weights_unchanged():
    small = initial_weights(compile_text(MLP.format(extra="")).spec, 11)
    big = initial_weights(compile_text(MLP.format(extra="\n    Dense(3, kernel_initializer=glorot_normal)")).spec, 11)
    assert set(big) == set(small) | {"dense_3/kernel", "dense_3/bias"}
    for name, value in small.items():
        assert np.array_equal(big[name], value), name


def test_dtypes():
    spec = compile_text(MLP.format(extra="")).spec
    w32 = initial_weights(spec, 5)
    w64 = initial_weights(spec, 5, dtype=np.float64)
    for name in w32:
        assert w32[name].dtype == np.float32 and w64[name].dtype == np.float64
        assert np.array_equal(w32[name], w64[name].astype(np.float32))


def test_negative_seed_refused():
    spec = compile_text(MLP.format(extra="")).spec
    with pytest.raises(ValueError, match="non-negative"):
        initial_weights(spec, -1)


@pytest.mark.parametrize("name", ["seed_cnn", "vgg_cnn"])
def test_every_weight_of_example_specs(name):
    spec = compile_file(SPECS / f"{name}.nns").spec
    specs = weight_specs(spec)
    weights = initial_weights(spec, 42)
    assert list(weights) == [w.name for w in specs]
    for w in specs:
        x = weights[w.name]
        assert x.shape == w.shape and x.dtype == np.float32, w.name
        suffix = w.name.split("/")[1]
        if suffix in ("gamma", "moving_variance"):
            assert np.all(x == 1), w.name
        elif suffix in ("beta", "moving_mean", "bias"):
            assert np.all(x == 0), w.name
        else:
            dist, bounds = expected(w.initializer, w.fans)
            assert x.min() >= np.float32(bounds[0]) and x.max() <= np.float32(bounds[1]), w.name
            if x.size >= 1000:
                assert stats.kstest(x.astype(np.float64).ravel(), dist.cdf).pvalue > 1e-3, w.name
    if name == "seed_cnn":
        assert sum(x.size for x in weights.values()) == 440_202
