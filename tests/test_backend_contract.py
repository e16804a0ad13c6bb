"""The backend contract: every backend, in both modes, and both emit targets handle every kind of every
IR list — layer kinds, losses (with and without ``from_logits``), regularizers, initializers, optimizers and
schedules — and train as the NumPy reference does; every backend's optimizer state survives a checkpoint.

The kinds are read from the IR's unions (``compiler.ir``), never listed here, so a new kind joins the
matrix by itself and fails until every target handles it (and, where its defaults cannot make a spec, until
it has an example below). The targets are read from ``backends.BACKENDS`` × ``backends.MODES`` and
``tools.emit.TARGETS``: a new backend or emit target joins the matrix too.

How one target is checked on one spec, in float64:

- the target builds the model and draws (native mode, emitted programs) or loads (canonical mode) its
  initial weights W0, and adapts Normalization on the data as every command does;
- the NumPy reference (``NumpyTrainer``) is given the same W0, batches (``tools.equiv.step_batches``),
  learning rates (``compiler.semantics.schedules``; an emitted program computes its own) and, in canonical
  mode, dropout masks; outputs at W0 in inference mode, the loss of each of ``STEPS`` steps and the final
  weights agree to ``tools.equiv.tolerance_for(float64)`` (1e-9 relative);
- where the target draws its own dropout masks (native mode, emitted programs) the steps are compared on
  the spec with its dropout rates set to 0, and the spec with its rates is checked to drop: finite losses,
  the first unlike the undropped one;
- the emitted Keras program runs on the spec with its floats rounded to float32 (Keras casts Python-float
  hyperparameters through float32; ``tests/test_emit.py`` explains), the reference on the same spec.

Cost: one spec per kind would build about 50 Keras models per Keras target. Instead the specs
*cover* the lists: spec i takes the i-th layer kind, loss, regularizer, initializer, optimizer and schedule
(each list cycled), so there are as many specs as the longest list has kinds, every kind is in at least one,
and each test's id names the kinds of its spec. When one kind breaks a target, every spec holding it fails:
the kind the failing ids share is the culprit.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Annotated, Union, get_args, get_origin

import numpy as np
import pytest
from pydantic import BaseModel

from backends import BACKENDS, MODES
from compiler.ir.layers import Layer
from compiler.ir.spec import Spec
from compiler.ir.training import Loss, Optimizer, Schedule
from compiler.ir.values import Initializer, Regularizer
from compiler.pipeline import compile_text
from compiler.semantics.initializers import initial_weights
from compiler.semantics.optimizers import rule
from compiler.semantics.schedules import learning_rate
from compiler.weights import weight_specs
from runtime.trainers import make_trainer
from tools.emit import TARGETS as EMIT_TARGETS
from tools.equiv import relative_error, step_batches, tolerance_for
from equivalence_cases import case_data  # tests/ is on sys.path under pytest
from frameworks import need
from test_emit import emitted_module, float32_exact

pytestmark = pytest.mark.filterwarnings(  # Keras' convert_to_numpy under NumPy 2, not ours
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")

STEPS = 2
SAMPLES = 8
TOLERANCE = tolerance_for(np.float64)


# ---- the lists, read from the IR ---------------------------------------------------------------------------
def kinds_of(union) -> tuple[str, ...]:
    """Every ``kind`` literal of an IR class or of a (discriminated) union of IR classes, in order."""
    if get_origin(union) is Annotated:
        union = get_args(union)[0]
    members = get_args(union) if get_origin(union) is Union else (union,)
    kinds: list[str] = []
    for cls in members:
        assert isinstance(cls, type) and issubclass(cls, BaseModel), cls
        kinds.extend(get_args(cls.model_fields["kind"].annotation))
    return tuple(kinds)


LAYER_KINDS = kinds_of(Layer)
LOSSES = tuple((kind, from_logits) for kind in kinds_of(Loss) for from_logits in (False, True)
               if not from_logits or Loss(kind=kind).is_classification)
REGULARIZER_KINDS = kinds_of(Regularizer)
INITIALIZER_KINDS = tuple(k for k in kinds_of(Initializer) if k != "auto")  # the compiler resolves auto
OPTIMIZER_KINDS = kinds_of(Optimizer)
SCHEDULE_KINDS = kinds_of(Schedule)

TARGETS = tuple(f"{backend}-{mode}" for backend in BACKENDS for mode in MODES) + tuple(
    f"emit-{target}" for target in EMIT_TARGETS)


# ---- examples: how a kind is written in a spec (a kind absent here is written with its defaults) ---------------
# layer kind -> (input shape, the layers between Input and the head; flat at the end)
LAYER_EXAMPLES = {
    "Input": ("[5]", "Dense(4, activation=relu)"),
    "Rescaling": ("[5]", "Rescaling(0.5, offset=0.1) Dense(4, activation=relu)"),
    "Normalization": ("[5]", "Normalization() Dense(4, activation=relu)"),
    "Dense": ("[5]", "Dense(4, activation=gelu) Dense(3, activation=silu)"),
    "Conv2D": ("[5, 5, 2]", "Conv2D(3, 3, strides=2, padding=same, activation=relu) Flatten()"),
    "MaxPooling2D": ("[5, 5, 2]", "Conv2D(3, 2, activation=tanh) MaxPooling2D(2, padding=same) Flatten()"),
    "AveragePooling2D": ("[5, 5, 2]",
                         "Conv2D(3, 2, activation=elu) AveragePooling2D(2, strides=1, padding=same) Flatten()"),
    "GlobalAveragePooling2D": ("[4, 4, 2]", "Conv2D(3, 2, activation=relu) GlobalAveragePooling2D()"),
    "Flatten": ("[3, 3, 2]", "Flatten() Dense(4, activation=tanh)"),
    "Dropout": ("[5]", "Dense(6, activation=relu) Dropout(0.5)"),
    "SpatialDropout2D": ("[4, 4, 2]", "Conv2D(3, 2, activation=relu) SpatialDropout2D(0.5) Flatten()"),
    "BatchNormalization": ("[5]", "Dense(4, use_bias=false) BatchNormalization(momentum=0.9) Activation(relu)"),
    "Activation": ("[5]", "Dense(4) Activation(leaky_relu(alpha=0.1))"),
    "ZeroPadding2D": ("[4, 4, 2]", "ZeroPadding2D([1, 2]) Conv2D(3, 3, activation=relu) Flatten()"),
    "Cropping2D": ("[5, 5, 2]", "Conv2D(3, 2, activation=relu) Cropping2D([[1, 0], [0, 2]]) Flatten()"),
    "GlobalMaxPooling2D": ("[4, 4, 2]", "Conv2D(3, 2, activation=tanh) GlobalMaxPooling2D()"),
    "Reshape": ("[6]", "Dense(8, activation=relu) Reshape([2, 2, 2]) Conv2D(2, 2, activation=tanh) Flatten()"),
    "Permute": ("[3, 4, 2]", "Conv2D(3, 2, activation=relu) Permute([2, 3, 1]) Flatten()"),
    "DepthwiseConv2D": ("[5, 5, 2]", "DepthwiseConv2D(3, strides=2, padding=same, depth_multiplier=2, activation=relu) "
                                     "Flatten()"),
    "SeparableConv2D": ("[5, 4, 2]", "SeparableConv2D(3, [2, 3], padding=same, depth_multiplier=2, activation=tanh) "
                                     "Flatten()"),
    "UpSampling2D": ("[3, 2, 2]", "UpSampling2D([2, 3], interpolation=bilinear) Conv2D(2, 2, activation=relu) "
                                  "UpSampling2D() Flatten()"),
    "GroupNormalization": ("[4, 4, 4]", "Conv2D(4, 2, use_bias=false) GroupNormalization(2) Flatten()"),
    "Conv2DTranspose": ("[3, 3, 2]", "Conv2DTranspose(3, 3, strides=2, padding=same, activation=relu) Flatten()"),
    "ReLU": ("[5]", "Dense(4) ReLU(max_value=1.5, negative_slope=0.1, threshold=0.2)"),
    "LeakyReLU": ("[4, 4, 2]", "Conv2D(3, 2) LeakyReLU() Flatten()"),
    "PReLU": ("[4, 4, 2]", "Conv2D(3, 2) PReLU(constant(0.2), shared_axes=[1, 2]) Flatten()"),
    "ELU": ("[5]", "Dense(4) ELU(0.5)"),
    "Softmax": ("[3, 3, 2]", "Conv2D(3, 2, use_bias=false) Softmax([1, 2]) Flatten()"),  # a bias would cancel
    # merges inside a graph: a value used twice, broadcasting a size-1 axis, three inputs, images (NCHW in torch)
    "Add": ("[5]", "a = Dense(4) b = Dense(4)(a) Add()(a, b)"),
    "Subtract": ("[5]", "a = Dense(4) b = Dense(1)(a) Subtract()(a, b)"),
    "Multiply": ("[4, 4, 2]", "a = Conv2D(3, 2) b = GlobalAveragePooling2D(keepdims=true)(a) Multiply()(a, b) "
                              "Flatten()"),
    "Average": ("[5]", "a = Dense(4) b = Dense(4)(a) c = Dense(4)(b) Average()(a, b, c)"),
    "Maximum": ("[5]", "a = Dense(4) b = Dense(4)(a) Maximum()(a, b)"),
    "Minimum": ("[4, 4, 2]", "a = Conv2D(3, 2) b = Conv2D(1, 1)(a) Minimum()(a, b) Flatten()"),
    "Concatenate": ("[4, 4, 2]", "a = Conv2D(3, 2) b = Conv2D(3, 1)(a) Concatenate(axis=2)(a, b) Flatten()"),
}
REGULARIZER_EXAMPLES = {"l1": "l1(0.01)", "l2": "l2(0.02)", "l1l2": "l1l2(l1=0.01, l2=0.02)"}
INITIALIZER_EXAMPLES = {
    "constant": "constant(0.1)", "random_normal": "random_normal(mean=0.1, stddev=0.3)",
    "truncated_normal": "truncated_normal(mean=-0.1, stddev=0.3)",
    "random_uniform": "random_uniform(minval=-0.3, maxval=0.4)", "orthogonal": "orthogonal(gain=1.5)",
}
OPTIMIZER_EXAMPLES = {  # every slot an optimizer can have, in use
    "sgd": "sgd(learning_rate=0.05, momentum=0.9, nesterov=true, weight_decay=0.01)",
    "adam": "adam(learning_rate=0.01, amsgrad=true)",
    "adamw": "adamw(learning_rate=0.01, weight_decay=0.1, amsgrad=true)",
    "rmsprop": "rmsprop(learning_rate=0.01, momentum=0.5, centered=true)",
    "adagrad": "adagrad(learning_rate=0.05)",
}
SCHEDULE_EXAMPLES = {  # each changes the rate between the first steps
    "step": "step(step_size=1, gamma=0.5)",
    "exponential": "exponential(decay_steps=1, decay_rate=0.5)",
    "cosine": "cosine(decay_steps=2, alpha=0.1)",
    "warmup": "warmup(steps=2, start=0.2, then=cosine(decay_steps=2))",
}


def head(loss: str, from_logits: bool, init: str, reg: str) -> str:
    """The output layer a loss wants: 2 linear units for a regression, 1 unit for a binary and 3 for a
    categorical cross-entropy, ending in sigmoid/softmax unless the loss takes logits."""
    args = f"kernel_initializer={init}, kernel_regularizer={reg}, bias_regularizer={reg}, activity_regularizer={reg}"
    if not Loss(kind=loss).is_classification:
        return f"Dense(2, {args})"
    units, activation = (1, "sigmoid") if loss.startswith("binary") else (3, "softmax")
    return f"Dense({units}, {args})" if from_logits else f"Dense({units}, activation={activation}, {args})"


def covering_spec(i: int) -> tuple[str, str]:
    """(id, text) of the i-th covering spec: the i-th kind of every list (each list cycled)."""
    layer = LAYER_KINDS[i % len(LAYER_KINDS)]
    loss, from_logits = LOSSES[i % len(LOSSES)]
    reg = REGULARIZER_KINDS[i % len(REGULARIZER_KINDS)]
    init = INITIALIZER_KINDS[i % len(INITIALIZER_KINDS)]
    optimizer = OPTIMIZER_KINDS[i % len(OPTIMIZER_KINDS)]
    schedule = SCHEDULE_KINDS[i % len(SCHEDULE_KINDS)]
    shape, body = LAYER_EXAMPLES.get(layer, ("[5]", f"{layer}()"))
    text = f"""model covering_{i} {{
    Input({shape})
    {body}
    {head(loss, from_logits, INITIALIZER_EXAMPLES.get(init, init), REGULARIZER_EXAMPLES.get(reg, reg))}
}}
train {{
    loss = {loss}{"(from_logits=true)" if from_logits else ""}
    optimizer = {OPTIMIZER_EXAMPLES.get(optimizer, optimizer)}
    schedule = {SCHEDULE_EXAMPLES.get(schedule, schedule)}
    batch_size = 4
    seed = {i}
}}
"""
    name = "+".join([layer, loss + ("(logits)" if from_logits else ""), reg, init, optimizer, schedule])
    return name, text


COVERING = [covering_spec(i) for i in range(max(map(len, (LAYER_KINDS, LOSSES, REGULARIZER_KINDS,
                                                          INITIALIZER_KINDS, OPTIMIZER_KINDS, SCHEDULE_KINDS))))]


@lru_cache(maxsize=None)
def spec_of(text: str) -> Spec:
    result = compile_text(text)
    assert result.spec is not None, f"the example does not compile:\n{text}\n{result}"
    return result.spec


def draws_masks(spec: Spec) -> bool:
    return any(layer.draws_masks for layer in spec.layers)


def without_masks(spec: Spec) -> Spec:
    """The spec with every dropout's rate set to 0: a training step is then the same whoever draws masks."""
    return spec.model_copy(update={"layers": [layer.model_copy(update={"rate": 0.0}) if layer.draws_masks else layer
                                              for layer in spec.layers]})


