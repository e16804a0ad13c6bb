"""The NumPy backend's ``Trainer``: one optimizer step = loss, gradients, clipping, update.

A step that diverges (``compiler.semantics.divergence``: its loss, a gradient, or — after the update — a
weight or optimizer slot) is undone, so the weights, moving statistics and optimizer state stay
those after the last good step, and ``Diverged`` names the layer by ``compiler.semantics.divergence.locate``.
"""

from __future__ import annotations

import numpy as np

from compiler.semantics.divergence import Diverged, locate, loss_diverged
from compiler.semantics.initializers import initial_weights
from compiler.semantics.precision import precision
from backends.numpy.layers import Context
from backends.numpy.model import NumpyModel
from backends.numpy.optimizers import clip_gradients, make_optimizer
from compiler.ir.spec import Spec


class NumpyTrainer:
    def __init__(self, spec: Spec, weights: dict[str, np.ndarray] | None = None, *, dtype=np.float32,
                 seed: int | None = None, mode: str = "canonical", device: str = "cpu", tf32: bool = False,
                 deterministic: bool = False):
        """The NumPy backend is the canonical meaning itself: ``mode`` is accepted for the shared
        interface and both modes are the same here. It runs on the CPU only, in float32 or float64
        (``dtype``: a NumPy dtype or a precision name), and is always deterministic: ``tf32`` and
        ``deterministic`` are accepted for the shared interface and change nothing (NumPy has no TF32).
        Another device or a mixed precision is a ``ValueError``."""
        if device != "cpu":
            raise ValueError(f"the numpy backend runs on the CPU only, not on {device}")
        policy = precision(dtype)
        if policy.mixed:
            raise ValueError(f"the numpy backend computes in float32 or float64 only, not {policy.name}")
        dtype = np.dtype(policy.variables)
        t = spec.training
        self.spec = spec
        self.seed = t.seed if seed is None else seed
        weights = weights if weights is not None else initial_weights(spec, self.seed, dtype)
        self.params = {k: np.array(v, dtype=dtype) for k, v in weights.items()}
        self.model = NumpyModel(spec, self.params)
        self.trainable = {k: self.params[k] for k in self.model.trainable}
        self.optimizer = make_optimizer(t.optimizer, self.trainable)
        self._before = UpdateUndo(self.trainable, self.optimizer)

    @property
    def outputs_are_logits(self) -> bool:
        return self.model._from_logits()

    def train_batch(self, x, y, step, lr):
        with np.errstate(all="ignore"):  # overflow shows up as a non-finite loss, reported with its layer
            return self._train_batch(x, y, step, lr)

    def _train_batch(self, x, y, step, lr):
        ctx = Context(training=True, seed=self.seed, step=step)
        saved = self._moving_statistics()
        loss, grads, fp = self.model.loss_and_grads(x, y, ctx)
        if loss_diverged(loss) or not all(_finite(g) for g in grads.values()):
            self._restore(saved)  # the moving statistics of the bad step are not kept either
            raise self._locate(x, ctx, loss, grads)
        t = self.spec.training
        if t.clip_norm is not None or t.clip_value is not None:
            grads = clip_gradients(grads, t.clip_norm, t.clip_value)  # new arrays: ``grads`` stay unclipped
        self._before.take()
        self.optimizer.apply(self.trainable, grads, lr)
        bad = self._non_finite_weights()
        if bad:  # the update overflowed: undo it
            self._before.restore()
            self._restore(saved)
            raise self._locate(x, ctx, loss, grads, bad)
        return self._result(loss, fp)

    def _result(self, loss, fp):
        """(loss, output) for a one-output model; with several outputs ((total, each output's unweighted
        loss), the outputs) — what ``runtime.loop`` records per output (``compiler.semantics.outputs``)."""
        if len(fp.outputs) == 1:
            return loss, fp.output
        return (loss, *fp.losses), tuple(fp.outputs)

    def _non_finite_weights(self) -> list[str]:
        """The weights (moving statistics included) and optimizer slots (by their weight's name) that
        are not finite."""
        bad = [name for name, w in self.params.items() if not _finite(w)]
        for arrays in self.optimizer.slots.values():
            bad.extend(name for name, a in arrays.items() if not _finite(a))
        return bad

    def evaluate_batch(self, x, y):
        with np.errstate(all="ignore"):
            return self._evaluate_batch(x, y)

    def _evaluate_batch(self, x, y):
        fp = self.model.forward(x, Context(training=False))
        data_loss, _ = self.model.data_loss(fp, y)
        return self._result(data_loss + self.model.weight_penalty() + fp.activity_penalty, fp)

    def _locate(self, x, ctx, loss, grads, bad_weights=()) -> Diverged:
        """The step's ``Diverged`` (``compiler.semantics.divergence.locate``), from a pass with its masks over the
        weights it started from; the moving statistics are left as they are."""
        saved = self._moving_statistics()
        outputs: dict[str, np.ndarray] = {}
        try:
            self.model.forward(x, ctx, record=outputs)
        finally:
            self._restore(saved)
        return locate(self.spec, loss, outputs, grads, bad_weights)

    def probe(self, x, y) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """One training-mode pass without an update: each layer's output, and each weight's gradient."""
        outputs: dict[str, np.ndarray] = {}
        saved = self._moving_statistics()
        with np.errstate(all="ignore"):
            fp = self.model.forward(x, Context(training=True, seed=self.seed, step=0), record=outputs)
            _, dlosses = self.model.data_loss(fp, y)
            grads = self.model.backward(fp, dlosses)
        self._restore(saved)  # a probe must not move the moving statistics
        return outputs, grads

    def _moving_statistics(self) -> dict[str, np.ndarray]:
        """Copies of BatchNormalization's moving statistics, which a training-mode forward pass updates."""
        return {k: v.copy() for k, v in self.params.items() if k.endswith(("moving_mean", "moving_variance"))}

    def _restore(self, saved: dict[str, np.ndarray]) -> None:
        for k, v in saved.items():
            self.params[k][...] = v

    def state(self) -> dict[str, np.ndarray]:
        """What a checkpoint needs besides the weights: the optimizer's slots and step counter.
        (Dropout masks depend only on seed, step and layer, so there is no random state to keep.)"""
        return {f"optimizer/{k}": v for k, v in self.optimizer.state_dict().items()}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        self.optimizer.load_state_dict({k[len("optimizer/"):]: v for k, v in state.items()
                                        if k.startswith("optimizer/")})

    def get_weights(self) -> dict[str, np.ndarray]:
        return self.params

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        for k, v in weights.items():
            self.params[k][...] = v


def _finite(a: np.ndarray) -> bool:
    return bool(np.isfinite(a).all())


class UpdateUndo:
    """Copies of the trainable weights and the optimizer's state (slots, ``iterations``), taken before
    an update (``take``, into buffers allocated once) and put back (``restore``) when it diverged."""

    def __init__(self, params: dict[str, np.ndarray], optimizer):
        self.optimizer = optimizer
        self.arrays = list(params.values()) + [a for slot in optimizer.slots.values() for a in slot.values()]
        self.copies = [np.empty_like(a) for a in self.arrays]
        self.iterations = optimizer.iterations

    def take(self) -> None:
        for copy, a in zip(self.copies, self.arrays):
            np.copyto(copy, a)
        self.iterations = self.optimizer.iterations

    def restore(self) -> None:
        for copy, a in zip(self.copies, self.arrays):
            np.copyto(a, copy)
        self.optimizer.iterations = self.iterations
