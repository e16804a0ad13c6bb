"""Optimizers and gradient clipping on torch tensors, with the meaning of compiler.semantics.optimizers.

``make_optimizer(ir, params)`` returns an object with ``step(lr)`` (one update of every parameter
from its ``.grad`` with this step's learning rate, schedule included) and ``zero_grad()``. Where
``torch.optim`` can be configured to compute exactly the pinned update, it is used (for its fused
kernels):

- ``sgd`` without momentum: ``torch.optim.SGD`` (w ← w − lr·g). Its ``weight_decay`` is an L2 term
  added to the gradient, so Keras' decoupled decay (w ← w − w·wd·lr, before the update) is applied
  here instead (``compiler.semantics.optimizers.decay``).
- ``adam`` / ``adamw``: ``torch.optim.Adam`` / ``AdamW`` (fused CPU kernel when available).
  torch adds ε to √v̂ = √(v/(1 − β₂ᵗ)), Keras adds it to √v; with the group's
  ``eps = ε/√(1 − β₂ᵗ)`` set before each step the two are the same:
  lr/(1 − β₁ᵗ)·m/(√v/√(1 − β₂ᵗ) + ε/√(1 − β₂ᵗ)) = lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ)·m/(√v + ε).
  AdamW's decay in torch (w ← w·(1 − lr·wd) before the Adam step) is Keras' decoupled decay.

Everything else — SGD with momentum (the rate inside the velocity), RMSprop and Adagrad (ε inside
the square root) — is ``RuleOptimizer``: the shared rule functions applied to the tensors in place.

Clipping (:func:`clip_gradients_`): ``clip_norm`` scales every gradient by the shared
``clip_scale`` of the global norm (torch's ``clip_grad_norm_`` adds 1e-6, so it is not used), computed on
the device (no host read); ``clip_value`` clamps each element.

``step(lr, skip=None)``: ``skip`` is a one-element tensor on the device (dynamic loss scaling's overflow
flag); where it is non-zero the update does not happen, decided on the device: ``torch.optim``'s fused
kernels take it as their ``found_inf``; the rule optimizers keep copies and put them back with
``torch.where``.
"""

from __future__ import annotations

import math

import torch

from compiler.ir.training import SGD, Adam, AdamW
from compiler.semantics import optimizers as rules
from compiler.semantics.optimizers import check_clipping


# ---- clipping -------------------------------------------------------------------------------------
@torch.no_grad()
def clip_gradients_(grads: list[torch.Tensor], clip_norm: float | None, clip_value: float | None) -> None:
    """Clip ``grads`` in place, as ``backends.numpy.optimizers.clip_gradients`` (Keras) does."""
    check_clipping(clip_norm, clip_value)
    if clip_norm is not None:
        norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
        torch._foreach_mul_(grads, clip_scale_tensor(norm, clip_norm).to(grads[0].dtype))
    elif clip_value is not None:
        torch._foreach_clamp_min_(grads, -clip_value)
        torch._foreach_clamp_max_(grads, clip_value)


def clip_scale_tensor(norm: torch.Tensor, clip_norm: float) -> torch.Tensor:
    """``compiler.semantics.optimizers.clip_scale`` on a device tensor (in float64 where the device has it,
    as the host formula computes): clip_norm·min(1/‖g‖, 1/clip_norm), NaN for a norm that is not finite."""
    wide = norm.to(torch.float32 if norm.device.type == "mps" else torch.float64)
    scale = clip_norm * wide.reciprocal().clamp(max=1.0 / clip_norm)  # Python scalars: no copy to the device
    return torch.where(torch.isfinite(wide), scale, torch.full_like(scale, math.nan))