# ---- running a target ------------------------------------------------------------------------------------------
class Run:
    """What a target did: its initial weights W0, its inference outputs at W0, the loss of each step, the
    final weights."""

    def __init__(self, w0, outputs, losses, weights):
        self.w0, self.outputs, self.losses, self.weights = w0, outputs, losses, weights


def copies(weights) -> dict[str, np.ndarray]:
    return {k: np.array(v, dtype=np.float64, copy=True) for k, v in weights.items()}


def run_backend(backend: str, mode: str, spec: Spec, x, y, weights=None) -> Run:
    """``STEPS`` steps of the backend's trainer on the shared loop's batches and learning rates."""
    t = spec.training
    trainer = make_trainer(backend, spec, weights=weights, dtype=np.float64, mode=mode, adapt_on=x)
    w0 = copies(trainer.get_weights())
    outputs = np.array(trainer.evaluate_batch(x, y)[1], dtype=np.float64)
    losses = [float(trainer.train_batch(x[idx], y[idx], step, learning_rate(t.optimizer, t.schedule, step))[0])
              for step, idx in enumerate(step_batches(len(x), t.batch_size, t.seed, STEPS))]
    return Run(w0, outputs, losses, copies(trainer.get_weights()))


def framework_of(target: str) -> str:
    """The package a target needs: the backend's (``backends.BACKENDS``), or the emit target's framework."""
    kind, which = target.split("-", 1)
    return which if kind == "emit" else BACKENDS[kind][2]


