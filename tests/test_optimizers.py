"""NumPy optimizers and gradient clipping (backends/numpy/optimizers.py), pinned to Keras 3's update rules.

(a) three steps by hand against the formulas written out in plain Python floats; (c) clipping;
(d) completeness; (e) state round trip; (f) dtypes and in-place updates. None needs a framework: (b), twenty
steps against torch.optim, is tests/test_optimizers_vs_torch.py.
"""

from __future__ import annotations

import math
import tracemalloc
import warnings

import numpy as np
import pytest

from backends.numpy.optimizers import OPTIMIZERS, NumpyOptimizer, clip_gradients, make_optimizer
from compiler.ir.training import OPTIMIZER_CLASSES, SGD, Adagrad, Adam, AdamW, RMSprop
from compiler.semantics.optimizers import RULES
from optimizer_cases import B_INIT, G_SEQ, TINY, W_INIT


SETTINGS = [
    SGD(learning_rate=0.1),
    SGD(learning_rate=0.1, momentum=0.9),
    SGD(learning_rate=0.1, momentum=0.9, nesterov=True),
    SGD(learning_rate=0.1, momentum=0.5, weight_decay=0.01),
    SGD(learning_rate=0.1, weight_decay=0.2),
    Adam(),
    Adam(learning_rate=0.01, beta_1=0.8, beta_2=0.9, epsilon=1e-3),
    Adam(learning_rate=0.01, beta_2=0.9, amsgrad=True),
    AdamW(),
    AdamW(learning_rate=0.01, weight_decay=0.1, beta_2=0.9, amsgrad=True),
    RMSprop(),
    RMSprop(learning_rate=0.01, centered=True),
    RMSprop(learning_rate=0.01, momentum=0.9),
    RMSprop(learning_rate=0.01, rho=0.8, momentum=0.5, centered=True, epsilon=1e-3),
    Adagrad(),
    Adagrad(learning_rate=0.1, initial_accumulator_value=0.0, epsilon=1e-3),
]
IDS = [f"{s.kind}-{i}" for i, s in enumerate(SETTINGS)]


# ---- (a) the formulas written out, element by element, in Python floats ----------------------------------
def reference(ir, w, grads, lrs):
    """Keras 3's update rules, written out independently of the implementation; returns w after each step."""
    n = len(w)
    w = list(w)
    wd = getattr(ir, "weight_decay", 0.0)
    zeros = [0.0] * n
    m, v, vhat, a, mg = list(zeros), list(zeros), list(zeros), list(zeros), list(zeros)
    if ir.kind == "adagrad":
        a = [ir.initial_accumulator_value] * n
    out = []
    for t, (g, lr) in enumerate(zip(grads, lrs), start=1):
        w = [wi - wi * wd * lr for wi in w]  # decoupled weight decay, before the update
        for i in range(n):
            if ir.kind == "sgd":
                if ir.momentum == 0:
                    w[i] = w[i] - lr * g[i]
                else:
                    m[i] = ir.momentum * m[i] - lr * g[i]
                    w[i] = w[i] + (ir.momentum * m[i] - lr * g[i] if ir.nesterov else m[i])
            elif ir.kind in ("adam", "adamw"):
                b1, b2 = ir.beta_1, ir.beta_2
                m[i] = b1 * m[i] + (1 - b1) * g[i]
                v[i] = b2 * v[i] + (1 - b2) * g[i] ** 2
                vhat[i] = max(vhat[i], v[i])
                alpha = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
                w[i] = w[i] - alpha * m[i] / (math.sqrt(vhat[i] if ir.amsgrad else v[i]) + ir.epsilon)
            elif ir.kind == "rmsprop":
                rho = ir.rho
                a[i] = rho * a[i] + (1 - rho) * g[i] ** 2
                mg[i] = rho * mg[i] + (1 - rho) * g[i]
                denom = a[i] - mg[i] ** 2 + ir.epsilon if ir.centered else a[i] + ir.epsilon
                step = lr * g[i] / math.sqrt(denom)
                if ir.momentum > 0:
                    m[i] = ir.momentum * m[i] + step
                    w[i] = w[i] - m[i]
                else:
                    w[i] = w[i] - step
            elif ir.kind == "adagrad":
                a[i] = a[i] + g[i] ** 2
                w[i] = w[i] - lr * g[i] / math.sqrt(a[i] + ir.epsilon)
            else:
                raise AssertionError(ir.kind)
        out.append(list(w))
    return out


