"""The oracle tier for optimizers and schedules: the NumPy reference (compiler.semantics.optimizers and
.schedules, applied by backends/numpy) against plain Keras — ``keras.optimizers.SGD/Adam/AdamW/RMSprop/
Adagrad`` and ``keras.optimizers.schedules`` with the spec's hyperparameters, ``global_clipnorm`` and
``clipvalue``, no nnspec adapter — on float64 variables, weight by weight after every step, and the
checkpointed slots (Keras' optimizer variables, by name) and ``iterations`` at the end.

The matrix: every optimizer × its options (momentum, nesterov, amsgrad, centered, weight decay, the
initial accumulator) × every schedule Keras has a class for, and every optimizer × clipping (by global
norm, by value). Hyperparameters are exactly representable in float32: Keras on TensorFlow casts Python
floats such as ``beta_1``, ``momentum``, ``weight_decay`` and a schedule's ``decay_rate`` through float32
even for float64 variables (0.9 → 0.8999999762), and evaluates a schedule whose initial rate is a Python
float in float32; here the rate is a ``numpy.float64``, so the schedule runs in float64.

Run alone with ``pytest -m oracle``.
"""

from __future__ import annotations

import numpy as np
import pytest

from backends.numpy.optimizers import clip_gradients, make_optimizer
from backends.numpy.trainer import NumpyTrainer
from compiler.ir.training import (OPTIMIZER_CLASSES, SCHEDULE_CLASSES, ConstantSchedule, CosineSchedule,
                                  ExponentialSchedule, StepSchedule, WarmupSchedule)
from compiler.pipeline import compile_text
from compiler.semantics.schedules import learning_rate
from frameworks import need

import keras_oracle

keras = need("keras")

pytestmark = pytest.mark.oracle

STEPS = 8
TOL = 1e-12
EPS = 2.0**-20  # an epsilon that matters at these gradient sizes, exact in float32

# (kind, Keras' keyword arguments = the IR's, which uses Keras' names), the learning rate
OPTIMIZERS = [
    ("sgd", {}, 0.125),
    ("sgd", {"momentum": 0.5}, 0.125),
    ("sgd", {"momentum": 0.75, "nesterov": True}, 0.125),
    ("sgd", {"weight_decay": 0.0625}, 0.125),
    ("sgd", {"momentum": 0.5, "nesterov": True, "weight_decay": 0.125}, 0.25),
    ("adam", {"beta_1": 0.875, "beta_2": 0.96875, "epsilon": EPS}, 0.0625),
    ("adam", {"beta_1": 0.75, "beta_2": 0.9375, "epsilon": EPS, "amsgrad": True}, 0.0625),
    ("adamw", {"weight_decay": 0.0625, "beta_1": 0.875, "beta_2": 0.96875, "epsilon": EPS}, 0.0625),
    ("adamw", {"weight_decay": 0.25, "beta_1": 0.75, "beta_2": 0.9375, "epsilon": EPS, "amsgrad": True}, 0.0625),
    ("rmsprop", {"rho": 0.75, "epsilon": EPS}, 0.03125),
    ("rmsprop", {"rho": 0.875, "momentum": 0.5, "epsilon": EPS}, 0.03125),
    ("rmsprop", {"rho": 0.75, "epsilon": EPS, "centered": True}, 0.03125),
    ("rmsprop", {"rho": 0.75, "momentum": 0.25, "epsilon": EPS, "centered": True}, 0.03125),
    ("adagrad", {"initial_accumulator_value": 0.125, "epsilon": EPS}, 0.25),
    ("adagrad", {"initial_accumulator_value": 0.0, "epsilon": EPS}, 0.25),
]
OPTIMIZER_IDS = [f"{kind}-{'-'.join(f'{k}={v}' for k, v in args.items()) or 'defaults'}"
                 for kind, args, _ in OPTIMIZERS]

SCHEDULES = [
    ConstantSchedule(),
    StepSchedule(step_size=3, gamma=0.5),
    ExponentialSchedule(decay_steps=3, decay_rate=0.75),
    ExponentialSchedule(decay_steps=3, decay_rate=0.75, staircase=True),
    CosineSchedule(decay_steps=5, alpha=0.125),
    WarmupSchedule(steps=3, start=0.25, then=CosineSchedule(decay_steps=4, alpha=0.25)),
    WarmupSchedule(steps=3, start=0.5),
]
SCHEDULE_IDS = ["constant", "step", "exponential", "exponential-staircase", "cosine", "warmup-cosine",
                "warmup-constant"]
CLIPPING = [{"clip_norm": 0.5}, {"clip_value": 0.25}]


