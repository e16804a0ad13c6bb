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

Every parameter, buffer and input is in ``dtype`` (float32 or float64); outputs and weights come
back as NumPy arrays of that dtype, weights in Keras layouts.
"""

from __future__ import annotations

import numpy as np
import torch

from backends import MODES
from compiler.semantics.divergence import Diverged, locate, loss_diverged
from compiler.semantics.initializers import initial_weights
from backends.torch.initializers import native_initial_weights, stream_seed
from backends.torch.layers import RunContext
from backends.torch.losses import LOSSES
from backends.torch.model import TorchModel, numpy_dtype, torch_dtype
from backends.torch.optimizers import clip_gradients_, make_optimizer
from compiler.ir.spec import Spec


class TorchTrainer:
    def __init__(self, spec: Spec, weights: dict[str, np.ndarray] | None = None, *, dtype=np.float32,
                 seed: int | None = None, mode: str = "canonical"):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        if spec.training is None:
            raise ValueError("the spec has no train section: nothing says how to train it")
        t = spec.training
        self.spec = spec
        self.mode = mode
        self.seed = t.seed if seed is None else seed
        self.np_dtype = numpy_dtype(dtype)
        self.dtype = torch_dtype(dtype)
        native = mode == "native"
        self.ctx = RunContext(seed=self.seed, native=native,
                              generator=torch.Generator().manual_seed(stream_seed(self.seed, "dropout"))
                              if native else None)
        self.model = TorchModel(spec, self.ctx).to(self.dtype)
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
        self.loss_fn = LOSSES[t.loss.kind]
        self.sparse = t.loss.kind == "sparse_categorical_crossentropy"
        self.logits = self.model.fused or t.loss.from_logits
        self.clip = (t.clip_norm, t.clip_value) if (t.clip_norm is not None or t.clip_value is not None) else None
        self.regularized = any(e.regularizer is not None for e in self.model.entries)
        self._found_inf = torch.zeros(1)
        self._one = torch.ones(1)
        self._before = UpdateUndo([e.tensor for e in self.model.entries], self.optimizer)
        self._draws_masks = self.ctx.generator is not None and any(
            layer.draws_masks for layer in spec.layers)

    @property
    def outputs_are_logits(self) -> bool:
        return bool(self.spec.training.loss.from_logits)

    # ---- conversions ------------------------------------------------------------------------
    def _input(self, x) -> torch.Tensor:
        x = np.asarray(x)
        if x.dtype != self.np_dtype or not x.flags.writeable or not x.flags.c_contiguous:
            x = np.array(x, dtype=self.np_dtype, order="C")
        return torch.from_numpy(x)

    def _target(self, y) -> torch.Tensor:
        y = np.asarray(y)
        if self.sparse:
            y = y.reshape(-1)
            if y.dtype != np.int64:
                y = y.astype(np.int64)
        elif y.dtype != self.np_dtype:
            y = y.astype(self.np_dtype)
        if not y.flags.writeable or not y.flags.c_contiguous:
            y = np.array(y, order="C")
        return torch.from_numpy(y)

    def _total_loss(self, xt, yt):
        """(output, total loss tensor) of one forward pass in the context's mode."""
        out, loss_input, penalty = self.model(xt)
        loss = self.loss_fn(loss_input, yt, self.logits)
        if self.regularized:
            loss = loss + self.model.weight_penalty()
        if penalty is not None:
            loss = loss + penalty
        return out, loss

    # ---- the protocol ---------------------------------------------------------------------------
    def train_batch(self, x, y, step, lr):
        ctx = self.ctx
        ctx.training, ctx.step = True, step
        ctx.pending.clear()
        rng = ctx.generator.get_state() if self._draws_masks else None  # native dropout: undone with the step
        xt, yt = self._input(x), self._target(y)
        out, loss = self._total_loss(xt, yt)
        self.optimizer.zero_grad()
        loss.backward()
        grads = self._grads()
        found = self._found_inf.zero_()
        self._flag_non_finite(grads, found)
        if self.clip is not None:
            clip_gradients_(grads, *self.clip)
        self._before.take()
        self.optimizer.step(lr)
        for bn in ctx.pending:
            bn.commit()
        ctx.pending.clear()
        self._flag_non_finite(self._before.state_tensors(), found)  # the updated weights and optimizer state
        value = loss.item()
        if loss_diverged(value) or bool(found.item()):
            bad = self._non_finite_weights()
            self._before.restore()
            raise self._locate(x, y, step, value, bad, rng)
        return value, out.detach().numpy()

    def evaluate_batch(self, x, y):
        self.ctx.training = False
        with torch.no_grad():
            out, loss = self._total_loss(self._input(x), self._target(y))
        return loss.item(), out.numpy()

    def get_weights(self) -> dict[str, np.ndarray]:
        """Copies of every weight, by name, in Keras layouts and the trainer's dtype."""
        return {name: np.array(e.to_keras(e.tensor.detach().numpy()), order="C", copy=True)
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
        slots as ``optimizer/<slot>/<weight>`` (Keras' slot names and layouts, as NumPy's), and in
        native mode the dropout generator's state (``rng/dropout``)."""
        out = {"optimizer/iterations": np.array(self.optimizer.iterations, dtype=np.int64)}
        for slot, tensors in self.optimizer.slots().items():
            for name, t in zip(self.trainable_names, tensors):
                out[f"optimizer/{slot}/{name}"] = np.array(self.entries[name].to_keras(t.detach().numpy()),
                                                           order="C", copy=True)
        if self.ctx.generator is not None:
            out["rng/dropout"] = self.ctx.generator.get_state().numpy().copy()
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
        if "rng/dropout" in state and self.ctx.generator is not None:
            self.ctx.generator.set_state(torch.from_numpy(np.array(state["rng/dropout"], dtype=np.uint8)))

    # ---- gradients without an update ---------------------------------------------------------------
    def probe(self, x, y) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """One training-mode pass (step 0's dropout masks) without an update: each layer's output
        (NHWC) and each trainable weight's gradient (Keras layout, penalties included, unclipped)."""
        ctx = self.ctx
        ctx.training, ctx.step = True, 0
        outputs: dict[str, torch.Tensor] = {}
        with torch.no_grad():
            self.model.trace(self._input(x), record=outputs)
        ctx.pending.clear()
        grads = self.gradients(x, y, 0)
        return {k: v.numpy().copy() for k, v in outputs.items()}, grads

    def gradients(self, x, y, step: int = 0) -> dict[str, np.ndarray]:
        """d(total loss)/d(weight) of one training step (``step``'s dropout masks), Keras layouts,
        before clipping; nothing is updated (moving statistics included)."""
        ctx = self.ctx
        ctx.training, ctx.step = True, step
        ctx.pending.clear()
        _, loss = self._total_loss(self._input(x), self._target(y))
        self.optimizer.zero_grad()
        loss.backward()
        ctx.pending.clear()
        out = {}
        for name, g in zip(self.trainable_names, self._grads()):
            out[name] = np.array(self.entries[name].to_keras(g.numpy()), order="C", copy=True)
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

    def _locate(self, x, y, step: int, loss: float, bad_weights: list[str], rng) -> Diverged:
        """The step's ``Diverged`` (``compiler.semantics.divergence.locate``), from passes with its masks (native
        dropout: the generator state ``rng`` it started from, left so) over the weights it started from
        (restored already): each layer's output and each gradient, unclipped."""
        generator = self.ctx.generator
        outputs: dict[str, torch.Tensor] = {}
        self.ctx.training, self.ctx.step = True, step
        try:
            if rng is not None:
                generator.set_state(rng)
            with torch.no_grad():
                self.model.trace(self._input(x), record=outputs)
            if rng is not None:
                generator.set_state(rng)
            grads = self.gradients(x, y, step)
        finally:
            self.ctx.pending.clear()
            if rng is not None:
                generator.set_state(rng)
        return locate(self.spec, loss, {k: v.numpy() for k, v in outputs.items()}, grads, bad_weights)


class UpdateUndo:
    """Copies of every weight (moving statistics included) and of the optimizer's state (slots,
    ``iterations``), taken before an update (``take``: fused copies into buffers allocated once, no host
    synchronisation) and put back (``restore``) when the update diverged."""

    def __init__(self, weights: list[torch.Tensor], optimizer):
        self.weights = weights
        self.optimizer = optimizer
        self.copies: list[torch.Tensor] | None = None
        self.slots: dict[str, list[torch.Tensor]] = {}
        self.iterations = optimizer.iterations

    def state_tensors(self) -> list[torch.Tensor]:
        """Every weight and optimizer slot as they are now (what an update changes)."""
        return [w.detach() for w in self.weights] + [t for ts in self.optimizer.slots().values() for t in ts]

    @torch.no_grad()
    def take(self) -> None:
        slots = self.optimizer.slots()
        tensors = [w.detach() for w in self.weights] + [t for ts in slots.values() for t in ts]
        if self.copies is None or len(self.copies) != len(tensors):
            self.copies = [torch.empty_like(t) for t in tensors]
        if tensors:
            torch._foreach_copy_(self.copies, tensors)
        self.slots, i = {}, len(self.weights)
        for name, ts in slots.items():
            self.slots[name] = self.copies[i:i + len(ts)]
            i += len(ts)
        self.iterations = self.optimizer.iterations

    @torch.no_grad()
    def restore(self) -> None:
        if self.weights:
            torch._foreach_copy_([w.detach() for w in self.weights], self.copies[:len(self.weights)])
        self.optimizer.load_slots(self.slots, self.iterations)