def need_framework(target: str) -> None:
    """Skip (fail under NNSPEC_REQUIRE_BACKENDS=1) when the target's framework is not installed."""
    if framework_of(target) != "numpy":
        need(framework_of(target))


@pytest.fixture
def keras_settings():
    """The emitted Keras program sets Keras' global float type and dtype policy; other tests expect theirs."""
    keras = need("keras")
    floatx, policy = keras.config.floatx(), keras.config.dtype_policy()
    yield
    keras.config.set_floatx(floatx)
    keras.config.set_dtype_policy(policy)


def run_emitted(target: str, spec: Spec, x, y, tmp_path, name: str) -> Run:
    """``STEPS`` steps of the emitted program (its own initial weights, schedule and, for Keras, step count)."""
    module = emitted_module(tmp_path, spec, target, re.sub(r"\W", "_", name))
    batches = step_batches(len(x), spec.training.batch_size, spec.training.seed, STEPS)
    if target == "torch":
        model = module.build_model(dtype="float64")
        if hasattr(module, "adapt"):
            module.adapt(model, x)
        w0 = copies(module.get_weights(model))
        outputs = np.asarray(module.predict(model, x), dtype=np.float64)
        optimizer = module.make_optimizer(model)
        losses = [float(module.train_step(model, optimizer, x[idx], y[idx], step)[0])
                  for step, idx in enumerate(batches)]
    elif target == "keras":
        model = module.compile_model(module.build_model(dtype="float64"))
        model.run_eagerly = True  # Keras' own train step, untraced: faster for two steps
        if hasattr(module, "adapt"):
            module.adapt(model, x)
        w0 = copies(module.get_weights(model))
        outputs = np.asarray(module.predict(model, x), dtype=np.float64)
        losses = [float(module.train_step(model, x[idx], y[idx])) for idx in batches]
    else:
        raise AssertionError(f"the contract test does not know how to run emit target {target!r}: teach it")
    return Run(w0, outputs, losses, copies(module.get_weights(model)))