def keras_schedule(schedule, lr: float):
    """Keras' own schedule for an nnspec schedule and base rate (``numpy.float64`` rates: evaluated in
    float64). nnspec's ``step`` is Keras' staircase ExponentialDecay; ``warmup`` (linear from start·lr to
    lr, then the next schedule restarted) is CosineDecay's warmup, followed by a cosine (or by alpha = 1:
    constant)."""
    lr = np.float64(lr)
    schedules = keras.optimizers.schedules
    kind = schedule.kind
    if kind == "constant":
        return lr
    if kind == "step":
        return schedules.ExponentialDecay(lr, schedule.step_size, schedule.gamma, staircase=True)
    if kind == "exponential":
        return schedules.ExponentialDecay(lr, schedule.decay_steps, schedule.decay_rate, staircase=schedule.staircase)
    if kind == "cosine":
        return schedules.CosineDecay(lr, schedule.decay_steps, alpha=schedule.alpha)
    if kind == "warmup" and schedule.then.kind in ("cosine", "constant"):
        then = schedule.then
        decay_steps, alpha = (then.decay_steps, then.alpha) if then.kind == "cosine" else (1, 1.0)
        return schedules.CosineDecay(lr * schedule.start, decay_steps, alpha=alpha, warmup_target=lr,
                                     warmup_steps=schedule.steps)
    raise AssertionError(f"no Keras schedule for {schedule}")  # pragma: no cover


def gradients(steps: int = STEPS, seed: int = 7) -> list[dict[str, np.ndarray]]:
    """A kernel's and a bias's gradients per step; every other step small (under the clipping norm)."""
    rng = np.random.default_rng(seed)
    return [{"kernel": rng.standard_normal((3, 4)) * (1.0 if t % 2 else 0.05),
             "bias": rng.standard_normal(4) * (1.0 if t % 2 else 0.05)} for t in range(steps)]


def relative(a, b) -> float:
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def check_against_keras(kind, args, lr, schedule, clip_norm=None, clip_value=None):
    """Both optimizers over the same gradients: the weights after every step, then the slots and
    iterations, agree to TOL."""
    rng = np.random.default_rng(3)
    start = {"kernel": rng.standard_normal((3, 4)), "bias": rng.standard_normal(4)}
    ir = OPTIMIZER_CLASSES[kind](learning_rate=lr, **args)
    params = {k: v.copy() for k, v in start.items()}
    ours = make_optimizer(ir, params)

    variables = {k: keras.Variable(v.copy(), dtype="float64", name=k) for k, v in start.items()}
    theirs = getattr(keras.optimizers, {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop",
                                        "adagrad": "Adagrad"}[kind])(
        learning_rate=keras_schedule(schedule, lr), global_clipnorm=clip_norm, clipvalue=clip_value, **args)
    theirs.build(list(variables.values()))

    for step, grads in enumerate(gradients()):
        ours.apply(params, clip_gradients(grads, clip_norm, clip_value), learning_rate(ir, schedule, step))
        theirs.apply_gradients([(keras.ops.convert_to_tensor(grads[k], dtype="float64"), variables[k])
                                for k in variables])
        for k in params:
            assert relative(variables[k].numpy(), params[k]) <= TOL, (step, k)

    assert int(theirs.iterations.numpy()) == ours.iterations == STEPS
    keras_slots = {v.name: v.numpy() for v in theirs.variables}
    for slot, arrays in ours.slots.items():
        for k, a in arrays.items():
            assert relative(keras_slots[f"{k}_{slot}"], a) <= TOL, (slot, k)  # Keras: <weight>_<slot>
    expected = {f"{k}_{slot}" for slot in ours.slots for k in params}
    assert {name for name in keras_slots if name.startswith(("kernel_", "bias_"))} == expected  # none missing


@pytest.mark.parametrize("schedule", SCHEDULES, ids=SCHEDULE_IDS)
@pytest.mark.parametrize("kind, args, lr", OPTIMIZERS, ids=OPTIMIZER_IDS)
def test_optimizer_and_schedule_match_keras_step_by_step(kind, args, lr, schedule):
    with keras_oracle.float64():
        check_against_keras(kind, args, lr, schedule)


@pytest.mark.parametrize("clip", CLIPPING, ids=["clip_norm", "clip_value"])
@pytest.mark.parametrize("kind, args, lr", OPTIMIZERS, ids=OPTIMIZER_IDS)
def test_clipping_matches_keras_step_by_step(kind, args, lr, clip):
    with keras_oracle.float64():
        check_against_keras(kind, args, lr, SCHEDULES[-2], **clip)