@torch.no_grad()
def decay_(params: list[torch.Tensor], wd: float, lr: float) -> None:
    """Keras' decoupled weight decay on every tensor: w ← w − w·wd·lr (``rules.decay``)."""
    for w in params:
        rules.decay(torch, w, wd, lr, torch.empty_like(w))


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
        # steps asked for, skipped ones included: what anything computed on the host during a step reads (Adam's ε
        # correction), since whether a step was skipped (mixed_float16) is known on the device only
        self.attempts = 0

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self, lr: float, skip: torch.Tensor | None = None) -> None:
        raise NotImplementedError

    @torch.no_grad()
    def _unless(self, skip: torch.Tensor | None, update) -> None:
        """Run ``update()``; where ``skip`` is set, put every parameter and slot back as they were (on the
        device, no host read)."""
        if skip is None:
            update()
            return
        tensors = [p.detach() for p in self.params] + [t for ts in self.slots().values() for t in ts]
        saved = [t.clone() for t in tensors]
        update()
        keep = skip.bool()
        for t, old in zip(tensors, saved):
            t.copy_(torch.where(keep, old, t))

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
        self.iterations = self.attempts = int(iterations)


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
        self.iterations = self.attempts = int(iterations)
        for i, p in enumerate(self.params):
            if not names or self.iterations == 0:
                self.optim.state.pop(p, None)
                continue
            fused = bool(self.group.get("fused"))  # a fused kernel reads the count on the parameter's device
            state = {"step": torch.tensor(float(self.iterations), dtype=torch.float32,
                                          device=p.device if fused else None)}
            # laid out as the parameter: torch 2.13's fused Adam walks state and parameter as flat memory, so a
            # slot restored in Keras' (transposed) layout is updated against the wrong elements; without this
            # copy tests/test_torch_tools.py::test_state_round_trip_carries_the_dropout_generator_and_optimizer
            # and the torch resume tests fail
            for n in names:
                state[n] = torch.empty_like(p).copy_(slots[self.TORCH_SLOTS[n]][i])
            self.optim.state[p] = state

    def step(self, lr: float, skip: torch.Tensor | None = None) -> None:
        group = self.group
        group["lr"] = float(lr)
        if self.adam_epsilon is not None:  # Keras' ε on √v, as torch's ε on √v̂
            group["eps"] = self.adam_epsilon / math.sqrt(1.0 - self.beta_2 ** (self.attempts + 1))
        if skip is not None and group.get("fused") and not self.decoupled_decay:
            self.optim.found_inf = skip  # the fused kernel skips the update (and its step count) on the device
            try:
                self.optim.step()
            finally:
                self.optim.found_inf = None
        else:
            def update():
                if self.decoupled_decay:
                    decay_(self.params, self.decoupled_decay, lr)
                self.optim.step()
            self._unless(skip, update)
        self.iterations += 1
        self.attempts += 1


def _adam(cls, params, ir, **kwargs) -> torch.optim.Optimizer:
    """``cls`` (Adam or AdamW), with torch's fused CPU kernel when this torch build has one."""
    args = dict(lr=ir.learning_rate, betas=(ir.beta_1, ir.beta_2), eps=ir.epsilon, amsgrad=ir.amsgrad, **kwargs)
    try:
        return cls(params, fused=True, **args)
    except (RuntimeError, TypeError, ValueError):
        return cls(params, **args)


class RuleOptimizer(Optimizer):
    """The optimizer's shared rule (compiler.semantics.optimizers) on tensors: its slots under Keras'
    names, two scratch tensors per parameter (an update allocates nothing), decoupled decay first."""

    def __init__(self, ir, params):
        super().__init__(ir, params)
        self.rule = rules.rule(ir)
        self.weight_decay = rules.weight_decay(ir)
        self._slots = {name: [torch.full_like(p, float(initial)) for p in params]
                       for name, initial in self.rule.slots(ir)}
        self._per_param = [tuple(tensors[i] for tensors in self._slots.values()) for i in range(len(params))]
        self._scratch = [(torch.empty_like(p), torch.empty_like(p)) for p in params]

    def slots(self):
        return self._slots

    @torch.no_grad()
    def step(self, lr: float, skip: torch.Tensor | None = None) -> None:
        lr, hp, wd, update = float(lr), self.ir, self.weight_decay, self.rule.update
        rate = self.rule.rate(hp, lr, self.attempts)

        def apply():
            for w, slots, (t1, t2) in zip(self.params, self._per_param, self._scratch):
                if wd:
                    rules.decay(torch, w, wd, lr, t1)
                update(torch, w, w.grad, slots, hp, rate, t1, t2)
        self._unless(skip, apply)
        self.iterations += 1
        self.attempts += 1


def _sgd(ir: SGD, params):
    if ir.momentum == 0:
        try:
            optim = torch.optim.SGD(params, lr=ir.learning_rate, fused=True)
        except (RuntimeError, TypeError, ValueError):
            optim = torch.optim.SGD(params, lr=ir.learning_rate)
        return TorchOptim(ir, params, optim, decoupled_decay=float(ir.weight_decay))
    return RuleOptimizer(ir, params)


def _adam_opt(ir: Adam, params):
    return TorchOptim(ir, params, _adam(torch.optim.Adam, params, ir), adam_epsilon=float(ir.epsilon))


def _adamw_opt(ir: AdamW, params):
    optim = _adam(torch.optim.AdamW, params, ir, weight_decay=ir.weight_decay)
    return TorchOptim(ir, params, optim, adam_epsilon=float(ir.epsilon))


OPTIMIZERS = {
    "sgd": _sgd,
    "adam": _adam_opt,
    "adamw": _adamw_opt,
    "rmsprop": RuleOptimizer,
    "adagrad": RuleOptimizer,
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
    def step(self, lr: float, skip: torch.Tensor | None = None) -> None:
        self.iterations += 1
        self.attempts += 1