def reference(spec: Spec, x, y, w0) -> Run:
    """The NumPy reference from the initial weights ``w0``, canonical masks."""
    return run_backend("numpy", "canonical", spec, x, y, weights=copies(w0))


def assert_agrees(run: Run, ref: Run, what: str) -> None:
    assert relative_error(run.outputs, ref.outputs) <= TOLERANCE, f"{what}: outputs at the initial weights"
    assert relative_error(run.losses, ref.losses) <= TOLERANCE, f"{what}: losses {run.losses} vs {ref.losses}"
    assert set(run.weights) == set(ref.weights), what
    for key, value in ref.weights.items():
        assert relative_error(run.weights[key], value) <= TOLERANCE, f"{what}: {key} after {STEPS} steps"


# ---- the tests ----------------------------------------------------------------------------------------------------
def test_the_covering_specs_hold_every_kind():
    """Every kind of every list is in some covering spec, and every example compiles."""
    ids = [name.split("+") for name, _ in COVERING]
    assert {i[0] for i in ids} == set(LAYER_KINDS)
    assert {i[1] for i in ids} == {k + ("(logits)" if f else "") for k, f in LOSSES}
    assert {i[2] for i in ids} == set(REGULARIZER_KINDS)
    assert {i[3] for i in ids} == set(INITIALIZER_KINDS)
    assert {i[4] for i in ids} == set(OPTIMIZER_KINDS)
    assert {i[5] for i in ids} == set(SCHEDULE_KINDS)
    for _, text in COVERING:
        spec = spec_of(text)
        assert all(w.initializer.kind != "auto" for w in weight_specs(spec))  # resolved before any backend


