"""The PyTorch backend's ``Trainer``: one optimizer step = loss, gradients, checks, clipping, update.

``TorchTrainer(spec, weights=None, *, dtype, seed, mode)`` follows ``runtime.loop.Trainer``:

- canonical mode: initial weights ``weights`` (Keras layouts) or else the NumPy initializers'
  (``compiler.semantics.initializers.initial_weights``); dropout masks from ``compiler.semantics.masks.keep_mask``.
- native mode: initial weights drawn with torch's RNG from the same distributions
  (``backends.torch.initializers``), dropout from a ``torch.Generator`` seeded from the seed.

Total loss = data loss + Σ kernel/bias penalties + Σ activity penalties / batch size, as NumPy's.
A step that diverges (``compiler.semantics.divergence``: its loss, a gradient, or — after the update — a weight,
moving statistic or optimizer state) is undone (``UpdateUndo``) and reported as ``Diverged`` naming the
layer by ``compiler.semantics.divergence.locate``. The check adds no host synchronisation: one fused finiteness
kernel over the gradients, weights and optimizer state writes one flag, read with the loss.

Precision (``compiler.semantics.precision``): every parameter, buffer and optimizer slot is in the
policy's variable dtype (float32 or float64); under ``mixed_bfloat16`` / ``mixed_float16`` the forward pass
runs under ``torch.autocast`` in the compute dtype and the loss is taken in float32; ``mixed_float16`` scales
the loss dynamically (Keras' ``LossScaleOptimizer`` rule, on the device: ``torch._amp_update_scale_``), and
a step whose scaled gradients overflow is skipped and counted (``skipped_steps``), not divergence.
Outputs and weights come back as NumPy arrays of the variable dtype, weights in Keras layouts, whatever the
device (``device``: "cpu", "cuda:N", "mps"; see ``backends.torch.device`` for TF32 and determinism).

Two ways to step: ``train_batch`` (the protocol's checked step: the host reads the loss and a flag, an
undone step raises at once) and ``steps(x, y)`` (``backends.torch.steps.DeviceSteps``: data, losses and
metrics stay on the device, read a few times a second; what the shared loop uses). Both run ``_update``.

Native dropout draws from a generator on the device reseeded every step from (seed, step): the masks of a
step depend only on them, so a checkpoint needs no generator state and moves between devices.
"""

from __future__ import annotations

import numpy as np
import torch

from backends import MODES
from backends.torch.device import autocast, configure, memory_format
from backends.torch.initializers import native_initial_weights, stream_seed
from backends.torch.layers import RunContext
from backends.torch.losses import LOSSES
from backends.torch.model import TorchModel, numpy_dtype, torch_dtype
from backends.torch.optimizers import clip_gradients_, make_optimizer
from backends.torch.undo import UpdateUndo
from compiler.ir.spec import Spec
from compiler.semantics import precision as policies
from compiler.semantics.divergence import Diverged, locate, loss_diverged
from compiler.semantics.initializers import initial_weights
from compiler.semantics.losses import loss_input
from compiler.semantics.outputs import heads as output_heads


