"""Keras 3's optimizer update rules and gradient clipping on torch tensors.

``make_optimizer(ir, params)`` returns an object with ``step(lr)`` (one update of every parameter
from its ``.grad`` with this step's learning rate, schedule included) and ``zero_grad()``. The
formulas are those of ``backends.numpy.optimizers`` (each follows keras/src/optimizers/*.py);
where ``torch.optim`` can be configured to compute exactly that, it is used:

- ``sgd`` without momentum: ``torch.optim.SGD`` (w ← w − lr·g). Its ``weight_decay`` is an L2 term
  added to the gradient, so Keras' decoupled decay (w ← w − w·wd·lr, before the update) is applied
  here instead (:func:`decay_`).
- ``adam`` / ``adamw``: ``torch.optim.Adam`` / ``AdamW`` (fused CPU kernel when available).
  torch adds ε to √v̂ = √(v/(1 − β₂ᵗ)), Keras adds it to √v; with the group's
  ``eps = ε/√(1 − β₂ᵗ)`` set before each step the two are the same:
  lr/(1 − β₁ᵗ)·m/(√v/√(1 − β₂ᵗ) + ε/√(1 − β₂ᵗ)) = lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ)·m/(√v + ε).
  AdamW's decay in torch (w ← w·(1 − lr·wd) before the Adam step) is Keras' decoupled decay.

Adapters, where torch's form differs:

- ``KerasSGD`` (momentum > 0): Keras keeps the learning rate inside the velocity
  (m ← μ·m − lr·g; w ← w + m, Nesterov w ← w + μ·m − lr·g); torch's buffer excludes it
  (b ← μ·b + g; w ← w − lr·b), which differs once the rate changes over time.
- ``KerasRMSprop``: Keras puts ε inside the square root (lr·g/√(a + ε)) and the learning rate
  inside the momentum; torch uses √a + ε and applies lr to the momentum buffer.
- ``KerasAdagrad``: ε inside the square root (√(a + ε)) versus torch's √a + ε.

Clipping (:func:`clip_gradients_`): ``clip_norm`` scales every gradient by
clip_norm·min(1/‖g‖, 1/clip_norm) with ‖g‖ the global norm, Keras' formula (torch's
``clip_grad_norm_`` uses min(1, clip_norm/(‖g‖ + 1e-6)), so it is not used); ``clip_value``
clamps each element.
"""

from __future__ import annotations

import math

import torch

from compiler.ir.training import SGD, Adagrad, Adam, AdamW, RMSprop


# ---- clipping -------------------------------------------------------------------------------------
@torch.no_grad()
def clip_gradients_(grads: list[torch.Tensor], clip_norm: float | None, clip_value: float | None) -> None:
    """Clip ``grads`` in place, as ``backends.numpy.optimizers.clip_gradients`` (Keras) does."""
    if clip_norm is not None and clip_value is not None:
        raise ValueError("give clip_norm or clip_value, not both")
    if clip_norm is not None:
        norm = float(torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))))
        if not math.isfinite(norm):
            scale = math.nan
        else:
            inv_norm = 1.0 / norm if norm > 0 else math.inf
            scale = clip_norm * min(inv_norm, 1.0 / clip_norm)
        torch._foreach_mul_(grads, scale)
    elif clip_value is not None:
        torch._foreach_clamp_min_(grads, -clip_value)
        torch._foreach_clamp_max_(grads, clip_value)


@torch.no_grad()
def decay_(params: list[torch.Tensor], wd: float, lr: float) -> None:
    """Keras' decoupled weight decay: w ← w − w·wd·lr (base_optimizer.py ``_apply_weight_decay``)."""
    for w in params:
        w.sub_(w.mul(wd).mul_(lr))


# ---- optimizers ------------------------------------------------------------------------------------
class Optimizer:
    """``step(lr)``: one update from the parameters' ``.grad``; ``iterations`` counts the updates.

    ``slots()``: the state arrays under Keras' slot names, one tensor per parameter (for checkpoints);
    ``load_slots(slots, iterations)`` puts them back.
    """

    def __init__(self, ir, params: list[torch.Tensor]):
        self.ir = ir
        self.params = params
        self.iterations = 0

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self, lr: float) -> None:
        raise NotImplementedError

    def slots(self) -> dict[str, list[torch.Tensor]]:
        return {}

    @torch.no_grad()
    def load_slots(self, slots: dict[str, list[torch.Tensor]], iterations: int) -> None:
        mine = self.slots()
        if set(slots) != set(mine):
            raise ValueError(f"optimizer state has slots {sorted(slots)}, expected {sorted(mine)}")
        for name, tensors in mine.items():
            for t, value in zip(tensors, slots[name]):
                t.copy_(value)
        self.iterations = int(iterations)