@pytest.mark.parametrize("index", range(len(COVERING)), ids=[name for name, _ in COVERING])
@pytest.mark.parametrize("target", TARGETS)
def test_every_target_trains_every_kind_as_the_reference(target, index, tmp_path, request):
    need_framework(target)
    name, text = COVERING[index]
    spec = spec_of(text)
    kind, which = target.split("-", 1)
    if kind == "emit" and which == "keras":
        request.getfixturevalue("keras_settings")
        spec = float32_exact(spec)
    own_masks = not (kind != "emit" and which == "canonical")
    steps_spec = without_masks(spec) if own_masks and draws_masks(spec) else spec
    x, y = case_data(spec, SAMPLES)

    def run(s: Spec) -> Run:
        if kind == "emit":
            return run_emitted(which, s, x, y, tmp_path, f"{name}_{id(s)}")
        return run_backend(kind, which, s, x, y)

    ran = run(steps_spec)
    if which == "canonical":  # canonical mode starts from the shared draw, whatever the backend
        adapted = {layer.name for layer in spec.layers if layer.adapts}
        for key, value in initial_weights(spec, spec.training.seed, np.float64).items():
            if key.split("/")[0] not in adapted:
                np.testing.assert_array_equal(ran.w0[key], value, err_msg=key)
    assert_agrees(ran, reference(steps_spec, x, y, ran.w0), f"{target} on {name}")
    if steps_spec is not spec:  # the target's own masks: they drop, and training stays finite
        dropped = run(spec)
        assert all(math.isfinite(v) for v in dropped.losses), dropped.losses
        assert dropped.losses[0] != pytest.approx(reference(steps_spec, x, y, dropped.w0).losses[0], rel=1e-6)


