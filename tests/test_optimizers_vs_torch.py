"""The NumPy optimizers and clipping (backends/numpy/optimizers.py) against torch.optim, float64.

Twenty steps where PyTorch computes the same math agree to 1e-12; where Keras' meaning (which nnspec pins)
differs from PyTorch's, a test *shows* the difference exists. The NumPy-only tests of the same rules are in
tests/test_optimizers.py, and run without PyTorch.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from backends.numpy.optimizers import clip_gradients, global_norm, make_optimizer
from compiler.ir.training import OPTIMIZER_CLASSES, SGD, Adagrad, Adam, AdamW, RMSprop
from frameworks import need
from optimizer_cases import B_INIT, G_SEQ, N_STEPS, TINY, W_INIT

torch = need("torch")


def numpy_run(ir, lrs, grads=G_SEQ, scale=1.0):
    params = {"kernel": W_INIT.copy(), "bias": B_INIT.copy()}
    opt = make_optimizer(ir, params)
    for (gk, gb), lr in zip(grads, lrs):
        opt.apply(params, {"kernel": gk * scale, "bias": gb * scale}, lr)
    return params


def torch_run(make, lrs, grads=G_SEQ, scale=1.0):
    kernel = torch.tensor(W_INIT.copy(), dtype=torch.float64, requires_grad=True)
    bias = torch.tensor(B_INIT.copy(), dtype=torch.float64, requires_grad=True)
    opt = make([kernel, bias])
    for (gk, gb), lr in zip(grads, lrs):
        for group in opt.param_groups:
            group["lr"] = lr
        kernel.grad = torch.tensor(gk * scale)
        bias.grad = torch.tensor(gb * scale)
        opt.step()
    return {"kernel": kernel.detach().numpy(), "bias": bias.detach().numpy()}


def max_diff(a, b):
    return max(float(np.abs(a[k] - b[k]).max()) for k in a)


CONSTANT = [0.05] * N_STEPS
CHANGING = [0.05 * 0.9**t for t in range(N_STEPS)]
O = torch.optim

SAME_AS_TORCH = [
    # plain SGD: any learning rate
    ("sgd", SGD(), CHANGING, lambda p: O.SGD(p, lr=0.0)),
    # momentum / nesterov: Keras' m = μm − lr·g equals torch's −lr·(μb + g) only for a constant lr
    ("sgd-momentum", SGD(momentum=0.9), CONSTANT, lambda p: O.SGD(p, lr=0.0, momentum=0.9)),
    ("sgd-nesterov", SGD(momentum=0.9, nesterov=True), CONSTANT,
     lambda p: O.SGD(p, lr=0.0, momentum=0.9, nesterov=True)),
    # without momentum decoupled decay w − lr·wd·w − lr·g is torch's L2 term lr·(g + wd·w)
    ("sgd-decay", SGD(weight_decay=0.1), CHANGING, lambda p: O.SGD(p, lr=0.0, weight_decay=0.1)),
    # Adam with ε → 0 (Keras and torch place ε differently): any learning rate
    ("adam", Adam(epsilon=TINY), CHANGING, lambda p: O.Adam(p, lr=0.0, eps=0.0, foreach=False)),
    ("adam-betas", Adam(beta_1=0.5, beta_2=0.8, epsilon=TINY), CHANGING,
     lambda p: O.Adam(p, lr=0.0, betas=(0.5, 0.8), eps=0.0)),
    ("adam-amsgrad", Adam(beta_2=0.9, amsgrad=True, epsilon=TINY), CHANGING,
     lambda p: O.Adam(p, lr=0.0, betas=(0.9, 0.9), eps=0.0, amsgrad=True)),
    # AdamW: torch's decay w·(1 − lr·wd) before the step is Keras' w − w·wd·lr
    ("adamw", AdamW(weight_decay=0.05, epsilon=TINY), CHANGING,
     lambda p: O.AdamW(p, lr=0.0, eps=0.0, weight_decay=0.05)),
    ("adamw-amsgrad", AdamW(weight_decay=0.3, amsgrad=True, beta_2=0.9, epsilon=TINY), CHANGING,
     lambda p: O.AdamW(p, lr=0.0, betas=(0.9, 0.9), eps=0.0, weight_decay=0.3, amsgrad=True)),
    # RMSprop with ε → 0 (Keras: inside the sqrt, torch: outside)
    ("rmsprop", RMSprop(epsilon=TINY), CHANGING, lambda p: O.RMSprop(p, lr=0.0, alpha=0.9, eps=0.0)),
    ("rmsprop-centered", RMSprop(rho=0.8, centered=True, epsilon=TINY), CHANGING,
     lambda p: O.RMSprop(p, lr=0.0, alpha=0.8, eps=0.0, centered=True)),
    # momentum: only for a constant learning rate (Keras puts lr inside the velocity)
    ("rmsprop-momentum", RMSprop(momentum=0.9, centered=True, epsilon=TINY), CONSTANT,
     lambda p: O.RMSprop(p, lr=0.0, alpha=0.9, eps=0.0, momentum=0.9, centered=True)),
    # Adagrad with ε → 0 (inside vs outside the sqrt again); same initial accumulator
    ("adagrad", Adagrad(epsilon=TINY), CHANGING,
     lambda p: O.Adagrad(p, lr=0.0, eps=0.0, initial_accumulator_value=0.1)),
    ("adagrad-zero-init", Adagrad(initial_accumulator_value=0.0, epsilon=TINY), CHANGING,
     lambda p: O.Adagrad(p, lr=0.0, eps=0.0)),
]


@pytest.mark.parametrize("name,ir,lrs,make", SAME_AS_TORCH, ids=[c[0] for c in SAME_AS_TORCH])
def test_same_as_torch(name, ir, lrs, make):
    ours, theirs = numpy_run(ir, lrs), torch_run(make, lrs)
    assert max_diff(ours, theirs) < 1e-12
    assert max_diff(ours, {"kernel": W_INIT, "bias": B_INIT}) > 1e-3  # it did move


def test_torch_comparisons_cover_every_kind():
    assert {c[1].kind for c in SAME_AS_TORCH} == set(OPTIMIZER_CLASSES)


# Where Keras' meaning differs from PyTorch's: each test shows the difference exists.
def test_differs_adam_epsilon_placement():
    """Keras: w −= α·m/(√v + ε); torch: w −= lr/(1−β₁ᵗ)·m/(√v/√(1−β₂ᵗ) + ε). With small gradients and the
    default ε they differ; torch equals Keras with ε_torch = ε/√(1−β₂ᵗ), shown for one step."""
    lrs = [1e-3] * N_STEPS
    ours = numpy_run(Adam(learning_rate=1e-3, epsilon=1e-7), lrs, scale=1e-7)
    theirs = torch_run(lambda p: O.Adam(p, lr=1e-3, eps=1e-7), lrs, scale=1e-7)
    moved = max_diff(ours, {"kernel": W_INIT, "bias": B_INIT})
    assert max_diff(ours, theirs) > 0.1 * moved
    one = numpy_run(Adam(epsilon=1e-7), [1e-3], grads=G_SEQ[:1], scale=1e-7)
    torch_one = torch_run(lambda p: O.Adam(p, lr=1e-3, eps=1e-7 / math.sqrt(1 - 0.999)), [1e-3], grads=G_SEQ[:1],
                          scale=1e-7)
    assert max_diff(one, torch_one) < 1e-15


def test_differs_rmsprop_epsilon_inside_sqrt():
    """Keras: lr·g/√(a + ε); torch: lr·g/(√a + ε)."""
    lrs = [1e-3] * N_STEPS
    ours = numpy_run(RMSprop(epsilon=1e-7), lrs, scale=1e-4)
    theirs = torch_run(lambda p: O.RMSprop(p, lr=1e-3, alpha=0.9, eps=1e-7), lrs, scale=1e-4)
    moved = max_diff(ours, {"kernel": W_INIT, "bias": B_INIT})
    assert max_diff(ours, theirs) > 0.1 * moved


def test_differs_adagrad_epsilon_inside_sqrt():
    """Keras: lr·g/√(a + ε); torch: lr·g/(√a + ε) (same initial accumulator)."""
    lrs = [0.1] * N_STEPS
    ours = numpy_run(Adagrad(initial_accumulator_value=0.0, epsilon=1e-7), lrs, scale=1e-4)
    theirs = torch_run(lambda p: O.Adagrad(p, lr=0.1, eps=1e-7), lrs, scale=1e-4)
    moved = max_diff(ours, {"kernel": W_INIT, "bias": B_INIT})
    assert max_diff(ours, theirs) > 0.1 * moved


@pytest.mark.parametrize("nesterov", [False, True])
def test_differs_sgd_momentum_with_a_changing_learning_rate(nesterov):
    """Keras' velocity holds lr·g of past steps (each at its own lr); torch's holds g, scaled by today's lr."""
    ours = numpy_run(SGD(momentum=0.9, nesterov=nesterov), CHANGING)
    theirs = torch_run(lambda p: O.SGD(p, lr=0.0, momentum=0.9, nesterov=nesterov), CHANGING)
    assert max_diff(ours, theirs) > 1e-3