class TorchOptim(Optimizer):
    """A ``torch.optim`` optimizer whose learning rate (and Adam's ε) is set before every step."""

    def __init__(self, ir, params, optim: torch.optim.Optimizer, *, adam_epsilon: float | None = None,
                 decoupled_decay: float = 0.0):
        super().__init__(ir, params)
        self.optim = optim
        self.group = optim.param_groups[0]
        self.adam_epsilon = adam_epsilon
        self.beta_2 = getattr(ir, "beta_2", None)
        self.decoupled_decay = decoupled_decay

    # torch.optim's state names -> Keras' slot names
    TORCH_SLOTS = {"exp_avg": "momentum", "exp_avg_sq": "velocity", "max_exp_avg_sq": "velocity_hat"}

    def _slot_names(self) -> list[str]:
        if self.adam_epsilon is None:  # plain SGD: no state
            return []
        return ["exp_avg", "exp_avg_sq"] + (["max_exp_avg_sq"] if self.group.get("amsgrad") else [])

    def slots(self) -> dict[str, list[torch.Tensor]]:
        out = {}
        for torch_name in self._slot_names():
            out[self.TORCH_SLOTS[torch_name]] = [self.optim.state[p][torch_name] if p in self.optim.state
                                                 else torch.zeros_like(p) for p in self.params]
        return out

    @torch.no_grad()
    def load_slots(self, slots: dict[str, list[torch.Tensor]], iterations: int) -> None:
        names = self._slot_names()
        if set(slots) != {self.TORCH_SLOTS[n] for n in names}:
            raise ValueError(f"optimizer state has slots {sorted(slots)}, expected "
                             f"{sorted(self.TORCH_SLOTS[n] for n in names)}")
        self.iterations = int(iterations)
        for i, p in enumerate(self.params):
            if not names or self.iterations == 0:
                self.optim.state.pop(p, None)
                continue
            state = {"step": torch.tensor(float(self.iterations), dtype=torch.float32)}
            for n in names:  # laid out as the parameter (the fused kernel assumes it)
                state[n] = torch.empty_like(p).copy_(slots[self.TORCH_SLOTS[n]][i])
            self.optim.state[p] = state

    def step(self, lr: float) -> None:
        group = self.group
        group["lr"] = float(lr)
        if self.adam_epsilon is not None:  # Keras' ε on √v, as torch's ε on √v̂
            group["eps"] = self.adam_epsilon / math.sqrt(1.0 - self.beta_2 ** (self.iterations + 1))
        if self.decoupled_decay:
            decay_(self.params, self.decoupled_decay, lr)
        self.optim.step()
        self.iterations += 1


def _adam(cls, params, ir, **kwargs) -> torch.optim.Optimizer:
    """``cls`` (Adam or AdamW), with torch's fused CPU kernel when this torch build has one."""
    args = dict(lr=ir.learning_rate, betas=(ir.beta_1, ir.beta_2), eps=ir.epsilon, amsgrad=ir.amsgrad, **kwargs)
    try:
        return cls(params, fused=True, **args)
    except (RuntimeError, TypeError, ValueError):
        return cls(params, **args)


class KerasSGD(Optimizer):
    """keras/src/optimizers/sgd.py with momentum: m ← m·μ − g·lr; w ← w + m (Nesterov: w ← w + (m·μ − g·lr))."""

    def __init__(self, ir: SGD, params):
        super().__init__(ir, params)
        self.momentum, self.nesterov = float(ir.momentum), bool(ir.nesterov)
        self.weight_decay = float(ir.weight_decay)
        self.velocity = [torch.zeros_like(p) for p in params]

    def slots(self):
        return {"momentum": self.velocity}

    @torch.no_grad()
    def step(self, lr: float) -> None:
        lr = float(lr)
        if self.weight_decay:
            decay_(self.params, self.weight_decay, lr)
        mu = self.momentum
        for w, m in zip(self.params, self.velocity):
            g_lr = w.grad.mul(lr)
            m.mul_(mu).sub_(g_lr)
            if self.nesterov:
                w.add_(m.mul(mu).sub_(g_lr))
            else:
                w.add_(m)
        self.iterations += 1