W0 = [0.5, -1.5]
GRADS = [[1.0, -0.5], [0.1, 2.0], [-0.3, 0.05]]  # sign changes; g² falls after step 1 (amsgrad matters)
LR_FACTORS = [1.0, 0.5, 0.2]  # a changing learning rate, as a schedule gives


def run(ir, w0, grads, lrs, dtype=np.float64):
    params = {"w": np.array(w0, dtype=dtype)}
    opt = make_optimizer(ir, params)
    out = []
    for g, lr in zip(grads, lrs):
        opt.apply(params, {"w": np.array(g, dtype=dtype)}, lr)
        out.append(params["w"].copy())
    return out, opt


@pytest.mark.parametrize("ir", SETTINGS, ids=IDS)
def test_three_steps_by_hand(ir):
    lrs = [ir.learning_rate * f for f in LR_FACTORS]
    expected = reference(ir, W0, GRADS, lrs)
    got, opt = run(ir, W0, GRADS, lrs)
    for step, (e, g) in enumerate(zip(expected, got)):
        np.testing.assert_allclose(g, e, rtol=1e-14, atol=1e-15, err_msg=f"step {step}")
    assert opt.iterations == 3
    assert not np.allclose(got[-1], W0)


def test_amsgrad_case_is_meaningful():
    """In the amsgrad settings above v falls, so the running max changes the result."""
    lrs = [0.01 * f for f in LR_FACTORS]
    plain = run(Adam(learning_rate=0.01, beta_2=0.9), W0, GRADS, lrs)[0][-1]
    ams = run(Adam(learning_rate=0.01, beta_2=0.9, amsgrad=True), W0, GRADS, lrs)[0][-1]
    assert np.abs(plain - ams).max() > 1e-4


@pytest.mark.parametrize(
    "ir,g,expected",
    [
        # w − lr·g
        (SGD(learning_rate=0.1), [0.5, -1.0], [0.45, -1.4]),
        # m = −lr·g; w + momentum·m − lr·g = w − 1.9·lr·g
        (SGD(learning_rate=0.1, momentum=0.9, nesterov=True), [0.5, -1.0], [0.405, -1.31]),
        # w − w·wd·lr − lr·g
        (SGD(learning_rate=0.1, weight_decay=0.2), [0.5, -1.0], [0.44, -1.37]),
        # t = 1: α·m/√v = lr·g/|g| (ε negligible): w − lr·sign(g)
        (Adam(learning_rate=0.01, epsilon=TINY), [0.5, -1e-3], [0.49, -1.49]),
        # a = (1 − ρ)g² = 0.1g²: w − lr·sign(g)/√0.1
        (RMSprop(learning_rate=0.01, epsilon=TINY), [2.0, -0.25], [0.5 - 0.01 / math.sqrt(0.1),
                                                                      -1.5 + 0.01 / math.sqrt(0.1)]),
        # centered: a − ḡ² = 0.1g² − 0.01g² = 0.09g²: w − lr·sign(g)/0.3
        (RMSprop(learning_rate=0.01, epsilon=TINY, centered=True), [2.0, -0.25], [0.5 - 0.01 / 0.3,
                                                                                   -1.5 + 0.01 / 0.3]),
        # a = 0.64 + g² = [1, 0.64]: w − lr·g/√a
        (Adagrad(learning_rate=0.1, initial_accumulator_value=0.64, epsilon=TINY), [0.6, 0.0], [0.44, -1.5]),
    ],
)
def test_first_step_literal(ir, g, expected):
    got, _ = run(ir, W0, [g], [ir.learning_rate])
    np.testing.assert_allclose(got[0], expected, rtol=1e-14)