def test_the_matrix_covers_every_optimizer_option_and_schedule():
    assert {kind for kind, _, _ in OPTIMIZERS} == set(OPTIMIZER_CLASSES)
    options = {(kind, name) for kind, args, _ in OPTIMIZERS for name, value in args.items() if value}
    for kind, cls in OPTIMIZER_CLASSES.items():  # every hyperparameter away from its default somewhere
        for name in cls.model_fields:
            assert name in ("kind", "span", "learning_rate") or (kind, name) in options, (kind, name)
    assert {s.kind for s in SCHEDULES} | {s.then.kind for s in SCHEDULES if s.kind == "warmup"} == set(SCHEDULE_CLASSES)



def test_keras_evaluates_a_schedule_of_python_floats_in_float32():
    """Why the rates above are numpy.float64: a Keras schedule whose initial rate is a Python float runs in
    float32 (``ops.convert_to_tensor`` of a Python float gives Keras' default float type) — also for
    float64 variables, whose optimizer then casts the float32 rate up. nnspec's Keras backend evaluates
    the spec's schedule in the model's dtype, as the NumPy reference does in Python floats."""
    from backends.keras.optimizers import SpecSchedule
    from compiler.ir.training import SGD

    schedule = ExponentialSchedule(decay_steps=3, decay_rate=0.75)
    python_float = keras.optimizers.schedules.ExponentialDecay(0.1, 3, 0.75)(1)
    assert keras.backend.standardize_dtype(python_float.dtype) == "float32"
    exact = learning_rate(SGD(learning_rate=0.1), schedule, 1)
    assert float(python_float) != exact
    ours = SpecSchedule(0.1, schedule, "float64")(keras.ops.convert_to_tensor(1, dtype="int64"))
    assert keras.backend.standardize_dtype(ours.dtype) == "float64" and float(ours) == pytest.approx(exact, rel=1e-15)


# ---- through a model, in Keras' own traced training step -----------------------------------------------------
END_TO_END = [  # one spec per optimizer kind: its options, a schedule and a clipping mode
    "sgd(learning_rate=0.125, momentum=0.5, nesterov=true, weight_decay=0.0625)"
    " schedule = exponential(decay_steps=3, decay_rate=0.75) clip_norm = 0.5",
    "adam(learning_rate=0.0625, beta_1=0.75, beta_2=0.9375, epsilon=0.0009765625, amsgrad=true)"
    " schedule = warmup(steps=3, start=0.25, then=cosine(decay_steps=4, alpha=0.25)) clip_value = 0.25",
    "adamw(learning_rate=0.0625, weight_decay=0.125, beta_1=0.875, beta_2=0.96875, epsilon=0.0009765625)"
    " schedule = cosine(decay_steps=5, alpha=0.125)",
    "rmsprop(learning_rate=0.03125, rho=0.75, momentum=0.5, epsilon=0.0009765625, centered=true)"
    " schedule = step(step_size=2, gamma=0.5) clip_norm = 0.5",
    "adagrad(learning_rate=0.25, initial_accumulator_value=0.125, epsilon=0.0009765625)",
]


@pytest.mark.parametrize("train", END_TO_END, ids=[t.split("(")[0] for t in END_TO_END])
def test_training_a_model_matches_keras_train_on_batch(train):
    """A spec's model trained by the NumPy backend (its gradients, clipping, schedule and optimizer) and the
    same model built from plain Keras layers, compiled with Keras' own optimizer, schedule and clipping,
    stepped by Keras' traced ``train_on_batch`` (the graph ``fit`` runs): every weight after each step."""
    spec = compile_text(f"model oracle {{ Input([4]) Dense(5, activation=tanh) Dense(3) }}\n"
                        f"train {{ loss = mse optimizer = {train} batch_size = 8 seed = 3 }}").spec
    t, o = spec.training, spec.training.optimizer
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(8, 4)), rng.normal(size=(8, 3))
    ours = NumpyTrainer(spec, dtype=np.float64)
    args = {name: getattr(o, name) for name in OPTIMIZER_CLASSES[o.kind].model_fields
            if name not in ("kind", "span", "learning_rate")}
    if o.kind == "sgd" and not args["weight_decay"]:
        args["weight_decay"] = None
    with keras_oracle.float64():
        model = keras_oracle.keras_model(spec, {k: v.copy() for k, v in ours.get_weights().items()})
        optimizer = getattr(keras.optimizers, {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop",
                                               "adagrad": "Adagrad"}[o.kind])(
            learning_rate=keras_schedule(t.schedule, o.learning_rate), global_clipnorm=t.clip_norm,
            clipvalue=t.clip_value, **args)
        model.compile(optimizer=optimizer, loss=keras_oracle.keras_loss(t.loss))
        for step in range(STEPS):
            model.train_on_batch(x, y)
            ours.train_batch(x, y, step, learning_rate(o, t.schedule, step))
            theirs = keras_oracle.model_weights(model)
            for name, value in ours.get_weights().items():
                assert relative(theirs[name], value) <= TOL, (step, name)
