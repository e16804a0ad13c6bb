"""The Keras backend's ``Trainer``: ``KerasTrainer(spec, weights=None, *, dtype, seed, mode)``.

- canonical mode (equivalence): the weights are ``weights`` or the NumPy initializers'; dropout
  multiplies by ``compiler.semantics.masks.keep_mask``'s masks (put into ``MaskedDropout``'s shape-agnostic
  variables before each step); one step (``_graph_step``, traced once by ``tf.function``) is a
  ``tf.GradientTape`` over the forward pass and the total loss, then Keras' optimizer with the shared
  loop's learning rate (assigned to the optimizer's learning-rate variable before the step).
- native mode: Keras' initializers and Dropout, seeded from the spec's seed; ``native_fit`` hands
  the whole job to ``model.compile`` + ``model.fit`` (graph mode), on the shared loop's batch order,
  with the schedule as a ``LearningRateSchedule``, Keras' metrics, the shared loop's ``EarlyStopper``
  (Keras' rule, with a state a checkpoint keeps), checkpoints, interruption and resume as
  ``runtime.loop.fit`` does them (``state()`` keeps the Dropout layers' seed generators), and the guarded
  ``train_step`` of ``backends.keras.model.Network``. From the canonical weights and without
  dropout it reproduces the shared loop's History (tests/test_keras_backend.py).

Total loss = Keras' loss (``sum_over_batch_size``) + ``sum(model.losses)`` (weight penalties and
activity penalties ÷ batch size). ``outputs`` are what the model predicts: probabilities when the
final softmax/sigmoid is fused with the loss (the network itself outputs the logits, see
``backends.keras.model``).

A step that diverges (``compiler.semantics.divergence``: its loss, a gradient, or — after the update — a weight,
moving statistic or optimizer slot) is undone inside the traced step (``backends.keras.guard``; Keras'
own ``fit`` included) and reported as ``Diverged`` naming the layer by ``compiler.semantics.divergence.locate``,
as the other backends do.
"""

from __future__ import annotations

import math
import time

import keras
import numpy as np
import tensorflow as tf

from compiler.semantics.divergence import Diverged, locate
from backends.keras.guard import Guard, floating, guarded_update
from backends.keras.layers import LowerContext
from backends.keras.model import build_network
from backends.keras.optimizers import PinnedLoss, floatx, make_metrics, make_optimizer
from backends.contract import History, Interrupted, LoopEvents, LoopState
from compiler.semantics.batch_order import batches
from compiler.semantics.early_stopping import EarlyStopper
from compiler.semantics.masks import keep_mask
from compiler.semantics.initializers import initial_weights
from compiler.semantics.schedules import learning_rate
from compiler.ir.spec import Spec
from compiler.weights import weight_specs

STATE = ("moving_mean", "moving_variance")