def test_sgd_momentum_literal():
    # m1 = −0.1·g = [−0.05, 0.1], w1 = [0.45, −1.4]; m2 = 0.9·m1 − 0.1·g = [−0.095, 0.19], w2 = [0.355, −1.21]
    got, _ = run(SGD(learning_rate=0.1, momentum=0.9), W0, [[0.5, -1.0]] * 2, [0.1, 0.1])
    np.testing.assert_allclose(got, [[0.45, -1.4], [0.355, -1.21]], rtol=1e-14)


# ---- (c) clipping ----------------------------------------------------------------------------------------
def test_clip_by_global_norm():
    grads = {"a": np.array([3.0, 0.0]), "b": np.array([[4.0]])}  # global norm 5
    before = {k: g.copy() for k, g in grads.items()}
    clipped = clip_gradients(grads, 1.0, None)
    np.testing.assert_allclose(clipped["a"], [0.6, 0.0], rtol=1e-15)
    np.testing.assert_allclose(clipped["b"], [[0.8]], rtol=1e-15)
    for k in grads:  # new arrays; the inputs untouched
        assert clipped[k] is not grads[k]
        np.testing.assert_array_equal(grads[k], before[k])
    # below the threshold: unchanged (scale clip_norm·(1/clip_norm))
    for k, g in clip_gradients(grads, 10.0, None).items():
        np.testing.assert_allclose(g, grads[k], rtol=1e-15)
    # exactly at the threshold
    for k, g in clip_gradients(grads, 5.0, None).items():
        np.testing.assert_allclose(g, grads[k], rtol=1e-15)


def test_clip_by_global_norm_edge_cases():
    zeros = {"a": np.zeros(3), "b": np.zeros((2, 2))}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = clip_gradients(zeros, 1.0, None)
    assert all(np.array_equal(out[k], zeros[k]) for k in zeros)
    # a non-finite norm makes every gradient NaN, as Keras' clip_by_global_norm does
    out = clip_gradients({"a": np.array([np.inf, 1.0]), "b": np.ones(2)}, 1.0, None)
    assert np.isnan(out["a"]).all() and np.isnan(out["b"]).all()
    # float32 stays float32
    out = clip_gradients({"a": np.full(4, 10.0, np.float32)}, 2.0, None)
    assert out["a"].dtype == np.float32
    np.testing.assert_allclose(out["a"], np.full(4, 1.0), rtol=1e-6)


def test_clip_by_value():
    grads = {"a": np.array([-3.0, -0.2, 0.0, 0.7, 5.0]), "b": np.array([[0.5, -0.5]], np.float32)}
    before = {k: g.copy() for k, g in grads.items()}
    out = clip_gradients(grads, None, 0.5)
    np.testing.assert_array_equal(out["a"], [-0.5, -0.2, 0.0, 0.5, 0.5])
    np.testing.assert_array_equal(out["b"], [[0.5, -0.5]])
    assert out["b"].dtype == np.float32
    for k in grads:
        np.testing.assert_array_equal(grads[k], before[k])


def test_clip_neither_or_both():
    grads = {"a": np.array([3.0, -4.0])}
    out = clip_gradients(grads, None, None)
    assert out["a"] is not grads["a"] and np.array_equal(out["a"], grads["a"])
    with pytest.raises(ValueError, match="not both"):
        clip_gradients(grads, 1.0, 0.5)


# ---- (d) completeness ------------------------------------------------------------------------------------
def test_every_optimizer_kind_is_implemented():
    assert set(OPTIMIZERS) == set(OPTIMIZER_CLASSES)
    assert {s.kind for s in SETTINGS} == set(OPTIMIZER_CLASSES)
    for kind, ir_cls in OPTIMIZER_CLASSES.items():
        opt = make_optimizer(ir_cls(), {"w": np.ones(2)})
        assert isinstance(opt, NumpyOptimizer) and opt.kind == kind
        assert "keras/src/optimizers/" in RULES[kind].update.__doc__  # each rule states its update and its source


def test_wrong_kind_and_unknown_parameter():
    class Unknown:
        kind = "lion"

    with pytest.raises(ValueError, match="lion"):
        make_optimizer(Unknown(), {"w": np.ones(2)})
    opt = make_optimizer(SGD(), {"w": np.ones(2)})
    with pytest.raises(KeyError, match="v"):
        opt.apply({"v": np.ones(2)}, {"v": np.ones(2)}, 0.1)
    with pytest.raises(ValueError, match="shape"):
        opt.apply({"w": np.ones(2)}, {"w": np.ones(1)}, 0.1)