class TorchTrainer:
    def __init__(self, spec: Spec, weights: dict[str, np.ndarray] | None = None, *, dtype=np.float32,
                 seed: int | None = None, mode: str = "canonical", device: str = "cpu", tf32: bool = False,
                 deterministic: bool = False):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        if spec.training is None:
            raise ValueError("the spec has no train section: nothing says how to train it")
        t = spec.training
        self.spec = spec
        self.mode = mode
        self.seed = t.seed if seed is None else seed
        self.precision = policies.precision(dtype)
        self.np_dtype = numpy_dtype(self.precision.variables)
        self.dtype = torch_dtype(self.np_dtype)
        self.device = torch.device(device)
        if self.device.type == "cuda" and self.device.index is None:
            self.device = torch.device("cuda", torch.cuda.current_device())
        configure(self.device, tf32=tf32, deterministic=deterministic)
        native = mode == "native"
        self._dropout_seed = stream_seed(self.seed, "dropout")
        self.ctx = RunContext(seed=self.seed, native=native,
                              generator=torch.Generator(device=self.device) if native else None)
        self.model = TorchModel(spec, self.ctx).to(device=self.device, dtype=self.dtype)
        memory_format(self.device, self.model)
        self.entries = {e.name: e for e in self.model.entries}
        if weights is None:
            weights = (native_initial_weights(spec, self.seed, self.dtype) if native
                       else initial_weights(spec, self.seed, self.np_dtype))
        self.set_weights(weights)
        missing = set(self.entries) - set(weights)
        if missing:
            raise ValueError(f"initial weights are missing {sorted(missing)}")
        self.trainable = [e.tensor for e in self.model.entries if e.trainable]
        self.trainable_names = [e.name for e in self.model.entries if e.trainable]
        self.optimizer = make_optimizer(t.optimizer, self.trainable)
        heads = output_heads(spec)
        self.loss_fn = LOSSES[heads[0].loss.kind]
        self.sparse = heads[0].loss.kind == "sparse_categorical_crossentropy"
        self.logits = self.model.fused or heads[0].loss.from_logits
        # several outputs: each output's (key, loss function, sparse labels, reads logits, weight), and the
        # total Σ weight · loss (compiler.semantics.outputs); one output keeps the fields above
        self.several = len(heads) > 1
        self.heads = [(h.key, LOSSES[h.loss.kind], h.loss.kind == "sparse_categorical_crossentropy",
                       loss_input(spec, h.layer, h.loss).logits, h.weight) for h in heads]
        self.clip = (t.clip_norm, t.clip_value) if (t.clip_norm is not None or t.clip_value is not None) else None
        self.regularized = any(e.regularizer is not None for e in self.model.entries)
        on = dict(device=self.device)
        self._found_inf = torch.zeros((), **on)  # 0-d, as torch.amp's found_inf
        self._one = torch.ones((), **on)
        self.scaling = self.precision.loss_scaling
        self.loss_scale = torch.full((), policies.INITIAL_SCALE, **on)  # mixed_float16 only
        self._inv_scale = torch.ones((), **on)
        self._growth_tracker = torch.zeros((), dtype=torch.int32, **on)
        self.skipped_steps = 0 if self.scaling else None  # counted under dynamic loss scaling only
        self._before = UpdateUndo([e.tensor for e in self.model.entries], self.optimizer,
                                  [self.loss_scale, self._growth_tracker] if self.scaling else [])
        self._draws_masks = self.ctx.generator is not None and any(
            layer.draws_masks for layer in spec.layers)

    @property
    def outputs_are_logits(self) -> bool:
        return bool(output_heads(self.spec)[0].loss.from_logits)

    # ---- conversions ------------------------------------------------------------------------
    def _input(self, x):
        """A tensor on the device in the variable dtype; a model of several inputs takes a sequence in the
        order of its Input layers, or a mapping keyed by their names (a dict, ``NamedArrays``): a tuple of tensors."""
        if hasattr(x, "keys"):
            return tuple(self._input(x[name]) for name in self.model.input_names)
        if isinstance(x, (list, tuple)):
            return tuple(self._input(a) for a in x)
        if isinstance(x, torch.Tensor):
            return x.to(device=self.device, dtype=self.dtype)
        x = np.asarray(x)
        if x.dtype != self.np_dtype or not x.flags.writeable or not x.flags.c_contiguous:
            x = np.array(x, dtype=self.np_dtype, order="C")
        return torch.from_numpy(x).to(self.device)

    def target_array(self, y, sparse: bool | None = None) -> np.ndarray:
        """Labels as the loss reads them: int64 class indices (sparse) or the variable dtype, C-contiguous.
        ``sparse``: whether they are class indices (default: the first output's loss says)."""
        y = np.asarray(y)
        if self.sparse if sparse is None else sparse:
            y = y.reshape(-1)
            if y.dtype != np.int64:
                y = y.astype(np.int64)
        elif y.dtype != self.np_dtype:
            y = y.astype(self.np_dtype)
        if not y.flags.writeable or not y.flags.c_contiguous:
            y = np.array(y, order="C")
        return y

    def _target(self, y):
        """The targets on the device; several outputs: a tuple, one per output, from a mapping by output key or a
        sequence in output order."""
        if self.several:
            arrays = list(y) if isinstance(y, (list, tuple)) else [y[key] for key, *_ in self.heads]
            return tuple(torch.from_numpy(self.target_array(a, sparse)).to(self.device)
                         for a, (_, _, sparse, _, _) in zip(arrays, self.heads))
        if isinstance(y, torch.Tensor):
            return y.to(self.device)
        return torch.from_numpy(self.target_array(y)).to(self.device)

    @staticmethod
    def host(t: torch.Tensor) -> np.ndarray:
        """A tensor as a NumPy array on the host (float32 for a bfloat16/float16 output)."""
        t = t.detach()
        if t.dtype in (torch.bfloat16, torch.float16):
            t = t.float()
        return t.cpu().numpy()

    def _total_loss(self, xt, yt):
        """(output, total loss tensor) of one forward pass in the context's mode; under a mixed precision
        the forward pass runs in the compute dtype and the loss (with the penalties) in float32. Several
        outputs: (the outputs, the total Σ weight · loss + penalties); ``self.parts`` keeps each output's
        unweighted loss tensor."""
        if self.several:
            return self._total_losses(xt, yt)
        with autocast(self.device, self.precision.compute):
            out, loss_input, penalty = self.model(xt)
        if self.precision.mixed:
            loss_input = loss_input.float()
            penalty = None if penalty is None else penalty.float()
        loss = self.loss_fn(loss_input, yt, self.logits)
        if self.regularized:
            loss = loss + self.model.weight_penalty()
        if penalty is not None:
            loss = loss + penalty
        return out, loss

    def _total_losses(self, xt, yt):
        with autocast(self.device, self.precision.compute):
            outs, loss_inputs, penalty = self.model.run(xt)
        if self.precision.mixed:
            loss_inputs = [z.float() for z in loss_inputs]
            penalty = None if penalty is None else penalty.float()
        self.parts = [fn(z, target, logits) for (_, fn, _, logits, _), z, target in zip(self.heads, loss_inputs, yt)]
        loss = None
        for (_, _, _, _, weight), part in zip(self.heads, self.parts):
            term = part if weight == 1.0 else part * weight
            loss = term if loss is None else loss + term
        if self.regularized:
            loss = loss + self.model.weight_penalty()
        if penalty is not None:
            loss = loss + penalty
        return outs, loss

    def _result(self, value: float, out):
        """What ``train_batch``/``evaluate_batch`` return: (loss, output), or with several outputs ((total, each
        output's unweighted loss), the outputs) (``backends.contract``)."""
        if not self.several:
            return value, self.host(out)
        return (value, *(float(p.item()) for p in self.parts)), tuple(self.host(o) for o in out)

    def _seed_dropout(self, step: int) -> None:
        """Native dropout: the generator starts every step from (seed, step) (see the module docstring)."""
        if self._draws_masks:
            self.ctx.generator.manual_seed((self._dropout_seed + 1_000_003 * int(step)) % (1 << 63))

    def _update(self, xt, yt, step: int, lr: float, found: torch.Tensor):
        """One step with no host synchronisation: forward, backward, (mixed_float16: unscale, overflow flag
        ``found``, the update skipped on the device when it is set, the scale updated), clipping, update,
        moving statistics. Returns (output, loss tensor)."""
        ctx = self.ctx
        ctx.training, ctx.step = True, step
        ctx.pending.clear()
        self._seed_dropout(step)
        out, loss = self._total_loss(xt, yt)
        self.optimizer.zero_grad()
        if self.scaling:
            (loss * self.loss_scale).backward()
        else:
            loss.backward()
        grads = self._grads()
        if self.scaling:
            torch.reciprocal(self.loss_scale, out=self._inv_scale)
            self._unscale(grads, found)
        if self.clip is not None:
            clip_gradients_(grads, *self.clip)
        self.optimizer.step(lr, skip=found if self.scaling else None)
        for bn in ctx.pending:
            bn.commit()
        ctx.pending.clear()
        if self.scaling:
            torch._amp_update_scale_(self.loss_scale, self._growth_tracker, found, policies.GROWTH,
                                     policies.BACKOFF, policies.GROWTH_INTERVAL)
        return out, loss

    def _unscale(self, grads: list[torch.Tensor], found: torch.Tensor) -> None:
        """grads ← grads / scale, and ``found`` ← 1 where an element is NaN or ±inf (AMP's fused kernel)."""
        groups: dict[torch.dtype, list[torch.Tensor]] = {}
        for g in grads:
            groups.setdefault(g.dtype, []).append(g)
        for group in groups.values():
            torch._amp_foreach_non_finite_check_and_unscale_(group, found, self._inv_scale)

    def _skipped(self, count: int) -> None:
        """``count`` steps that loss scaling skipped: they are not optimizer iterations."""
        self.skipped_steps += count
        self.optimizer.iterations -= count

    # ---- the protocol ---------------------------------------------------------------------------
    def train_batch(self, x, y, step, lr):
        xt, yt = self._input(x), self._target(y)
        self._before.take()
        found = self._found_inf.zero_()
        out, loss = self._update(xt, yt, step, lr, found)
        overflow = bool(found.item()) if self.scaling else False  # a skipped step, not divergence
        bad_grads = torch.zeros((), device=self.device)
        if not overflow:
            self._flag_non_finite(self._grads(), bad_grads)
        self._flag_non_finite(self._before.state_tensors(), bad_grads)  # the updated weights and optimizer state
        value = loss.item()
        if loss_diverged(value) or bool(bad_grads.item()):
            bad = self._non_finite_weights()
            self._before.restore()
            raise self._locate(x, y, step, value, bad)
        if overflow:
            self._skipped(1)
        return self._result(value, out)

    def evaluate_batch(self, x, y):
        self.ctx.training = False
        with torch.no_grad():
            out, loss = self._total_loss(self._input(x), self._target(y))
        return self._result(loss.item(), out)

    def steps(self, x, y):
        """The shared loop's ``Steps`` over ``(x, y)``: ``backends.torch.steps.DeviceSteps``."""
        from backends.torch.steps import DeviceSteps

        return DeviceSteps(self, x, y)

    def get_weights(self) -> dict[str, np.ndarray]:
        """Copies of every weight, by name, in Keras layouts and the trainer's dtype."""
        return {name: np.array(e.to_keras(self.host(e.tensor)), order="C", copy=True)
                for name, e in self.entries.items()}

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        """Copy ``weights`` (Keras layouts; any subset of the names) into the model."""
        with torch.no_grad():
            for name, value in weights.items():
                try:
                    e = self.entries[name]
                except KeyError:
                    raise KeyError(f"the model has no weight {name!r}") from None
                src = value if isinstance(value, torch.Tensor) else torch.from_numpy(np.array(value))
                if tuple(src.shape) != e.keras_shape():
                    raise ValueError(f"weight {name!r} has shape {tuple(src.shape)}, the model's is {e.keras_shape()}")
                e.tensor.copy_(e.to_torch(src))

    # ---- checkpoints ------------------------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        """What a checkpoint needs besides the weights: ``optimizer/iterations``, the optimizer's
        slots as ``optimizer/<slot>/<weight>`` (Keras' slot names and layouts, as NumPy's), and under
        ``mixed_float16`` the loss scale (``loss_scale/scale``, ``loss_scale/good_steps``) and
        ``loss_scale/skipped_steps`` (the names Keras' trainer uses). Plain host arrays: nothing in them
        depends on the device."""
        out = {"optimizer/iterations": np.array(self.optimizer.iterations, dtype=np.int64)}
        for slot, tensors in self.optimizer.slots().items():
            for name, t in zip(self.trainable_names, tensors):
                out[f"optimizer/{slot}/{name}"] = np.array(self.entries[name].to_keras(self.host(t)),
                                                           order="C", copy=True)
        if self.scaling:
            out["loss_scale/scale"] = self.host(self.loss_scale).astype(np.float32).reshape(())
            out["loss_scale/good_steps"] = np.array(int(self._growth_tracker.item()), dtype=np.int64)
            out["loss_scale/skipped_steps"] = np.array(self.skipped_steps, dtype=np.int64)
        return out

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore a :meth:`state` (an empty one, from a trainer that kept none, restores nothing)."""
        if not state:
            return
        slots: dict[str, list[torch.Tensor]] = {}
        for slot in {k.split("/")[1] for k in state if k.startswith("optimizer/") and k.count("/") >= 2}:
            slots[slot] = [self.entries[name].to_torch(torch.from_numpy(np.array(state[f"optimizer/{slot}/{name}"])))
                           for name in self.trainable_names]
        self.optimizer.load_slots(slots, int(state["optimizer/iterations"]))
        if self.scaling and "loss_scale/scale" in state:
            self.loss_scale.fill_(float(state["loss_scale/scale"]))
            self._growth_tracker.fill_(int(state["loss_scale/good_steps"]))
            self.skipped_steps = int(state["loss_scale/skipped_steps"])
            self.optimizer.attempts = self.optimizer.iterations + self.skipped_steps

    # ---- gradients without an update ---------------------------------------------------------------
    def probe(self, x, y) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """One training-mode pass (step 0's dropout masks) without an update: each layer's output
        (NHWC) and each trainable weight's gradient (Keras layout, penalties included, unclipped)."""
        ctx = self.ctx
        ctx.training, ctx.step = True, 0
        self._seed_dropout(0)
        outputs: dict[str, torch.Tensor] = {}
        with torch.no_grad():
            self.model.trace(self._input(x), record=outputs)
        ctx.pending.clear()
        grads = self.gradients(x, y, 0)
        return {k: self.host(v).copy() for k, v in outputs.items()}, grads

    def gradients(self, x, y, step: int = 0) -> dict[str, np.ndarray]:
        """d(total loss)/d(weight) of one training step (``step``'s dropout masks), Keras layouts,
        before clipping; nothing is updated (moving statistics included)."""
        ctx = self.ctx
        ctx.training, ctx.step = True, step
        ctx.pending.clear()
        self._seed_dropout(step)
        _, loss = self._total_loss(self._input(x), self._target(y))
        self.optimizer.zero_grad()
        loss.backward()
        ctx.pending.clear()
        out = {}
        for name, g in zip(self.trainable_names, self._grads()):
            out[name] = np.array(self.entries[name].to_keras(self.host(g)), order="C", copy=True)
        self.optimizer.zero_grad()
        return out

    # ---- divergence ------------------------------------------------------------------------------
    def _grads(self) -> list[torch.Tensor]:
        grads = []
        for p in self.trainable:
            if p.grad is None:  # a weight the loss does not reach
                p.grad = torch.zeros_like(p)
            grads.append(p.grad)
        return grads

    def _flag_non_finite(self, tensors: list[torch.Tensor], found: torch.Tensor) -> None:
        """Set ``found`` to 1 if an element of ``tensors`` is NaN or ±inf: one fused pass and no host
        synchronisation (the AMP check with scale 1, which leaves the tensors unchanged)."""
        groups: dict[torch.dtype, list[torch.Tensor]] = {}
        for t in tensors:
            groups.setdefault(t.dtype, []).append(t)
        for group in groups.values():
            try:
                torch._amp_foreach_non_finite_check_and_unscale_(group, found, self._one)
            except (AttributeError, RuntimeError):  # a torch without the CPU kernel
                if not all(bool(torch.isfinite(t).all()) for t in group):
                    found.fill_(1.0)

    def _non_finite_weights(self) -> list[str]:
        """The weights (moving statistics included) and optimizer slots (by their weight's name) that are
        not finite now."""
        bad = [e.name for e in self.model.entries if not bool(torch.isfinite(e.tensor).all())]
        for tensors in self.optimizer.slots().values():
            bad.extend(name for name, t in zip(self.trainable_names, tensors) if not bool(torch.isfinite(t).all()))
        return bad

    def _locate(self, x, y, step: int, loss: float, bad_weights: list[str]) -> Diverged:
        """The step's ``Diverged`` (``compiler.semantics.divergence.locate``), from passes with its masks over
        the weights it started from (restored already): each layer's output and each gradient, unclipped."""
        outputs: dict[str, torch.Tensor] = {}
        self.ctx.training, self.ctx.step = True, step
        try:
            self._seed_dropout(step)
            with torch.no_grad():
                self.model.trace(self._input(x), record=outputs)
            grads = self.gradients(x, y, step)
        finally:
            self.ctx.pending.clear()
        return locate(self.spec, loss, {k: self.host(v) for k, v in outputs.items()}, grads, bad_weights)
