"""The Keras backend's ``Trainer``: ``KerasTrainer(spec, weights=None, *, dtype, seed, mode, device="cpu",
tf32=False, deterministic=False)``, driven by the shared loop (``runtime.loop.fit``) in both modes, one
``train_batch`` per step.

- canonical mode (equivalence): the weights are ``weights`` or the NumPy initializers'; dropout
  multiplies by ``compiler.semantics.masks.keep_mask``'s masks (put into ``MaskedDropout``'s shape-agnostic
  variables before each step); the loss is ``PinnedLoss`` plus ``model.losses``.
- native mode: Keras' initializers and ``Dropout`` (its ``SeedGenerator``), seeded from the spec's
  seed; the model is compiled (``model.compile(optimizer, loss)``) and each step is the step Keras'
  ``fit`` runs: forward pass in training mode, the model's compiled loss (``model._compute_loss``:
  the loss plus ``model.losses``), gradients, the pinned optimizer.

In both modes the learning rate of a step is the one the shared loop passes to ``train_batch``
(``compiler.semantics.schedules``), assigned to the optimizer's ``override`` variable in the model's
dtype before the step.

In both modes one step is one traced ``tf.function`` (``_graph_step``; traced once per batch shape,
``reduce_retracing``), evaluation another (``_graph_evaluate``): the batch goes in as one tensor, the
loss and the outputs come back; the loop computes the metrics, their running sums, validation,
early stopping, checkpoints and interruption for every backend alike.

Total loss = Keras' loss (``sum_over_batch_size``) + ``sum(model.losses)`` (weight penalties and
activity penalties ÷ batch size). ``outputs`` are what the model predicts: probabilities when the
final softmax/sigmoid is fused with the loss (the network itself outputs the logits, see
``backends.keras.model``).

A step that diverges (``compiler.semantics.divergence``: its loss, a gradient, or — after the update — a weight,
moving statistic or optimizer slot) is undone inside the traced step (``backends.keras.guard``), the
moving statistics and native dropout's seed states included, and reported as ``Diverged`` naming the
layer by ``compiler.semantics.divergence.locate``, as the other backends do.

Precision (``dtype``: a name of ``compiler.semantics.precision``, or a NumPy float32/float64): under
``mixed_bfloat16`` / ``mixed_float16`` the layers carry Keras' ``DTypePolicy`` of that name
(``backends.keras.layers``; no global policy is set, so nothing leaks to later trainers): float32
weights and optimizer state, bfloat16/float16 compute, the loss and the outputs float32. Weights,
outputs and ``state()`` cross the boundary as NumPy float32. Under ``mixed_float16`` the optimizer is
Keras' ``LossScaleOptimizer`` (``backends.keras.optimizers``) in both modes: the step differentiates
the scaled loss, and a step whose scaled gradients are not finite is skipped, not divergence
(``backends.keras.guard``); ``skipped_steps`` counts them (inside the graph, no read per step), and
the scale, its growth count and ``skipped_steps`` are in ``state()`` (``loss_scale/...``), so that a
resumed run continues bit for bit.

Device (``backends.keras.placement``): the model is built and every step runs under
``tf.device`` — ``/CPU:0`` for "cpu", ``/GPU:N`` for "cuda:N" where TensorFlow lists GPUs (where it
lists none, as with the tensorflow-cpu wheel, everything is on the CPU already and no scope is entered).
``tf32`` and ``deterministic`` set TensorFlow's process-wide switches when the trainer is built.
"""

from __future__ import annotations

from contextlib import contextmanager

import keras
import numpy as np
import tensorflow as tf

from compiler.semantics.divergence import Diverged, locate
from backends.keras.guard import floating, guarded_update
from backends.keras.layers import LowerContext
from backends.keras.model import build_network
from backends.keras.optimizers import PinnedLoss, floatx, make_optimizer
from backends.keras.placement import set_numeric_switches, tf_device
from compiler.semantics.outputs import heads
from compiler.semantics.precision import precision
from compiler.semantics.masks import keep_mask
from compiler.semantics.initializers import initial_weights
from compiler.ir.spec import Spec
from compiler.weights import weight_specs

STATE = ("moving_mean", "moving_variance")


def _rows(x, start: int, stop: int):
    """Rows ``start:stop`` of one array, or of each of a list of arrays (one per input)."""
    return [a[start:stop] for a in x] if isinstance(x, list) else x[start:stop]