class KerasRMSprop(Optimizer):
    """keras/src/optimizers/rmsprop.py: a ← ρa + (1 − ρ)g²; centered: ḡ ← ρḡ + (1 − ρ)g, d = a − ḡ² + ε,
    else d = a + ε; Δ = lr·g/√d; momentum: v ← μv + Δ, w ← w − v; else w ← w − Δ."""

    def __init__(self, ir: RMSprop, params):
        super().__init__(ir, params)
        self.rho, self.momentum = float(ir.rho), float(ir.momentum)
        self.epsilon, self.centered = float(ir.epsilon), bool(ir.centered)
        self.velocity = [torch.zeros_like(p) for p in params]
        self.momenta = [torch.zeros_like(p) for p in params] if self.momentum > 0 else None
        self.average_grad = [torch.zeros_like(p) for p in params] if self.centered else None

    def slots(self):
        out = {"velocity": self.velocity}
        if self.momenta is not None:
            out["momentum"] = self.momenta
        if self.average_grad is not None:
            out["average_gradient"] = self.average_grad
        return out

    @torch.no_grad()
    def step(self, lr: float) -> None:
        lr, rho = float(lr), self.rho
        for i, w in enumerate(self.params):
            g = w.grad
            a = self.velocity[i]
            a.mul_(rho).add_(g.square().mul_(1 - rho))
            if self.centered:
                gbar = self.average_grad[i]
                gbar.mul_(rho).add_(g.mul(1 - rho))
                d = a.sub(gbar.square()).add_(self.epsilon)
            else:
                d = a.add(self.epsilon)
            delta = g.mul(lr).div_(d.sqrt_())
            if self.momenta is not None:
                v = self.momenta[i]
                v.mul_(self.momentum).add_(delta)
                w.sub_(v)
            else:
                w.sub_(delta)
        self.iterations += 1


class KerasAdagrad(Optimizer):
    """keras/src/optimizers/adagrad.py: a ← a + g²; w ← w − lr·g/√(a + ε), a from initial_accumulator_value."""

    def __init__(self, ir: Adagrad, params):
        super().__init__(ir, params)
        self.epsilon = float(ir.epsilon)
        self.accumulator = [torch.full_like(p, float(ir.initial_accumulator_value)) for p in params]

    def slots(self):
        return {"accumulator": self.accumulator}

    @torch.no_grad()
    def step(self, lr: float) -> None:
        lr = float(lr)
        for w, a in zip(self.params, self.accumulator):
            g = w.grad
            a.add_(g.square())
            w.sub_(g.mul(lr).div_(a.add(self.epsilon).sqrt_()))
        self.iterations += 1


def _sgd(ir: SGD, params):
    if ir.momentum == 0:
        try:
            optim = torch.optim.SGD(params, lr=ir.learning_rate, fused=True)
        except (RuntimeError, TypeError, ValueError):
            optim = torch.optim.SGD(params, lr=ir.learning_rate)
        return TorchOptim(ir, params, optim, decoupled_decay=float(ir.weight_decay))
    return KerasSGD(ir, params)


def _adam_opt(ir: Adam, params):
    return TorchOptim(ir, params, _adam(torch.optim.Adam, params, ir), adam_epsilon=float(ir.epsilon))


def _adamw_opt(ir: AdamW, params):
    optim = _adam(torch.optim.AdamW, params, ir, weight_decay=ir.weight_decay)
    return TorchOptim(ir, params, optim, adam_epsilon=float(ir.epsilon))


OPTIMIZERS = {
    "sgd": _sgd,
    "adam": _adam_opt,
    "adamw": _adamw_opt,
    "rmsprop": KerasRMSprop,
    "adagrad": KerasAdagrad,
}


def make_optimizer(ir, params: list[torch.Tensor]) -> Optimizer:
    try:
        factory = OPTIMIZERS[ir.kind]
    except KeyError:
        raise ValueError(f"no torch implementation of optimizer {ir.kind!r}") from None
    if not params:  # a model without trainable weights: nothing to update (torch.optim refuses it)
        return NoWeights(ir, params)
    return factory(ir, params)


class NoWeights(Optimizer):
    def step(self, lr: float) -> None:
        self.iterations += 1
