"""The NumPy backend's ``Trainer``: one optimizer step = loss, gradients, clipping, update.

A step whose loss or gradients are not finite is refused *before* the update (so the weights
stay those of the last good step) and reported with the first layer, in forward order, whose
activations — or else whose gradients — went non-finite.
"""

from __future__ import annotations

import numpy as np

from backends.loop import Diverged
from backends.numpy.initializers import initial_weights
from backends.numpy.layers import Context
from backends.numpy.losses import loss_and_grad
from backends.numpy.model import NonFinite, NumpyModel
from backends.numpy.optimizers import clip_gradients, make_optimizer
from compiler.ir.spec import Spec


class NumpyTrainer:
    def __init__(self, spec: Spec, weights: dict[str, np.ndarray] | None = None, *, dtype=np.float32,
                 seed: int | None = None, mode: str = "canonical"):
        """The NumPy backend is the canonical meaning itself: ``mode`` is accepted for the shared
        interface and both modes are the same here."""
        t = spec.training
        self.spec = spec
        self.seed = t.seed if seed is None else seed
        weights = weights if weights is not None else initial_weights(spec, self.seed, dtype)
        self.params = {k: np.array(v, dtype=dtype) for k, v in weights.items()}
        self.model = NumpyModel(spec, self.params)
        self.optimizer = make_optimizer(t.optimizer, {k: self.params[k] for k in self.model.trainable})

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
        if not np.isfinite(loss) or not all(np.all(np.isfinite(g)) for g in grads.values()):
            self._restore(saved)  # the moving statistics of the bad step are not kept either
            raise self._locate(x, y, ctx, loss, grads)
        t = self.spec.training
        grads = clip_gradients(grads, t.clip_norm, t.clip_value)
        self.optimizer.apply({k: self.params[k] for k in self.model.trainable}, grads, lr)
        return loss, fp.output

    def evaluate_batch(self, x, y):
        with np.errstate(all="ignore"):
            return self._evaluate_batch(x, y)

    def _evaluate_batch(self, x, y):
        fp = self.model.forward(x, Context(training=False))
        data_loss, _ = loss_and_grad(self.spec.training.loss, fp.loss_input, y, fp.logits)
        return data_loss + self.model.weight_penalty() + fp.activity_penalty, fp.output

    def _locate(self, x, y, ctx, loss, grads) -> Diverged:
        saved = self._moving_statistics()
        try:
            self.model.forward(x, ctx, stop_at_nonfinite=True)
        except NonFinite as exc:
            return Diverged(f"the loss became {loss}: {exc}", exc.layer)
        finally:
            self._restore(saved)
        for layer in self.spec.layers:
            bad = [k for k, g in grads.items() if k.split("/")[0] == layer.name and not np.all(np.isfinite(g))]
            if bad:
                return Diverged(f"the loss became {loss}: the gradient of '{bad[0]}' is not finite", layer.name)
        return Diverged(f"the loss became {loss}", None)

    def probe(self, x, y) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """One training-mode pass without an update: each layer's output, and each weight's gradient."""
        outputs: dict[str, np.ndarray] = {}
        saved = self._moving_statistics()
        with np.errstate(all="ignore"):
            fp = self.model.forward(x, Context(training=True, seed=self.seed, step=0), record=outputs)
            _, dloss = loss_and_grad(self.spec.training.loss, fp.loss_input, y, fp.logits)
            grads = self.model.backward(fp, dloss)
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
