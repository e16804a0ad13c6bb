"""Every fast path of the NumPy reference (``backends/numpy/layers/fast/``) gives the same numbers as its
kind's plain path, bit for bit: the same bytes forward and backward (so NaN where the plain path has NaN, with
the same payload, and −0.0 where it has −0.0), the same moving statistics, on inputs with ties, NaN, ±0.0
and ±∞, in float16 (max pooling), float32 and float64.
"""

from __future__ import annotations

import numpy as np
import pytest

from backends.numpy import layers as numpy_layers
from backends.numpy.layers import FAST, PLAIN, Context
from compiler.pipeline import compile_text
from compiler.weights import weight_specs

UINT = {2: np.uint16, 4: np.uint32, 8: np.uint64}


def bits(a) -> np.ndarray | None:
    """The array's bytes as unsigned integers: equal bits, not equal values (NaN ≠ NaN, 0.0 = −0.0)."""
    if a is None:
        return None
    a = np.ascontiguousarray(a)
    return a.view(UINT[a.dtype.itemsize]) if a.dtype.kind == "f" else a


def assert_same_bits(fast, plain, what: str) -> None:
    if plain is None:
        assert fast is None, what
        return
    assert fast.dtype == plain.dtype and fast.shape == plain.shape, what
    assert np.array_equal(bits(fast), bits(plain)), f"{what}: the fast path's bits differ from the plain path's"


def nan_with_payload(dtype, payload: int):
    """A quiet NaN whose mantissa carries ``payload`` (its sign bit set when ``payload`` is odd)."""
    info = np.finfo(dtype)
    uint = UINT[np.dtype(dtype).itemsize]
    exponent = ((1 << info.nexp) - 1) << info.nmant
    quiet = 1 << (info.nmant - 1)
    sign = (1 << (8 * np.dtype(dtype).itemsize - 1)) if payload % 2 else 0
    return np.array([sign | exponent | quiet | payload], dtype=uint).view(dtype)[0]


def hostile(rng: np.random.Generator, shape, dtype, *, nan: bool = True) -> np.ndarray:
    """Values from a small set (so windows and channels hold ties), with ±0.0, ±∞ and NaNs of several
    payloads and signs sprinkled in, plus ordinary random values."""
    pool = np.array([-1.5, -0.0, 0.0, 0.5, 2.0, 2.0, -np.inf, np.inf], dtype=dtype)
    x = rng.choice(pool, size=shape)
    ordinary = rng.random(shape) < 0.3
    x[ordinary] = rng.normal(size=int(ordinary.sum())).astype(dtype)
    if nan:
        flat = x.reshape(-1)
        for payload, at in zip((1, 2, 3, 5), rng.choice(flat.size, 4, replace=False)):
            flat[at] = nan_with_payload(dtype, payload)
    return x


def layer_of(call: str, shape):
    spec = compile_text(f"model m {{ Input({list(shape)}) {call} }}").spec
    return spec, spec.layers[-1]


def run_both(kind: str, layer, params, state, x, dy, ctx):
    """(forward output, dx, grads, state after) of the fast and the plain path, each on its own copies."""
    out = []
    for forward in (FAST[kind], PLAIN[kind]):
        own_state = {k: v.copy() for k, v in state.items()}
        y, backprop = forward(layer, {k: v.copy() for k, v in params.items()}, own_state, x.copy(), ctx)
        dx, grads = backprop(dy.copy())
        out.append((y, dx, grads, own_state))
    return out


def assert_identical(fast, plain) -> None:
    (y, dx, grads, state), (py, pdx, pgrads, pstate) = fast, plain
    assert_same_bits(y, py, "y")
    assert_same_bits(dx, pdx, "dx")
    assert set(grads) == set(pgrads)
    for k in grads:
        assert_same_bits(grads[k], pgrads[k], f"grad {k}")
    for k in state:
        assert_same_bits(state[k], pstate[k], f"state {k}")


def test_the_model_runs_the_fast_paths_and_every_fast_path_has_a_plain_one():
    assert set(FAST) <= set(PLAIN)
    assert all(numpy_layers.LAYERS[kind] is FAST[kind] for kind in FAST)
    assert all(numpy_layers.LAYERS[kind] is PLAIN[kind] for kind in set(PLAIN) - set(FAST))
    assert set(FAST) == {"MaxPooling2D", "BatchNormalization"}, "a new fast path needs its cases here"