def test_only_the_given_parameters_are_updated():
    params = {"a": np.ones(3), "b": np.ones(3)}
    opt = make_optimizer(Adam(), params)
    opt.apply({"a": params["a"]}, {"a": np.ones(3), "b": np.ones(3)}, 0.1)
    assert (params["a"] < 1).all() and (params["b"] == 1).all()
    assert (opt.slots["momentum"]["b"] == 0).all()


# ---- (e) state round trip --------------------------------------------------------------------------------
@pytest.mark.parametrize("ir", SETTINGS, ids=IDS)
def test_state_dict_round_trip(ir):
    lrs = [ir.learning_rate * f for f in (1.0, 0.7, 0.5, 0.3, 0.2, 0.1)]
    first = {"kernel": W_INIT.copy(), "bias": B_INIT.copy()}
    opt = make_optimizer(ir, first)
    for (gk, gb), lr in zip(G_SEQ[:3], lrs[:3]):
        opt.apply(first, {"kernel": gk, "bias": gb}, lr)
    state = opt.state_dict()
    assert state["iterations"].shape == () and state["iterations"].dtype == np.int64 and state["iterations"] == 3
    assert set(state) == {"iterations"} | {f"{s}/{p}" for s in opt.slot_names for p in ("kernel", "bias")}

    second = {k: v.copy() for k, v in first.items()}
    resumed = make_optimizer(ir, second)
    resumed.load_state_dict(state)
    for k, a in state.items():  # the state dict holds copies
        if k != "iterations":
            a += 1.0
    for (gk, gb), lr in zip(G_SEQ[3:6], lrs[3:]):
        opt.apply(first, {"kernel": gk, "bias": gb}, lr)
        resumed.apply(second, {"kernel": gk, "bias": gb}, lr)
    assert resumed.iterations == opt.iterations == 6
    for k in first:
        np.testing.assert_array_equal(first[k], second[k])


def test_load_state_dict_checks():
    opt = make_optimizer(Adam(), {"w": np.ones(2)})
    state = opt.state_dict()
    with pytest.raises(ValueError, match="missing"):
        opt.load_state_dict({k: v for k, v in state.items() if k != "velocity/w"})
    with pytest.raises(ValueError, match="unexpected"):
        opt.load_state_dict({**state, "velocity/x": np.ones(2)})
    with pytest.raises(ValueError, match="shape"):
        opt.load_state_dict({**state, "velocity/w": np.ones(3)})


# ---- (f) dtypes and in-place updates ---------------------------------------------------------------------
@pytest.mark.parametrize("ir", SETTINGS, ids=IDS)
def test_float32_stays_float32_in_place(ir):
    lrs = [ir.learning_rate * f for f in LR_FACTORS]
    params = {"w": np.array(W0, np.float32)}
    w = params["w"]
    opt = make_optimizer(ir, params)
    for g, lr in zip(GRADS, lrs):
        opt.apply(params, {"w": np.array(g, np.float64)}, lr)  # float64 gradients are cast, as Keras does
    assert params["w"] is w and w.dtype == np.float32
    assert all(a.dtype == np.float32 for arrays in opt.slots.values() for a in arrays.values())
    np.testing.assert_allclose(w, reference(ir, W0, GRADS, lrs)[-1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("ir", SETTINGS, ids=IDS)
def test_apply_allocates_nothing_large(ir):
    """The hot path works in place: no temporary of a parameter's size is allocated."""
    rng = np.random.default_rng(0)
    params = {"k": rng.standard_normal((300, 100)).astype(np.float32), "b": np.zeros(100, np.float32)}
    grads = {k: rng.standard_normal(p.shape).astype(np.float32) for k, p in params.items()}
    opt = make_optimizer(ir, params)
    opt.apply(params, grads, ir.learning_rate)
    tracemalloc.start()
    try:
        opt.apply(params, grads, ir.learning_rate)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20_000  # the kernel alone is 120 kB