class KerasTrainer:
    def __init__(self, spec: Spec, weights: dict[str, np.ndarray] | None = None, *, dtype=np.float32,
                 seed: int | None = None, mode: str = "canonical", device: str = "cpu", tf32: bool = False,
                 deterministic: bool = False):
        if mode not in ("canonical", "native"):
            raise ValueError(f"mode must be 'canonical' or 'native', got {mode!r}")
        if spec.training is None:
            raise ValueError(f"spec '{spec.name}' has no train section: the Keras backend needs a loss and an optimizer")
        self.precision = precision(dtype)
        self.dtype = self.precision.variables  # weights, optimizer state, data, loss and outputs
        self.loss_scaling = self.precision.loss_scaling
        self.device = device
        self.tf_device = tf_device(device)
        # where TensorFlow lists no GPU everything runs on /CPU:0 anyway: no scope to enter (~20 µs) per step
        self._placed = self.tf_device != "/CPU:0" or bool(tf.config.list_physical_devices("GPU"))
        set_numeric_switches(tf32, deterministic)
        t = spec.training
        self.spec = spec
        self.mode = mode
        self.native = mode == "native"
        self.seed = t.seed if seed is None else seed
        policy = self.precision.name if self.precision.mixed else None
        with self._scope():
            self.net = build_network(spec, LowerContext(self.dtype, self.native, self.seed, policy))
            self.model = self.net.model
            self.head = self.net.head
            self.variables = self._variable_table()
            self.trainable = [self.variables[w.name] for w in weight_specs(spec) if w.trainable]
            self.moving = [v for name, v in self.variables.items() if name.endswith(STATE)]
            if weights is None and not self.native:
                weights = initial_weights(spec, self.seed, np.dtype(self.dtype))
            if weights is not None:
                self.set_weights(weights)
            self.heads = heads(spec)  # per output: its loss and weight (compiler.semantics.outputs)
            self.losses = [PinnedLoss(h.loss, fused is not None or h.loss.from_logits, self.dtype)
                           for h, fused in zip(self.heads, self.net.heads)]
            self.loss = self.losses[0]
            self.optimizer, self.rate = make_optimizer(t, self.dtype, loss_scaling=self.loss_scaling)
            self.optimizer.build(self.trainable)
            self._skipped = keras.Variable(0, dtype="int64", trainable=False, name="skipped_steps")
            if self.native:  # Keras' own loss path: the compiled loss, as fit computes it
                if len(self.losses) == 1:
                    self.model.compile(optimizer=self.optimizer, loss=self.loss)
                else:  # Keras' CompileLoss: Σₖ wₖ·lossₖ over the outputs, in order
                    self.model.compile(optimizer=self.optimizer, loss=self.losses,
                                       loss_weights=[h.weight for h in self.heads])
            # what an update may leave non-finite (checked after it), with the weight each belongs to
            self.watched = floating(self.trainable + self.moving + list(self.optimizer.variables))
            self.watched_names = self._owners(self.watched)
        self._probe_model = None
        self._step = tf.function(self._graph_step, reduce_retracing=True)
        self._evaluate = tf.function(self._graph_evaluate, reduce_retracing=True)

    @contextmanager
    def _scope(self):
        """Keras' floatx set to the variables' dtype and TensorFlow's device set to the trainer's."""
        with floatx(self.dtype):
            if self._placed:
                with tf.device(self.tf_device):
                    yield
            else:
                yield

    # ---- the Trainer protocol ---------------------------------------------------------------
    @property
    def outputs_are_logits(self) -> bool:
        return bool(self.heads[0].loss.from_logits)

    @property
    def skipped_steps(self) -> int:
        """Steps the ``LossScaleOptimizer`` skipped so far (non-finite scaled gradients), checkpoint
        included; only under ``mixed_float16`` (elsewhere the attribute does not exist)."""
        if not self.loss_scaling:
            raise AttributeError("skipped_steps: only a trainer with loss scaling (mixed_float16) skips steps")
        return int(self._skipped.numpy())

    def train_batch(self, x, y, step, lr):
        with self._scope():
            x, y = self._tensor(x), self._target(y)
            self._set_masks(self._batch_size(x), step)  # canonical dropout only (native mode has none to set)
            self.rate.override.assign(lr)
            total, terms, outputs, kept, finite = self._step(x, y)
            if not bool(kept):  # undone in the graph: weights, optimizer and moving statistics as before
                raise self._locate(x, y, float(total), self._non_finite(finite))
            return self._result(total, terms, outputs)

    @staticmethod
    def _result(total, terms, outputs):
        """(loss, outputs) for a one-output model; with several outputs ((total, each output's unweighted
        loss), the outputs) — what ``runtime.loop`` records per output (``compiler.semantics.outputs``)."""
        if not terms:
            return float(total), outputs.numpy()
        return (float(total), *(float(t) for t in terms)), tuple(o.numpy() for o in outputs)

    def _graph_step(self, x, y):
        """One step as a TensorFlow graph: forward, total loss, gradients, and the update unless the step
        diverges (``backends.keras.guard.guarded_update``, which puts everything back then, the moving
        statistics and native dropout's seed states included)."""
        before = [(v, tf.identity(v.value)) for v in self._forward_state()]
        with tf.GradientTape() as tape:
            out = self.model(x, training=True)
            total, terms = self._losses(x, y, out, training=True)
            scaled = self._scaled(total)
        grads = tape.gradient(scaled, self.trainable)  # scaled under mixed_float16: the optimizer unscales
        grads = [tf.zeros_like(v) if g is None else self._dense(g) for v, g in zip(self.trainable, grads)]
        kept, finite, skipped = guarded_update(self.optimizer, grads, self.trainable, total, watched=self.watched,
                                               before=before, loss_scaled=self.loss_scaling)
        if self.loss_scaling:
            self._skipped.assign_add(tf.cast(skipped, "int64"))
        return total, terms, self._outputs_of(out), kept, finite

    def evaluate_batch(self, x, y):
        with self._scope():
            return self._result(*self._evaluate(self._tensor(x), self._target(y)))

    def _graph_evaluate(self, x, y):
        out = self.model(x, training=False)
        total, terms = self._losses(x, y, out, training=False)
        return total, terms, self._outputs_of(out)

    def _total_loss(self, x, y, out, *, training: bool):
        """The step's total loss: in native mode the compiled model's (Keras' ``compute_loss``: the loss
        plus ``model.losses``), in canonical mode ``PinnedLoss`` plus ``model.losses`` — the same sum."""
        return self._losses(x, y, out, training=training)[0]

    def _losses(self, x, y, out, *, training: bool):
        """(the total loss, each output's unweighted loss — none for a one-output model)."""
        terms = () if len(self.losses) == 1 else [loss(t, v) for loss, t, v in zip(self.losses, y, out)]
        if self.native:
            return self.model._compute_loss(x=x, y=y, y_pred=out, training=training), terms
        data = self.loss(y, self._first(out)) if not terms else self._weighted(terms)
        return self._total(data, self.model.losses), terms

    def _data_loss(self, y, out):
        """The loss of the output (one output), or Σₖ wₖ·lossₖ over the outputs in order (several), as
        Keras' CompileLoss and the NumPy reference add them."""
        if len(self.losses) == 1:
            return self.loss(y, self._first(out))
        return self._weighted([loss(t, v) for loss, t, v in zip(self.losses, y, out)])

    def _weighted(self, terms):
        total = None
        for head, term in zip(self.heads, terms):
            term = head.weight * term
            total = term if total is None else total + term
        return total

    def get_weights(self) -> dict[str, np.ndarray]:
        """Every weight in the trainer's dtype, as the other backends give them (Keras keeps Normalization's
        ``count`` as an int64 variable)."""
        return {name: v.numpy().astype(self.dtype, copy=False) for name, v in self.variables.items()}

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        for name, value in weights.items():
            try:
                v = self.variables[name]
            except KeyError:
                raise KeyError(f"the model has no weight '{name}' (it has {', '.join(self.variables)})") from None
            value = np.asarray(value)
            if tuple(value.shape) != tuple(v.shape):
                raise ValueError(f"weight '{name}' has shape {tuple(v.shape)}, received {value.shape}")
            v.assign(value.astype(self.dtype, copy=False))

    # ---- checkpoints ------------------------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        """What a checkpoint needs besides the weights: the optimizer's variables (``iterations`` and
        every slot), keyed ``optimizer/<Keras variable name>``; under ``mixed_float16`` the loss scale
        (``loss_scale/scale``, ``loss_scale/good_steps``: the ``LossScaleOptimizer``'s ``dynamic_scale``
        and ``step_counter``) and ``loss_scale/skipped_steps``; and in native mode the state of every
        Keras ``SeedGenerator`` (the Dropout layers' masks), keyed ``random/<Keras layer>/<index>``, so
        that a resumed run draws the masks an uninterrupted one would. Canonical dropout masks depend
        only on seed, step and layer, so there is no random state to keep there."""
        return {key: v.numpy() for key, v in self._state_variables().items()}

    def _state_variables(self) -> dict:
        """``state()``'s keys -> their variables (a ``LossScaleOptimizer``'s own ``iteration`` and
        ``learning_rate`` never change and are left out: its ``iterations`` are the inner optimizer's)."""
        if self.loss_scaling:
            out = {f"optimizer/{v.name}": v for v in self.optimizer.inner_optimizer.variables}
            out.update({"loss_scale/scale": self.optimizer.dynamic_scale,
                        "loss_scale/good_steps": self.optimizer.step_counter,
                        "loss_scale/skipped_steps": self._skipped})
        else:
            out = {f"optimizer/{v.name}": v for v in self.optimizer.variables}
        out.update({key: g.state for key, g in self._seed_generators().items()})
        return out

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        variables = self._state_variables()
        mine = {k: v for k, v in state.items() if k.startswith(("optimizer/", "random/", "loss_scale/"))}
        if set(mine) != set(variables):
            raise ValueError(f"optimizer and random state do not match: missing {sorted(set(variables) - set(mine))}, "
                             f"unexpected {sorted(set(mine) - set(variables))}")
        for key, value in mine.items():
            variables[key].assign(np.asarray(value).astype(variables[key].dtype, copy=False))

    def _seed_generators(self) -> dict:
        """``random/<Keras layer>/<index>`` -> every ``keras.random.SeedGenerator`` of the model."""
        out, seen = {}, set()
        for layer in self.model._flatten_layers(include_self=True, recursive=True):
            for i, generator in enumerate(getattr(layer, "_seed_generators", None) or []):
                if id(generator) not in seen:
                    seen.add(id(generator))
                    out[f"random/{layer.name}/{i}"] = generator
        return out

    # ---- more -----------------------------------------------------------------------------------
    def predict(self, x, batch_size: int = 1024):
        """Outputs in inference mode (probabilities where an output ends in softmax/sigmoid): one array, or a
        list of arrays (one per output, in order) for a model of several outputs."""
        arrays = self._input_arrays(x)
        n = len(arrays[0]) if isinstance(arrays, list) else len(arrays)
        with self._scope():
            parts = [self._predictions(self.model(self._tensor(_rows(arrays, i, i + batch_size)), training=False))
                     for i in range(0, n, batch_size)]
        outs = [np.concatenate([p[k] for p in parts]) if parts else np.zeros((0, *layer.output_shape), self.dtype)
                for k, layer in enumerate(self.spec.output_layers)]
        return outs[0] if len(outs) == 1 else outs

    def _predictions(self, out) -> list[np.ndarray]:
        """Every output of a model call as NumPy arrays, probabilities where an activation is fused."""
        out = out if isinstance(out, (list, tuple)) else [out]
        values = [o if head is None else head.probabilities(o) for o, head in zip(out, self.net.heads)]
        return [self._array(v) for v in values]

    def probe(self, x, y) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """One training-mode pass without an update (masks of step 0): each layer's output and each
        weight's gradient; the moving statistics are left as they were."""
        with self._scope():
            x, y = self._tensor(x), self._target(y)
            self._set_masks(self._batch_size(x), 0)
            saved = [v.numpy() for v in self.moving]
            model = self._probes()
            with tf.GradientTape() as tape:
                outs = model(x, training=True)
                values = [outs[self._probed.index(name)] for name in self.spec.output_names]
                total = self._total(self._data_loss(y, values if len(values) > 1 else values[0]), model.losses)
                scaled = self._scaled(total)
            grads = self._unscaled(tape.gradient(scaled, self.trainable))
            self._restore(saved)
            return self._probe_outputs(x, outs), {w: self._dense(g).numpy()
                                                  for w, g in zip(self._trainable_names(), grads)}

    # ---- divergence ---------------------------------------------------------------------------------
    def _forward_state(self) -> list:
        """The variables a training-mode forward pass moves: moving statistics, native dropout seeds."""
        return self.moving + [g.state for g in self._seed_generators().values()]

    def _owners(self, variables) -> list[str]:
        """The weight each variable is or belongs to (an optimizer slot is named after its weight's path:
        ``<path with _ for />_<slot>``; the longest such prefix wins)."""
        by_id = {id(v): name for name, v in self.variables.items()}
        prefixes = sorted(((v.path.replace("/", "_") + "_", name) for name, v in self.variables.items()),
                          key=lambda p: -len(p[0]))
        out = []
        for v in variables:
            name = by_id.get(id(v)) or next((n for prefix, n in prefixes if v.name.startswith(prefix)), v.name)
            out.append(name)
        return out

    def _non_finite(self, finite) -> list[str]:
        """The weights whose variable (or optimizer slot) the update left non-finite, from the guard's flags."""
        return [name for name, ok in zip(self.watched_names, np.asarray(finite)) if not ok]

    # ---- internals ----------------------------------------------------------------------------------
    def _variable_table(self) -> dict[str, keras.Variable]:
        """``"layer/weight"`` -> the Keras variable, for exactly the weights of ``weight_specs``."""
        table = {}
        for layer in self.spec.layers:
            for k in self.net.keras_layers[layer.name]:
                for v in k.weights:
                    table[f"{layer.name}/{v.name}"] = v
        expected = [w.name for w in weight_specs(self.spec)]
        if sorted(table) != sorted(expected):
            raise RuntimeError(f"Keras weights {sorted(table)} do not match the spec's {sorted(expected)}")
        return {name: table[name] for name in expected}

    def _trainable_names(self) -> list[str]:
        return [w.name for w in weight_specs(self.spec) if w.trainable]

    def _input_arrays(self, x):
        """``x`` as the model takes it: one array for a one-input model; for several inputs a list in the
        order of the Input layers, from a dict keyed by their names or a sequence in that order."""
        names = [layer.name for layer in self.spec.input_layers]
        keyed = not isinstance(x, (list, tuple, np.ndarray)) and hasattr(x, "keys")  # a dict, NamedArrays
        if len(names) == 1:
            return x[names[0]] if keyed else x
        if keyed:
            return [x[name] for name in names]
        if len(x) != len(names):
            raise ValueError(f"the model has {len(names)} inputs ({', '.join(names)}), received {len(x)} arrays")
        return list(x)

    def _tensor(self, x):
        """The model's input(s) as tensors in the trainer's dtype (``_input_arrays``' structure)."""
        x = self._input_arrays(x)
        if isinstance(x, list):
            return [tf.convert_to_tensor(np.asarray(a, dtype=self.dtype)) for a in x]
        return tf.convert_to_tensor(np.asarray(x, dtype=self.dtype))

    @staticmethod
    def _batch_size(x) -> int:
        return int((x[0] if isinstance(x, list) else x).shape[0])

    @staticmethod
    def _first(out):
        """The first output of the model (the one the single-output loss and metrics read)."""
        return out[0] if isinstance(out, (list, tuple)) else out

    def _target_array(self, y, loss=None) -> np.ndarray:
        y = np.asarray(y)
        if (loss or self.heads[0].loss).kind == "sparse_categorical_crossentropy":
            return y.astype(np.int64, copy=False)
        return y.astype(self.dtype, copy=False)

    def _target(self, y):
        """The targets as tensors: one (a one-output model), or a list in output order from a sequence in that
        order or a dict keyed by the output keys or the output layers' names."""
        keyed = not isinstance(y, (list, tuple, np.ndarray)) and hasattr(y, "keys")  # a dict, NamedArrays
        if len(self.heads) == 1:
            return tf.convert_to_tensor(self._target_array(y[self.heads[0].key] if keyed else y))
        if keyed:
            y = [y[h.key] if h.key in y else y[name] for h, name in zip(self.heads, self.spec.output_names)]
        if len(y) != len(self.heads):
            raise ValueError(f"the model has {len(self.heads)} outputs, received {len(y)} target arrays")
        return [tf.convert_to_tensor(self._target_array(t, h.loss)) for t, h in zip(y, self.heads)]

    def _set_masks(self, batch: int, step: int) -> None:
        """Put the canonical masks of ``step`` (as scales keep/(1 − rate)) into the dropout layers."""
        for layer, k in self.net.dropouts:
            if layer.rate == 0:
                continue
            full = (batch, *layer.input_shape)  # the layer's input, batch included
            keep = keep_mask(self.seed, step, layer.name, k.mask_shape(full), layer.rate)
            k.set_scale((keep / (1.0 - layer.rate)).astype(self.dtype))

    def _array(self, t) -> np.ndarray:
        """A tensor as a NumPy array in the trainer's dtype (a layer's bfloat16/float16 output as float32)."""
        return t.numpy().astype(self.dtype, copy=False)

    def _scaled(self, total):
        """The loss the backward pass starts from: ``total`` times the loss scale under ``mixed_float16``."""
        return self.optimizer.scale_loss(total) if self.loss_scaling else total

    def _unscaled(self, grads) -> list:
        """``grads`` of ``_scaled``'s loss divided by the scale (None as zeros), as the optimizer sees them."""
        grads = [tf.zeros_like(v) if g is None else self._dense(g) for v, g in zip(self.trainable, grads)]
        if not self.loss_scaling:
            return grads
        return [g / tf.cast(self.optimizer.dynamic_scale, g.dtype) for g in grads]

    @staticmethod
    def _total(data_loss, penalties):
        return data_loss + tf.add_n(list(penalties)) if penalties else data_loss

    @staticmethod
    def _dense(g):
        return tf.convert_to_tensor(g)

    def _loss_and_grads(self, x, y):
        with tf.GradientTape() as tape:
            out = self.model(x, training=True)
            total = self._total_loss(x, y, out, training=True)
            scaled = self._scaled(total)
        return float(total), out, self._unscaled(tape.gradient(scaled, self.trainable))

    def _outputs_of(self, out):
        """``_outputs`` (one output), or the list of every output's predictions (several)."""
        if len(self.heads) == 1:
            return self._outputs(out)
        return [self._predicted(o, head) for o, head in zip(out, self.net.heads)]

    def _predicted(self, out, head):
        out = out if head is None else head.probabilities(out)
        return out if out.dtype == self.dtype else tf.cast(out, self.dtype)

    def _outputs(self, out):
        """What the model predicts (its first output where it has several), in the trainer's dtype (float32
        under a mixed policy)."""
        out = self._first(out)
        out = self.head.probabilities(out) if self.head is not None else out
        return out if out.dtype == self.dtype else tf.cast(out, self.dtype)

    def _restore(self, saved, variables=None) -> None:
        for v, value in zip(self.moving if variables is None else variables, saved):
            v.assign(value)

    @property
    def _probed(self) -> list[str]:
        """The layers ``_probes`` outputs, in order: every IR layer but the Inputs."""
        return [layer.name for layer in self.spec.layers if not layer.is_input]

    def _probes(self) -> keras.Model:
        """A model sharing the layers, outputting every IR layer's output but the Inputs' (``_probed``)."""
        if self._probe_model is None:
            self._probe_model = keras.Model(self.model.inputs, [self.net.outputs[n] for n in self._probed])
        return self._probe_model

    def _probe_outputs(self, x, outs) -> dict[str, np.ndarray]:
        """Every layer's output by name, as the NumPy reference records them: the inputs as given, and
        probabilities (not the logits the Keras model carries there) on the path from a fused activation to
        its output."""
        inputs = x if isinstance(x, list) else [x]
        outputs = {layer.name: t.numpy() for layer, t in zip(self.spec.input_layers, inputs)}
        heads = {name: head for head, names in zip(self.net.heads, self.net.logit_layers) for name in names}
        for name, out in zip(self._probed, outs):
            if name in heads:
                out = heads[name].probabilities(out)
            outputs[name] = self._array(out)
        return outputs

    def _locate(self, x, y, loss: float, bad_weights: list[str]) -> Diverged:
        """The step's ``Diverged`` (``compiler.semantics.divergence.locate``), from training passes with its masks over
        the weights it started from: each layer's output and each gradient. The moving statistics and
        dropout seed states are left as they were."""
        state = self._forward_state()
        saved = [v.numpy() for v in state]
        try:
            outs = self._probes()(x, training=True)
            self._restore(saved, state)
            grads = self._loss_and_grads(x, y)[2]
        finally:
            self._restore(saved, state)
        outputs = self._probe_outputs(x, outs)
        gradients = {name: g.numpy() for name, g in zip(self._trainable_names(), grads)}
        return locate(self.spec, loss, outputs, gradients, bad_weights)