POOLS = {
    "2x2": ("MaxPooling2D(2)", (6, 8, 3)),
    "3x2-leftover": ("MaxPooling2D([3, 2])", (7, 9, 2)),  # rows and columns in no window
    "1x4": ("MaxPooling2D([1, 4], padding=same)", (3, 8, 2)),  # same, but no padding needed
    "overlapping": ("MaxPooling2D(3, strides=2, padding=same)", (7, 6, 2)),  # the fast path hands over
}


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("case", sorted(POOLS))
@pytest.mark.parametrize("seed", range(4))
def test_max_pooling_fast_path_is_the_plain_path_bit_for_bit(case, dtype, seed):
    call, shape = POOLS[case]
    _, layer = layer_of(call, shape)
    rng = np.random.default_rng(seed)
    x = hostile(rng, (5, *shape), dtype)
    y, _ = PLAIN["MaxPooling2D"](layer, {}, {}, x, Context(training=True))
    dy = hostile(rng, y.shape, dtype, nan=False)
    with np.errstate(invalid="ignore"):  # 0·∞ where dy is infinite: NaN in both paths
        assert_identical(*run_both("MaxPooling2D", layer, {}, {}, x, dy, Context(training=True)))


def test_max_pooling_inputs_really_hold_ties_nan_and_signed_zeros():
    """The cases above are hostile: windows whose maximum is tied, is a NaN, or is a signed zero."""
    _, layer = layer_of("MaxPooling2D(2)", (6, 8, 3))
    x = hostile(np.random.default_rng(0), (5, 6, 8, 3), np.float64)
    win = x.reshape(5, 3, 2, 4, 2, 3).transpose(0, 1, 3, 5, 2, 4).reshape(-1, 4)
    finite = win[~np.isnan(win).any(axis=1)]
    assert (np.isnan(win).sum(axis=1) >= 1).any()
    assert ((finite == finite.max(axis=1, keepdims=True)).sum(axis=1) >= 2).any()  # tied maxima
    y, _ = PLAIN["MaxPooling2D"](layer, {}, {}, x, Context(training=True))
    assert (np.signbit(y) & (y == 0)).any() and (~np.signbit(y) & (y == 0)).any()


BATCH_NORMS = {
    "image": ("BatchNormalization(momentum=0.9)", (3, 4, 4)),
    "features": ("BatchNormalization()", (6,)),
    "no-scale": ("BatchNormalization(scale=false, epsilon=0.01)", (3, 2, 5)),
    "no-center": ("BatchNormalization(center=false)", (6,)),
    "neither": ("BatchNormalization(center=false, scale=false)", (2, 3, 4)),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
@pytest.mark.parametrize("input_grad", [True, False], ids=["dx", "no-dx"])
@pytest.mark.parametrize("case", sorted(BATCH_NORMS))
@pytest.mark.parametrize("nan", [False, True], ids=["finite", "nan"])
def test_batch_normalization_fast_path_is_the_plain_path_bit_for_bit(case, training, input_grad, dtype, nan):
    call, shape = BATCH_NORMS[case]
    spec, layer = layer_of(call, shape)
    rng = np.random.default_rng(7)
    params, state = {}, {}
    for w in weight_specs(spec):
        name = w.name.split("/")[1]
        value = rng.choice(np.array([-0.0, 0.0, 0.5, 1.5, -2.0], dtype=dtype), size=w.shape)
        if name in ("moving_variance",):
            value = np.abs(value) + dtype(0.25)
        (params if w.trainable else state)[name] = value
    x = rng.choice(np.array([-1.0, -0.0, 0.0, 0.0, 3.0], dtype=dtype), size=(8, *shape))  # ties, ±0.0
    x[..., 0] = dtype(-0.0)  # a channel of zeros only: x̂ = ±0.0 exactly
    x[:4, ..., -1] = rng.normal(size=x[:4, ..., -1].shape).astype(dtype)
    if nan:
        x.reshape(-1)[5] = nan_with_payload(dtype, 3)
    dy = rng.choice(np.array([-0.0, 0.0, 1.0, -0.5], dtype=dtype), size=x.shape)
    dy[..., 1] = rng.normal(size=dy[..., 1].shape).astype(dtype)
    ctx = Context(training=training, input_grad=input_grad)
    with np.errstate(invalid="ignore"):
        assert_identical(*run_both("BatchNormalization", layer, params, state, x, dy, ctx))