# ---- optimizer state: the checkpointed slots, and a bit-identical next step after a round trip ---------------
def optimizer_spec(kind: str, dropout: float = 0.0) -> Spec:
    return spec_of(f"""model opt {{
    Input([4]) Dense(3, activation=tanh) Dropout({dropout}) BatchNormalization() Dense(2)
}}
train {{ loss = mse optimizer = {OPTIMIZER_EXAMPLES.get(kind, kind)} batch_size = 4 seed = 7 }}""")


def declared_slots(spec: Spec) -> tuple[str, ...]:
    """The slots the spec's optimizer declares (``compiler.semantics.optimizers``: Keras' slot names)."""
    hp = spec.training.optimizer
    return tuple(name for name, _ in rule(hp).slots(hp))


def checkpointed_keys(backend: str, spec: Spec, slots) -> set[str]:
    """The optimizer keys a checkpoint holds: ``optimizer/<slot>/<weight>`` and ``optimizer/iterations``
    (Keras: its own variables' names, ``<weight path>_<slot>`` and ``iteration``)."""
    trainable = [w.name for w in weight_specs(spec) if w.trainable]
    if backend == "keras":
        return {"optimizer/iteration"} | {f"optimizer/{w.replace('/', '_')}_{s}" for w in trainable for s in slots}
    return {"optimizer/iterations"} | {f"optimizer/{s}/{w}" for w in trainable for s in slots}


def round_trip(backend: str, mode: str, spec: Spec) -> None:
    """One step, a checkpoint (weights and ``state()``), a fresh trainer that loads it: the next step
    is the same, bit for bit, as the uninterrupted trainer's."""
    t = spec.training
    x, y = case_data(spec, SAMPLES)
    (b0, b1) = step_batches(len(x), t.batch_size, t.seed, 2)
    lr = [learning_rate(t.optimizer, t.schedule, step) for step in (0, 1)]
    first = make_trainer(backend, spec, dtype=np.float64, mode=mode)
    first.train_batch(x[b0], y[b0], 0, lr[0])
    weights, state = copies(first.get_weights()), {k: np.array(v, copy=True) for k, v in first.state().items()}
    optimizer_keys = {k for k in state if k.startswith("optimizer/")}
    assert optimizer_keys == checkpointed_keys(backend, spec, declared_slots(spec))
    loss, _ = first.train_batch(x[b1], y[b1], 1, lr[1])
    second = make_trainer(backend, spec, weights=weights, dtype=np.float64, mode=mode)
    second.load_state(state)
    loss_again, _ = second.train_batch(x[b1], y[b1], 1, lr[1])
    assert np.float64(loss_again).tobytes() == np.float64(loss).tobytes()
    after, again = first.get_weights(), second.get_weights()
    for key in after:
        assert np.asarray(again[key]).tobytes() == np.asarray(after[key]).tobytes(), key
    state_after, state_again = first.state(), second.state()
    assert set(state_again) == set(state_after)
    for key in state_after:
        assert np.asarray(state_again[key]).tobytes() == np.asarray(state_after[key]).tobytes(), key


@pytest.mark.parametrize("kind", OPTIMIZER_KINDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_optimizer_state_round_trip_gives_the_same_next_step(backend, kind):
    need_framework(f"{backend}-canonical")
    round_trip(backend, "canonical", optimizer_spec(kind))


@pytest.mark.parametrize("backend", BACKENDS)
def test_native_random_state_round_trip_gives_the_same_next_step(backend):
    """Native mode draws its own dropout masks: its random state is checkpointed with the optimizer's."""
    need_framework(f"{backend}-native")
    round_trip(backend, "native", optimizer_spec("adam", dropout=0.5))