class KerasTrainer:
    def __init__(self, spec: Spec, weights: dict[str, np.ndarray] | None = None, *, dtype=np.float32,
                 seed: int | None = None, mode: str = "canonical"):
        if mode not in ("canonical", "native"):
            raise ValueError(f"mode must be 'canonical' or 'native', got {mode!r}")
        if spec.training is None:
            raise ValueError(f"spec '{spec.name}' has no train section: the Keras backend needs a loss and an optimizer")
        self.dtype = np.dtype(dtype).name
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype}")
        t = spec.training
        self.spec = spec
        self.mode = mode
        self.native = mode == "native"
        self.seed = t.seed if seed is None else seed
        with floatx(self.dtype):
            self.net = build_network(spec, LowerContext(self.dtype, self.native, self.seed))
            self.model = self.net.model
            self.head = self.net.head
            self.variables = self._variable_table()
            self.trainable = [self.variables[w.name] for w in weight_specs(spec) if w.trainable]
            self.moving = [v for name, v in self.variables.items() if name.endswith(STATE)]
            if weights is None and not self.native:
                weights = initial_weights(spec, self.seed, np.dtype(self.dtype))
            if weights is not None:
                self.set_weights(weights)
            self.loss = PinnedLoss(t.loss, self.head is not None or t.loss.from_logits, self.dtype)
            self.optimizer, self.rate = make_optimizer(t, self.dtype)
            self.optimizer.build(self.trainable)
            # what an update may leave non-finite (checked after it), with the weight each belongs to
            self.watched = floating(self.trainable + self.moving + list(self.optimizer.variables))
            self.watched_names = self._owners(self.watched)
        self._probe_model = None
        self._compiled_for = None
        self._step = tf.function(self._graph_step, reduce_retracing=True)

    # ---- the Trainer protocol ---------------------------------------------------------------
    @property
    def outputs_are_logits(self) -> bool:
        return bool(self.spec.training.loss.from_logits)

    def train_batch(self, x, y, step, lr):
        with floatx(self.dtype):
            x, y = self._tensor(x), self._target(y)
            self._set_masks(x.shape, step)
            self.rate.override.assign(lr)
            total, outputs, kept, finite = self._step(x, y)
            if not bool(kept):  # undone in the graph: weights, optimizer and moving statistics as before
                raise self._locate(x, y, float(total), self._non_finite(finite))
            return float(total), outputs.numpy()

    def _graph_step(self, x, y):
        """One step as a TensorFlow graph: forward, total loss, gradients, and the update unless the step
        diverges (``backends.keras.guard.guarded_update``, which puts everything back then)."""
        before = [(v, tf.identity(v.value)) for v in self.moving]
        with tf.GradientTape() as tape:
            out = self.model(x, training=True)
            total = self._total(self.loss(y, out), self.model.losses)
        grads = tape.gradient(total, self.trainable)
        grads = [tf.zeros_like(v) if g is None else self._dense(g) for v, g in zip(self.trainable, grads)]
        kept, finite = guarded_update(self.optimizer, grads, self.trainable, total, watched=self.watched,
                                      before=before)
        return total, self._outputs(out), kept, finite

    def evaluate_batch(self, x, y):
        with floatx(self.dtype):
            x, y = self._tensor(x), self._target(y)
            out = self.model(x, training=False)
            total = self._total(self.loss(y, out), self.model.losses)
            return float(total), self._outputs(out).numpy()

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
        every slot), keyed ``optimizer/<Keras variable name>``, and in native mode the state of every
        Keras ``SeedGenerator`` (the Dropout layers' masks), keyed ``random/<Keras layer>/<index>``, so
        that a resumed run draws the masks an uninterrupted one would. Canonical dropout masks depend
        only on seed, step and layer, so there is no random state to keep there."""
        out = {f"optimizer/{v.name}": v.numpy() for v in self.optimizer.variables}
        out.update({key: g.state.numpy() for key, g in self._seed_generators().items()})
        return out

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        variables = {f"optimizer/{v.name}": v for v in self.optimizer.variables}
        variables.update({key: g.state for key, g in self._seed_generators().items()})
        mine = {k: v for k, v in state.items() if k.startswith(("optimizer/", "random/"))}
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
    def predict(self, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Outputs in inference mode (probabilities where the model ends in softmax/sigmoid)."""
        with floatx(self.dtype):
            parts = [self._outputs(self.model(self._tensor(x[i:i + batch_size]), training=False)).numpy()
                     for i in range(0, len(x), batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, *self.spec.output_shape), self.dtype)

    def probe(self, x, y) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """One training-mode pass without an update (masks of step 0): each layer's output and each
        weight's gradient; the moving statistics are left as they were."""
        with floatx(self.dtype):
            x, y = self._tensor(x), self._target(y)
            self._set_masks(x.shape, 0)
            saved = [v.numpy() for v in self.moving]
            model = self._probes()
            with tf.GradientTape() as tape:
                outs = model(x, training=True)
                total = self._total(self.loss(y, outs[-1]), model.losses)
            grads = tape.gradient(total, self.trainable)
            self._restore(saved)
            names = [layer.name for layer in self.spec.layers[1:]]
            outputs = {self.spec.layers[0].name: x.numpy()}
            outputs.update({n: o.numpy() for n, o in zip(names, outs)})
            if self.head is not None:
                outputs[self.spec.layers[-1].name] = self._outputs(outs[-1]).numpy()
            return outputs, {w: self._dense(g).numpy() for w, g in zip(self._trainable_names(), grads)}

    # ---- native mode: Keras' fit ------------------------------------------------------------------
    @property
    def native_fit(self):
        """``model.compile`` + ``model.fit`` (native mode only; canonical mode has no such attribute, so
        ``runtime.loop.fit`` runs its own loop)."""
        if not self.native:
            raise AttributeError("native_fit exists in native mode only")
        return self._native_fit

    def _native_fit(self, x, y, x_val, y_val, *, epochs: int, seed: int, events: LoopEvents | None = None,
                    resume: LoopState | None = None, on_checkpoint=None, checkpoint_every: int | None = None,
                    should_stop=None) -> History:
        """Train with Keras' ``fit`` on the shared loop's batches (``batches``: the same order as
        ``runtime.loop.fit``, fed as a ``tf.data`` pipeline built as Keras builds its own for arrays,
        so no global random seed is set), validation on ``x_val``/``y_val`` in inference mode, early
        stopping as the shared loop's ``EarlyStopper`` (Keras' rule, with a state a checkpoint keeps).
        The History has the shared loop's keys per epoch (``epoch``, ``loss``, each metric, ``val_*``,
        ``learning_rate``, ``seconds``); the events are called as the loop calls them.

        The checkpoint contract of ``runtime.loop.fit`` holds too: ``on_checkpoint`` gets a
        ``LoopState`` at the end of every epoch and every ``checkpoint_every`` steps; ``should_stop()``
        is asked before every step and, when true, ``on_checkpoint`` is called and ``Interrupted``
        raised; ``resume`` continues from a ``LoopState`` (with the trainer's weights and ``state()``
        restored): a mid-epoch one runs the rest of its epoch as one ``fit`` (the pipeline starting at
        its batch, Keras' metric variables — the epoch's running loss and metrics, kept in
        ``LoopState.sums`` as ``{"count", "loss", "keras": [values of model.metrics_variables]}`` —
        put back after Keras resets them), then the remaining epochs as another."""
        events = events or LoopEvents()
        t = self.spec.training
        state = resume or LoopState()
        history = state.history
        stopper = EarlyStopper(t.early_stopping) if t.early_stopping is not None else None
        if stopper is not None and state.stopper is not None:
            stopper.load(state.stopper, state.best_weights)
        with floatx(self.dtype):
            x = np.asarray(x, dtype=self.dtype)
            y = self._target_array(y)
            self._compile(y)
            validation = None
            if x_val is not None and len(x_val):
                validation = (np.asarray(x_val, dtype=self.dtype), self._target_array(y_val))
            self.model.guard.reset()
            self.rate.override.assign(-1.0)  # the schedule, in the graph
            steps = math.ceil(len(x) / t.batch_size)
            per_batch = (events.batch_end is not LoopEvents.batch_end or should_stop is not None
                         or bool(checkpoint_every and on_checkpoint is not None))
            cls = _RecordBatches if per_batch else _Record
            record = cls(self, events, state, stopper, steps, len(x), t.batch_size, validation is not None,
                         on_checkpoint=on_checkpoint, checkpoint_every=checkpoint_every, should_stop=should_stop)
            segments = []  # (first epoch, batches of it already done, end epoch)
            epoch = state.epoch
            if epoch < epochs and not history.stopped_early:
                if state.batch:
                    segments.append((epoch, state.batch, epoch + 1))
                    epoch += 1
                if epoch < epochs:
                    segments.append((epoch, 0, epochs))
            for first, done, end in segments:
                if history.stopped_early:
                    break
                if done:
                    self._build_metrics(x, y, t.batch_size)
                self.model.fit(batch_dataset(x, y, t.batch_size, seed, end, first=first, skip=done), epochs=end,
                               initial_epoch=first, steps_per_epoch=steps - done,
                               shuffle=False,  # the dataset is in the loop's order already
                               validation_data=validation, validation_batch_size=t.batch_size,
                               callbacks=[record], verbose=0)
        if stopper is not None:
            history.best_epoch = None if stopper.best_epoch is None else stopper.best_epoch + 1
            if stopper.best_weights is not None:
                self.set_weights(stopper.best_weights)
        return history

    def _build_metrics(self, x, y, batch_size: int) -> None:
        """Create Keras' compiled metric variables now (Keras builds them when it first traces the
        train step), so that a resumed epoch's running sums can be put into them before its first step."""
        if any(not m.variables for m in self.model.metrics) or not self.model.metrics:
            self.model._symbolic_build(data_batch=(x[:batch_size], y[:batch_size]))

    def _metric_state(self) -> list:
        return [np.asarray(v.numpy()).tolist() for v in self.model.metrics_variables]

    def _load_metric_state(self, values: list) -> None:
        variables = self.model.metrics_variables
        if len(values) != len(variables):
            raise ValueError(f"the checkpoint has {len(values)} metric values, the model {len(variables)} metric "
                             "variables")
        for v, value in zip(variables, values):
            v.assign(np.asarray(value, dtype=v.dtype))

    def _compile(self, y: np.ndarray) -> None:
        sparse = y.ndim == 1 or (y.shape[-1] == 1 and self.spec.output_shape[-1] > 1)
        if self._compiled_for == sparse:
            return
        t = self.spec.training
        transform = self.head.probabilities if self.head is not None else None
        metrics = make_metrics(t, self.spec.output_shape[-1], sparse, self.outputs_are_logits, transform, self.dtype)
        self.model.compile(optimizer=self.optimizer, loss=self.loss, metrics=metrics)
        if self.model.guard is None:
            spec_in = self.spec.input_shape
            self.model.guard = Guard(
                self._forward_state(), self.watched,
                x=tf.Variable(np.zeros((0, *spec_in), self.dtype), shape=tf.TensorShape(None), trainable=False),
                y=tf.Variable(np.zeros((0,), y.dtype if y.dtype.kind in "iu" else self.dtype),
                              shape=tf.TensorShape(None), trainable=False))
        self._compiled_for = sparse

    def _diverged(self, bad_step: int) -> Diverged:
        """The ``Diverged`` of the step that ``Network.train_step`` refused first, located on its batch
        (the guard put the dropout seed states back, so the pass draws that step's masks)."""
        guard = self.model.guard
        x, y = tf.convert_to_tensor(guard.x), tf.convert_to_tensor(guard.y)
        saved = [v.numpy() for v in self._forward_state()]
        loss = float(self._loss_and_grads(x, y)[0])
        self._restore(saved, self._forward_state())
        return self._locate(x, y, loss, self._non_finite(guard.finite_after))

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

    def _tensor(self, x) -> tf.Tensor:
        return tf.convert_to_tensor(np.asarray(x, dtype=self.dtype))

    def _target_array(self, y) -> np.ndarray:
        y = np.asarray(y)
        if self.spec.training.loss.kind == "sparse_categorical_crossentropy":
            return y.astype(np.int64, copy=False)
        return y.astype(self.dtype, copy=False)

    def _target(self, y) -> tf.Tensor:
        return tf.convert_to_tensor(self._target_array(y))

    def _set_masks(self, shape, step: int) -> None:
        """Put the canonical masks of ``step`` (as scales keep/(1 − rate)) into the dropout layers."""
        for layer, k in self.net.dropouts:
            if layer.rate == 0:
                continue
            full = (int(shape[0]), *layer.input_shape)  # the layer's input, batch included
            keep = keep_mask(self.seed, step, layer.name, k.mask_shape(full), layer.rate)
            k.set_scale((keep / (1.0 - layer.rate)).astype(self.dtype))

    @staticmethod
    def _total(data_loss, penalties):
        return data_loss + tf.add_n(list(penalties)) if penalties else data_loss

    @staticmethod
    def _dense(g):
        return tf.convert_to_tensor(g)

    def _loss_and_grads(self, x, y):
        with tf.GradientTape() as tape:
            out = self.model(x, training=True)
            total = self._total(self.loss(y, out), self.model.losses)
        grads = tape.gradient(total, self.trainable)
        grads = [tf.zeros_like(v) if g is None else self._dense(g) for v, g in zip(self.trainable, grads)]
        return float(total), out, grads

    def _outputs(self, out):
        return self.head.probabilities(out) if self.head is not None else out

    def _restore(self, saved, variables=None) -> None:
        for v, value in zip(self.moving if variables is None else variables, saved):
            v.assign(value)

    def _probes(self) -> keras.Model:
        """A model sharing the layers, outputting every IR layer's output but the Input's."""
        if self._probe_model is None:
            names = [layer.name for layer in self.spec.layers[1:]]
            self._probe_model = keras.Model(self.model.inputs, [self.net.outputs[n] for n in names])
        return self._probe_model

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
        outputs = {self.spec.layers[0].name: x.numpy()}
        for layer, out in zip(self.spec.layers[1:], outs):
            if layer is self.spec.layers[-1] and self.head is not None:
                out = self._outputs(out)
            outputs[layer.name] = out.numpy()
        gradients = {name: g.numpy() for name, g in zip(self._trainable_names(), grads)}
        return locate(self.spec, loss, outputs, gradients, bad_weights)


def batch_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, epochs: int, *, first: int = 0,
                  skip: int = 0) -> tf.data.Dataset:
    """The batches of epochs ``first`` … ``epochs − 1`` in the shared loop's order
    (``runtime.loop.batches``), less the first ``skip`` batches of epoch ``first`` (a resumed run),
    as Keras' array adapter builds its pipeline (keras/src/trainers/data_adapters/array_data_adapter.py): a
    dataset of index batches (full batches reshaped, then the partial one), zipped with the arrays and
    gathered in a parallel map, default tf.data optimizations off, prefetched."""
    n = len(x)
    full = n // batch_size
    orders = np.stack([np.concatenate(batches(n, batch_size, seed, e)) for e in range(first, epochs)])

    def epoch_batches(order):
        head = tf.data.Dataset.from_tensor_slices(tf.reshape(order[:full * batch_size], (full, batch_size)))
        if n % batch_size:
            head = head.concatenate(tf.data.Dataset.from_tensors(order[full * batch_size:]))
        return head

    indices = tf.data.Dataset.from_tensor_slices(orders).flat_map(epoch_batches)
    if skip:
        indices = indices.skip(skip)
    arrays = tf.data.Dataset.from_tensors((tf.convert_to_tensor(x), tf.convert_to_tensor(y))).repeat()
    data = tf.data.Dataset.zip((indices, arrays)).map(
        lambda i, xy: (tf.gather(xy[0], i), tf.gather(xy[1], i)), num_parallel_calls=tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.experimental_optimization.apply_default_optimizations = False
    return data.with_options(options).prefetch(tf.data.AUTOTUNE)


class _Record(keras.callbacks.Callback):
    """Turns Keras' epoch logs into the shared loop's History, calls the LoopEvents, runs early
    stopping and keeps the ``LoopState`` (checkpointed at the end of every epoch)."""

    def __init__(self, trainer: KerasTrainer, events: LoopEvents, state: LoopState, stopper: EarlyStopper | None,
                 steps: int, n: int, batch_size: int, validation: bool, *, on_checkpoint=None,
                 checkpoint_every: int | None = None, should_stop=None):
        super().__init__()
        self.trainer, self.events, self.state, self.stopper = trainer, events, state, stopper
        self.steps, self.n, self.batch_size, self.validation = steps, n, batch_size, validation
        self.on_checkpoint, self.checkpoint_every, self.should_stop = on_checkpoint, checkpoint_every, should_stop
        self.start = 0.0
        self.seen = 0
        self.mean = 0.0

    def check(self) -> None:
        """Raise ``Diverged`` if ``Network.train_step`` refused a step (one scalar read), as the shared
        loop does: epoch, step and ``weights_step`` set, and ``on_checkpoint`` given the state after the
        last good step (the guard kept the weights, optimizer, seeds, loss and metrics of that step)."""
        bad = int(self.trainer.model.guard.bad_step.numpy())
        if bad < 0:
            return
        exc = self.trainer._diverged(bad)
        exc.epoch, exc.step, exc.weights_step = bad // self.steps + 1, bad + 1, bad
        s = self.state
        s.epoch, s.batch, s.step = bad // self.steps, bad % self.steps, bad
        if s.batch:  # the epoch's good batches are full ones
            self.seen = s.batch * self.batch_size
            self.mean = float(self.trainer.model._loss_tracker.result())
        else:
            s.sums, s.epoch_seconds = {}, 0.0
        if self.on_checkpoint is not None:
            self.on_checkpoint(self.snapshot(mid_epoch=s.batch > 0))
        raise exc

    def snapshot(self, mid_epoch: bool) -> LoopState:
        s = self.state
        if mid_epoch:
            s.sums = {"count": self.seen, "loss": self.mean, "keras": self.trainer._metric_state()}
            s.epoch_seconds = time.perf_counter() - self.start
        s.stopper = self.stopper.state() if self.stopper is not None else None
        s.best_weights = self.stopper.best_weights if self.stopper is not None else None
        return s

    def on_epoch_begin(self, epoch, logs=None):
        s = self.state
        s.epoch = epoch
        self.seen, self.mean = 0, 0.0
        if s.batch and s.sums:  # resumed within this epoch: its running sums, after Keras' reset
            self.trainer._load_metric_state(s.sums["keras"])
            self.seen, self.mean = int(s.sums["count"]), float(s.sums["loss"])
        self.start = time.perf_counter() - s.epoch_seconds
        self.events.epoch_start(epoch, self.steps)

    def on_epoch_end(self, epoch, logs=None):
        trainer = self.trainer
        self.check()
        t = trainer.spec.training
        logs = dict(logs or {})
        ours = {"epoch": epoch + 1, "loss": float(logs["loss"])}
        ours.update({m: float(logs[m]) for m in t.metrics})
        if self.validation:
            ours["val_loss"] = float(logs["val_loss"])
            ours.update({f"val_{m}": float(logs[f"val_{m}"]) for m in t.metrics})
        ours["learning_rate"] = learning_rate(t.optimizer, t.schedule, (epoch + 1) * self.steps - 1)
        ours["seconds"] = time.perf_counter() - self.start
        history = self.state.history
        history.epochs.append(ours)
        self.events.epoch_end(epoch, ours)
        if self.stopper is not None and self.stopper.update(epoch, ours, trainer.get_weights):
            history.stopped_early = True
            self.model.stop_training = True
        s = self.state
        s.epoch, s.batch, s.step, s.sums, s.epoch_seconds = epoch + 1, 0, (epoch + 1) * self.steps, {}, 0.0
        if self.on_checkpoint is not None:
            self.on_checkpoint(self.snapshot(mid_epoch=False))


class _RecordBatches(_Record):
    """``_Record`` with batch hooks: each batch's loss for the events (Keras logs the running mean; the
    batch's own loss is recovered from two consecutive means and the batch sizes), ``should_stop``
    before every step, a checkpoint every ``checkpoint_every`` steps. Keras calls it synchronously (a
    callback with a batch hook turns off its asynchronous dispatch), so a refused step is reported at
    once, before its batch, as the shared loop does."""

    def on_train_batch_begin(self, batch, logs=None):
        if self.should_stop is not None and self.should_stop():
            self.check()
            if self.on_checkpoint is not None:
                self.on_checkpoint(self.snapshot(mid_epoch=True))
            raise Interrupted(self.state)

    def on_train_batch_end(self, batch, logs=None):
        self.check()
        s = self.state
        size = min(self.batch_size, self.n - self.seen)
        mean = float((logs or {}).get("loss", math.nan))
        loss = (mean * (self.seen + size) - self.mean * self.seen) / size
        self.seen += size
        self.mean = mean
        s.batch += 1
        s.step += 1
        self.events.batch_end(s.batch - 1, loss)
        if self.checkpoint_every and self.on_checkpoint is not None and s.step % self.checkpoint_every == 0 \
                and s.batch < self.steps:
            self.on_checkpoint(self.snapshot(mid_epoch=True))