def test_differs_rmsprop_momentum_with_a_changing_learning_rate():
    ours = numpy_run(RMSprop(momentum=0.9, epsilon=TINY), CHANGING)
    theirs = torch_run(lambda p: O.RMSprop(p, lr=0.0, alpha=0.9, eps=0.0, momentum=0.9), CHANGING)
    assert max_diff(ours, theirs) > 1e-3


def test_differs_sgd_weight_decay_with_momentum():
    """Keras decays the weights directly (decoupled); torch.optim.SGD adds wd·w to the gradient, which then
    goes through the momentum."""
    ours = numpy_run(SGD(momentum=0.9, weight_decay=0.1), CONSTANT)
    theirs = torch_run(lambda p: O.SGD(p, lr=0.0, momentum=0.9, weight_decay=0.1), CONSTANT)
    assert max_diff(ours, theirs) > 1e-3


def test_differs_global_norm_clipping_epsilon():
    """Keras scales by clip_norm/‖g‖ exactly; torch's clip_grad_norm_ by clip_norm/(‖g‖ + 1e-6)."""
    grads = {"kernel": G_SEQ[0][0], "bias": G_SEQ[0][1]}
    ours = clip_gradients(grads, 0.5, None)
    assert global_norm(ours) == pytest.approx(0.5, rel=1e-15)
    tensors = [torch.tensor(g.copy()) for g in grads.values()]
    for t in tensors:
        t.grad = t.clone()
    torch.nn.utils.clip_grad_norm_(tensors, 0.5)
    torch_norm = math.sqrt(sum(float((t.grad**2).sum()) for t in tensors))
    norm = global_norm(grads)
    assert torch_norm == pytest.approx(0.5 * norm / (norm + 1e-6), rel=1e-12)
    assert abs(torch_norm - 0.5) > 1e-8
    np.testing.assert_allclose(ours["kernel"], tensors[0].grad.numpy(), rtol=1e-5)  # close, not equal


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_device_side_clip_factor_is_the_shared_formula(dtype):
    """``clip_norm``'s factor computed on the device (no host read) equals ``compiler.semantics.optimizers.
    clip_scale`` for every kind of norm: zero, below, at and above the threshold, tiny, huge, ∞ and NaN."""
    from backends.torch.optimizers import clip_scale_tensor
    from compiler.semantics.optimizers import clip_scale

    for clip_norm in (0.5, 1.0, 3.0):
        for norm in (0.0, 1e-30, 0.25, clip_norm, 2.0, 1e30, math.inf, math.nan):
            t = torch.tensor(norm, dtype=getattr(torch, dtype))
            got, want = float(clip_scale_tensor(t, clip_norm)), clip_scale(float(t), clip_norm)
            assert got == want or (math.isnan(got) and math.isnan(want)), (norm, clip_norm, got, want)
